import Foundation
import Testing

@testable import IsoWatchCore

/// `gpio.heartbeat`: the line a watchdog relay watches. Each case changes line 3 of the loader
/// suite's valid file (`gpio: { backend: simulated }`), where or-3 drives gpiochip0 lines 4, 5
/// and 6 and or-4 the line named OR4_YELLOW.
@Suite struct HeartbeatConfigurationTests {
    private let site = SiteFileFixture(valid: ConfigurationLoaderTests.valid)

    private func gpio(_ heartbeat: String) -> String {
        site.replacing("gpio: { backend: simulated }", with: "gpio: { backend: simulated, heartbeat: \(heartbeat) }")
    }

    @Test func test_heartbeatLineIsReadWithItsPeriod() throws {
        let configuration = try site.parse(gpio("{ chip: gpiochip0, line: 31, period_seconds: 0.25 }"))
        #expect(configuration.gpio.heartbeat == HeartbeatLineSettings(chip: "gpiochip0", offset: 31, periodSeconds: 0.25))
    }

    @Test func test_heartbeatPeriodDefaultsToHalfASecondAndALineMayBeNamed() throws {
        let configuration = try site.parse(gpio(#"{ chip: gpiochip1, name: "WDOG_HEARTBEAT" }"#))
        #expect(configuration.gpio.heartbeat == HeartbeatLineSettings(chip: "gpiochip1", name: "WDOG_HEARTBEAT", periodSeconds: 0.5))
    }

    @Test func test_withoutHeartbeatNoLineIsToggled() throws {
        #expect(try site.parse(site.valid).gpio.heartbeat == nil)
    }

    @Test(arguments: ["0.05", "5.5", "0"])
    func test_heartbeatPeriodOutside0_1To5SecondsIsRefused(period: String) {
        site.expectSingleError(
            gpio("{ chip: gpiochip0, line: 31, period_seconds: \(period) }"), line: 3, field: "gpio.heartbeat.period_seconds",
            reasonContains: "0.1...5")
    }

    @Test func test_heartbeatOnASystemsOutputLineIsRefused() {
        site.expectSingleError(
            gpio("{ chip: gpiochip0, line: 5 }"), line: 3, field: "gpio.heartbeat.line",
            reasonContains: "already the yellow output of system 'or-3'")
    }

    @Test func test_heartbeatOnANamedLineOfASystemIsRefused() {
        site.expectSingleError(
            gpio(#"{ chip: gpiochip0, name: "OR4_YELLOW" }"#), line: 3, field: "gpio.heartbeat.name",
            reasonContains: "already the yellow output of system 'or-4'")
    }

    @Test func test_sameOffsetOnAnotherChipIsAnotherLine() throws {
        let configuration = try site.parse(gpio("{ chip: gpiochip1, line: 5 }"))
        #expect(configuration.gpio.heartbeat?.offset == 5)
    }

    @Test func test_heartbeatOnAnInputOrAPanelLineIsRefused() {
        let withInput = site.replacing(
            "      buzzer: { chip: gpiochip0, line: 6, active_low: true }\n",
            with: "      buzzer: { chip: gpiochip0, line: 6, active_low: true }\n    inputs:\n      mute: { chip: gpiochip0, line: 16 }\n")
            .replacingOccurrences(of: "gpio: { backend: simulated }", with: "gpio: { backend: simulated, heartbeat: { chip: gpiochip0, line: 16 } }")
        site.expectSingleError(withInput, line: 3, field: "gpio.heartbeat.line", reasonContains: "already the mute input of system 'or-3'")

        let withPanel = gpio("{ chip: gpiochip0, line: 40 }") + """

            panels:
              - id: recovery
                name: "Recovery room"
                systems: [or-3, or-4]
                outputs: { yellow: { chip: gpiochip0, line: 40 } }
            """
        site.expectSingleError(withPanel, line: 3, field: "gpio.heartbeat.line", reasonContains: "already the yellow output of panel 'recovery'")
    }

    @Test func test_heartbeatNeedsAChipAndExactlyOneOfLineAndName() {
        site.expectSingleError(gpio("{ line: 31 }"), line: 3, field: "gpio.heartbeat.chip", reasonContains: "required")
        site.expectSingleError(gpio("{ chip: gpiochip0 }"), line: 3, field: "gpio.heartbeat", reasonContains: "'line'")
        site.expectSingleError(
            gpio(#"{ chip: gpiochip0, line: 31, name: "HB" }"#), line: 3, field: "gpio.heartbeat", reasonContains: "not both")
    }

    @Test func test_aTakenLineAndABadPeriodAreReportedTogether() {
        let found = site.errors(gpio("{ chip: gpiochip0, line: 4, period_seconds: 9 }"))
        #expect(Set(found.map(\.field)) == ["gpio.heartbeat.line", "gpio.heartbeat.period_seconds"], "\(found)")
        #expect(found.allSatisfy { $0.line == 3 })
    }

    @Test func test_misspeltHeartbeatKeyIsNamedWithTheRightOne() {
        site.expectSingleError(
            gpio("{ chip: gpiochip0, line: 31, period_second: 1 }"), line: 3, field: "gpio.heartbeat.period_second",
            reasonContains: "did you mean 'period_seconds'?")
    }
}
