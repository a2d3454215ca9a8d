import Foundation
import IsoWatchAlarms
import IsoWatchCore
import Testing

/// The machine keeps no clock: the caller's timer delivers ticks, punctual or not.
@Suite struct TimingTests {
    @Test func test_actionsAreEmittedOnlyOnChange() throws {
        var panel = try greenPanel()
        let stale = instant(2).monotonic + panel.settings.staleAfter
        #expect(panel.send(.tick, at: 3) == [.wakeUp(at: stale)], "a tick changes nothing; it only re-arms the timer")
        #expect(panel.send(.communicationRestored, at: 3.5).isEmpty)
        let repeated = panel.read(at: 4)
        #expect(!repeated.contains { if case .setOutputs = $0 { true } else { false } })
        #expect(!repeated.contains { if case .record = $0 { true } else { false } })
    }

    @Test func test_wakeUpRequestedForEveryPendingDelay() throws {
        var panel = try greenPanel()
        let actions = panel.read(at: 10, insulationOhms: 30_000)
        let responseDelay = panel.settings.insulation.delays.responseDelay
        #expect(actions == [.wakeUp(at: instant(10).monotonic + responseDelay)])
    }

    /// Insulation fault, stale data, communication loss and recovery, with deadlines between events.
    static func script(_ panel: inout Panel, punctualTimer: Bool) {
        func reading(_ ohms: Double, _ counter: UInt32) -> AlarmEvent {
            .reading(DecodedReading(
                timestamp: wallOrigin, values: [.insulationResistanceOhms: MeasuredValue(ohms)], updateCounter: counter))
        }
        let events: [(Double, AlarmEvent)] = [
            (10, reading(30_000, 100)), (30, reading(70_000, 101)), (31, .communicationLost(reason: "cable")),
            (32, .communicationRestored), (60, reading(70_000, 102)),
        ]
        for (second, event) in events {
            if punctualTimer { panel.send(event, at: second) } else { panel.deliver(event, at: second) }
        }
    }

    @Test func test_timerThatFiredIsAlwaysReArmed() throws {
        var machine = try AlarmStateMachine(settings: AlarmSettings(staleAfter: storyStaleAfter), now: instant(0))
        let first = try #require(machine.nextDeadline)
        // A timer that fires a hair early, by its own clock, must still be told to fire again.
        let early = machine.handle(.tick, at: AlarmTime(monotonic: first - .milliseconds(1), wall: wallOrigin))
        #expect(early == [.wakeUp(at: first)])
        #expect(machine.handle(.communicationRestored, at: instant(1)).isEmpty)
    }

    @Test func test_lateTickEndsInTheSameStateAsPunctualOnes() throws {
        var punctual = try greenPanel()
        var late = try greenPanel()
        Self.script(&punctual, punctualTimer: true)
        Self.script(&late, punctualTimer: false)
        #expect(late.outputs == punctual.outputs)
        #expect(late.machine.activeConditions == punctual.machine.activeConditions)
        #expect(late.machine.oldAlarms.map(\.condition) == punctual.machine.oldAlarms.map(\.condition))
        #expect(late.journal.map(\.kind.summary) == punctual.journal.map(\.kind.summary))
        #expect(late.outputHistory.count < punctual.outputHistory.count, "the late timer saw fewer intermediate states")
    }

    @Test func test_clockGoingBackwardsNeverShortensADelay() throws {
        var panel = try greenPanel(
            AlarmSettings(
                insulation: InsulationLevel(responseOhms: 50_000, delays: delays(response: 3, release: 5)),
                staleAfter: storyStaleAfter))
        panel.read(at: 10, insulationOhms: 30_000)
        panel.deliver(.tick, at: 8)
        panel.deliver(.tick, at: 12.999)
        #expect(panel.outputs.green)
        panel.deliver(.tick, at: 13)
        #expect(panel.outputs.indicators == [.insulation])
    }

    @Test func test_wallClockJumpDoesNotChangeDelays() throws {
        var machine = try AlarmStateMachine(settings: AlarmSettings(staleAfter: storyStaleAfter), now: instant(0))
        let reading = { (ohms: Double, counter: UInt32) in
            AlarmEvent.reading(DecodedReading(
                timestamp: wallOrigin, values: [.insulationResistanceOhms: MeasuredValue(ohms)], updateCounter: counter))
        }
        _ = machine.handle(reading(400_000, 1), at: instant(1))
        _ = machine.handle(reading(30_000, 2), at: instant(2))
        // The wall clock is set back an hour between two polls.
        let jumped = AlarmTime(monotonic: instant(2.5).monotonic, wall: wallOrigin.addingTimeInterval(-3_600))
        _ = machine.handle(.tick, at: jumped)
        #expect(machine.activeConditions.isEmpty)
        let raisedAt = AlarmTime(monotonic: instant(3).monotonic, wall: wallOrigin.addingTimeInterval(-3_599.5))
        let actions = machine.handle(.tick, at: raisedAt)
        #expect(machine.activeConditions == [.insulation])
        let raised = actions.compactMap { if case .record(let r) = $0, case .raised(let e) = r.kind { e } else { nil } }
        #expect(raised.first?.raised.wall == raisedAt.wall, "records carry the wall time the caller gave")
    }
}

extension AlarmRecord.Kind {
    /// The record without its times, to compare two runs whose timers fired at different moments.
    var summary: String {
        switch self {
        case .raised(let episode): "raised \(episode.condition.rawValue)"
        case .cleared(let episode): "cleared \(episode.condition.rawValue)"
        case .silenced(let user, let conditions): "silenced \(conditions.map(\.rawValue)) by \(user)"
        case .acknowledged(let user, let episodes): "acknowledged \(episodes.map(\.condition.rawValue)) by \(user)"
        case .resounded(let cause): "resounded \(cause)"
        case .testStarted(let user): "test started by \(user ?? "-")"
        case .testEnded(let user): "test ended \(user ?? "-")"
        case .selfTestResult(let passed): "self-test passed \(passed)"
        }
    }
}
