import Foundation
import IsoWatchStore

/// One fault the suite injected, and what the service must and may do about it.
struct InjectedFault: Sendable, Codable {
    var phase: String
    var label: String
    /// The systems the fault is on.
    var systems: [String]
    var start: Double
    /// When the fault was taken away (suite time); nil while it lasts.
    var end: Double?
    /// Conditions each of `systems` must raise while the fault lasts (empty: none must).
    var expect: [String]
    /// Conditions that are right to raise too (an insulation fault also passes the prewarning).
    var allow: [String] = []
    /// Further systems on which `allow` and `expect` are right (a gateway that drops its
    /// connection takes every unit behind it along).
    var alsoAffects: [String] = []
    /// Recovery after the fault was taken away, per system, when measured.
    var recoveredFreshSeconds: Double?
    var recoveredGreenSeconds: Double?
}

/// Everything the suite did and saw, and the figures it draws from them.
final class Ledger: @unchecked Sendable {
    // @unchecked: written only by the suite's single driving task.
    private(set) var faults: [InjectedFault] = []
    /// Journal entries the service had stored when it was killed, by id: each must still be
    /// there afterwards.
    private(set) var storedBeforeKills: [Int64: String] = [:]
    /// Suite times of the kills, so that episodes they ended are not looked for as clears.
    private(set) var kills: [Double] = []
    var notes: [String] = []

    /// Registers a fault now in force; returns its index for `end`.
    @discardableResult
    func begin(_ fault: InjectedFault) -> Int {
        faults.append(fault)
        return faults.count - 1
    }

    func end(_ index: Int, at time: Double) {
        faults[index].end = time
    }

    func recovered(_ index: Int, fresh: Double?, green: Double?) {
        faults[index].recoveredFreshSeconds = fresh
        faults[index].recoveredGreenSeconds = green
    }

    func fault(_ index: Int) -> InjectedFault { faults[index] }

    func killed(at time: Double, stored: [JournalEntry]) {
        kills.append(time)
        for entry in stored { storedBeforeKills[entry.id] = entry.kind }
    }
}

/// The verdict on one run.
struct Evaluation: Sendable, Codable {
    struct PhaseFigures: Sendable, Codable {
        var phase: String
        var faults = 0
        var alarmsExpected = 0
        var alarmsRaised = 0
        var missed: [String] = []
        var falseAlarms: [String] = []
        /// Communication alarms not covered by a fault's allowance but explained by a real
        /// interval without any successful poll (a gateway slowed by another unit's timeouts).
        var justifiedCommunicationAlarms = 0
        var raiseLatencySeconds: [Double] = []
        var recoveryFreshSeconds: [Double] = []
        var recoveryGreenSeconds: [Double] = []
        var longestGapSeconds = 0.0
    }

    var phases: [PhaseFigures] = []
    var journalEntries = 0
    var journalLost: [String] = []
    var longestGapPerSystem: [String: Double] = [:]
    var yellowNotLitForRaisedAlarm: [String] = []

    var totalMissed: Int { phases.reduce(0) { $0 + $1.missed.count } }
    var totalFalse: Int { phases.reduce(0) { $0 + $1.falseAlarms.count } }
    var passed: Bool { totalMissed == 0 && totalFalse == 0 && journalLost.isEmpty && yellowNotLitForRaisedAlarm.isEmpty }
}

enum Conditions {
    /// The alarm machine's start-up state is shown as a condition, but it is not a fault.
    static let startUp = "awaiting_first_measurement"
    static let communication: Set<String> = ["communication", "stale_data"]
}

struct Evaluator {
    var staleAfterSeconds: Double
    /// How long after a fault ends an episode of it may still begin (the last poll in flight
    /// and the alarm's response delay).
    var lateStartSeconds = 4.0
    /// The phase a suite time falls in, to file an episode under.
    var phaseOf: (Double) -> String

    func evaluate(_ ledger: Ledger, _ timelines: [String: SystemTimeline], journal: [JournalEntry]) -> Evaluation {
        var evaluation = Evaluation()
        var figures: [String: Evaluation.PhaseFigures] = [:]
        var order: [String] = []
        func touch(_ phase: String) {
            if figures[phase] == nil {
                figures[phase] = Evaluation.PhaseFigures(phase: phase)
                order.append(phase)
            }
        }

        // Expected alarms: each system of a fault with `expect` must show each condition while
        // the fault lasts (or within the late-start allowance), and its yellow lamp must light.
        for fault in ledger.faults {
            touch(fault.phase)
            figures[fault.phase]!.faults += 1
            if let fresh = fault.recoveredFreshSeconds { figures[fault.phase]!.recoveryFreshSeconds.append(fresh) }
            if let green = fault.recoveredGreenSeconds ?? Self.greenAgain(after: fault, timelines, lateStart: lateStartSeconds) {
                figures[fault.phase]!.recoveryGreenSeconds.append(green)
            }
            let windowEnd = (fault.end ?? .infinity) + lateStartSeconds
            for system in fault.systems {
                for condition in fault.expect {
                    figures[fault.phase]!.alarmsExpected += 1
                    let episode = timelines[system]?.episodes.first {
                        $0.condition == condition && $0.start <= windowEnd && ($0.end ?? .infinity) >= fault.start
                    }
                    guard let episode else {
                        figures[fault.phase]!.missed.append("\(system) \(condition) (\(fault.label) at t=\(Self.f(fault.start)) s)")
                        continue
                    }
                    figures[fault.phase]!.alarmsRaised += 1
                    figures[fault.phase]!.raiseLatencySeconds.append(max(0, episode.start - fault.start))
                    // The panel is sampled before the metrics, and the relay is written just after the
                    // alarm is raised: a lamp lit for this alarm shows one sample later at the earliest.
                    // An episode the suite closed at a kill may have been raised in the last moments
                    // before it, its relay write never made; the lamp then lights when the panel's
                    // watchdog relay drops (the kill figures hold that to its own bound).
                    let grace = episode.endedByKill ? Self.watchdogDropSeconds : Self.sampleTolerance
                    let lit = timelines[system]?.yellowLit.contains { $0.overlaps(episode.start, (episode.end ?? .infinity) + grace) } ?? false
                    if !lit {
                        evaluation.yellowNotLitForRaisedAlarm.append("\(system) \(condition) at t=\(Self.f(episode.start)) s")
                    }
                }
            }
        }

        // False alarms: every episode must be covered by a fault on that system that expects or
        // allows its condition, begun before it and not long over.
        for (system, timeline) in timelines.sorted(by: { $0.key < $1.key }) {
            for episode in timeline.episodes where episode.condition != Conditions.startUp {
                let phase = phaseOf(episode.start)
                touch(phase)
                let covered = ledger.faults.contains { fault in
                    (fault.systems.contains(system) || fault.alsoAffects.contains(system))
                        && (fault.expect.contains(episode.condition) || fault.allow.contains(episode.condition))
                        && episode.start >= fault.start && episode.start <= (fault.end ?? .infinity) + lateStartSeconds
                }
                if covered { continue }
                // The suite samples; the service may have raised the alarm and polled the unit again
                // between two samples. What justifies the alarm is a real interval without a
                // successful poll, as long as the stale time, ending just before it was seen.
                // Stale data is the alarm machine's "no fresh conclusive insulation value": a value
                // held back as implausible counts as none, so the gaps in valid values justify it too.
                let gaps = timeline.gaps + (episode.condition == "stale_data" ? timeline.insulationGaps : [])
                let justified = gaps.contains { gap in
                    let end = gap.end ?? .infinity
                    return end - gap.start >= staleAfterSeconds - Self.sampleTolerance && gap.start <= episode.start
                        && end >= episode.start - 1.5
                }
                if Conditions.communication.contains(episode.condition), justified {
                    figures[phase]!.justifiedCommunicationAlarms += 1
                    continue
                }
                let nearest = gaps.filter { $0.start <= episode.start }.max { ($0.end ?? .infinity) < ($1.end ?? .infinity) }
                figures[phase]!.falseAlarms.append(
                    "\(system) \(episode.condition) at t=\(Self.f(episode.start)) s"
                        + (episode.ageAtStart.map { " (last successful poll \(Self.f($0)) s before" } ?? " (")
                        + (nearest.map { "; latest gap \(Self.f($0.start))-\(Self.f($0.end ?? .infinity)) s" } ?? "") + ")")
            }
        }

        // Longest time without a successful poll, per system and per phase.
        for (system, timeline) in timelines {
            evaluation.longestGapPerSystem[system] = timeline.longestGap
            for gap in timeline.gaps {
                let phase = phaseOf(gap.end ?? gap.start)
                touch(phase)
                let length = (gap.end ?? gap.start) - gap.start
                figures[phase]!.longestGapSeconds = max(figures[phase]!.longestGapSeconds, length)
            }
        }

        evaluation.journalEntries = journal.count
        evaluation.journalLost = Self.lostJournalEntries(ledger, timelines, journal)
        evaluation.phases = order.map { figures[$0]! }
        return evaluation
    }

    /// For faults whose recovery was not watched live (the soak's): from the fault's end to the
    /// end of the last alarm episode it caused; nil when it caused none.
    static func greenAgain(after fault: InjectedFault, _ timelines: [String: SystemTimeline], lateStart: Double) -> Double? {
        guard let end = fault.end else { return nil }
        let conditions = Set(fault.expect + fault.allow)
        let ends = (fault.systems + fault.alsoAffects).flatMap { system in
            (timelines[system]?.episodes ?? []).filter {
                conditions.contains($0.condition) && $0.start >= fault.start && $0.start <= end + lateStart
            }.compactMap(\.end)
        }
        return ends.max().map { max(0, $0 - end) }
    }

    /// An entry the service had stored before a kill must still be there; every alarm episode the
    /// service showed must have its `alarm.raised` entry, and every one it cleared (rather than
    /// lost to a kill) its `alarm.cleared` entry.
    static func lostJournalEntries(_ ledger: Ledger, _ timelines: [String: SystemTimeline], _ journal: [JournalEntry]) -> [String] {
        var lost: [String] = []
        let ids = Set(journal.map(\.id))
        for (id, kind) in ledger.storedBeforeKills.sorted(by: { $0.key < $1.key }) where !ids.contains(id) {
            lost.append("entry \(id) (\(kind)), stored before a kill, is gone")
        }
        struct Key: Hashable {
            var kind: String
            var system: String
            var condition: String
        }
        var entries: [Key: [Date]] = [:]
        for entry in journal where entry.kind == "alarm.raised" || entry.kind == "alarm.cleared" {
            guard let system = entry.system, case let .object(detail)? = entry.detail, case let .string(condition)? = detail["condition"]
            else { continue }
            entries[Key(kind: entry.kind, system: system, condition: condition), default: []].append(entry.time)
        }
        func take(_ key: Key, near wall: Date) -> Bool {
            // The journal holds the machine's own times; the suite saw them up to a sample and an
            // HTTP round trip later. Each entry answers for one episode only.
            guard let index = entries[key]?.firstIndex(where: { $0 >= wall.addingTimeInterval(-3) && $0 <= wall.addingTimeInterval(1) })
            else { return false }
            entries[key]!.remove(at: index)
            return true
        }
        for (system, timeline) in timelines.sorted(by: { $0.key < $1.key }) {
            for episode in timeline.episodes where episode.condition != Conditions.startUp {
                if !take(Key(kind: "alarm.raised", system: system, condition: episode.condition), near: episode.startWall) {
                    lost.append("\(system) \(episode.condition) raised at t=\(f(episode.start)) s: no alarm.raised entry")
                }
                guard let end = episode.end, let endWall = episode.endWall, !episode.endedByKill else { continue }
                if !take(Key(kind: "alarm.cleared", system: system, condition: episode.condition), near: endWall) {
                    lost.append("\(system) \(episode.condition) cleared at t=\(f(end)) s: no alarm.cleared entry")
                }
            }
        }
        return lost
    }

    /// Sampling (0.1 s) and the service's own timer resolution.
    static let sampleTolerance = 0.3
    /// How long after a kill the panels' watchdog relay has dropped every theatre into alarm
    /// (the suite notes a kill where it took longer).
    static let watchdogDropSeconds = 4.0

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
