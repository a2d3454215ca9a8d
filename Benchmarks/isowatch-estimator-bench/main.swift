import Foundation
import IsoWatchEstimator
import IsoWatchSimulator

// The estimator benchmark of issue 4 §5 (scripts/bench-estimator runs it, then
// scripts/plot-estimator.py draws the figures). Fixed seeds: a rerun gives the same numbers,
// except the CPU cost, which is measured.

let arguments = Array(CommandLine.arguments.dropFirst())
let outputDirectory = arguments.first { !$0.hasPrefix("-") } ?? "Benchmarks/results/estimator"
let quick = arguments.contains("--quick")
enum Setup {
    static let rs = MeasuringCircuitParameters.medicalCouplingResistanceOhms
    static let responseOhms = 50_000.0
    static let configuration = EstimatorConfiguration(couplingResistanceOhms: rs, responseValueOhms: responseOhms)
    /// The baseline's fixed half-period: long enough to settle (5τ) at 5 µF and 1 MΩ.
    static let baselineHalfPeriodSeconds = 3.0
}
let rs = Setup.rs
let responseOhms = Setup.responseOhms
let configuration = Setup.configuration
let baselineHalfPeriodSeconds = Setup.baselineHalfPeriodSeconds

try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)

func log(_ text: String) {
    FileHandle.standardError.write(Data("\(text)\n".utf8))
}

func percentile(_ values: [Double], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((fraction * Double(sorted.count - 1)).rounded(.up))
    return sorted[min(sorted.count - 1, rank)]
}

func write(_ name: String, _ header: String, _ rows: [String]) throws {
    let text = ([header] + rows).joined(separator: "\n") + "\n"
    try text.write(toFile: "\(outputDirectory)/\(name)", atomically: true, encoding: .utf8)
}

func adaptive() -> AdaptiveMethod { AdaptiveMethod(configuration: Setup.configuration) }
func baseline() -> FixedPulseBaseline {
    FixedPulseBaseline(
        halfPeriodSeconds: Setup.baselineHalfPeriodSeconds, couplingResistanceOhms: Setup.rs, mainsFrequencyHertz: 50)
}

func feedName(_ feed: Feed) -> String {
    switch feed {
    case .raw: "raw"
    case .frontEnd: "frontend"
    }
}

// MARK: 1. accuracy grid

/// Relative errors of every published estimate after the warm-up, and how many were not good.
func accuracyRun<M: Method>(_ method: M, _ conditions: Conditions, feed: Feed, seconds: Double, warmUp: Double) -> (
    goodErrors: [Double], allErrors: [Double], notGood: Int, total: Int
) {
    var run = Run(conditions: conditions, method: method, feed: feed)
    var goodErrors: [Double] = []
    var allErrors: [Double] = []
    var notGood = 0
    var total = 0
    let truth = conditions.insulationResistanceOhms
    run.run(untilSeconds: seconds) { estimate in
        guard estimate.timeSeconds > warmUp else { return }
        total += 1
        let error = estimate.insulationResistanceOhms.map { abs($0 - truth) / truth } ?? .infinity
        allErrors.append(error)
        if estimate.quality == .good { goodErrors.append(error) } else { notGood += 1 }
    }
    return (goodErrors, allErrors, notGood, total)
}

let resistances = [1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7]
let capacitances = [0.1e-6, 1e-6, 5e-6]
let seeds: [UInt64] = Array(1...(quick ? 3 : 16))
var accuracyRows: [String] = []
var summary: [String: Any] = [:]
let accuracyStart = Date()
for feed in [Feed.frontEnd(rawRateHertz: 1000), .raw(sampleRateHertz: 1000)] {
    for ce in capacitances {
        for re in resistances {
            for (name, isBaseline) in [("adaptive", false), ("fixed-pulse", true)] {
                if isBaseline, case .raw = feed { continue }
                var good: [Double] = []
                var all: [Double] = []
                var notGood = 0
                var total = 0
                for seed in seeds {
                    var conditions = Conditions.nominal(re: re, ce: ce, seed: seed)
                    conditions.dcOffsetVolts = seed % 2 == 0 ? 2 : -2
                    let result =
                        isBaseline
                        ? accuracyRun(baseline(), conditions, feed: feed, seconds: 40, warmUp: 13)
                        : accuracyRun(adaptive(), conditions, feed: feed, seconds: 20, warmUp: 8)
                    good += result.goodErrors
                    all += result.allErrors
                    notGood += result.notGood
                    total += result.total
                }
                accuracyRows.append(
                    "\(name),\(feedName(feed)),\(re),\(ce),\(percentile(good, 0.5)),\(percentile(good, 0.95)),"
                        + "\(good.max() ?? .nan),\(percentile(all, 0.95)),\(Double(notGood) / Double(max(1, total))),\(total)")
            }
        }
        log("accuracy \(feedName(feed)) Ce \(ce) done (\(Int(Date().timeIntervalSince(accuracyStart))) s)")
    }
}
try write(
    "accuracy.csv", "method,feed,re_ohms,ce_farads,p50_good,p95_good,max_good,p95_all,not_good_fraction,estimates",
    accuracyRows)

// MARK: 2. response time after a step from 1 MΩ to half the response value

struct Response {
    var alarmSeconds: Double
    var within15Seconds: Double
}

func responseRun<M: Method>(_ method: M, ce: Double, seed: UInt64, feed: Feed) -> Response {
    var conditions = Conditions.nominal(re: 1e6, ce: ce, seed: seed)
    conditions.dcOffsetVolts = 0
    var run = Run(conditions: conditions, method: method, feed: feed)
    run.run(untilSeconds: 30) { _ in }
    // The fault appears at a seeded moment, not in step with the pulse.
    var generator = SplitMix64(seed: seed)
    let stepSeconds = 30 + 3 * generator.nextUnitInterval()
    run.run(untilSeconds: stepSeconds) { _ in }
    run.simulator.setInsulationResistance(responseOhms / 2, faultShareOnLine1: conditions.faultShareOnLine1)
    var alarm = Double.infinity
    var within = Double.infinity
    run.run(untilSeconds: stepSeconds + 60) { estimate in
        let value = estimate.insulationResistanceOhms ?? .infinity
        if alarm.isInfinite, value < responseOhms { alarm = estimate.timeSeconds - stepSeconds }
        if abs(value - responseOhms / 2) <= 0.15 * responseOhms / 2 {
            if within.isInfinite { within = estimate.timeSeconds - stepSeconds }
        } else {
            within = .infinity
        }
    }
    return Response(alarmSeconds: alarm, within15Seconds: within)
}

var responseRows: [String] = []
let responseCapacitances = [0.1e-6, 0.2e-6, 0.5e-6, 1e-6, 2e-6, 5e-6, 10e-6]
for ce in responseCapacitances {
    for seed in seeds {
        let feed = Feed.frontEnd(rawRateHertz: 1000)
        let a = responseRun(adaptive(), ce: ce, seed: seed, feed: feed)
        let b = responseRun(baseline(), ce: ce, seed: seed, feed: feed)
        responseRows.append("adaptive,\(ce),\(seed),\(a.alarmSeconds),\(a.within15Seconds)")
        responseRows.append("fixed-pulse,\(ce),\(seed),\(b.alarmSeconds),\(b.within15Seconds)")
    }
    log("response Ce \(ce) done")
}
try write("response.csv", "method,ce_farads,seed,alarm_s,within_15_percent_s", responseRows)

// MARK: 3. DC offset sweep

var offsetRows: [String] = []
for re in [50e3, 200e3, 1e6] {
    for offset in stride(from: -12.0, through: 12.0, by: 2) {
        var errors: [Double] = []
        var offsets: [Double] = []
        for seed in seeds.prefix(4) {
            var conditions = Conditions.nominal(re: re, ce: 1e-6, seed: seed)
            conditions.dcOffsetVolts = offset
            var run = Run(conditions: conditions, method: adaptive(), feed: .frontEnd(rawRateHertz: 1000))
            var last: InsulationEstimate?
            run.run(untilSeconds: 15) { last = $0 }
            errors.append((last?.insulationResistanceOhms ?? .infinity) / re - 1)
            offsets.append(last?.dcOffsetVolts ?? .nan)
        }
        offsetRows.append(
            "\(re),\(offset),\(errors.reduce(0, +) / Double(errors.count)),\(errors.map(abs).max() ?? .nan),"
                + "\(offsets.reduce(0, +) / Double(offsets.count))")
    }
}
try write("dc-offset.csv", "re_ohms,offset_volts,mean_relative_error,max_abs_relative_error,estimated_offset_volts", offsetRows)
log("dc offset done")

// MARK: 4. false and missed alarms under every disturbance profile

struct Profile: Sendable {
    var name: String
    var apply: @Sendable (inout Conditions) -> Void
}

let profiles: [Profile] = [
    Profile(name: "nominal") { _ in },
    Profile(name: "asymmetric-fault") { $0.faultShareOnLine1 = 1 },
    Profile(name: "converter-15Hz") { $0.converterAmperes = 2e-6 },
    Profile(name: "converter-3Hz") {
        $0.converterAmperes = 1e-6
        $0.converterFrequencyHertz = 3
    },
    Profile(name: "load-switching") { $0.burstPeakAmperes = 20e-6 },
    Profile(name: "dc-offset+U0") { $0.dcOffsetVolts = 12 },
    Profile(name: "dc-offset-U0") { $0.dcOffsetVolts = -12 },
    Profile(name: "noise-x10") { $0.adcNoiseAmperes = 200e-9 },
    Profile(name: "mains-50.5Hz") {
        $0.mainsFrequencyHertz = 50.5
    },
    Profile(name: "all-together") {
        $0.faultShareOnLine1 = 0.8
        $0.converterAmperes = 1e-6
        $0.burstPeakAmperes = 10e-6
        $0.dcOffsetVolts = 6
        $0.adcNoiseAmperes = 60e-9
    },
]

let alarmHours = quick ? 0.25 : Double(ProcessInfo.processInfo.environment["ESTIMATOR_BENCH_HOURS"] ?? "24") ?? 24
let alarmRows = alarmChecks(profiles: profiles, hours: alarmHours)

final class Rows: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var rows: [String]
    init(count: Int) { rows = [String](repeating: "", count: count) }
    func set(_ index: Int, _ row: String) { lock.withLock { rows[index] = row } }
    var all: [String] { lock.withLock { rows } }
}

func alarmChecks(profiles: [Profile], hours alarmHours: Double) -> [String] {
    let responseOhms = Setup.responseOhms
    let alarmStart = Date()
    let jobs = profiles.flatMap { profile in [(profile, 2.0), (profile, 0.5)] }
    let results = Rows(count: jobs.count)
    DispatchQueue.concurrentPerform(iterations: jobs.count) { index in
        let (profile, factor) = jobs[index]
        var conditions = Conditions.nominal(re: factor * responseOhms, ce: 1e-6, seed: UInt64(100 + index))
        profile.apply(&conditions)
        // The front-end feed is what the live service sees; 400 Hz inside a 50 Hz boxcar.
        var run = Run(conditions: conditions, method: adaptive(), feed: .frontEnd(rawRateHertz: 400))
        let warmUp = 10.0
        var estimates = 0
        var wrong = 0
        var episodes = 0
        var inEpisode = false
        var notGood = 0
        var worst = 0.0
        run.run(untilSeconds: alarmHours * 3600) { estimate in
            guard estimate.timeSeconds > warmUp else { return }
            estimates += 1
            if estimate.quality != .good { notGood += 1 }
            let value = estimate.insulationResistanceOhms ?? .nan
            // At 2× a false alarm is a value below the response value; at 0.5× a missed alarm
            // is any moment without a value below it.
            let isWrong = factor > 1 ? value < responseOhms : !(value < responseOhms)
            if isWrong {
                wrong += 1
                if !inEpisode { episodes += 1 }
            }
            inEpisode = isWrong
            if value.isFinite { worst = max(worst, abs(Foundation.log(value / conditions.insulationResistanceOhms))) }
        }
        let kind = factor > 1 ? "false" : "missed"
        results.set(
            index,
            "\(profile.name),\(factor),\(kind),\(alarmHours),\(estimates),\(wrong),\(episodes),"
                + "\(Double(notGood) / Double(max(1, estimates))),\(exp(worst) - 1)")
        log("alarms \(profile.name) ×\(factor): \(wrong) wrong of \(estimates) (\(Int(Date().timeIntervalSince(alarmStart))) s)")
    }
    return results.all
}
try write(
    "alarms.csv", "profile,factor_of_response,check,hours,estimates,wrong_estimates,episodes,not_good_fraction,worst_ratio_error",
    alarmRows)

// MARK: 5. CPU cost per front-end

/// 64 front-ends' streams (one-mains-period means at 50 Hz), generated first; then the
/// estimators alone, timed: wall time against the signal time they cover.
func costRun() -> [String: Double] {
    let frontEnds = 64
    let seconds = quick ? 60.0 : 600.0
    var streams: [[PulseSample]] = []
    for index in 0..<frontEnds {
        let re = [30e3, 100e3, 1e6, 5e6][index % 4]
        let ce = [0.3e-6, 1e-6, 3e-6, 5e-6][index / 4 % 4]
        // Fixed pulses sized as the controller would (3τ, at least 0.2 s).
        let tau = ce * rs * re / (rs + re)
        let conditions = Conditions.nominal(re: re, ce: ce, seed: UInt64(1000 + index))
        var run = Run(
            conditions: conditions,
            method: FixedPulseBaseline(
                halfPeriodSeconds: max(0.2, (3 * tau * 50).rounded(.up) / 50), couplingResistanceOhms: rs,
                mainsFrequencyHertz: 50),
            feed: .frontEnd(rawRateHertz: 400))
        var stream: [PulseSample] = []
        stream.reserveCapacity(Int(seconds * 50) + 1)
        run.recordFrontEnd(untilSeconds: seconds) { stream.append($0) }
        streams.append(stream)
    }
    var estimators = (0..<frontEnds).map { _ in InsulationEstimator(configuration) }
    var count = 0
    let clock = ContinuousClock()
    var cpuStart = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuStart)
    let elapsed = clock.measure {
        // Interleaved as a service would: each front-end's ring read in turn, 1 s at a time.
        let chunk = 50
        var offset = 0
        while offset < streams[0].count {
            for index in 0..<frontEnds {
                for sample in streams[index][offset..<min(offset + chunk, streams[index].count)] {
                    count += estimators[index].append(sample).count
                }
            }
            offset += chunk
        }
    }
    var cpuEnd = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuEnd)
    let wallSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    let cpuSeconds = Double(cpuEnd.tv_sec - cpuStart.tv_sec) + Double(cpuEnd.tv_nsec - cpuStart.tv_nsec) * 1e-9
    return [
        "front_ends": Double(frontEnds), "signal_seconds": seconds, "wall_seconds": wallSeconds,
        "thread_cpu_seconds": cpuSeconds, "fraction_of_one_core_for_64": wallSeconds / seconds,
        "fraction_of_one_core_per_front_end": wallSeconds / seconds / Double(frontEnds),
        "half_periods_estimated": Double(count),
    ]
}

let cost = costRun()
log("cost: \(cost)")
summary["cost"] = cost
summary["seeds"] = seeds.count
summary["alarm_hours"] = alarmHours
summary["baseline_half_period_seconds"] = baselineHalfPeriodSeconds
let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted])
try data.write(to: URL(fileURLWithPath: "\(outputDirectory)/summary.json"))
log("results in \(outputDirectory)")
