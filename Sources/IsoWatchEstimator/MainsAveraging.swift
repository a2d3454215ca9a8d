import Foundation

/// Boxcar means over whole mains periods of raw samples. A mean over exactly one period removes
/// the mains frequency and every harmonic of it, whatever their phase (the ripple that an
/// asymmetric fault drives through the measuring path is far larger than the pulse response),
/// so the period has to follow the actual mains frequency.
enum MainsAveraging {
    struct Windows {
        /// Window starts relative to `originSeconds`.
        var offsetsSeconds: [Double] = []
        var meansAmperes: [Double] = []
    }

    /// Consecutive windows of `periodSeconds` from `startSeconds` to the last sample. The
    /// signal between samples is taken as linear (trapezoid rule), so any sample rate and a
    /// period that is not a whole number of samples both work. A window touching a missing
    /// sample or a gap longer than `maximumGapSeconds` is left out.
    static func windowMeans(
        times: [Double], currents: [Double], startSeconds: Double, periodSeconds: Double, maximumGapSeconds: Double
    ) -> Windows {
        var result = Windows()
        guard times.count >= 2, let lastTime = times.last else { return result }
        // Running integral at each sample; an interval is bad if an end is missing or too long.
        var integral = [Double](repeating: 0, count: times.count)
        var badBefore = [Int](repeating: 0, count: times.count)
        for index in 1..<times.count {
            let width = times[index] - times[index - 1]
            let left = currents[index - 1]
            let right = currents[index]
            let bad = !left.isFinite || !right.isFinite || width > maximumGapSeconds
            integral[index] = integral[index - 1] + (bad ? 0 : 0.5 * width * (left + right))
            badBefore[index] = badBefore[index - 1] + (bad ? 1 : 0)
        }
        var cursor = 0
        // Integral at time t and the number of bad intervals before t's interval.
        func integralAt(_ time: Double) -> (value: Double, interval: Int) {
            while cursor + 1 < times.count - 1 && times[cursor + 1] <= time { cursor += 1 }
            let width = times[cursor + 1] - times[cursor]
            let offset = time - times[cursor]
            let left = currents[cursor]
            let right = currents[cursor + 1]
            let slope = width > 0 ? (right - left) / width : 0
            let partial = left.isFinite && right.isFinite ? offset * left + 0.5 * offset * offset * slope : 0
            return (integral[cursor] + partial, cursor)
        }
        var windowStart = startSeconds
        guard windowStart >= times[0] else { return result }
        while windowStart + periodSeconds <= lastTime + 1e-12 * periodSeconds {
            let begin = integralAt(windowStart)
            let beginBad = badBefore[begin.interval + 1] - badBefore[begin.interval]
            let badCountBefore = badBefore[begin.interval]
            let end = integralAt(min(windowStart + periodSeconds, lastTime))
            let badCountThrough = badBefore[end.interval + 1]
            if beginBad == 0 && badCountThrough - badCountBefore == 0 {
                result.offsetsSeconds.append(windowStart - startSeconds)
                result.meansAmperes.append((end.value - begin.value) / periodSeconds)
            }
            windowStart += periodSeconds
        }
        return result
    }

    /// The mains frequency near `nominalHertz` (±1.5 %) in `residuals` (the samples minus the
    /// fitted pulse response), from the peak of a Hann-windowed spectrum, refined by a parabola
    /// through the three highest grid points. nil when no mains component stands out of the
    /// noise: then nothing needs notching precisely and the tracked value is kept.
    static func trackedFrequency(times: [Double], residuals: [Double], nominalHertz: Double) -> Double? {
        guard times.count >= 16, let first = times.first, let last = times.last, last > first else { return nil }
        let span = last - first
        // Fewer than three periods cannot separate ±1 % from the window's own spread.
        guard span * nominalHertz >= 3 else { return nil }
        var weights = [Double](repeating: 0, count: times.count)
        for index in times.indices {
            let phase = (times[index] - first) / span
            weights[index] = 0.5 - 0.5 * cos(2 * Double.pi * phase)
        }
        let weightSum = weights.reduce(0, +)
        func amplitude(_ hertz: Double) -> Double {
            var real = 0.0
            var imaginary = 0.0
            let omega = 2 * Double.pi * hertz
            for index in times.indices where residuals[index].isFinite {
                let angle = omega * (times[index] - first)
                let value = weights[index] * residuals[index]
                real += value * cos(angle)
                imaginary -= value * sin(angle)
            }
            return 2 * (real * real + imaginary * imaginary).squareRoot() / weightSum
        }
        let steps = 30
        let grid = (0...steps).map { nominalHertz * (1 + 0.03 * (Double($0) / Double(steps) - 0.5)) }
        let amplitudes = grid.map(amplitude)
        guard let bestIndex = amplitudes.indices.max(by: { amplitudes[$0] < amplitudes[$1] }) else { return nil }
        // Compare with the amplitude a pure-noise record of this spread would show.
        let finite = residuals.filter(\.isFinite)
        let rms = (finite.reduce(0) { $0 + $1 * $1 } / Double(max(1, finite.count))).squareRoot()
        let noiseAmplitude = 2 * rms * (weights.reduce(0) { $0 + $1 * $1 }).squareRoot() / weightSum
        guard amplitudes[bestIndex] > 4 * noiseAmplitude else { return nil }
        guard bestIndex > 0 && bestIndex < steps else { return grid[bestIndex] }
        let left = amplitudes[bestIndex - 1]
        let centre = amplitudes[bestIndex]
        let right = amplitudes[bestIndex + 1]
        let denominator = left - 2 * centre + right
        let shift = denominator < 0 ? 0.5 * (left - right) / denominator : 0
        return grid[bestIndex] + shift * (grid[1] - grid[0])
    }
}
