import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import Testing

/// Fail-safe relays end to end: a simulated IMD behind a real Modbus TCP gateway, the whole
/// service, and its relays on a simulated GPIO chip read back as electrical levels.
@Suite(.serialized)
struct FailSafeOutputTests {
    static let green = LineAddress(chip: "gpiochip0", offset: 20)
    static let yellow = LineAddress(chip: "gpiochip0", offset: 21)
    static let buzzer = LineAddress(chip: "gpiochip0", offset: 22)
    static let commonAlarm = LineAddress(chip: "gpiochip0", offset: 23)
    static let all = [green, yellow, buzzer, commonAlarm]

    /// `buzzerWiring` is the buzzer's `energise` key, or nil to leave it at its default.
    static func configuration(buzzerWiring: String? = nil) -> String {
        let buzzerEnergise = buzzerWiring.map { ", energise: \($0)" } ?? ""
        return """
            site: { name: "Fail-safe test site" }
            http: { listen: "127.0.0.1:0" }
            gpio: { backend: simulated }
            systems:
              - id: or-5
                name: "Operating theatre 5"
                transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
                device:
                  profile: bender-isometer
                  transport: { tcp: { host: 127.0.0.1, port: {TCP_PORT} } }
                  unit: 1
                  poll_interval_seconds: 0.25
                  timeout_seconds: 0.2
                  retries: 1
                outputs:
                  green: { chip: gpiochip0, line: 20 }
                  # A lamp driver that pulls low to switch its relay.
                  yellow: { chip: gpiochip0, line: 21, active_low: true }
                  buzzer: { chip: gpiochip0, line: 22\(buzzerEnergise) }
                  common_alarm: { chip: gpiochip0, line: 23 }
            """
    }

    static func site() -> SiteDescription {
        let profiles = ServiceHarness.profiles
        return SiteDescription(endpoints: [
            .tcp(
                id: "gw1",
                units: [
                    UnitDescription(
                        unit: 1, profileID: "bender-isometer",
                        state: .healthy(publishedBy: profiles["bender-isometer"]!), measurementIntervalSeconds: 0.25)
                ])
        ])
    }

    /// Waits until every line is at the wanted electrical level; returns the levels last seen.
    static func waitForLevels(
        _ gpio: SimulatedGPIOBackend, _ wanted: [LineAddress: Bool], seconds: Double = 10
    ) async throws -> [LineAddress: Bool?] {
        let deadline = Date().addingTimeInterval(seconds)
        var seen: [LineAddress: Bool?] = [:]
        repeat {
            seen = Dictionary(uniqueKeysWithValues: wanted.keys.map { ($0, gpio.isElectricallyHigh($0)) })
            if wanted.allSatisfy({ seen[$0.key] == $0.value }) { return seen }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        return seen
    }

    @Test func test_relaysAreClaimedDeEnergisedSoTheServiceStartsInAlarm() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration())
        try await harness.stop()

        let claims = harness.gpio.outputChanges.filter { $0.kind == .claimed }
        #expect(Set(claims.map(\.address)) == Set(Self.all))
        // Energise-to-normal: every relay starts dropped; the active-low yellow line is high.
        #expect(claims.allSatisfy { !$0.active })
        #expect(claims.first { $0.address == Self.yellow }?.electricalHigh == true)
        #expect(claims.first { $0.address == Self.green }?.electricalHigh == false)
    }

    @Test func test_energisedToNormalRelaysHoldOnlyWhileNoConditionIsPresent() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration())
        let normal = try await harness.waitFor("or-5", seconds: 15) { $0.alarm.state == "normal" }
        // Normal: every relay energised: green lit through its make contact, yellow, buzzer and
        // common alarm held open through theirs. Yellow is active low.
        let normalLevels = try await Self.waitForLevels(
            harness.gpio, [Self.green: true, Self.yellow: false, Self.buzzer: true, Self.commonAlarm: true])

        harness.simulator.device(endpoint: "gw1", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        let faulted = try await harness.waitFor("or-5", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        // Alarm: every relay dropped, exactly as if the service had died.
        let alarmLevels = try await Self.waitForLevels(
            harness.gpio, [Self.green: false, Self.yellow: true, Self.buzzer: false, Self.commonAlarm: false])
        try await harness.stop()

        #expect(normal?.outputs.green == true)
        #expect(normalLevels == [Self.green: true, Self.yellow: false, Self.buzzer: true, Self.commonAlarm: true])
        #expect(faulted?.outputs.yellow == true && faulted?.outputs.buzzer == true)
        #expect(alarmLevels == [Self.green: false, Self.yellow: true, Self.buzzer: false, Self.commonAlarm: false])
    }

    @Test func test_energisedToAlarmRelayIsEnergisedOnlyWhileSignalling() async throws {
        let harness = try await ServiceHarness(
            site: Self.site(), configurationYAML: Self.configuration(buzzerWiring: "alarm"))
        try await harness.waitFor("or-5", seconds: 15) { $0.alarm.state == "normal" }
        let normalLevels = try await Self.waitForLevels(harness.gpio, [Self.buzzer: false, Self.green: true])

        harness.simulator.device(endpoint: "gw1", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        try await harness.waitFor("or-5", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        let alarmLevels = try await Self.waitForLevels(harness.gpio, [Self.buzzer: true, Self.green: false])
        try await harness.stop()

        let buzzerClaim = harness.gpio.outputChanges.first { $0.kind == .claimed && $0.address == Self.buzzer }
        #expect(buzzerClaim?.active == true, "claimed sounding: the service starts in alarm")
        #expect(normalLevels[Self.buzzer] == false)
        #expect(alarmLevels[Self.buzzer] == true)
    }

    @Test func test_gracefulShutdownLeavesEveryRelayInItsAlarmStateBeforeReleasing() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration())
        try await harness.waitFor("or-5", seconds: 15) { $0.alarm.state == "normal" }
        let normalLevels = try await Self.waitForLevels(
            harness.gpio, [Self.green: true, Self.yellow: false, Self.buzzer: true, Self.commonAlarm: true])
        let changesBeforeStop = harness.gpio.outputChanges.count
        try await harness.stop()

        #expect(normalLevels == [Self.green: true, Self.yellow: false, Self.buzzer: true, Self.commonAlarm: true])
        // The driver keeps last levels after release, so the alarm state must be written first.
        for address in Self.all {
            #expect(harness.gpio.lineState(address)?.role == .unclaimed, "\(address) released")
        }
        let afterStop = harness.gpio.outputChanges.dropFirst(changesBeforeStop)
        let releases = afterStop.filter { $0.kind == .released }
        #expect(Set(releases.map(\.address)) == Set(Self.all))
        #expect(releases.allSatisfy { !$0.active }, "every relay dropped when released: \(releases)")
        #expect(harness.gpio.isElectricallyHigh(Self.green) == false)
        #expect(harness.gpio.isElectricallyHigh(Self.yellow) == true)
        #expect(harness.gpio.isElectricallyHigh(Self.buzzer) == false)
        #expect(harness.gpio.isElectricallyHigh(Self.commonAlarm) == false)
    }
}
