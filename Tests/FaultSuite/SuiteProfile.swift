/// How long and how hard each phase runs. `full` is what BENCHMARKS.md reports; `short` is the
/// same suite cut down to fit CI (every phase still runs, with fewer repetitions and shorter
/// faults, and the soak covers a few simulated hours instead of a day).
struct SuiteProfile: Sendable, Codable {
    var name: String
    /// Physics seconds per wall second, for the whole run.
    var timeFactor: Double
    /// Probabilities of a wire fault per request, rising.
    var wireRates: [Double]
    /// Wall seconds each (kind, rate) step lasts.
    var wireStepSeconds: Double
    /// Wall seconds of a total outage (every request lost); must exceed stale_after + the
    /// response to it, so that the communication alarm is due.
    var outageSeconds: Double
    var unplugSeconds: Double
    var slowDiskSeconds: Double
    var fullDiskSeconds: Double
    var kills: Int
    /// Simulated hours of the soak across the whole site.
    var soakHours: Double

    static let full = SuiteProfile(
        name: "full", timeFactor: 240, wireRates: [0.02, 0.1, 0.3, 0.6], wireStepSeconds: 15, outageSeconds: 10,
        unplugSeconds: 20, slowDiskSeconds: 30, fullDiskSeconds: 30, kills: 6, soakHours: 24)

    static let short = SuiteProfile(
        name: "short", timeFactor: 240, wireRates: [0.05, 0.3], wireStepSeconds: 3, outageSeconds: 7,
        unplugSeconds: 8, slowDiskSeconds: 10, fullDiskSeconds: 10, kills: 2, soakHours: 2)

    static func named(_ name: String) -> SuiteProfile? {
        [full, short].first { $0.name == name }
    }
}
