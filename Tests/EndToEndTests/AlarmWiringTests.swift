import Foundation
import IsoWatchAlarms
import IsoWatchCore
import Testing

@testable import IsoWatchService

/// The configuration reaches the alarm machine unchanged, remote panels combine their members by
/// the fail-safe rule, and the IMD contact's disagreement rule: the service's own decisions,
/// checked on the real types without I/O.
@Suite struct AlarmWiringTests {
    static let yaml = """
        site: { name: "Wiring" }
        gpio: { backend: simulated }
        systems:
          - id: or-1
            name: "Theatre 1"
            transformer: { rating_kva: 5, secondary_voltage_volts: 230 }
            device: { profile: bender-isometer, transport: { tcp: { host: 127.0.0.1 } } }
            thresholds:
              insulation_response_ohms: 80000
              insulation_prewarning_ohms: 150000
              load_percent: 90
              winding_temperature_celsius: 100
              ptc_response_ohms: 3000
              ptc_release_ohms: 1200
              stale_after_seconds: 20
            alarms:
              insulation: { response_delay_seconds: 3, release_delay_seconds: 7, release_hysteresis_percent: 10 }
              insulation_prewarning: { response_delay_seconds: 4, release_delay_seconds: 8, release_hysteresis_percent: 20 }
              overload: { response_delay_seconds: 6, release_delay_seconds: 9, release_hysteresis_percent: 8 }
              overtemperature: { response_delay_seconds: 2.5, release_delay_seconds: 11 }
              device_faults: { response_delay_seconds: 0.5, release_delay_seconds: 12 }
              communication: { release_delay_seconds: 13 }
              re_alarm_seconds: off
              test_duration_seconds: 9
        """

    static func system() throws -> SystemConfiguration {
        try ConfigurationLoader.parse(
            yaml: yaml, fileName: "wiring.yaml", baseDirectory: URL(fileURLWithPath: "/"), profiles: ServiceHarness.profiles
        ).systems[0]
    }

    static func at(_ seconds: Double) -> AlarmTime {
        AlarmTime(monotonic: .milliseconds(Int64(seconds * 1000)), wall: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
    }

    @Test func test_everyConfiguredValueReachesTheAlarmSettings() throws {
        let settings = AlarmSettings(try Self.system())
        #expect(settings.insulation == InsulationLevel(
            responseOhms: 80_000, releaseHysteresisPercent: 10,
            delays: ConditionDelays(responseDelay: .seconds(3), releaseDelay: .seconds(7))))
        #expect(settings.insulationPrewarning == InsulationLevel(
            responseOhms: 150_000, releaseHysteresisPercent: 20,
            delays: ConditionDelays(responseDelay: .seconds(4), releaseDelay: .seconds(8))))
        #expect(settings.overload.responsePercent == 90 && settings.overload.releaseHysteresisPercent == 8)
        #expect(settings.overload.delays == ConditionDelays(responseDelay: .seconds(6), releaseDelay: .seconds(9)))
        #expect(settings.overtemperature == OvertemperatureLevel(
            responseCelsius: 100, releaseCelsius: 90, sensorResponseOhms: 3000, sensorReleaseOhms: 1200,
            delays: ConditionDelays(responseDelay: .milliseconds(2500), releaseDelay: .seconds(11))))
        #expect(settings.deviceFaultDelays == ConditionDelays(responseDelay: .milliseconds(500), releaseDelay: .seconds(12)))
        #expect(settings.communicationDelays == ConditionDelays(responseDelay: .zero, releaseDelay: .seconds(13)))
        #expect(settings.staleAfter == .seconds(20))
        #expect(settings.reAlarmInterval == nil)
        #expect(settings.testDuration == .seconds(9))
        #expect(settings.validate().isEmpty)
    }

    @Test func test_defaultsOfAFileWithoutAlarmsSectionAreTheMachinesDefaults() throws {
        let plain = SystemConfiguration(
            id: "x", name: "x", location: "", transformer: TransformerRating(ratingKVA: 5, secondaryVoltageVolts: 230),
            device: DeviceConfiguration(profileID: "bender-isometer", transport: .tcp(host: "h", port: 502), unit: 1))
        let settings = AlarmSettings(plain)
        let machineDefaults = AlarmSettings()
        #expect(settings.insulation == machineDefaults.insulation)
        #expect(settings.overload.delays == machineDefaults.overload.delays)
        #expect(settings.overload.releaseHysteresisPercent == machineDefaults.overload.releaseHysteresisPercent)
        #expect(settings.overtemperature == machineDefaults.overtemperature)
        #expect(settings.deviceFaultDelays == machineDefaults.deviceFaultDelays)
        #expect(settings.communicationDelays == machineDefaults.communicationDelays)
        #expect(settings.reAlarmInterval == machineDefaults.reAlarmInterval)
        #expect(settings.testDuration == machineDefaults.testDuration)
    }

    @Test func test_configuredResponseDelayHoldsTheInsulationAlarmBack() throws {
        var machine = try AlarmStateMachine(settings: AlarmSettings(try Self.system()), now: Self.at(0))
        var counter: UInt32 = 0
        func read(_ ohms: Double, at seconds: Double) {
            counter += 1
            let reading = DecodedReading(
                timestamp: Self.at(seconds).wall, values: [.insulationResistanceOhms: MeasuredValue(ohms)],
                updateCounter: counter)
            _ = machine.handle(.reading(reading), at: Self.at(seconds))
        }
        read(500_000, at: 1)
        read(500_000, at: 2)
        #expect(machine.outputs.green)
        // 70 kΩ: at or below the configured 80 kΩ response value, not the default 50 kΩ.
        for second in stride(from: 3.0, through: 5.5, by: 0.5) { read(70_000, at: second) }
        #expect(!machine.activeConditions.contains(.insulation), "2.5 s of fault is less than the 3 s response delay")
        read(70_000, at: 6)
        #expect(machine.activeConditions.contains(.insulation))
        // 89 kΩ is past the configured 10 % hysteresis (88 kΩ) but inside the default 25 %.
        for second in stride(from: 7.0, through: 13.5, by: 0.5) { read(89_000, at: second) }
        #expect(machine.activeConditions.contains(.insulation), "6.5 s of release is less than the 7 s release delay")
        read(89_000, at: 14)
        #expect(!machine.activeConditions.contains(.insulation))
    }

    static let green = AlarmOutputs(green: true, yellow: false, buzzer: false, commonAlarm: false, indicators: [])
    static let sounding = AlarmOutputs(green: false, yellow: true, buzzer: true, commonAlarm: true, indicators: [.overload])
    static let silenced = AlarmOutputs(green: false, yellow: true, buzzer: false, commonAlarm: true, indicators: [.insulation])

    @Test func test_remotePanelIsGreenOnlyWhileEveryMemberIsGreen() {
        #expect(AlarmOutputs.combining([Self.green, Self.green]).green)
        let one = AlarmOutputs.combining([Self.green, Self.sounding])
        #expect(!one.green && one.yellow && one.buzzer && one.commonAlarm && one.indicators == [.overload])
        let quiet = AlarmOutputs.combining([Self.silenced, Self.green])
        #expect(quiet.yellow && !quiet.buzzer, "silenced at the theatre, silent at the panel; yellow stays")
        let both = AlarmOutputs.combining([Self.silenced, Self.sounding])
        #expect(both.buzzer && both.indicators == [.insulation, .overload])
    }

    @Test func test_remotePanelMemberNotYetReportedCountsAsAlarm() {
        let combined = AlarmOutputs.combining([Self.green, nil])
        #expect(!combined.green && combined.yellow && combined.buzzer && combined.commonAlarm)
    }

    static func reading(_ ohms: Double?, flagged: Bool = false, validity: Validity = .actual) -> DecodedReading {
        DecodedReading(
            timestamp: Date(), values: ohms.map { [.insulationResistanceOhms: MeasuredValue($0, validity: validity)] } ?? [:],
            faults: flagged ? [.insulation] : [])
    }

    @Test func test_imdContactDisagreesWithAHealthyValueOnlyPastTheRelease() {
        let thresholds = Thresholds(insulationResponseOhms: 50_000)
        func disagrees(_ contact: Bool, _ reading: DecodedReading) -> Bool? {
            SystemSupervisor.contactDisagrees(
                contactActive: contact, reading: reading,
                insulation: InsulationLevel(responseOhms: thresholds.insulationResponseOhms, releaseHysteresisPercent: 25))
        }
        #expect(disagrees(true, Self.reading(500_000)) == true, "contact signals, Modbus healthy")
        #expect(disagrees(true, Self.reading(55_000)) == false, "inside the hysteresis: nothing to compare")
        #expect(disagrees(true, Self.reading(30_000)) == false)
        #expect(disagrees(true, Self.reading(500_000, flagged: true)) == false)
        #expect(disagrees(false, Self.reading(30_000)) == true, "Modbus alarm, contact quiet")
        #expect(disagrees(false, Self.reading(500_000, flagged: true)) == true)
        #expect(disagrees(false, Self.reading(500_000)) == false)
        #expect(disagrees(false, Self.reading(nil)) == nil, "no value: nothing to compare")
        #expect(disagrees(true, Self.reading(10_000, validity: .invalid)) == nil)
    }
}
