import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import Testing

/// What the `alarms` section, indicator lines and remote panels do end to end: simulated IMDs
/// behind a real Modbus TCP gateway, the whole service, and the relays on a simulated GPIO chip
/// read back as electrical levels. Every relay here is energised to normal: a lit lamp, a
/// sounding buzzer and a lit indicator are low lines.
@Suite(.serialized)
struct AlarmConfigurationTests {
    static func line(_ offset: UInt32) -> LineAddress { LineAddress(chip: "gpiochip0", offset: offset) }

    static func site(units: [UInt8]) -> SiteDescription {
        let profile = ServiceHarness.profiles["bender-isometer"]!
        return SiteDescription(endpoints: [
            .tcp(
                id: "gw1",
                units: units.map {
                    UnitDescription(
                        unit: $0, profileID: "bender-isometer", state: .healthy(publishedBy: profile),
                        measurementIntervalSeconds: 0.25)
                })
        ])
    }

    static func system(_ id: String, unit: Int, extra: String) -> String {
        """
          - id: \(id)
            name: "Theatre \(id)"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: bender-isometer
              transport: { tcp: { host: 127.0.0.1, port: {TCP_PORT} } }
              unit: \(unit)
              poll_interval_seconds: 0.25
              timeout_seconds: 0.2
              retries: 1
        \(extra)
        """
    }

    static func configuration(_ systems: String, panels: String = "") -> String {
        """
        site: { name: "Alarm configuration test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        systems:
        \(systems)
        \(panels)
        """
    }

    /// The service with theatre 1 alone (unit 1 behind the gateway), `extra` its alarms, outputs
    /// and inputs, once it reports normal.
    static func startTheatre1(_ extra: String) async throws -> ServiceHarness {
        let harness = try await ServiceHarness(
            site: site(units: [1]), configurationYAML: configuration(system("or-1", unit: 1, extra: extra)))
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        return harness
    }

    static func setInsulation(_ harness: ServiceHarness, unit: UInt8, ohms: Double) {
        harness.simulator.device(endpoint: "gw1", unit: unit)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(ohms)
        }
    }

    static func press(_ gpio: SimulatedGPIOBackend, _ address: LineAddress) throws {
        try gpio.press(address)
        gpio.advanceClock(bySeconds: 0.25)
        try gpio.release(address)
        gpio.advanceClock(bySeconds: 0.25)
    }

    @Test func test_responseAndReleaseDelaysComeFromTheAlarmsSection() async throws {
        let harness = try await Self.startTheatre1(
            """
                alarms:
                  insulation: { response_delay_seconds: 3, release_delay_seconds: 4, release_hysteresis_percent: 10 }
                outputs:
                  yellow: { chip: gpiochip0, line: 21 }
            """)
        let normal = try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }

        let faultAt = Date()
        Self.setInsulation(harness, unit: 1, ohms: 30_000)
        let raised = try await harness.waitFor("or-1", seconds: 15) { $0.alarm.conditions.contains("insulation") }
        let responseSeconds = Date().timeIntervalSince(faultAt)
        let raisedLevel = try await FailSafeOutputTests.waitForLevels(harness.gpio, [Self.line(21): false])

        // 56 kΩ is above the response value but inside the default 25 % hysteresis (62.5 kΩ):
        // with the configured 10 % (55 kΩ) it releases.
        let healedAt = Date()
        Self.setInsulation(harness, unit: 1, ohms: 56_000)
        let cleared = try await harness.waitFor("or-1", seconds: 20) { !$0.alarm.conditions.contains("insulation") }
        let releaseSeconds = Date().timeIntervalSince(healedAt)
        let clearedLevel = try await FailSafeOutputTests.waitForLevels(harness.gpio, [Self.line(21): true])
        try await harness.stop()

        #expect(normal?.outputs.green == true)
        #expect(raised?.outputs.yellow == true)
        #expect(responseSeconds >= 2.9, "raised after \(responseSeconds) s; the configured response delay is 3 s")
        #expect(raisedLevel == [Self.line(21): false])
        #expect(cleared?.alarm.conditions.contains("insulation") == false, "10 % hysteresis releases at 55 kΩ")
        #expect(releaseSeconds >= 3.9, "cleared after \(releaseSeconds) s; the configured release delay is 4 s")
        #expect(clearedLevel == [Self.line(21): true])
    }

    @Test func test_silencedBuzzerSoundsAgainAfterTheConfiguredReAlarmTime() async throws {
        let harness = try await Self.startTheatre1(
            """
                alarms:
                  re_alarm_seconds: 10
                outputs:
                  yellow: { chip: gpiochip0, line: 21 }
                  buzzer: { chip: gpiochip0, line: 22 }
                inputs:
                  mute: { chip: gpiochip0, line: 10, active_low: true }
            """)
        Self.setInsulation(harness, unit: 1, ohms: 30_000)
        let sounding = try await harness.waitFor("or-1", seconds: 10) { $0.outputs.buzzer }

        try Self.press(harness.gpio, Self.line(10))
        let silenced = try await harness.waitFor("or-1", seconds: 5) { !$0.outputs.buzzer }
        let silencedAt = Date()
        let silencedLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(21): false, Self.line(22): true])
        let resounded = try await harness.waitFor("or-1", seconds: 40) { $0.outputs.buzzer }
        let silentSeconds = Date().timeIntervalSince(silencedAt)
        let resoundedLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(21): false, Self.line(22): false])
        try await harness.stop()

        #expect(sounding?.outputs.buzzer == true)
        #expect(silenced?.outputs.yellow == true && silenced?.alarm.silenced == true)
        #expect(silencedLevels == [Self.line(21): false, Self.line(22): true])
        #expect(resounded?.outputs.buzzer == true, "the fault persists: the buzzer sounds again")
        #expect(resounded?.alarm.conditions == ["insulation"], "no new condition: the re-alarm time did it")
        #expect(silentSeconds >= 9.5, "silent for \(silentSeconds) s; the configured re-alarm time is 10 s")
        #expect(resoundedLevels == [Self.line(21): false, Self.line(22): false])
    }

    @Test func test_indicatorLineFollowsItsConditionOnly() async throws {
        let harness = try await Self.startTheatre1(
            """
                outputs:
                  yellow: { chip: gpiochip0, line: 21 }
                  indicators:
                    insulation: { chip: gpiochip0, line: 24 }
                    overload: { chip: gpiochip0, line: 25 }
            """)
        let normalLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(21): true, Self.line(24): true, Self.line(25): true])

        Self.setInsulation(harness, unit: 1, ohms: 30_000)
        let faulted = try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        let faultLevels = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(21): false, Self.line(24): false, Self.line(25): true])
        try await harness.stop()
        // A stopped service cannot tell which condition is present: every indicator shows alarm.
        let releases = harness.gpio.outputChanges.filter { $0.kind == .released }

        #expect(normalLevels == [Self.line(21): true, Self.line(24): true, Self.line(25): true])
        #expect(faulted?.alarm.conditions == ["insulation"])
        #expect(faultLevels == [Self.line(21): false, Self.line(24): false, Self.line(25): true])
        #expect(Set(releases.map(\.address)).isSuperset(of: [Self.line(24), Self.line(25)]))
        #expect(releases.allSatisfy { !$0.active }, "every relay dropped when released: \(releases)")
        #expect(harness.gpio.isElectricallyHigh(Self.line(24)) == false)
        #expect(harness.gpio.isElectricallyHigh(Self.line(25)) == false)
    }

    @Test func test_remotePanelShowsAnyMembersAlarmAndItsMuteSilencesTheMembers() async throws {
        let yaml = Self.configuration(
            Self.system(
                "or-1", unit: 1,
                extra: """
                        outputs:
                          yellow: { chip: gpiochip0, line: 21 }
                    """)
                + "\n"
                + Self.system(
                    "or-2", unit: 2,
                    extra: """
                            outputs:
                              yellow: { chip: gpiochip0, line: 41 }
                        """),
            panels: """
                panels:
                  - id: recovery
                    name: "Recovery room"
                    systems: [or-1, or-2]
                    outputs:
                      green: { chip: gpiochip0, line: 30 }
                      yellow: { chip: gpiochip0, line: 31 }
                      buzzer: { chip: gpiochip0, line: 32 }
                    inputs:
                      mute: { chip: gpiochip0, line: 33, active_low: true }
                """)
        let harness = try await ServiceHarness(site: Self.site(units: [1, 2]), configurationYAML: yaml)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        try await harness.waitFor("or-2", seconds: 15) { $0.alarm.state == "normal" }
        let panelNormal = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(30): true, Self.line(31): true, Self.line(32): true])

        Self.setInsulation(harness, unit: 2, ohms: 30_000)
        try await harness.waitFor("or-2", seconds: 10) { $0.outputs.buzzer }
        let panelAlarm = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(30): false, Self.line(31): false, Self.line(32): false])
        let theatre1 = try await harness.system("or-1")

        try Self.press(harness.gpio, Self.line(33))
        let silenced = try await harness.waitFor("or-2", seconds: 5) { !$0.outputs.buzzer }
        let panelSilenced = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(31): false, Self.line(32): true])

        Self.setInsulation(harness, unit: 2, ohms: 500_000)
        try await harness.waitFor("or-2", seconds: 20) { $0.alarm.state == "normal" }
        let panelBack = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, [Self.line(30): true, Self.line(31): true, Self.line(32): true], seconds: 10)
        try await harness.stop()
        let panelAfterStop = [Self.line(30), Self.line(31), Self.line(32)].map { harness.gpio.isElectricallyHigh($0) }

        #expect(panelNormal == [Self.line(30): true, Self.line(31): true, Self.line(32): true])
        #expect(panelAlarm == [Self.line(30): false, Self.line(31): false, Self.line(32): false])
        #expect(theatre1?.outputs.green == true, "the other theatre stays green")
        #expect(silenced?.outputs.yellow == true && silenced?.alarm.silenced == true)
        #expect(panelSilenced == [Self.line(31): false, Self.line(32): true], "silenced, the panel's yellow stays lit")
        #expect(panelBack == [Self.line(30): true, Self.line(31): true, Self.line(32): true])
        #expect(panelAfterStop == [false, false, false], "a stopped service leaves the remote panel in alarm")
    }

    @Test func test_imdContactDisagreeingWithModbusIsRaisedAsADeviceFault() async throws {
        let harness = try await Self.startTheatre1(
            """
                alarms:
                  imd_contact_disagreement_seconds: 2
                outputs:
                  yellow: { chip: gpiochip0, line: 21 }
                inputs:
                  imd_alarm_contact: { chip: gpiochip0, line: 13, debounce_seconds: 0.2 }
            """)
        // The contact signals while the device measures a healthy 500 kΩ and flags nothing.
        let contactAt = Date()
        try harness.gpio.press(Self.line(13))
        harness.gpio.advanceClock(bySeconds: 0.25)
        let insulation = try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        let device = try await harness.waitFor("or-1", seconds: 20) { $0.alarm.conditions.contains("device") }
        let disagreedSeconds = Date().timeIntervalSince(contactAt)
        // Agreement again: the contact releases, and the device fault clears after its release delay.
        try harness.gpio.release(Self.line(13))
        harness.gpio.advanceClock(bySeconds: 0.25)
        let agreed = try await harness.waitFor("or-1", seconds: 20) { !$0.alarm.conditions.contains("device") }
        try await harness.stop()

        #expect(insulation?.alarm.conditions.contains("insulation") == true, "the contact raises insulation at once")
        #expect(device?.alarm.conditions.contains("device") == true)
        #expect(disagreedSeconds >= 1.9, "raised after \(disagreedSeconds) s; the configured disagreement time is 2 s")
        #expect(agreed?.alarm.conditions.contains("device") == false)
    }
}
