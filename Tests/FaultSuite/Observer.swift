import Foundation
import IsoWatchSimulator
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Seconds on the suite's monotonic clock since it started; every time in the ledger is one.
struct SuiteClock: Sendable {
    private let origin = ContinuousClock.now
    var now: Double {
        let elapsed = origin.duration(to: .now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}

/// What the suite saw of one system over the whole run.
struct SystemTimeline: Sendable {
    /// Suite time of the newest successful poll known (sample time minus the reading's age).
    var lastFresh: Double?
    /// The longest interval without a successful poll, and when it ended.
    var longestGap: Double = 0
    var longestGapEnd: Double = 0
    /// Condition episodes as the service's metrics showed them: condition → [start, end?].
    var episodes: [Episode] = []
    /// Intervals in which the theatre's yellow lamp was lit (its relay released).
    var yellowLit: [Interval] = []
    /// Every interval of more than `Observer.gapOfNote` without a successful poll.
    var gaps: [Interval] = []
    /// The last sample that showed a fresh, valid insulation value (the service's gauge is NaN
    /// while the reading is stale or the value in doubt, e.g. an implausible jump held back).
    var lastValidInsulation: Double?
    /// Every interval of more than `Observer.gapOfNote` without one.
    var insulationGaps: [Interval] = []
}

struct Episode: Sendable, Codable {
    var condition: String
    var start: Double
    var end: Double?
    /// Wall-clock time of the first sighting, to find it in the journal.
    var startWall: Date
    var endWall: Date?
    /// Seconds since the last successful poll when the episode was first seen.
    var ageAtStart: Double?
    /// The service was killed while it lasted: no clear is due.
    var endedByKill = false
}

struct Interval: Sendable, Codable {
    var start: Double
    var end: Double?
    func overlaps(_ from: Double, _ to: Double) -> Bool { start <= to && (end ?? .infinity) >= from }
}

/// Samples the service and the theatre panels several times a second, in the background:
///
/// - the service's `/metrics` (`isowatch_reading_age_seconds` and `isowatch_alarm_active` per
///   system): the age comes with full precision, so the time of the last successful poll is known
///   to well under a sample period even though the suite samples;
/// - the simulator's panel lines: the yellow relay of each system, which is what the theatre sees
///   whether or not the service answers.
///
/// Alarm episodes last at least the release delay (5 s), far longer than a sample period, so no
/// episode falls between two samples.
final class Observer: Sendable {
    struct SystemRef: Sendable {
        var id: String
        var yellowLine: String
    }

    let clock: SuiteClock
    private let systems: [SystemRef]
    private let metricsURL: URL
    private let simulator: Simulator
    private let state = Mutex<[String: SystemTimeline]>([:])
    private let samples = Mutex<(ok: Int, failed: Int)>((0, 0))
    private let task = Mutex<Task<Void, Never>?>(nil)
    let period: Double
    /// Polls come every 0.5 s; a gap of more than this is worth a line in the report.
    static let gapOfNote = 1.5

    init(clock: SuiteClock, systems: [SystemRef], httpPort: Int, simulator: Simulator, period: Double = 0.1) {
        self.clock = clock
        self.systems = systems
        self.metricsURL = URL(string: "http://127.0.0.1:\(httpPort)/metrics")!
        self.simulator = simulator
        self.period = period
        state.withLock { state in
            for system in systems { state[system.id] = SystemTimeline() }
        }
    }

    func start() {
        let loop = Task { [self] in
            let session = URLSession(configuration: .ephemeral)
            while !Task.isCancelled {
                await sample(session)
                try? await Task.sleep(for: .seconds(period))
            }
        }
        task.withLock { $0 = loop }
    }

    func stop() async {
        let loop = task.withLock { $0 }
        loop?.cancel()
        await loop?.value
    }

    var timelines: [String: SystemTimeline] { state.withLock { $0 } }
    var sampleCounts: (ok: Int, failed: Int) { samples.withLock { $0 } }

    /// The conditions active now on a system, as the last sample saw them.
    func activeConditions(_ system: String) -> Set<String> {
        state.withLock { Set(($0[system]?.episodes ?? []).filter { $0.end == nil }.map(\.condition)) }
    }

    /// Suite time of the last successful poll of a system known to the observer.
    func lastFresh(_ system: String) -> Double? {
        state.withLock { $0[system]?.lastFresh }
    }

    func yellowLit(_ system: String) -> Bool {
        state.withLock { $0[system]?.yellowLit.last.map { $0.end == nil } ?? false }
    }

    private func sample(_ session: URLSession) async {
        // The panel first: it answers even while the service is dead.
        let lines = Dictionary(simulator.panel.lines.map { ($0.line, $0) }, uniquingKeysWith: { first, _ in first })
        let now = clock.now
        state.withLock { state in
            for system in systems {
                // Energise to normal: the lamp is lit unless its relay is energised. What counts is
                // the coil's supply: a line left high by a dead service does not hold the relay once
                // the panel's watchdog relay has dropped (an unclaimed line counts by its last level).
                let line = lines[system.yellowLine]
                let lit = (line?.effectivelyEnergised ?? line?.active) != true
                var timeline = state[system.id]!
                let open = timeline.yellowLit.last.map { $0.end == nil } ?? false
                if lit && !open {
                    timeline.yellowLit.append(Interval(start: now))
                } else if !lit && open {
                    timeline.yellowLit[timeline.yellowLit.count - 1].end = now
                }
                state[system.id] = timeline
            }
        }
        var request = URLRequest(url: metricsURL)
        request.timeoutInterval = 2
        guard let (data, response) = try? await session.data(for: request), (response as? HTTPURLResponse)?.statusCode == 200,
            let text = String(data: data, encoding: .utf8)
        else {
            samples.withLock { $0.failed += 1 }
            // The service is down: only the gap grows.
            let now = clock.now
            state.withLock { state in
                for system in systems { Self.extendGap(&state[system.id]!, now: now) }
            }
            return
        }
        samples.withLock { $0.ok += 1 }
        let metrics = MetricsText(text)
        let sampled = clock.now
        let wall = Date()
        state.withLock { state in
            for system in systems {
                var timeline = state[system.id]!
                if let age = metrics.value("isowatch_reading_age_seconds", ["system": system.id]), age.isFinite {
                    let fresh = sampled - age
                    if let previous = timeline.lastFresh, fresh > previous + 1e-3 {
                        let gap = fresh - previous
                        if gap > Self.gapOfNote { timeline.gaps.append(Interval(start: previous, end: fresh)) }
                        if gap > timeline.longestGap {
                            timeline.longestGap = gap
                            timeline.longestGapEnd = fresh
                        }
                    }
                    if fresh > (timeline.lastFresh ?? -.infinity) { timeline.lastFresh = fresh }
                }
                Self.extendGap(&timeline, now: sampled)
                // The gauge keeps the last reading's value while polls fail, so a valid value counts
                // at the time of the poll that brought it (the reading's age), not at the sample.
                if let ohms = metrics.value("isowatch_insulation_resistance_ohms", ["system": system.id]), ohms.isFinite,
                    let age = metrics.value("isowatch_reading_age_seconds", ["system": system.id]), age.isFinite
                {
                    let polled = sampled - age
                    if let previous = timeline.lastValidInsulation, polled > previous + 1e-3 {
                        if polled - previous > Self.gapOfNote { timeline.insulationGaps.append(Interval(start: previous, end: polled)) }
                    }
                    if polled > (timeline.lastValidInsulation ?? -.infinity) { timeline.lastValidInsulation = polled }
                }
                let active = metrics.labelValues("isowatch_alarm_active", label: "condition", where: ["system": system.id]) { $0 == 1 }
                for index in timeline.episodes.indices where timeline.episodes[index].end == nil {
                    if !active.contains(timeline.episodes[index].condition) {
                        timeline.episodes[index].end = sampled
                        timeline.episodes[index].endWall = wall
                    }
                }
                let open = Set(timeline.episodes.filter { $0.end == nil }.map(\.condition))
                let age = timeline.lastFresh.map { sampled - $0 }
                for condition in active.subtracting(open).sorted() {
                    timeline.episodes.append(Episode(condition: condition, start: sampled, end: nil, startWall: wall, ageAtStart: age))
                }
                state[system.id] = timeline
            }
        }
    }

    /// A gap still open counts too: a system that never answers again must not look fresh.
    private static func extendGap(_ timeline: inout SystemTimeline, now: Double) {
        guard let last = timeline.lastFresh else { return }
        if now - last > timeline.longestGap {
            timeline.longestGap = now - last
            timeline.longestGapEnd = now
        }
    }

    /// Marks every open episode ended now (the service was killed: its conditions end with it;
    /// the restarted service raises what is still true as new episodes).
    func closeEpisodes() {
        let now = clock.now
        state.withLock { state in
            for key in state.keys {
                for index in state[key]!.episodes.indices where state[key]!.episodes[index].end == nil {
                    state[key]!.episodes[index].end = now
                    state[key]!.episodes[index].endWall = Date()
                    state[key]!.episodes[index].endedByKill = true
                }
            }
        }
    }
}

/// The Prometheus text format, as far as the suite reads it: `name{label="value",...} number`.
struct MetricsText {
    private var samples: [(name: Substring, labels: [Substring: Substring], value: Double)] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let head = line[..<space]
            var labels: [Substring: Substring] = [:]
            var name = head
            if let brace = head.firstIndex(of: "{"), head.hasSuffix("}") {
                name = head[..<brace]
                let body = head[head.index(after: brace)..<head.index(before: head.endIndex)]
                for pair in body.split(separator: ",") {
                    guard let equals = pair.firstIndex(of: "=") else { continue }
                    labels[pair[..<equals]] = pair[pair.index(after: equals)...].trimmingCharacters(in: CharacterSet(charactersIn: "\""))[...]
                }
            }
            samples.append((name, labels, value))
        }
    }

    func value(_ name: String, _ labels: [String: String]) -> Double? {
        samples.first { sample in
            sample.name == name && labels.allSatisfy { key, value in sample.labels[Substring(key)] == Substring(value) }
        }?.value
    }

    func labelValues(_ name: String, label: String, where labels: [String: String], _ predicate: (Double) -> Bool) -> Set<String> {
        var result = Set<String>()
        for sample in samples where sample.name == name && predicate(sample.value) {
            guard labels.allSatisfy({ key, value in sample.labels[Substring(key)] == Substring(value) }),
                let found = sample.labels[Substring(label)]
            else { continue }
            result.insert(String(found))
        }
        return result
    }
}
