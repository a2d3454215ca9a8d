import IsoWatchAlarms
import IsoWatchCore
import Testing

/// Fail-safe start and data quality: the system is green only on a fresh, valid insulation value.
@Suite struct StartupAndDataTests {
    @Test func test_startsInAlarmUntilFirstValidMeasurement() throws {
        var panel = try Panel()
        #expect(panel.outputs.indicators == [.awaitingFirstMeasurement])
        #expect(panel.outputs.yellow && panel.outputs.buzzer && panel.outputs.commonAlarm && !panel.outputs.green)
        #expect(panel.raised(.awaitingFirstMeasurement).count == 1, "the start in alarm is journaled")

        panel.read(at: 1, insulationOhms: nil)
        panel.read(at: 2, insulationOhms: 400_000, validity: .invalid)
        #expect(panel.outputs.indicators == [.awaitingFirstMeasurement])

        panel.read(at: 3, insulationOhms: 400_000)
        #expect(panel.outputs.green)
        #expect(panel.outputs.indicators.isEmpty && !panel.outputs.yellow && !panel.outputs.buzzer)
    }

    @Test func test_startupWithAFaultNeverShowsGreen() throws {
        var panel = try Panel()
        panel.read(at: 1, insulationOhms: 30_000)
        panel.read(at: 1.5, insulationOhms: 30_000)
        panel.wait(until: 10)
        #expect(panel.outputs.indicators == [.insulation])
        #expect(!panel.wasGreen(from: 0), "start-up hands over to the insulation alarm without a green blink")
    }

    @Test func test_invalidValueIsNeverGreen() throws {
        var fromStart = try Panel()
        for second in stride(from: 1.0, through: 60, by: 1) {
            fromStart.read(at: second, insulationOhms: 400_000, validity: .invalid)
        }
        #expect(!fromStart.wasGreen(from: 0))

        var afterGreen = try greenPanel()
        for second in stride(from: 3.0, through: 60, by: 1) {
            afterGreen.read(at: second, insulationOhms: 400_000, validity: .invalid)
        }
        let staleAt = 2 + afterGreen.settings.staleAfterSeconds
        #expect(!afterGreen.wasGreen(from: staleAt))
        #expect(afterGreen.outputs.indicators == [.staleData])
    }

    @Test func test_missingInsulationValueIsNeverGreen() throws {
        var panel = try greenPanel()
        for second in stride(from: 3.0, through: 60, by: 1) {
            panel.read(at: second, insulationOhms: nil, values: [.loadPercent: MeasuredValue(40)])
        }
        #expect(!panel.wasGreen(from: 2 + panel.settings.staleAfterSeconds))
        #expect(panel.outputs.indicators == [.staleData])
    }

    @Test func test_noDataAtAllRaisesStaleDataAndSoundsAgain() throws {
        var panel = try Panel()
        panel.send(.silence(user: "technician"), at: 1)
        #expect(!panel.outputs.buzzer && panel.outputs.yellow)
        panel.wait(until: panel.settings.staleAfterSeconds)
        #expect(panel.outputs.indicators == [.awaitingFirstMeasurement, .staleData])
        #expect(panel.outputs.buzzer, "still no data after the stale time is a new condition")
    }

    @Test func test_communicationLossRaisesAlarm() throws {
        var panel = try greenPanel()
        panel.send(.communicationLost(reason: "no answer from unit 3 for 5 s"), at: 10)
        #expect(panel.outputs.indicators == [.communication])
        #expect(panel.outputs.yellow && panel.outputs.buzzer && !panel.outputs.green)
        let episode = try #require(panel.raised(.communication).first)
        #expect(episode.detail == "no answer from unit 3 for 5 s")
    }

    @Test func test_communicationRestoredClearsAfterReleaseDelay() throws {
        var panel = try greenPanel()
        let releaseDelay = panel.settings.communicationDelays.releaseDelay.secondsValue
        panel.send(.communicationLost(reason: "timeout"), at: 10)
        panel.send(.communicationRestored, at: 12)
        panel.read(at: 13)
        panel.wait(until: 12 + releaseDelay - 0.001)
        #expect(panel.outputs.indicators == [.communication])
        panel.read(at: 12 + releaseDelay)
        #expect(panel.outputs.green)
    }

    @Test func test_longCommunicationLossAlsoMakesTheDataStale() throws {
        var panel = try greenPanel()
        panel.send(.communicationLost(reason: "timeout"), at: 5)
        panel.send(.silence(user: "nurse"), at: 6)
        panel.wait(until: 2 + panel.settings.staleAfterSeconds)
        #expect(panel.outputs.indicators == [.communication, .staleData])
        #expect(panel.outputs.buzzer)
    }

    @Test func test_startupIsJournaledButLeavesNoOldAlarm() throws {
        let panel = try greenPanel()
        #expect(panel.cleared(.awaitingFirstMeasurement).count == 1)
        #expect(panel.machine.oldAlarms.isEmpty)
        #expect(panel.outputs.oldAlarms.isEmpty)
    }
}
