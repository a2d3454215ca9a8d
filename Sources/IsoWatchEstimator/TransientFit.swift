import Foundation

/// Least-squares fit of y = a + b·e^(−x/τ) to one half-period's mains-period means: a linear
/// solve for (a, b) at each τ, τ searched on a log grid and refined by golden section. The
/// settled current a is the prediction of where the current is heading, available long before
/// the transient has died away (adaptive-pulse.md, estimator sketch step 2).
///
/// A boxcar mean over [x, x + T] of a + b·e^(−x/τ) is a + b·(τ/T)(1 − e^(−T/τ))·e^(−x/τ): the
/// same form with the same a and τ, so the model fits window means indexed by window start.
struct TransientFit: Sendable, Equatable {
    /// a: the settled current.
    var settledAmperes: Double
    /// b: the transient's amplitude at x = 0 (in window-mean terms).
    var amplitudeAmperes: Double
    var timeConstantSeconds: Double
    /// Standard error of a, including what the uncertainty of τ does to the extrapolation.
    var settledStandardErrorAmperes: Double
    var residualRMSAmperes: Double
    /// The noise of one point as the fit sees it: √(SSR/(n − parameters)), at least the floor.
    var noiseAmperes: Double
    var usedCount: Int
    var rejectedCount: Int
    /// τ lies at the lower end of the search: the transient was over within the first window,
    /// a is then the mean of the rest and τ is unknown.
    var timeConstantUnresolved: Bool

    /// `floorAmperes`: the smallest noise the data can have (quantisation, rounding); keeps
    /// noise-free data from rejecting points over rounding errors. `typicalNoiseAmperes`: the
    /// noise of one point in recent undisturbed half-periods, if known. The spread of ten
    /// residuals is a poor measure of the noise: by chance five or six of them can lie close
    /// together and put ordinary noise in the other windows beyond 4.5 "spreads"; the
    /// front-end's noise does not change from one half-period to the next, so the outlier test
    /// never judges against a spread below it.
    static func fit(
        offsetsSeconds x: [Double], values y: [Double], spacingSeconds: Double, floorAmperes: Double,
        typicalNoiseAmperes: Double? = nil
    ) -> TransientFit? {
        precondition(x.count == y.count)
        var used = [Bool](repeating: true, count: x.count)
        guard var best = fitOnce(x, y, used, spacingSeconds, floorAmperes) else { return nil }
        // One round of outlier rejection against a robust spread (a load-switching burst or
        // a spike spoils one or two windows, not the shape of the transient). Residuals are
        // judged studentised, r/√(1 − h): with three parameters on about ten windows, the
        // windows that pin b and τ down (the first one or two when τ is a few ms) come out
        // with residuals near zero whatever the noise, and counted as they are they drag the
        // median absolute deviation far below the real noise, until ordinary noise in three
        // other windows exceeds 4.5 of that "spread" (issue 12). Windows the fit reproduces
        // by construction say nothing about the noise and cannot show an outlier either, so
        // they are left out of both the spread and the test.
        let residuals = x.indices.map { y[$0] - best.model(x[$0]) }
        let leverages = best.leverages(x)
        var studentised = [Double](repeating: .nan, count: x.count)
        for index in x.indices where leverages[index] < maximumTestedLeverage {
            studentised[index] = residuals[index] / (1 - leverages[index]).squareRoot()
        }
        let tested = studentised.filter(\.isFinite)
        let centre = median(tested)
        let spread = 1.4826 * median(tested.map { abs($0 - centre) })
        let threshold = max(4.5 * max(spread, typicalNoiseAmperes ?? 0), 8 * floorAmperes)
        var rejected = 0
        for index in x.indices where tested.count >= 3 && abs(studentised[index]) > threshold {
            used[index] = false
            rejected += 1
        }
        if rejected > 0, x.count - rejected >= 3, let refit = fitOnce(x, y, used, spacingSeconds, floorAmperes) {
            best = refit
            best.rejectedCount = rejected
        }
        return best
    }

    func model(_ offsetSeconds: Double) -> Double {
        settledAmperes + amplitudeAmperes * exp(-offsetSeconds / timeConstantSeconds)
    }

    /// Above this leverage a window's residual is mostly forced by the fit rather than drawn
    /// from the noise (its spread is under √(1 − h) ≈ 0.45 of the noise).
    static let maximumTestedLeverage = 0.8

    /// The leverage h of each point: the diagonal of the hat matrix of the model linearised at
    /// this solution, whose columns are ∂model/∂a = 1, ∂model/∂b = e^(−x/τ) and
    /// ∂model/∂τ = b·x/τ²·e^(−x/τ). An orthonormal basis of those columns (Gram–Schmidt) gives
    /// h_i = Σ_k q_ik². A column that adds nothing (τ so short that e^(−x/τ) is zero past the
    /// first window, or the flat fit with b = 0) is dropped rather than inverted.
    func leverages(_ x: [Double]) -> [Double] {
        let tau = timeConstantSeconds
        var columns: [[Double]] = [x.map { _ in 1 }]
        if amplitudeAmperes != 0 {
            columns.append(x.map { exp(-$0 / tau) })
            columns.append(x.map { amplitudeAmperes * $0 / (tau * tau) * exp(-$0 / tau) })
        }
        var basis: [[Double]] = []
        for column in columns {
            var vector = column
            let originalNorm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard originalNorm > 0, originalNorm.isFinite else { continue }
            // Twice, so rounding in the first pass does not leave a component along the basis.
            for _ in 0..<2 {
                for unit in basis {
                    let projection = zip(vector, unit).reduce(0) { $0 + $1.0 * $1.1 }
                    for index in vector.indices { vector[index] -= projection * unit[index] }
                }
            }
            let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 1e-9 * originalNorm else { continue }
            basis.append(vector.map { $0 / norm })
        }
        return x.indices.map { index in basis.reduce(0) { $0 + $1[index] * $1[index] } }
    }

    private struct Linear {
        var a: Double
        var b: Double
        var ssr: Double
        var aVarianceFactor: Double
        var bVarianceFactor: Double
    }

    /// (a, b) and the residual sum of squares at one τ; the data are centred first so the
    /// normal equations do not lose digits to the offset of the currents.
    private static func solve(_ x: [Double], _ y: [Double], _ used: [Bool], _ mean: Double, tau: Double) -> Linear {
        var n = 0.0
        var se = 0.0
        var see = 0.0
        var sy = 0.0
        var sey = 0.0
        var syy = 0.0
        for index in x.indices where used[index] {
            let e = exp(-x[index] / tau)
            let v = y[index] - mean
            n += 1
            se += e
            see += e * e
            sy += v
            sey += e * v
            syy += v * v
        }
        let determinant = n * see - se * se
        guard determinant > 1e-12 * n * see, determinant.isFinite else {
            return Linear(
                a: sy / n + mean, b: 0, ssr: max(0, syy - sy * sy / n), aVarianceFactor: 1 / n,
                bVarianceFactor: .infinity)
        }
        let a = (see * sy - se * sey) / determinant
        let b = (n * sey - se * sy) / determinant
        let ssr = max(0, syy - a * sy - b * sey)
        return Linear(a: a + mean, b: b, ssr: ssr, aVarianceFactor: see / determinant, bVarianceFactor: n / determinant)
    }

    private static func fitOnce(
        _ x: [Double], _ y: [Double], _ used: [Bool], _ spacing: Double, _ floor: Double
    ) -> TransientFit? {
        let indices = x.indices.filter { used[$0] }
        guard indices.count >= 3, let first = indices.first, let last = indices.last else { return nil }
        let span = max(x[last] - x[first], spacing)
        let count = Double(indices.count)
        let mean = indices.reduce(0.0) { $0 + y[$1] } / count
        let lowerTau = spacing / 8
        let upperTau = 4 * span + spacing
        let gridCount = 40
        let logLower = log(lowerTau)
        let logStep = (log(upperTau) - logLower) / Double(gridCount - 1)
        var grid: [(logTau: Double, ssr: Double)] = []
        grid.reserveCapacity(gridCount)
        for step in 0..<gridCount {
            let logTau = logLower + Double(step) * logStep
            grid.append((logTau, solve(x, y, used, mean, tau: exp(logTau)).ssr))
        }
        let bestIndex = grid.indices.min { grid[$0].ssr < grid[$1].ssr } ?? 0
        // Golden-section search between the grid neighbours of the minimum.
        var low = grid[max(0, bestIndex - 1)].logTau
        var high = grid[min(gridCount - 1, bestIndex + 1)].logTau
        let ratio = (5.0.squareRoot() - 1) / 2
        var c = high - ratio * (high - low)
        var d = low + ratio * (high - low)
        var fc = solve(x, y, used, mean, tau: exp(c)).ssr
        var fd = solve(x, y, used, mean, tau: exp(d)).ssr
        for _ in 0..<30 {
            if fc < fd {
                high = d
                d = c
                fd = fc
                c = high - ratio * (high - low)
                fc = solve(x, y, used, mean, tau: exp(c)).ssr
            } else {
                low = c
                c = d
                fc = fd
                d = low + ratio * (high - low)
                fd = solve(x, y, used, mean, tau: exp(d)).ssr
            }
        }
        let logTau = (low + high) / 2
        let tau = exp(logTau)
        let linear = solve(x, y, used, mean, tau: tau)
        let degreesOfFreedom = max(1, count - 3)
        let variance = max(linear.ssr / degreesOfFreedom, floor * floor)
        // A transient lost in the noise has no time constant to speak of: the half-period was
        // settled from its first window, and the mean is the estimate.
        if abs(linear.b) < 4 * (variance * linear.bVarianceFactor).squareRoot() {
            var sum = 0.0
            var squares = 0.0
            for index in indices {
                sum += y[index]
                squares += (y[index] - mean) * (y[index] - mean)
            }
            let flatVariance = max(squares / max(1, count - 1), floor * floor)
            return TransientFit(
                settledAmperes: sum / count, amplitudeAmperes: 0, timeConstantSeconds: lowerTau,
                settledStandardErrorAmperes: (flatVariance / count).squareRoot(),
                residualRMSAmperes: (squares / count).squareRoot(), noiseAmperes: flatVariance.squareRoot(),
                usedCount: indices.count, rejectedCount: x.count - indices.count, timeConstantUnresolved: true)
        }
        // Uncertainty of τ from the curvature of the SSR in log τ, and what it moves a by:
        // an extrapolated prediction is only as good as the time constant it extrapolates with.
        let h = 0.05
        let plus = solve(x, y, used, mean, tau: exp(logTau + h))
        let minus = solve(x, y, used, mean, tau: exp(logTau - h))
        let curvature = (plus.ssr - 2 * linear.ssr + minus.ssr) / (h * h)
        let slope = (plus.a - minus.a) / (2 * h)
        var tauTerm = 0.0
        if curvature > 0 {
            let logTauVariance = 2 * variance / curvature
            tauTerm = slope * slope * min(logTauVariance, 1)
        } else if abs(slope) > 0 {
            tauTerm = slope * slope
        }
        let standardError = (variance * linear.aVarianceFactor + tauTerm).squareRoot()
        return TransientFit(
            settledAmperes: linear.a, amplitudeAmperes: linear.b, timeConstantSeconds: tau,
            settledStandardErrorAmperes: standardError, residualRMSAmperes: (linear.ssr / count).squareRoot(),
            noiseAmperes: variance.squareRoot(),
            usedCount: indices.count, rejectedCount: x.count - indices.count,
            timeConstantUnresolved: tau < spacing / 2)
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
