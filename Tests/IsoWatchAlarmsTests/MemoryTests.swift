import IsoWatchAlarms
import IsoWatchCore
import Testing

/// Old alarms and the record of each fault episode (start, end, worst value, who silenced and
/// who acknowledged).
@Suite struct MemoryTests {
    /// An insulation fault from 10 s (raised 11 s) that clears by itself, unacknowledged, at 18 s.
    func clearedUnacknowledged() throws -> Panel {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 30_000)
        panel.wait(until: 11)
        panel.readHealthy(from: 13, through: 18)
        #expect(panel.outputs.indicators.isEmpty, "precondition: the fault has cleared")
        return panel
    }

    @Test func test_oldAlarmStaysUntilAcknowledged() throws {
        var panel = try clearedUnacknowledged()
        panel.readHealthy(from: 19, through: 600)
        #expect(panel.outputs.oldAlarms == [.insulation])
        #expect(panel.machine.oldAlarms.map(\.condition) == [.insulation])

        panel.send(.acknowledge(user: "charge nurse"), at: 601)
        #expect(panel.outputs.oldAlarms.isEmpty)
        #expect(panel.machine.oldAlarms.isEmpty)
        let acknowledged = panel.journal.compactMap {
            if case .acknowledged(let user, let episodes) = $0.kind { (user, episodes) } else { nil }
        }
        #expect(acknowledged.count == 1)
        #expect(acknowledged.first?.0 == "charge nurse")
        #expect(acknowledged.first?.1.map(\.condition) == [.insulation])
        #expect(acknowledged.first?.1.first?.acknowledgedBy == "charge nurse")
    }

    @Test func test_oldAlarmLightsNoLampAndSoundsNothing() throws {
        let panel = try clearedUnacknowledged()
        #expect(panel.outputs.green)
        #expect(!panel.outputs.yellow && !panel.outputs.buzzer && !panel.outputs.commonAlarm)
        #expect(panel.outputs.oldAlarms == [.insulation])
    }

    @Test func test_faultAcknowledgedWhileActiveLeavesNoOldAlarm() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 30_000)
        panel.wait(until: 11)
        panel.send(.acknowledge(user: "surgeon"), at: 12)
        #expect(panel.outputs.yellow, "acknowledging does not cancel the yellow lamp")
        panel.readHealthy(from: 13, through: 30)
        #expect(panel.outputs.green)
        #expect(panel.outputs.oldAlarms.isEmpty)
        #expect(panel.cleared(.insulation).first?.acknowledgedBy == "surgeon")
    }

    @Test func test_acknowledgeAlsoSilencesTheBuzzer() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 30_000)
        panel.wait(until: 11)
        panel.send(.acknowledge(user: "surgeon"), at: 12)
        #expect(!panel.outputs.buzzer)
        #expect(panel.outputs.yellow)
    }

    @Test func test_worstValueRecorded() throws {
        let settings = AlarmSettings(overload: OverloadLevel(responsePercent: 100), staleAfter: storyStaleAfter)
        var panel = try greenPanel(settings)
        let insulation: [Double] = [45_000, 30_000, 38_000, 33_000]
        let load: [Double] = [110, 145, 120, 101]
        let celsius: [Double] = [125, 138, 131, 122]
        for index in insulation.indices {
            panel.read(
                at: 10 + Double(index) * 2, insulationOhms: insulation[index],
                values: [
                    .loadPercent: MeasuredValue(load[index]),
                    .windingTemperatureCelsius: MeasuredValue(celsius[index]),
                ])
        }
        panel.readHealthy(
            from: 20, through: 40,
            values: [.loadPercent: MeasuredValue(40), .windingTemperatureCelsius: MeasuredValue(60)])
        let worst = Dictionary(uniqueKeysWithValues: panel.cleared.map { ($0.condition, $0.worstValues) })
        #expect(worst[.insulation]?[.insulationResistanceOhms]?.value == insulation.min())
        #expect(worst[.overload]?[.loadPercent]?.value == load.max())
        #expect(worst[.overtemperature]?[.windingTemperatureCelsius]?.value == celsius.max())
    }

    @Test func test_worstValueKeepsARangeIndication() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 12_000)
        panel.read(at: 11, insulationOhms: 10_000, validity: .belowRange)
        panel.read(at: 12, insulationOhms: 10_000)
        panel.readHealthy(from: 13, through: 30)
        let episode = try #require(panel.cleared(.insulation).first)
        #expect(episode.worstValues[.insulationResistanceOhms] == MeasuredValue(10_000, validity: .belowRange))
    }

    @Test func test_episodeRecordsWhoSilencedAndWhoAcknowledged() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 30_000)
        panel.wait(until: 11)
        panel.send(.silence(user: "anna"), at: 12)
        panel.send(.silence(user: "ben"), at: 13)
        panel.send(.acknowledge(user: "carla"), at: 14)
        panel.readHealthy(from: 15, through: 30)
        let episode = try #require(panel.cleared(.insulation).first)
        #expect(episode.silencedBy == "anna")
        #expect(episode.silencedAt == instant(12))
        #expect(episode.acknowledgedBy == "carla")
        #expect(episode.acknowledgedAt == instant(14))
    }

    @Test func test_episodeRecordsOnsetRaiseAndEnd() throws {
        var panel = try greenPanel()
        let releaseDelay = panel.settings.insulationReleaseDelaySeconds
        panel.read(at: 10, insulationOhms: 30_000)
        panel.read(at: 10.5, insulationOhms: 30_000)
        panel.wait(until: 11)
        panel.read(at: 20, insulationOhms: 30_000)
        panel.read(at: 21)
        panel.wait(until: 21 + releaseDelay)
        let episode = try #require(panel.cleared(.insulation).first)
        #expect(episode.onset == instant(10))
        #expect(episode.raised == instant(10 + panel.settings.insulationResponseDelaySeconds))
        #expect(episode.cleared == instant(21 + releaseDelay))
        #expect(episode.onset.wall == wallOrigin.addingTimeInterval(10))
        #expect(panel.raised(.insulation).first?.id == episode.id)
    }

    @Test func test_oldAlarmsAreBoundedKeepingTheNewest() throws {
        var panel = try greenPanel(AlarmSettings(staleAfter: storyStaleAfter, maximumOldAlarms: 3))
        var second = 10.0
        for _ in 0..<5 {
            panel.read(at: second, insulationOhms: 30_000)
            panel.readHealthy(from: second + 2, through: second + 10)
            second += 20
        }
        let cleared = panel.cleared(.insulation).map(\.id)
        #expect(cleared.count == 5)
        #expect(panel.machine.oldAlarms.map(\.id) == Array(cleared.suffix(3)))
    }
}
