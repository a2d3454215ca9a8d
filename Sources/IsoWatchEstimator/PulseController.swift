import Foundation

/// The adaptive loop: the next pulse half-period from the estimated time constant and the
/// quality of the last estimate. Short when Ce is small (fast answers), several τ when it is
/// large (the prediction must see enough of the decay), longer again while disturbed (more mains
/// periods to average a disturbance out). Rounded up to whole mains periods, the unit the
/// front-end averages over.
public struct PulseController: Sendable, Equatable {
    public var minimumSeconds: Double
    public var maximumSeconds: Double
    public var mainsFrequencyHertz: Double
    /// Th = multiple · τ̂ while the measurement is good.
    public var timeConstantMultiple: Double
    public private(set) var halfPeriodSeconds: Double
    private var notGoodRun = 0

    /// Starts with a probe pulse of `minimumSeconds` to get a first τ̂.
    public init(minimumSeconds: Double = 0.2, maximumSeconds: Double = 10, mainsFrequencyHertz: Double = 50) {
        precondition(minimumSeconds > 0 && maximumSeconds >= minimumSeconds && mainsFrequencyHertz > 0)
        self.minimumSeconds = minimumSeconds
        self.maximumSeconds = maximumSeconds
        self.mainsFrequencyHertz = mainsFrequencyHertz
        timeConstantMultiple = 1.5
        halfPeriodSeconds = 0
        halfPeriodSeconds = rounded(minimumSeconds)
    }

    public mutating func next(after estimate: InsulationEstimate) -> Double {
        let fromTimeConstant = (estimate.timeConstantSeconds ?? 0) * timeConstantMultiple
        let target: Double
        notGoodRun = estimate.quality == .good ? 0 : notGoodRun + 1
        switch estimate.quality {
        case .good: target = fromTimeConstant
        case .disturbed where notGoodRun < 3:
            // One or two disturbed half-periods are what a step in the circuit looks like:
            // follow the new τ (with a margin) rather than the old pulse, or a fault that
            // shortens τ would be answered with ever longer pulses.
            target = 1.25 * fromTimeConstant
        case .disturbed: target = 1.25 * max(fromTimeConstant, halfPeriodSeconds)
        case .insufficient: target = max(fromTimeConstant, 2 * halfPeriodSeconds)
        }
        halfPeriodSeconds = rounded(target)
        return halfPeriodSeconds
    }

    private func rounded(_ seconds: Double) -> Double {
        let clamped = min(max(seconds, minimumSeconds), maximumSeconds)
        let periods = (clamped * mainsFrequencyHertz - 1e-9).rounded(.up)
        return periods / mainsFrequencyHertz
    }
}
