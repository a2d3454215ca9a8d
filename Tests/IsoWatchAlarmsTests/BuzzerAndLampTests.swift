import IsoWatchAlarms
import IsoWatchCore
import Testing

/// IEC 60364-7-710: a yellow lamp that cannot be cancelled, an audible alarm that may be silenced.
@Suite struct BuzzerAndLampTests {
    /// An insulation fault raised at 11 s on a green system.
    func insulationFault(_ settings: AlarmSettings = AlarmSettings(staleAfter: storyStaleAfter)) throws -> Panel {
        var panel = try greenPanel(settings)
        panel.read(at: 10, insulationOhms: 30_000)
        panel.wait(until: 11)
        #expect(panel.outputs.indicators == [.insulation], "precondition: insulation alarm")
        return panel
    }

    @Test func test_yellowLampCannotBeCancelled() throws {
        var panel = try insulationFault()
        let operatorEvents: [AlarmEvent] = [
            .silence(user: "nurse"), .acknowledge(user: "nurse"), .testStarted(user: "nurse"),
            .testFinished(passed: true), .communicationRestored, .tick,
        ]
        var second = 12.0
        for event in operatorEvents {
            panel.send(event, at: second)
            panel.read(at: second + 0.5, insulationOhms: 30_000)
            #expect(panel.outputs.yellow, "yellow stayed on after \(event)")
            second += 1
        }
        panel.wait(until: 3_600)
        panel.read(at: 3_600, insulationOhms: 30_000)
        #expect(panel.outputs.yellow)
        #expect(panel.outputHistory.allSatisfy { $0.seconds < 11 || $0.outputs.yellow })

        panel.read(at: 3_601)
        panel.wait(until: 3_601 + panel.settings.insulationReleaseDelaySeconds)
        #expect(!panel.outputs.yellow, "it goes out when the fault is gone")
    }

    @Test func test_silencingNeverTurnsYellowOff() throws {
        var panel = try insulationFault()
        let before = panel.outputs
        panel.send(.silence(user: "surgeon"), at: 12)
        #expect(!panel.outputs.buzzer)
        #expect(panel.outputs.yellow == before.yellow)
        #expect(panel.outputs.commonAlarm == before.commonAlarm)
        #expect(panel.outputs.indicators == before.indicators)
    }

    @Test func test_buzzerResoundsWhenASecondConditionAppears() throws {
        var panel = try insulationFault()
        panel.send(.silence(user: "surgeon"), at: 12)
        panel.read(at: 13, insulationOhms: 30_000, values: [.loadPercent: MeasuredValue(130)])
        panel.wait(until: 13 + panel.settings.overload.delays.responseDelay.secondsValue)
        #expect(panel.outputs.indicators == [.insulation, .overload])
        #expect(panel.outputs.buzzer)
        #expect(panel.resoundCauses == [.newCondition(.overload)])
    }

    @Test func test_reAlarmAfterConfiguredTimeWhileFaultPersists() throws {
        var panel = try insulationFault(AlarmSettings(staleAfter: storyStaleAfter, reAlarmInterval: .seconds(60)))
        panel.send(.silence(user: "surgeon"), at: 12)
        for second in stride(from: 13.0, through: 71, by: 1) { panel.read(at: second, insulationOhms: 30_000) }
        panel.wait(until: 71.999)
        #expect(!panel.outputs.buzzer)
        panel.wait(until: 72)
        #expect(panel.outputs.buzzer)
        #expect(panel.resoundCauses == [.reAlarmIntervalElapsed])
    }

    @Test func test_noReAlarmOnceTheFaultHasGone() throws {
        var panel = try insulationFault(AlarmSettings(staleAfter: storyStaleAfter, reAlarmInterval: .seconds(60)))
        panel.send(.silence(user: "surgeon"), at: 12)
        panel.readHealthy(from: 20, through: 200)
        #expect(panel.resoundCauses.isEmpty)
        #expect(!panel.outputHistory.contains { $0.seconds > 12 && $0.outputs.buzzer })
    }

    @Test func test_noReAlarmWhenReAlarmIsDisabled() throws {
        var panel = try insulationFault(AlarmSettings(staleAfter: storyStaleAfter, reAlarmInterval: nil))
        panel.send(.silence(user: "surgeon"), at: 12)
        for second in stride(from: 13.0, through: 7_200, by: 10) { panel.read(at: second, insulationOhms: 30_000) }
        #expect(!panel.outputs.buzzer && panel.outputs.yellow)
    }

    @Test func test_sameConditionReturningIsANewEpisodeAndSoundsAgain() throws {
        var panel = try insulationFault()
        panel.send(.silence(user: "surgeon"), at: 12)
        panel.readHealthy(from: 13, through: 29)
        #expect(panel.outputs.green)
        panel.read(at: 30, insulationOhms: 30_000)
        panel.wait(until: 31)
        #expect(panel.outputs.indicators == [.insulation])
        #expect(panel.outputs.buzzer)
        let episodes = panel.raised(.insulation)
        #expect(episodes.count == 2)
        #expect(Set(episodes.map(\.id)).count == 2, "each return is an episode of its own")
    }

    @Test func test_silenceCoversOnlyWhatCouldBeHeard() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 30_000)
        // The timer is late: the alarm is raised in the same instant the mute button is pressed.
        panel.deliver(.silence(user: "surgeon"), at: 11.5)
        #expect(panel.outputs.indicators == [.insulation])
        #expect(panel.outputs.buzzer, "nobody has heard this alarm yet")
        #expect(!panel.journal.contains { if case .silenced = $0.kind { true } else { false } })
    }

    @Test func test_silenceWithNothingSoundingChangesNothing() throws {
        var panel = try greenPanel()
        let actions = panel.send(.silence(user: "visitor"), at: 5)
        #expect(actions.isEmpty)
    }

    @Test func test_commonAlarmFollowsYellow() throws {
        var panel = try insulationFault()
        panel.send(.silence(user: "surgeon"), at: 12)
        panel.read(at: 13)
        panel.wait(until: 30)
        panel.send(.testStarted(user: "technician"), at: 40)
        panel.wait(until: 60)
        #expect(panel.outputHistory.count > 4)
        for (_, outputs) in panel.outputHistory {
            #expect(outputs.commonAlarm == outputs.yellow)
            #expect(!(outputs.green && outputs.yellow))
        }
    }
}
