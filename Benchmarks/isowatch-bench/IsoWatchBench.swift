import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchModbus
import IsoWatchService
import IsoWatchSimulator
import Logging
import ServiceLifecycle
import Synchronization

/// Latency from a decoded reading to the relay write, through the whole service (issues 5 and 7).
///
/// 64 IT systems behind 4 simulated Modbus TCP gateways (16 units each; `--systems 1,16,64,256`
/// runs each size in turn, 16 units per gateway) are polled at 1 s by the real runtime, with its
/// relays on a simulated GPIO chip. Insulation faults come and go at
/// seeded random times. For every relay change the benchmark finds what caused it: a poll whose
/// decoded reading completed the IEC response or release delay (measured from the poll's
/// `receivedAt` to the last relay write of that change), or the delay running out between two
/// polls (measured from the moment it ran out, so the monitor's tick resolution shows). As a
/// baseline, the same steps without the service, the alarm machine and four simulated relay
/// writes called directly, are timed in the same run.
///
/// `isowatch-bench reload …` measures live reconfiguration instead (issue 14): `ReloadBenchmark`.
@main
struct IsoWatchBench {
    static let maximumUnitsPerGateway = 16
    static let faultOhms = 30_000.0
    /// Within 10× of the fault value: a larger step is, by design, held by the commercial-IMD
    /// filter until a second fresh reading confirms it (Sources/IsoWatchService/Measurement), and
    /// this benchmark measures the alarm path, not that confirmation.
    static let healthyOhms = 250_000.0

    static func main() async throws {
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let profiles = try ProfileLibrary.load(directory: root.appending(path: "hardware/profiles"))
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "reload" {
            let options = try ReloadBenchmark.Options(arguments.dropFirst())
            print(try await ReloadBenchmark.run(options, root: root, profiles: profiles))
            return
        }
        let options = try Options(arguments)
        var runs: [SizeRun] = []
        for size in options.systems {
            runs.append(try await run(systems: size, options: options, root: root, profiles: profiles))
        }
        let samples = runs.flatMap(\.samples)
        let baseline = try await measureBaseline(
            iterations: max(2_000, runs.map(\.analysis.all.count).max() ?? 0),
            faultReading: samples.first { ($0[.insulationResistanceOhms]?.value ?? .infinity) <= faultOhms },
            healthyReading: samples.first { ($0[.insulationResistanceOhms]?.value ?? 0) >= healthyOhms })
        if let only = runs.first, runs.count == 1 {
            print(report(options: options, run: only, baseline: baseline))
        } else {
            print(sizeReport(options: options, runs: runs, baseline: baseline))
        }
    }

    /// The layout of one size: 16 units per gateway, the last gateway holding the rest.
    struct Layout {
        let systems: Int
        var gateways: Int { (systems + maximumUnitsPerGateway - 1) / maximumUnitsPerGateway }
        func units(onGateway gateway: Int) -> Int {
            min(maximumUnitsPerGateway, systems - (gateway - 1) * maximumUnitsPerGateway)
        }
        var description: String {
            gateways == 1 ? "1 TCP gateway × \(systems) units" : "\(gateways) TCP gateways × \(units(onGateway: 1)) units"
        }
    }

    struct SizeRun {
        let layout: Layout
        let analysis: Analysis
        /// Decoded readings of the run, for the baseline to replay.
        let samples: [DecodedReading]
    }

    /// One size, start to end: simulator, service, faults, shutdown, attribution.
    static func run(systems count: Int, options: Options, root: URL, profiles: ProfileLibrary) async throws -> SizeRun {
        let layout = Layout(systems: count)
        let simulator = try Simulator(site: try simulatedSite(layout, profiles: profiles), profiles: profiles)
        defer { simulator.stop() }
        let systems = systemsUnderTest(simulator)
        let configuration = try ConfigurationLoader.parse(
            yaml: configurationYAML(systems), fileName: "bench.yaml", baseDirectory: root, profiles: profiles)

        let observed = Mutex<[String: [ObservedPoll]]>([:])
        let service = try await RunningService.start(configuration, profiles: profiles, systems: systems.count) { outcome in
            guard case let .success(reading) = outcome.result else { return }
            let poll = ObservedPoll(
                receivedAt: outcome.receivedAt,
                insulationResistanceOhms: reading[.insulationResistanceOhms]?.value, reading: reading)
            observed.withLock { $0[outcome.deviceID, default: []].append(poll) }
        }
        let gpio = service.gpio

        // Every system starts in alarm; faults are flipped only once every one is green.
        try await waitUntilAllGreen(systems, gpio: gpio)
        let flippingFrom = ContinuousClock.now
        await flipFaults(systems, seconds: options.seconds, seed: options.seed)
        // Let the last faults raise or clear (release delay 5 s plus a poll and a measurement).
        try await Task.sleep(for: .seconds(7))
        // A stopping service drives every relay to alarm: those writes answer no reading.
        let stoppingAt = ContinuousClock.now
        try await service.stop()

        let polls = observed.withLock { $0 }
        let analysis = analyse(
            systems, polls: polls, changes: gpio.outputChanges, during: flippingFrom..<stoppingAt)
        // A few of each kind are enough for the baseline to replay; keeping every reading of a
        // 256-system run would hold tens of thousands for nothing.
        let readings = polls.values.joined().map(\.reading)
        let samples =
            Array(readings.lazy.filter { ($0[.insulationResistanceOhms]?.value ?? .infinity) <= faultOhms }.prefix(4))
            + Array(readings.lazy.filter { ($0[.insulationResistanceOhms]?.value ?? 0) >= healthyOhms }.prefix(4))
        return SizeRun(layout: layout, analysis: analysis, samples: samples)
    }

    // MARK: - The site

    /// Healthy Bender ISOMETER units, 16 per Modbus TCP gateway, each measuring every 0.5 s.
    static func simulatedSite(_ layout: Layout, profiles: ProfileLibrary) throws -> SiteDescription {
        guard let bender = profiles["bender-isometer"] else { throw BenchError("no bender-isometer profile") }
        return SiteDescription(
            endpoints: (1...layout.gateways).map { gateway in
                .tcp(
                    id: "gw\(gateway)",
                    units: (1...layout.units(onGateway: gateway)).map { unit in
                        UnitDescription(
                            unit: UInt8(unit), profileID: bender.id, state: .healthy(publishedBy: bender),
                            measurementIntervalSeconds: 0.5)
                    })
            })
    }

    /// The real runtime, running, with its relays on a simulated chip of four lines per system.
    struct RunningService {
        let runtime: IsoWatchRuntime
        let gpio: SimulatedGPIOBackend
        let group: ServiceGroup
        let task: Task<Void, any Error>

        static func start(
            _ configuration: Configuration, profiles: ProfileLibrary, systems: Int,
            observeOutcome: @escaping @Sendable (PollOutcome) -> Void
        ) async throws -> RunningService {
            let gpio = SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0", lineCount: UInt32(4 * systems))])
            var logger = Logger(label: "isowatch-bench")
            logger.logLevel = .warning
            let runtime = try await IsoWatchRuntime.make(
                configuration: configuration, profiles: profiles, gpio: gpio, logger: logger, observeOutcome: observeOutcome)
            let group = ServiceGroup(services: runtime.services, logger: logger)
            return RunningService(runtime: runtime, gpio: gpio, group: group, task: Task { try await group.run() })
        }

        /// A stopping service drives every relay to alarm.
        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
        }
    }

    /// The simulator's units, gateway by gateway, as the systems of the configuration.
    static func systemsUnderTest(_ simulator: Simulator) -> [SystemUnderTest] {
        simulator.endpoints.flatMap { endpoint in
            endpoint.devices.map { SystemUnderTest(endpoint: endpoint, device: $0) }
        }
    }

    struct SystemUnderTest: Sendable {
        let endpoint: RunningEndpoint
        let device: SimulatedDevice
        var id: String { "\(endpoint.id)-u\(device.unitID)" }
    }

    static func lines(of index: Int) -> (green: LineAddress, all: [LineAddress]) {
        let all = (0..<4).map { LineAddress(chip: "gpiochip0", offset: UInt32(4 * index + $0)) }
        return (all[0], all)
    }

    /// - Parameters:
    ///   - sections: further top-level lines (`storage:`, `profiles_directory:`), each ending in a newline.
    ///   - insulationResponseOhms: a threshold for some systems, by index; the others keep the default.
    static func configurationYAML(
        _ systems: [SystemUnderTest], sections: String = "", insulationResponseOhms: [Int: Int] = [:]
    ) -> String {
        var yaml = """
            site: { name: "isowatch-bench: \(systems.count) IT systems" }
            http: { listen: "127.0.0.1:0" }
            gpio: { backend: simulated }
            \(sections)systems:

            """
        for (index, system) in systems.enumerated() {
            yaml += """
                  - id: \(system.id)
                    name: "Bench system \(index + 1)"
                    transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
                    device:
                      profile: \(system.device.profile.id)
                      transport: { tcp: { host: 127.0.0.1, port: \(system.endpoint.tcpPort ?? 0) } }
                      unit: \(system.device.unitID)
                      poll_interval_seconds: 1.0
                      timeout_seconds: 0.5
                    outputs:
                      green: { chip: gpiochip0, line: \(4 * index) }
                      yellow: { chip: gpiochip0, line: \(4 * index + 1) }
                      buzzer: { chip: gpiochip0, line: \(4 * index + 2) }
                      common_alarm: { chip: gpiochip0, line: \(4 * index + 3) }

                """
            if let ohms = insulationResponseOhms[index] {
                yaml += "    thresholds: { insulation_response_ohms: \(ohms) }\n"
            }
        }
        return yaml
    }

    static func waitUntilAllGreen(_ systems: [SystemUnderTest], gpio: SimulatedGPIOBackend) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            // Energise-to-normal: the green relay's line is active exactly while green is lit.
            if systems.indices.allSatisfy({ gpio.isActive(lines(of: $0).green) == true }) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("not every system turned green within 60 s")
    }

    /// Each system alternates healthy and faulted. A fault lasts 3-6 s, long enough to outlast the
    /// 1 s response delay plus a measurement and a poll; healthy spells last 7-12 s, beyond the
    /// 5 s release delay. Start phases are spread so the transitions of different systems overlap.
    static func flipFaults(_ systems: [SystemUnderTest], seconds: Double, seed: UInt64) async {
        var random = SplitMix64(seed: seed)
        var flips: [(at: Double, system: Int, faulted: Bool)] = []
        for index in systems.indices {
            var at = random.uniform(0, 10)
            var faulted = true
            while at < seconds {
                flips.append((at, index, faulted))
                at += faulted ? random.uniform(3, 6) : random.uniform(7, 12)
                faulted.toggle()
            }
        }
        flips.sort { $0.at < $1.at }
        let start = ContinuousClock.now
        for flip in flips {
            try? await Task.sleep(until: start + .seconds(flip.at), clock: .continuous)
            systems[flip.system].device.update {
                $0.values[.insulationResistanceOhms] = MeasuredValue(flip.faulted ? faultOhms : healthyOhms)
            }
        }
        try? await Task.sleep(until: start + .seconds(seconds), clock: .continuous)
    }

    // MARK: - Attribution

    struct ObservedPoll: Sendable {
        let receivedAt: ContinuousClock.Instant
        let insulationResistanceOhms: Double?
        let reading: DecodedReading
    }

    /// Latencies from the moment the decoded readings justified a relay change: the later of the
    /// latest reading before the change and the end of the IEC response or release delay that
    /// started at the first reading showing the new state.
    struct Analysis {
        /// → the last relay written of the change (the panel fully switched).
        var all: [Duration] = []
        /// → the first relay written of the change.
        var allFirstWrite: [Duration] = []
        /// The subset where the latest reading arrived after the delay had ended: it decided.
        var byReading: [Duration] = []
        /// The subset where the delay ended after the latest reading: the monitor's tick decided.
        var byTimer: [Duration] = []
        /// Relay changes with no reading in the new state before them; should stay 0.
        var unexplained = 0
    }

    static func analyse(
        _ systems: [SystemUnderTest], polls: [String: [ObservedPoll]], changes: [SimulatedOutputChange],
        during window: Range<ContinuousClock.Instant>
    ) -> Analysis {
        let level = InsulationLevel(responseOhms: 50_000)
        var analysis = Analysis()
        for (index, system) in systems.enumerated() {
            let lines = lines(of: index)
            let mine = changes.filter { $0.kind == .changed && lines.all.contains($0.address) && window.contains($0.instant) }
            let greenChanges = mine.filter { $0.address == lines.green }
            let systemPolls = polls[system.id] ?? []
            for green in greenChanges {
                // One submitted state is written relay after relay within microseconds; the next
                // transition of the same system is seconds away.
                let burst = mine.filter { abs(($0.instant - green.instant) / .milliseconds(1)) < 200 }
                guard let firstWrite = burst.map(\.instant).min(), let lastWrite = burst.map(\.instant).max() else { continue }
                let cleared = green.active
                func inNewState(_ poll: ObservedPoll) -> Bool {
                    guard let ohms = poll.insulationResistanceOhms else { return false }
                    return cleared ? ohms >= level.releaseOhms : ohms <= level.responseOhms
                }
                guard let lastIndex = systemPolls.lastIndex(where: { $0.receivedAt <= firstWrite }),
                    inNewState(systemPolls[lastIndex])
                else {
                    analysis.unexplained += 1
                    continue
                }
                var onsetIndex = lastIndex
                while onsetIndex > 0, inNewState(systemPolls[onsetIndex - 1]) { onsetIndex -= 1 }
                let delay = cleared ? level.delays.releaseDelay : level.delays.responseDelay
                // The monitor starts the delay when it handles the onset reading, a little after
                // the poller decoded it; starting from the decode overstates, never hides, latency.
                let delayEnds = systemPolls[onsetIndex].receivedAt + delay
                let latestReading = systemPolls[lastIndex].receivedAt
                let justified = max(latestReading, delayEnds)
                analysis.all.append(justified.duration(to: lastWrite))
                analysis.allFirstWrite.append(justified.duration(to: firstWrite))
                if latestReading >= delayEnds {
                    analysis.byReading.append(justified.duration(to: lastWrite))
                } else {
                    analysis.byTimer.append(justified.duration(to: lastWrite))
                }
            }
        }
        return analysis
    }

    // MARK: - Baseline

    /// The same steps without the service: the alarm machine decides on a reading that completes
    /// the delay, and its outputs are written to four simulated relays, in one task, with no
    /// actors, streams or polling between them.
    static func measureBaseline(
        iterations: Int, faultReading: DecodedReading?, healthyReading: DecodedReading?
    ) async throws -> [Duration] {
        guard let fault = faultReading, let healthy = healthyReading else {
            throw BenchError("the run decoded no faulted or no healthy reading to replay")
        }
        let gpio = SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0", lineCount: 4)])
        var relays: [any OutputLine] = []
        for offset in 0..<4 {
            relays.append(
                try await gpio.claimOutput(
                    OutputLineConfiguration(
                        address: LineAddress(chip: "gpiochip0", offset: UInt32(offset)), activeLow: false,
                        label: "baseline", initialActive: false)))
        }
        var machine = try AlarmStateMachine(
            settings: AlarmSettings(staleAfter: .seconds(5)), now: AlarmTime(monotonic: .zero, wall: Date()))
        var now = Duration.zero
        var counter: UInt32 = 0
        var durations: [Duration] = []
        // Onset, then the reading that completes the response (1 s) or release (5 s) delay; only
        // the second is timed, as only it moves the relays.
        var steps: [(reading: DecodedReading, afterSeconds: Int, timed: Bool)] = [(healthy, 1, false)]
        for iteration in 0..<iterations {
            steps += iteration.isMultiple(of: 2)
                ? [(fault, 1, false), (fault, 1, true)] : [(healthy, 1, false), (healthy, 5, true)]
        }
        for var step in steps {
            now += .seconds(step.afterSeconds)
            // A new measurement each time, as the device's update counter would show.
            counter &+= 1
            step.reading.updateCounter = counter
            let at = AlarmTime(monotonic: now, wall: Date())
            let started = ContinuousClock.now
            for case let .setOutputs(outputs) in machine.handle(.reading(step.reading), at: at) {
                let energised = [outputs.green, !outputs.yellow, !outputs.buzzer, !outputs.commonAlarm]
                for (relay, level) in zip(relays, energised) { try await relay.set(level) }
            }
            let elapsed = started.duration(to: .now)
            if step.timed { durations.append(elapsed) }
        }
        guard gpio.outputChanges.count >= iterations * 4 else {
            throw BenchError("the baseline moved fewer relays than it timed: \(gpio.outputChanges.count) changes")
        }
        return durations
    }

    // MARK: - Report

    static func report(options: Options, run: SizeRun, baseline: [Duration]) -> String {
        let analysis = run.analysis
        let service = Percentiles(analysis.all)
        let bare = Percentiles(baseline)
        func row(_ name: String, _ p: Percentiles) -> String {
            "| \(name) | \(p.count) | \(p.p50.ms) | \(p.p99.ms) | \(p.max.ms) |"
        }
        func ratio(_ a: Duration, _ b: Duration) -> String {
            b > .zero ? String(format: "%.0f×", a / b) : "n/a"
        }
        let verdict = service.count == 0 ? "no samples" : service.p99 < .milliseconds(5) ? "met" : "NOT met"
        return """
            isowatch-bench: \(run.layout.systems) IT systems, \(run.layout.description), poll 1 s, \
            \(Int(options.seconds)) s of faults, seed \(options.seed)

            | path | count | p50 (ms) | p99 (ms) | max (ms) |
            |---|---:|---:|---:|---:|
            \(row("service: reading → last relay written (all changes)", service))
            \(row("service: reading → first relay written (all changes)", Percentiles(analysis.allFirstWrite)))
            \(row("service: … latest reading came after the delay's end", Percentiles(analysis.byReading)))
            \(row("service: … delay ended after the latest reading (tick)", Percentiles(analysis.byTimer)))
            \(row("baseline: AlarmStateMachine.handle + 4 relay writes, direct", bare))
            | ratio service / baseline (all, last relay) | | \(ratio(service.p50, bare.p50)) | \
            \(ratio(service.p99, bare.p99)) | \(ratio(service.max, bare.max)) |

            Target p99 < 5 ms (reading → relay, all changes): \(verdict). \
            Relay changes with no reading to explain them: \(analysis.unexplained).
            """
    }

    /// One row per size: the service's latency (reading → last relay written) beside the one
    /// baseline of the run, which does not depend on the number of systems.
    static func sizeReport(options: Options, runs: [SizeRun], baseline: [Duration]) -> String {
        let bare = Percentiles(baseline)
        var rows: [String] = []
        var verdicts: [String] = []
        for run in runs {
            let all = Percentiles(run.analysis.all)
            let first = Percentiles(run.analysis.allFirstWrite)
            let byReading = Percentiles(run.analysis.byReading)
            let byTimer = Percentiles(run.analysis.byTimer)
            rows.append(
                "| \(run.layout.systems) | \(run.layout.gateways) | \(all.count) | \(all.p50.ms) | \(all.p99.ms) | "
                    + "\(all.max.ms) | \(first.p99.ms) | \(byReading.count) / \(byReading.p99.ms) | "
                    + "\(byTimer.count) / \(byTimer.p99.ms) | \(run.analysis.unexplained) |")
            let verdict = all.count == 0 ? "no samples" : all.p99 < .milliseconds(5) ? "met" : "NOT met"
            verdicts.append("\(run.layout.systems): \(verdict)")
        }
        return """
            isowatch-bench: \(runs.map { String($0.layout.systems) }.joined(separator: ", ")) IT systems \
            (16 units per TCP gateway), poll 1 s, \(Int(options.seconds)) s of faults per size, seed \(options.seed)

            Reading → relay latency (ms): from the moment the decoded readings justified a relay change \
            to the last (p50, p99, max) and first (p99) relay written for it.

            | systems | gateways | changes | p50 | p99 | max | first relay p99 | decided by a reading: n / p99 \
            | by the delay's end: n / p99 | unexplained |
            |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
            \(rows.joined(separator: "\n"))

            Baseline, same run: AlarmStateMachine.handle + 4 relay writes, direct: \(bare.count) changes, \
            p50 \(bare.p50.ms), p99 \(bare.p99.ms), max \(bare.max.ms) ms.

            Target p99 < 5 ms (reading → relay, all changes): \(verdicts.joined(separator: "; ")).
            """
    }

    struct Percentiles {
        let count: Int
        let p50: Duration
        let p95: Duration
        let p99: Duration
        let max: Duration

        init(_ samples: [Duration]) {
            let sorted = samples.sorted()
            count = sorted.count
            // Nearest rank: the smallest sample with at least p of the samples at or below it.
            func rank(_ p: Double) -> Duration {
                sorted.isEmpty ? .zero : sorted[Swift.max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
            }
            p50 = rank(0.5)
            p95 = rank(0.95)
            p99 = rank(0.99)
            max = sorted.last ?? .zero
        }
    }

    struct Options {
        var seconds = 60.0
        var seed: UInt64 = 1
        var systems = [64]

        init(_ arguments: ArraySlice<String>) throws {
            var rest = arguments
            while let flag = rest.popFirst() {
                guard let value = rest.popFirst() else { throw BenchError("\(flag) needs a value") }
                switch flag {
                case "--seconds":
                    guard let seconds = Double(value), seconds >= 10 else { throw BenchError("--seconds: at least 10") }
                    self.seconds = seconds
                case "--systems":
                    let sizes = value.split(separator: ",").map { Int($0) }
                    guard !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 1024 }) else {
                        throw BenchError("--systems: comma-separated sizes, each 1...1024")
                    }
                    systems = sizes.compactMap { $0 }
                case "--seed":
                    guard let seed = UInt64(value) else { throw BenchError("--seed: an unsigned integer") }
                    self.seed = seed
                default:
                    throw BenchError("unknown option \(flag); usage: isowatch-bench [--seconds N] [--seed S] [--systems 1,16,64,256]")
                }
            }
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension SplitMix64 {
    /// A uniform value in [low, high): the fault schedule of a run, repeatable from its seed.
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * nextUnitInterval()
    }
}

extension Duration {
    var ms: String {
        String(format: "%.3f", Double(components.seconds) * 1e3 + Double(components.attoseconds) / 1e15)
    }
}
