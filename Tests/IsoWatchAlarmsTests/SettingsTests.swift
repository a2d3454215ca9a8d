import Foundation
import IsoWatchAlarms
import IsoWatchCore
import Testing

@Suite struct SettingsTests {
    @Test func test_defaultSettingsFollowTheStandard() {
        let settings = AlarmSettings()
        #expect(settings.validate().isEmpty)
        #expect(settings.insulation.responseOhms == Thresholds.minimumInsulationResponseOhms)
        #expect(settings.insulation.releaseOhms == settings.insulation.responseOhms * 1.25)
    }

    @Test(arguments: [49_999.0, 10_000, 0, -1, .nan])
    func test_insulationResponseBelow50kOhmIsInvalid(responseOhms: Double) {
        let settings = AlarmSettings(insulation: InsulationLevel(responseOhms: responseOhms))
        #expect(!settings.validate().isEmpty)
        #expect(throws: InvalidAlarmSettings.self) {
            try AlarmStateMachine(settings: settings, now: instant(0))
        }
    }

    @Test func test_responseValueMayBeSetHigher() {
        let settings = AlarmSettings(insulation: InsulationLevel(responseOhms: 150_000))
        #expect(settings.validate().isEmpty)
    }

    @Test func test_prewarningMustBeAboveTheAlarmLevel() {
        let settings = AlarmSettings(insulationPrewarning: InsulationLevel(responseOhms: 50_000))
        #expect(settings.validate().count == 1)
    }

    @Test func test_releaseMustBeOnTheCalmSideOfResponse() {
        let temperature = AlarmSettings(overtemperature: OvertemperatureLevel(responseCelsius: 100, releaseCelsius: 100))
        #expect(temperature.validate().count == 1)
        let ptc = AlarmSettings(overtemperature: OvertemperatureLevel(sensorResponseOhms: 1_600, sensorReleaseOhms: 4_000))
        #expect(ptc.validate().count == 1)
        let hysteresis = AlarmSettings(insulation: InsulationLevel(responseOhms: 50_000, releaseHysteresisPercent: -10))
        #expect(hysteresis.validate().count == 1)
    }

    @Test func test_delaysAndTimesMustBeSensible() {
        let settings = AlarmSettings(
            deviceFaultDelays: ConditionDelays(responseDelay: .seconds(-1), releaseDelay: .zero),
            staleAfter: .zero, reAlarmInterval: .zero, testDuration: .zero)
        #expect(settings.validate().count == 4)
    }
}

@Suite struct OutputsEncodingTests {
    @Test func test_outputsEncodeWithTheProjectsSnakeCaseKeys() throws {
        let outputs = AlarmOutputs(
            green: false, yellow: true, buzzer: false, commonAlarm: true, indicators: [.staleData],
            oldAlarms: [.insulation], testInProgress: false)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(outputs)) as? [String: Any]
        #expect(Set(json?.keys.map { $0 } ?? []) == [
            "green", "yellow", "buzzer", "common_alarm", "indicators", "old_alarms", "test_in_progress",
        ])
        #expect(json?["indicators"] as? [String] == ["stale_data"])
        #expect(try JSONDecoder().decode(AlarmOutputs.self, from: JSONEncoder().encode(outputs)) == outputs)
    }
}
