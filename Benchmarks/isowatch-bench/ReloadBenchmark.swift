import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchService
import IsoWatchSimulator
import Synchronization

/// Live reconfiguration under load (issue 14, Proof): what one changed threshold costs a running
/// site of 256 IT systems, and what it costs the systems that did not change.
///
/// The simulator serves 256 healthy Bender ISOMETER units on 16 Modbus TCP gateways; the real
/// runtime polls each at 1 s with its relays on a simulated GPIO chip and its history, journal and
/// change record in SQLite, as a site runs. Once every system is green, each round is two
/// windows: a quiet one (the baseline) and one with a reload in its middle, which applies the
/// whole configuration again with one system's insulation response value changed. By default the
/// file is rewritten and read again (`ConfigurationChanges.reloadFile`, what SIGHUP and
/// `systemctl reload` do); `--via upload` hands the text to `ConfigurationChanges.apply(yaml:)`
/// instead (`POST /api/v1/configuration`, which also writes the file). The two values alternate
/// and both lie below the simulated insulation, so the verdict stays normal.
///
/// Measured: the time the call takes to return (it returns once the change is in force); the
/// intervals between successful polls of every unchanged system, from each outcome's
/// `receivedAt` as it enters the service, in the reload windows against the quiet ones of the
/// same run; and every relay change the simulated backend recorded on their lines (must be none).
enum ReloadBenchmark {
    typealias Bench = IsoWatchBench

    static let pollInterval = Duration.seconds(1)
    /// An interval this long or longer holds a missed poll: the schedule keeps its phase, so one
    /// missed poll shows as two intervals.
    static let missedPollRatio = 1.5
    /// The changed system alternates between these insulation response values; both lie below the
    /// simulated 250 kΩ (and their release values too), so its verdict and relays stay as they are.
    static let responseOhms = [50_000, 100_000]

    struct Options {
        enum Path: String {
            /// The file is edited, then read again (SIGHUP, `systemctl reload`, `isowatch reload`).
            case file
            /// The text is uploaded (`POST /api/v1/configuration`) and written to the file.
            case upload
        }

        var systems = 256
        var rounds = 20
        /// Each window's length; the reload is made in the middle of its window.
        var windowSeconds = 10.0
        /// The system whose threshold changes, by index; nil: the middle one.
        var changedIndex: Int?
        /// Where the report and the per-round figures are written; nil: printed only.
        var resultsDirectory: String?
        var path = Path.file

        static let usage =
            "usage: isowatch-bench reload [--systems N] [--rounds N] [--window-seconds S] [--changed INDEX] "
            + "[--via file|upload] [--results DIR]"

        init(_ arguments: ArraySlice<String>) throws {
            var rest = arguments
            while let flag = rest.popFirst() {
                guard let value = rest.popFirst() else { throw BenchError("\(flag) needs a value; \(Self.usage)") }
                switch flag {
                case "--systems":
                    guard let systems = Int(value), (2...1024).contains(systems) else { throw BenchError("--systems: 2...1024") }
                    self.systems = systems
                case "--rounds":
                    guard let rounds = Int(value), rounds >= 1 else { throw BenchError("--rounds: at least 1") }
                    self.rounds = rounds
                case "--window-seconds":
                    guard let seconds = Double(value), seconds >= 4 else { throw BenchError("--window-seconds: at least 4") }
                    windowSeconds = seconds
                case "--changed":
                    guard let index = Int(value), index >= 0 else { throw BenchError("--changed: a system index from 0") }
                    changedIndex = index
                case "--results":
                    resultsDirectory = value
                case "--via":
                    guard let path = Path(rawValue: value) else { throw BenchError("--via: file or upload") }
                    self.path = path
                default:
                    throw BenchError("unknown option \(flag); \(Self.usage)")
                }
            }
            if let changedIndex, changedIndex >= systems { throw BenchError("--changed: below --systems (\(systems))") }
        }
    }

    /// A poll outcome as it entered the service.
    struct ObservedOutcome: Sendable {
        let receivedAt: ContinuousClock.Instant
        let succeeded: Bool
        /// From the poll's first request to its last reply: a slow device, not a late poller.
        let latencySeconds: Double
    }

    struct Window {
        enum Kind { case quiet, reload }
        let kind: Kind
        let round: Int
        let span: Range<ContinuousClock.Instant>
    }

    /// Durations of the parts of a validation, each timed alone.
    struct ValidationSteps {
        var parse: [Duration] = []
        var profiles: [Duration] = []
        var diff: [Duration] = []
    }

    struct Round {
        let number: Int
        let responseOhms: Int
        let appliedAt: ContinuousClock.Instant
        let applyDuration: Duration
        /// The API snapshot showed the new threshold right after `apply` returned.
        let inForce: Bool
    }

    static func run(_ options: Options, root: URL, profiles: ProfileLibrary) async throws -> String {
        let layout = Bench.Layout(systems: options.systems)
        let simulator = try Simulator(site: try Bench.simulatedSite(layout, profiles: profiles), profiles: profiles)
        defer { simulator.stop() }
        let systems = Bench.systemsUnderTest(simulator)
        let changedIndex = options.changedIndex ?? systems.count / 2
        let changedID = systems[changedIndex].id

        // The site's files in a directory of their own: the configuration the upload rewrites,
        // and the database of the history, the journal and the change record.
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-bench-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let sections = """
            profiles_directory: \(root.appending(path: "hardware/profiles").path)
            storage: { path: \(directory.appending(path: "isowatch.sqlite").path) }

            """
        func yaml(responseOhms: Int) -> String {
            Bench.configurationYAML(systems, sections: sections, insulationResponseOhms: [changedIndex: responseOhms])
        }
        let file = directory.appending(path: "isowatch.yaml")
        try Data(yaml(responseOhms: responseOhms[0]).utf8).write(to: file)
        let configuration = try ConfigurationLoader.load(file: file, profiles: profiles)

        let observed = Mutex<[String: [ObservedOutcome]]>([:])
        let service = try await Bench.RunningService.start(configuration, profiles: profiles, systems: systems.count) { outcome in
            let entry = ObservedOutcome(
                receivedAt: outcome.receivedAt, succeeded: outcome.result.isSuccess, latencySeconds: outcome.latencySeconds)
            observed.withLock { $0[outcome.deviceID, default: []].append(entry) }
        }
        let (runtime, gpio) = (service.runtime, service.gpio)

        try await Bench.waitUntilAllGreen(systems, gpio: gpio)
        // The first polls are spread over one interval and the filters settle: not a steady state.
        try await Task.sleep(for: .seconds(5))
        let relayMark = gpio.outputChanges.count
        let measuredFrom = ContinuousClock.now
        let window = Duration.seconds(options.windowSeconds)

        var windows: [Window] = []
        var rounds: [Round] = []
        for number in 1...options.rounds {
            let quietStart = measuredFrom + (window * 2) * (number - 1)
            let reloadStart = quietStart + window
            let reloadEnd = reloadStart + window
            windows.append(Window(kind: .quiet, round: number, span: quietStart..<reloadStart))
            windows.append(Window(kind: .reload, round: number, span: reloadStart..<reloadEnd))

            try await Task.sleep(until: reloadStart + window / 2, clock: .continuous)
            let ohms = responseOhms[number % responseOhms.count]
            let text = yaml(responseOhms: ohms)
            let result: ConfigurationChanges.Result
            let started: ContinuousClock.Instant
            switch options.path {
            case .file:
                // The edit is the engineer's, before the signal: not part of the reload.
                try Data(text.utf8).write(to: file, options: .atomic)
                started = .now
                result = await runtime.changes.reloadFile(origin: .sighup)
            case .upload:
                started = .now
                result = await runtime.changes.apply(yaml: text, origin: .api, author: "isowatch-bench", comment: "round \(number)")
            }
            let applyDuration = started.duration(to: .now)
            // The file is what a restart reads: the edit (reload), or what is in force after an upload.
            let onDisk = (try? Data(contentsOf: file)).map { String(decoding: $0, as: UTF8.self) }
            let expected =
                options.path == .file || result.outcome == .applied
                ? text : yaml(responseOhms: rounds.last?.responseOhms ?? responseOhms[0])
            guard onDisk == expected else {
                let listing = (try? FileManager.default.contentsOfDirectory(atPath: directory.path))?.sorted() ?? []
                throw BenchError(
                    "round \(number) (\(result.outcome)): the configuration file does not hold the configuration in force: "
                        + (onDisk == nil ? "it is missing" : "it differs") + "; the directory holds \(listing); \(result.summary)")
            }
            guard result.outcome == .applied else {
                throw BenchError("round \(number): the change was not applied (\(result.outcome)): \(result.summary)")
            }
            let changed = (result.diff?.systems ?? []).filter { $0.change != .unchanged }
            guard changed.map(\.id) == [changedID], changed.first?.change == .updated else {
                throw BenchError("round \(number): expected only \(changedID) updated in place, the diff says \(result.summary)")
            }
            let shown = await runtime.systems().first { $0.id == changedID }?.thresholds?.insulationResponseOhms
            rounds.append(
                Round(
                    number: number, responseOhms: ohms, appliedAt: started, applyDuration: applyDuration,
                    inForce: shown == Double(ohms)))
            try await Task.sleep(until: reloadEnd, clock: .continuous)
        }
        let measuredUntil = ContinuousClock.now

        // Validation and diff alone, as a preview does: the share of `apply` that changes nothing.
        var previews: [Duration] = []
        for number in 1...options.rounds {
            let text = yaml(responseOhms: responseOhms[number % responseOhms.count])
            let started = ContinuousClock.now
            let _: ConfigurationChanges.Result = await runtime.changes.preview(yaml: text)
            previews.append(started.duration(to: .now))
        }
        // The steps of validation alone, on this task: parsing, the profile library, the diff.
        var steps = ValidationSteps()
        for number in 1...options.rounds {
            let text = yaml(responseOhms: responseOhms[number % responseOhms.count])
            var started = ContinuousClock.now
            let parsed = try ConfigurationLoader.parse(yaml: text, fileName: file.path, baseDirectory: directory, profiles: nil)
            steps.parse.append(started.duration(to: .now))
            started = .now
            let library = try ProfileLibrary.load(directory: parsed.profilesDirectory)
            steps.profiles.append(started.duration(to: .now))
            started = .now
            _ = ConfigurationDiff.between(configuration, parsed, oldProfiles: nil, newProfiles: library)
            steps.diff.append(started.duration(to: .now))
        }

        try await service.stop()

        let outcomes = observed.withLock { $0 }
        let unchangedLines = Set(systems.indices.filter { $0 != changedIndex }.flatMap { Bench.lines(of: $0).all })
        let changedLines = Set(Bench.lines(of: changedIndex).all)
        let changes = gpio.outputChanges.dropFirst(relayMark).filter { $0.instant < measuredUntil }
        let analysis = Analysis(
            windows: windows,
            unchanged: systems.map(\.id).filter { $0 != changedID }.map { ($0, outcomes[$0] ?? []) },
            changed: (changedID, outcomes[changedID] ?? []),
            relayChanges: changes.map { change in
                let lines: Analysis.Lines =
                    unchangedLines.contains(change.address) ? .unchanged : changedLines.contains(change.address) ? .changed : .other
                return (change.instant, lines)
            })
        let report = Report(
            options: options, layout: layout, changedID: changedID, rounds: rounds, previews: previews, steps: steps,
            analysis: analysis, configurationBytes: yaml(responseOhms: responseOhms[0]).utf8.count)
        if let path = options.resultsDirectory {
            let results = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
            try Data(report.markdown.utf8).write(to: results.appending(path: "reload-\(options.systems).md"))
            try Data(report.roundsCSV.utf8).write(to: results.appending(path: "reload-\(options.systems)-rounds.csv"))
        }
        return report.markdown
    }

    // MARK: - Analysis

    /// Poll intervals and relay changes, each assigned to the window it ended in.
    struct Analysis {
        enum Lines { case unchanged, changed, other }

        /// An interval of at least `missedPollRatio` poll intervals: which system, when.
        struct MissedPoll {
            let system: String
            let previous: ContinuousClock.Instant
            let next: ContinuousClock.Instant
            /// The poll that ended the interval: its request-to-reply time.
            let latencySeconds: Double
        }

        struct Gaps {
            var intervals: [Duration] = []
            var failedPolls = 0
            var missed: [MissedPoll] = []
            var missedPolls: Int { missed.count }
        }

        /// Per window (same order as `windows`): the unchanged systems' gaps, the changed one's.
        var unchangedGaps: [Gaps]
        var changedGaps: [Gaps]
        /// Relay changes per window on the unchanged systems' lines and on the changed one's.
        var unchangedRelayChanges: [Int]
        var changedRelayChanges: [Int]
        /// Over the whole measured period, windows or not; lines of neither kind included.
        var relayChangesMeasured: Int
        let windows: [Window]

        init(
            windows: [Window], unchanged: [(id: String, outcomes: [ObservedOutcome])],
            changed: (id: String, outcomes: [ObservedOutcome]),
            relayChanges: [(instant: ContinuousClock.Instant, lines: Lines)]
        ) {
            self.windows = windows
            func windowIndex(of instant: ContinuousClock.Instant) -> Int? {
                windows.firstIndex { $0.span.contains(instant) }
            }
            func gaps(of systems: [(id: String, outcomes: [ObservedOutcome])]) -> [Gaps] {
                var result = Array(repeating: Gaps(), count: windows.count)
                for (id, outcomes) in systems {
                    let successes = outcomes.filter(\.succeeded).sorted { $0.receivedAt < $1.receivedAt }
                    for (previous, next) in zip(successes, successes.dropFirst()) {
                        guard let index = windowIndex(of: next.receivedAt) else { continue }
                        let interval = previous.receivedAt.duration(to: next.receivedAt)
                        result[index].intervals.append(interval)
                        if interval >= ReloadBenchmark.pollInterval * ReloadBenchmark.missedPollRatio {
                            result[index].missed.append(
                                MissedPoll(
                                    system: id, previous: previous.receivedAt, next: next.receivedAt,
                                    latencySeconds: next.latencySeconds))
                        }
                    }
                    for failure in outcomes where !failure.succeeded {
                        if let index = windowIndex(of: failure.receivedAt) { result[index].failedPolls += 1 }
                    }
                }
                return result
            }
            unchangedGaps = gaps(of: unchanged)
            changedGaps = gaps(of: [changed])
            unchangedRelayChanges = Array(repeating: 0, count: windows.count)
            changedRelayChanges = Array(repeating: 0, count: windows.count)
            relayChangesMeasured = relayChanges.count
            for change in relayChanges {
                guard let index = windowIndex(of: change.instant) else { continue }
                switch change.lines {
                case .unchanged: unchangedRelayChanges[index] += 1
                case .changed: changedRelayChanges[index] += 1
                case .other: break
                }
            }
        }

        func merged(_ perWindow: [Gaps], _ kind: Window.Kind) -> Gaps {
            zip(windows, perWindow).filter { $0.0.kind == kind }.reduce(into: Gaps()) { sum, pair in
                sum.intervals += pair.1.intervals
                sum.failedPolls += pair.1.failedPolls
                sum.missed += pair.1.missed
            }
        }

        func total(_ perWindow: [Int], _ kind: Window.Kind) -> Int {
            zip(windows, perWindow).filter { $0.0.kind == kind }.map(\.1).reduce(0, +)
        }
    }

    // MARK: - Report

    struct Report {
        let options: Options
        let layout: IsoWatchBench.Layout
        let changedID: String
        let rounds: [Round]
        let previews: [Duration]
        let steps: ValidationSteps
        let analysis: Analysis
        let configurationBytes: Int

        static func ratio(_ duration: Duration) -> String {
            String(format: "%.3f", duration / ReloadBenchmark.pollInterval)
        }

        func gapRow(_ name: String, _ gaps: Analysis.Gaps, windows: Int) -> String {
            let p = IsoWatchBench.Percentiles(gaps.intervals)
            let minimum = gaps.intervals.min() ?? .zero
            return "| \(name) | \(windows) | \(p.count) | \(Self.ratio(minimum)) | \(Self.ratio(p.p50)) | \(Self.ratio(p.p99)) | "
                + "\(Self.ratio(p.max)) | \(gaps.missedPolls) | \(gaps.failedPolls) |"
        }

        var pathDescription: String {
            switch options.path {
            case .file: "`ConfigurationChanges.reloadFile` (what SIGHUP and `systemctl reload` call)"
            case .upload: "`ConfigurationChanges.apply(yaml:)` (what `POST /api/v1/configuration` calls)"
            }
        }

        var applyStep: String {
            switch options.path {
            case .file: "reload: read the file, validate, diff, apply in place, record the version"
            case .upload: "upload: validate, diff, write the file, apply in place, record the version"
            }
        }

        func stepRow(_ name: String, _ samples: [Duration]) -> String {
            let p = IsoWatchBench.Percentiles(samples)
            return "| \(name) | \(p.count) | \(p.p50.ms) | \(p.p95.ms) | \(p.max.ms) |"
        }

        var markdown: String {
            let apply = IsoWatchBench.Percentiles(rounds.map(\.applyDuration))
            let preview = IsoWatchBench.Percentiles(previews)
            let reloadGaps = analysis.merged(analysis.unchangedGaps, .reload)
            let quietGaps = analysis.merged(analysis.unchangedGaps, .quiet)
            let changedReload = analysis.merged(analysis.changedGaps, .reload)
            let changedQuiet = analysis.merged(analysis.changedGaps, .quiet)
            let writesReload = analysis.total(analysis.unchangedRelayChanges, .reload)
            let writesQuiet = analysis.total(analysis.unchangedRelayChanges, .quiet)
            let changedWritesReload = analysis.total(analysis.changedRelayChanges, .reload)
            let changedWritesQuiet = analysis.total(analysis.changedRelayChanges, .quiet)
            let unchangedCount = layout.systems - 1
            let inForce = rounds.filter(\.inForce).count
            let windowSeconds = options.windowSeconds
            let verdict =
                reloadGaps.missedPolls == 0 && reloadGaps.failedPolls == 0 && writesReload == 0
                ? "met" : "NOT met"
            let missedList = missedPollLines()
            return """
                isowatch-bench reload: \(layout.systems) IT systems, \(layout.description), poll 1 s, history and \
                journal in SQLite; \(rounds.count) reloads, each changing the insulation response value of \
                \(changedID) (\(responseOhms.map(String.init).joined(separator: " ↔ ")) Ω); windows of \
                \(String(format: "%g", windowSeconds)) s, the reload in the middle of its window (±\
                \(String(format: "%g", windowSeconds / 2)) s), each after a quiet window of the same length

                Reload → applied (ms): \(pathDescription), from call to return; the preview row validates and \
                diffs only, after the rounds.

                | step | count | p50 | p95 | max |
                |---|---:|---:|---:|---:|
                | \(applyStep) | \(apply.count) | \
                \(apply.p50.ms) | \(apply.p95.ms) | \(apply.max.ms) |
                | preview: validate and diff only | \(preview.count) | \(preview.p50.ms) | \(preview.p95.ms) | \
                \(preview.max.ms) |
                \(stepRow("… parse the text (`ConfigurationLoader.parse`)", steps.parse))
                \(stepRow("… load the profile library (`ProfileLibrary.load`)", steps.profiles))
                \(stepRow("… diff (`ConfigurationDiff.between`)", steps.diff))

                The configuration file: \(configurationBytes) bytes. The three steps are timed alone, one after \
                the other, in the benchmark's task.

                New threshold shown by the API snapshot right after the call returned: \(inForce) of \(rounds.count).

                Intervals between successful polls, as a multiple of the 1 s poll interval (each interval counted \
                in the window where it ended; "missed" = at least \(missedPollRatio) intervals):

                | systems, windows | windows | intervals | min | p50 | p99 | max | missed polls | failed polls |
                |---|---:|---:|---:|---:|---:|---:|---:|---:|
                \(gapRow("\(unchangedCount) unchanged, around a reload", reloadGaps, windows: rounds.count))
                \(gapRow("\(unchangedCount) unchanged, quiet (baseline)", quietGaps, windows: rounds.count))
                \(gapRow("\(changedID) (changed), around a reload", changedReload, windows: rounds.count))
                \(gapRow("\(changedID) (changed), quiet", changedQuiet, windows: rounds.count))

                Relay changes recorded by the simulated GPIO backend (claims, changes, releases):

                | lines | around the reloads | quiet windows | whole measured period |
                |---|---:|---:|---:|
                | \(unchangedCount) unchanged systems (\(4 * unchangedCount) lines) | \(writesReload) | \(writesQuiet) | \
                \(analysis.unchangedRelayChanges.reduce(0, +)) |
                | \(changedID), changed (4 lines; its verdict does not change) | \(changedWritesReload) | \
                \(changedWritesQuiet) | \(analysis.changedRelayChanges.reduce(0, +)) |
                | any line | | | \(analysis.relayChangesMeasured) |

                Unchanged systems around a reload: no missed or failed poll and no relay change: \(verdict).
                \(missedList.isEmpty ? "" : "\nEvery missed poll, times from its round's reload call:\n\n" + missedList.joined(separator: "\n"))
                """
        }

        /// One line per interval of a missed poll (all systems, both kinds of window), for finding
        /// the cause: which system, when relative to its round's reload call and how long that call took.
        func missedPollLines() -> [String] {
            var lines: [String] = []
            for (index, window) in analysis.windows.enumerated() {
                guard let round = rounds.first(where: { $0.number == window.round }) else { continue }
                let missed = analysis.unchangedGaps[index].missed + analysis.changedGaps[index].missed
                for poll in missed.sorted(by: { $0.next < $1.next }) {
                    func seconds(_ instant: ContinuousClock.Instant) -> String {
                        String(format: "%+.3f", round.appliedAt.duration(to: instant) / .seconds(1))
                    }
                    lines.append(
                        "- round \(round.number) (\(window.kind == .reload ? "reload" : "quiet") window; the call took "
                            + "\(round.applyDuration.ms) ms): \(poll.system), successful polls at \(seconds(poll.previous)) s "
                            + "and \(seconds(poll.next)) s (\(Self.ratio(poll.previous.duration(to: poll.next))) intervals); "
                            + String(format: "the late poll's request took %.1f ms", poll.latencySeconds * 1e3))
                }
            }
            return lines
        }

        /// One line per round: the apply time, and the unchanged systems' worst interval and relay
        /// changes in the round's quiet and reload windows.
        var roundsCSV: String {
            var lines = [
                "round,response_ohms,apply_ms,in_force,quiet_max_interval_ratio,quiet_missed_polls,quiet_relay_changes,"
                    + "reload_max_interval_ratio,reload_missed_polls,reload_failed_polls,reload_relay_changes"
            ]
            for round in rounds {
                func figures(_ kind: Window.Kind) -> (max: String, missed: Int, failed: Int, relays: Int) {
                    guard let index = analysis.windows.firstIndex(where: { $0.round == round.number && $0.kind == kind }) else {
                        return ("", 0, 0, 0)
                    }
                    let gaps = analysis.unchangedGaps[index]
                    return (
                        Self.ratio(gaps.intervals.max() ?? .zero), gaps.missedPolls, gaps.failedPolls,
                        analysis.unchangedRelayChanges[index]
                    )
                }
                let quiet = figures(.quiet)
                let reload = figures(.reload)
                lines.append(
                    "\(round.number),\(round.responseOhms),\(round.applyDuration.ms),\(round.inForce),"
                        + "\(quiet.max),\(quiet.missed),\(quiet.relays),\(reload.max),\(reload.missed),\(reload.failed),\(reload.relays)")
            }
            return lines.joined(separator: "\n") + "\n"
        }
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
