import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The theatre panel end to end: buttons and the IMD's alarm contact on a simulated GPIO chip
/// (manual debounce clock), a simulated IMD behind a real Modbus TCP gateway, the whole service,
/// and the lamps and buzzer read back as electrical levels of energise-to-normal relays: a relay
/// is energised (line high) only while its output shows normal, so a lit yellow lamp and a
/// sounding buzzer are low lines.
@Suite(.serialized)
struct PanelInputTests {
    static let green = LineAddress(chip: "gpiochip0", offset: 20)
    static let yellow = LineAddress(chip: "gpiochip0", offset: 21)
    static let buzzer = LineAddress(chip: "gpiochip0", offset: 22)
    static let mute = LineAddress(chip: "gpiochip0", offset: 10)
    static let test = LineAddress(chip: "gpiochip0", offset: 11)
    static let acknowledge = LineAddress(chip: "gpiochip0", offset: 12)
    static let imdContact = LineAddress(chip: "gpiochip0", offset: 13)

    static let configuration = ServiceConfigurationYAML.file(
        site: "Panel test site",
        systems: [
            ServiceConfigurationYAML.tcpSystem(
                id: "or-7", name: "Operating theatre 7", port: "{TCP_PORT}", device: ServiceConfigurationYAML.fastPolling,
                sections: ServiceConfigurationYAML.theatreOutputs + """

                    location: "OR 7"
                    inputs:
                      mute: { chip: gpiochip0, line: 10, active_low: true }
                      test: { chip: gpiochip0, line: 11, active_low: true }
                      acknowledge: { chip: gpiochip0, line: 12, active_low: true }
                      imd_alarm_contact: { chip: gpiochip0, line: 13, debounce_seconds: 0.2 }
                    """)
        ])

    /// Presses (or releases) an input and lets the simulated debounce time pass.
    static func hold(_ gpio: SimulatedGPIOBackend, _ address: LineAddress, active: Bool) throws {
        if active { try gpio.press(address) } else { try gpio.release(address) }
        gpio.advanceClock(bySeconds: 0.25)
    }

    static func startHealthy() async throws -> ServiceHarness {
        let harness = try await ServiceHarness(site: FailSafeOutputTests.site(), configurationYAML: Self.configuration)
        let normal = try await harness.waitFor("or-7", seconds: 15) { $0.alarm.state == "normal" }
        #expect(normal?.outputs.green == true, "the healthy simulated IMD turns the system green")
        return harness
    }

    @Test func test_mutePressSilencesTheBuzzerWhileTheYellowLampStays() async throws {
        let harness = try await Self.startHealthy()
        harness.simulator.device(endpoint: "gw1", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        let faulted = try await harness.waitFor("or-7", seconds: 10) {
            $0.alarm.conditions.contains("insulation") && $0.outputs.buzzer
        }
        // Sounding and lit: both relays dropped.
        let alarmLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.green: false, Self.yellow: false, Self.buzzer: false])

        try Self.hold(harness.gpio, Self.mute, active: true)
        let silenced = try await harness.waitFor("or-7", seconds: 5) { !$0.outputs.buzzer }
        let silencedLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.yellow: false, Self.buzzer: true])
        try Self.hold(harness.gpio, Self.mute, active: false)
        try await harness.stop()

        #expect(faulted?.outputs.yellow == true && faulted?.outputs.buzzer == true)
        #expect(alarmLevels == [Self.green: false, Self.yellow: false, Self.buzzer: false])
        #expect(silenced?.outputs.buzzer == false)
        #expect(silenced?.outputs.yellow == true, "IEC 60364-7-710: the yellow lamp cannot be cancelled")
        #expect(silenced?.alarm.silenced == true)
        #expect(silenced?.alarm.conditions.contains("insulation") == true)
        #expect(silencedLevels == [Self.yellow: false, Self.buzzer: true])
    }

    @Test func test_acknowledgePressSilencesTheBuzzer() async throws {
        let harness = try await Self.startHealthy()
        harness.simulator.device(endpoint: "gw1", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        let faulted = try await harness.waitFor("or-7", seconds: 10) { $0.outputs.buzzer }
        try Self.hold(harness.gpio, Self.acknowledge, active: true)
        let acknowledged = try await harness.waitFor("or-7", seconds: 5) { !$0.outputs.buzzer }
        try await harness.stop()

        #expect(faulted?.outputs.buzzer == true)
        #expect(acknowledged?.outputs.buzzer == false)
        #expect(acknowledged?.outputs.yellow == true)
    }

    @Test func test_testPressLightsYellowAndSoundsTheBuzzerForTheTestDurationThenReturnsToGreen() async throws {
        let harness = try await Self.startHealthy()
        let pressed = Date()
        try Self.hold(harness.gpio, Self.test, active: true)
        try Self.hold(harness.gpio, Self.test, active: false)
        let testing = try await harness.waitFor("or-7", seconds: 5) { $0.alarm.state == "test" }
        let testLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.green: false, Self.yellow: false, Self.buzzer: false])
        let back = try await harness.waitFor("or-7", seconds: 15) { $0.alarm.state == "normal" }
        let elapsedSeconds = Date().timeIntervalSince(pressed)
        let backLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.green: true, Self.yellow: true, Self.buzzer: true])
        try await harness.stop()

        #expect(testing?.outputs.yellow == true && testing?.outputs.buzzer == true && testing?.outputs.green == false)
        #expect(testing?.alarm.conditions.isEmpty == true, "a test raises no condition")
        #expect(testLevels == [Self.green: false, Self.yellow: false, Self.buzzer: false])
        #expect(back?.outputs.green == true && back?.outputs.buzzer == false)
        // The alarm machine's default test duration is 5 s.
        #expect(elapsedSeconds >= 4.5, "the test lasted \(elapsedSeconds) s")
        #expect(backLevels == [Self.green: true, Self.yellow: true, Self.buzzer: true])
    }

    @Test func test_imdAlarmContactRaisesInsulationOnAHealthyReadingAndClearsAfterTheReleaseDelay() async throws {
        let harness = try await Self.startHealthy()
        try Self.hold(harness.gpio, Self.imdContact, active: true)
        let raised = try await harness.waitFor("or-7", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        let raisedLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.green: false, Self.yellow: false, Self.buzzer: false])

        let released = Date()
        try Self.hold(harness.gpio, Self.imdContact, active: false)
        let cleared = try await harness.waitFor("or-7", seconds: 15) { !$0.alarm.conditions.contains("insulation") }
        let elapsedSeconds = Date().timeIntervalSince(released)
        let normal = try await harness.waitFor("or-7", seconds: 5) { $0.alarm.state == "normal" }
        try await harness.stop()

        #expect(raised?.alarm.conditions.contains("insulation") == true)
        // The measured value stays healthy: the contact alone raised the condition.
        let measuredOhms = raised?.reading?["insulation_resistance_ohms"]?.number ?? 0
        #expect(measuredOhms > 50_000, "measured \(measuredOhms) Ω")
        #expect(raisedLevels == [Self.green: false, Self.yellow: false, Self.buzzer: false])
        #expect(cleared?.alarm.conditions.contains("insulation") == false)
        // The insulation condition's release delay is 5 s.
        #expect(elapsedSeconds >= 4.5, "cleared after \(elapsedSeconds) s")
        #expect(normal?.outputs.green == true)
    }

    @Test func test_imdAlarmContactNeverClearsAnInsulationAlarmTheReadingsRaise() async throws {
        let harness = try await Self.startHealthy()
        harness.simulator.device(endpoint: "gw1", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        try await harness.waitFor("or-7", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        // The contact signals and then releases while the measured value is still low.
        try Self.hold(harness.gpio, Self.imdContact, active: true)
        try Self.hold(harness.gpio, Self.imdContact, active: false)
        try await Task.sleep(for: .seconds(6))
        let later = try await harness.system("or-7")
        try await harness.stop()

        #expect(later?.alarm.conditions.contains("insulation") == true)
        #expect(later?.outputs.yellow == true)
    }
}
