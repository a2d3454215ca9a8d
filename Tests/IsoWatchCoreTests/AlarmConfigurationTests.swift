import Foundation
import Testing

@testable import IsoWatchCore

/// The `alarms` section, the temperature release thresholds, per-condition indicator lines and
/// remote panels: every value reaches the configuration, and every nonsense is refused with the
/// file, line and field.
@Suite struct AlarmConfigurationTests {
    /// Line numbers in the comments; each test changes one line.
    static let valid = """
        site: { name: "Alarm site" }
        gpio: { backend: simulated }
        systems:
          - id: or-1
            name: "Operating theatre 1"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device: { profile: bender-isometer, transport: { tcp: { host: 10.0.0.1 } } }
            thresholds:
              insulation_response_ohms: 60000
              insulation_prewarning_ohms: 120000
              winding_temperature_celsius: 130
              winding_temperature_release_celsius: 115
              ptc_response_ohms: 3600
              ptc_release_ohms: 1500
            alarms:
              insulation: { response_delay_seconds: 2, release_delay_seconds: 10, release_hysteresis_percent: 20 }
              insulation_prewarning: { response_delay_seconds: 3, release_delay_seconds: 12, release_hysteresis_percent: 15 }
              overload: { response_delay_seconds: 8, release_delay_seconds: 9, release_hysteresis_percent: 10 }
              overtemperature: { response_delay_seconds: 4, release_delay_seconds: 30 }
              device_faults: { response_delay_seconds: 0, release_delay_seconds: 7 }
              communication: { release_delay_seconds: 6 }
              re_alarm_seconds: 600
              test_duration_seconds: 8
              self_test_timeout_seconds: 90
              imd_contact_disagreement_seconds: 20
              function_test_interval_hours: 168
            outputs:
              yellow: { chip: gpiochip0, line: 1 }
              indicators:
                insulation: { chip: gpiochip0, line: 2 }
                overload: { chip: gpiochip0, line: 3, active_low: true }
          - id: or-2
            name: "Operating theatre 2"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device: { profile: trafox-im01-med, transport: { tcp: { host: 10.0.0.2 } } }
            outputs:
              yellow: { chip: gpiochip0, line: 11 }
        panels:
          - id: recovery
            name: "Recovery room"
            systems: [or-1, or-2]
            outputs:
              yellow: { chip: gpiochip1, line: 0 }
              buzzer: { chip: gpiochip1, line: 1 }
            inputs:
              mute: { chip: gpiochip1, line: 2, active_low: true }
        """

    private let site = SiteFileFixture(valid: Self.valid)

    @Test func test_everyConditionsTimingIsReadFromTheAlarmsSection() throws {
        let configuration = try site.parse(Self.valid)
        let alarms = configuration.systems[0].alarms
        #expect(alarms.insulation == ConditionTiming(responseDelaySeconds: 2, releaseDelaySeconds: 10, releaseHysteresisPercent: 20))
        #expect(alarms.insulationPrewarning
            == ConditionTiming(responseDelaySeconds: 3, releaseDelaySeconds: 12, releaseHysteresisPercent: 15))
        #expect(alarms.overload == ConditionTiming(responseDelaySeconds: 8, releaseDelaySeconds: 9, releaseHysteresisPercent: 10))
        #expect(alarms.overtemperature == ConditionTiming(responseDelaySeconds: 4, releaseDelaySeconds: 30))
        #expect(alarms.deviceFaults == ConditionTiming(responseDelaySeconds: 0, releaseDelaySeconds: 7))
        #expect(alarms.communicationReleaseDelaySeconds == 6)
        #expect(alarms.reAlarmSeconds == 600)
        #expect(alarms.testDurationSeconds == 8)
        #expect(alarms.selfTestTimeoutSeconds == 90)
        #expect(alarms.imdContactDisagreementSeconds == 20)
        #expect(alarms.functionTestIntervalHours == 168)
        let thresholds = configuration.systems[0].thresholds
        #expect(thresholds.windingTemperatureReleaseCelsius == 115)
        #expect(thresholds.ptcResponseOhms == 3600 && thresholds.ptcReleaseOhms == 1500)
    }

    @Test func test_aFileWithoutAnAlarmsSectionKeepsTheDefaults() throws {
        let theatre2 = try site.parse(Self.valid).systems[1]
        #expect(theatre2.alarms == AlarmTiming())
        #expect(theatre2.thresholds == Thresholds())
        #expect(AlarmTiming().reAlarmSeconds == 900, "a silenced fault is heard again after 15 minutes by default")
        #expect(AlarmTiming().functionTestIntervalHours == 24, "the automatic function test is on by default")
    }

    @Test func test_reAlarmAndFunctionTestCanBeSwitchedOff() throws {
        let configuration = try site.parse(
            site.replacing("re_alarm_seconds: 600", with: "re_alarm_seconds: off")
                .replacingOccurrences(of: "function_test_interval_hours: 168", with: "function_test_interval_hours: off"))
        #expect(configuration.systems[0].alarms.reAlarmSeconds == nil)
        #expect(configuration.systems[0].alarms.functionTestIntervalHours == nil)
    }

    @Test func test_negativeDelayIsRefusedWithLineAndField() {
        site.expectSingleError(
            site.replacing("response_delay_seconds: 8,", with: "response_delay_seconds: -1,"), line: 18,
            field: "systems[0].alarms.overload.response_delay_seconds", reasonContains: "must be 0...3600 s, got -1")
        site.expectSingleError(
            site.replacing("{ release_delay_seconds: 6 }", with: "{ release_delay_seconds: -0.5 }"), line: 21,
            field: "systems[0].alarms.communication.release_delay_seconds", reasonContains: "got -0.5")
    }

    @Test func test_hysteresisOutsideItsRangeIsRefused() {
        site.expectSingleError(
            site.replacing("release_hysteresis_percent: 20 }", with: "release_hysteresis_percent: 100 }"), line: 16,
            field: "systems[0].alarms.insulation.release_hysteresis_percent", reasonContains: "must be 0...99 %")
        site.expectSingleError(
            site.replacing("release_hysteresis_percent: 10 }", with: "release_hysteresis_percent: 60 }"), line: 18,
            field: "systems[0].alarms.overload.release_hysteresis_percent", reasonContains: "must be 0...50 %")
    }

    @Test func test_hysteresisIsRefusedWhereTheReleaseIsAValueOfItsOwn() {
        site.expectSingleError(
            site.replacing("release_delay_seconds: 30 }", with: "release_delay_seconds: 30, release_hysteresis_percent: 5 }"),
            line: 19, field: "systems[0].alarms.overtemperature.release_hysteresis_percent", reasonContains: "unknown key")
    }

    @Test func test_reAlarmTimeMustBeANumberOrOff() {
        site.expectSingleError(
            site.replacing("re_alarm_seconds: 600", with: "re_alarm_seconds: never"), line: 22,
            field: "systems[0].alarms.re_alarm_seconds", reasonContains: "or off, got 'never'")
        site.expectSingleError(
            site.replacing("re_alarm_seconds: 600", with: "re_alarm_seconds: 0"), line: 22,
            field: "systems[0].alarms.re_alarm_seconds", reasonContains: "must be 10...86400 s")
    }

    @Test func test_prewarningAtTheAlarmLevelIsRefused() {
        site.expectSingleError(
            site.replacing("insulation_prewarning_ohms: 120000", with: "insulation_prewarning_ohms: 60000"), line: 10,
            field: "systems[0].thresholds.insulation_prewarning_ohms", reasonContains: "must be above insulation_response_ohms")
    }

    @Test func test_insulationAlarmBelowFiftyKiloohmsIsRefused() {
        site.expectSingleError(
            site.replacing("insulation_response_ohms: 60000", with: "insulation_response_ohms: 49999"), line: 9,
            field: "systems[0].thresholds.insulation_response_ohms", reasonContains: "IEC 60364-7-710")
    }

    @Test func test_overtemperatureReleaseMustBeBelowItsResponse() {
        site.expectSingleError(
            site.replacing("winding_temperature_release_celsius: 115", with: "winding_temperature_release_celsius: 130"), line: 12,
            field: "systems[0].thresholds.winding_temperature_release_celsius", reasonContains: "must be below winding_temperature_celsius")
        site.expectSingleError(
            site.replacing("ptc_release_ohms: 1500", with: "ptc_release_ohms: 3600"), line: 14,
            field: "systems[0].thresholds.ptc_release_ohms", reasonContains: "must be below ptc_response_ohms")
    }

    @Test func test_overtemperatureReleaseDefaultsToTenDegreesBelowTheResponse() throws {
        let configuration = try site.parse(site.replacing("      winding_temperature_release_celsius: 115\n", with: ""))
        #expect(configuration.systems[0].thresholds.windingTemperatureReleaseCelsius == nil)
        #expect(configuration.systems[0].thresholds.windingTemperatureCelsius == 130)
    }

    @Test func test_indicatorLinesAreReadPerCondition() throws {
        let outputs = try site.parse(Self.valid).systems[0].outputs
        #expect(outputs.indicators == [
            "insulation": LineReference(chip: "gpiochip0", offset: 2),
            "overload": LineReference(chip: "gpiochip0", offset: 3, activeLow: true),
        ])
        #expect(outputs.all.count == 3)
    }

    @Test func test_indicatorForAnUnknownConditionIsRefusedWithASuggestion() {
        site.expectSingleError(
            site.replacing("overload: { chip: gpiochip0, line: 3, active_low: true }", with: "overlaod: { chip: gpiochip0, line: 3 }"),
            line: 31, field: "systems[0].outputs.indicators.overlaod", reasonContains: "did you mean 'overload'?")
    }

    @Test func test_indicatorLineUsedTwiceIsRefused() {
        site.expectSingleError(
            site.replacing("insulation: { chip: gpiochip0, line: 2 }", with: "insulation: { chip: gpiochip0, line: 1 }"),
            line: 30, field: "systems[0].outputs.indicators.insulation", reasonContains: "is already the yellow output")
    }

    @Test func test_panelCoversItsMemberSystems() throws {
        let panels = try site.parse(Self.valid).panels
        #expect(panels == [
            PanelConfiguration(
                id: "recovery", name: "Recovery room", systems: ["or-1", "or-2"],
                outputs: OutputLines(
                    yellow: LineReference(chip: "gpiochip1", offset: 0), buzzer: LineReference(chip: "gpiochip1", offset: 1)),
                inputs: InputLines(mute: InputLineReference(chip: "gpiochip1", offset: 2, activeLow: true)))
        ])
    }

    @Test func test_panelMemberMustBeASystemOfTheFile() {
        site.expectSingleError(
            site.replacing("systems: [or-1, or-2]", with: "systems: [or-1, or-9]"), line: 41,
            field: "panels[0].systems[1]", reasonContains: "no system 'or-9'")
    }

    @Test func test_panelLineMustNotBeASystemsLine() {
        site.expectSingleError(
            site.replacing("yellow: { chip: gpiochip1, line: 0 }", with: "yellow: { chip: gpiochip0, line: 11 }"), line: 43,
            field: "panels[0].outputs.yellow", reasonContains: "already the yellow output of systems[1] ('or-2')")
    }

    @Test func test_panelAcceptsNoTestButtonAndNoIndicators() {
        site.expectSingleError(
            site.replacing("mute: { chip: gpiochip1, line: 2, active_low: true }", with: "test: { chip: gpiochip1, line: 2 }"),
            line: 46, field: "panels[0].inputs.test", reasonContains: "unknown key 'test'")
        site.expectSingleError(
            site.replacing("buzzer: { chip: gpiochip1, line: 1 }", with: "indicators: { overload: { chip: gpiochip1, line: 1 } }"),
            line: 44, field: "panels[0].outputs.indicators", reasonContains: "unknown key 'indicators'")
    }
}
