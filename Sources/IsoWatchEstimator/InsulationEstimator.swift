import Foundation

/// The streaming estimator of insulation resistance, leakage capacitance and DC offset from the
/// measuring-pulse response (adaptive-pulse.md). Feed it samples in time order; each completed
/// half-period yields the value the live pipeline publishes at that moment.
///
/// Per half-period: mains-period means (raw input) or the front-end's own means (decimated
/// input), a fit of a + b·e^(−t/τ) predicting the settled current, and a quality figure. Two
/// consecutive half-periods of opposite polarity give Re = (U₊ + U₋)/(i∞₊ − i∞₋) − Rs, in which
/// a DC offset cancels, Uoff itself, and Ce = τ/(Rs ∥ Re). Good measurements go through a
/// median filter in log(Re) with a step detector; disturbed ones never enter it.
public struct InsulationEstimator: Sendable {
    public let configuration: EstimatorConfiguration
    /// What the live pipeline publishes now; nil before the first half-period completes.
    public private(set) var published: InsulationEstimate?
    /// The latest unfiltered measurement (one pair of half-periods), for diagnostics.
    public private(set) var latestMeasurement: InsulationEstimate?
    /// The mains frequency the averaging follows (the nominal one until the signal shows another).
    public private(set) var mainsFrequencyHertz: Double

    private var segment: [PulseSample] = []
    private var segmentPolarity = 0
    private var previousHalf: HalfPeriod?
    private var filter: RobustFilter
    private var frequencyObservations = 0
    /// Per-point noise of the latest fits that needed no outlier rejection; its median is the
    /// front-end's noise the outlier test measures a half-period's residuals against.
    private var noiseHistory: [Double] = []
    private static let noiseHistoryLength = 16

    public init(_ configuration: EstimatorConfiguration) {
        self.configuration = configuration
        mainsFrequencyHertz = configuration.mainsFrequencyHertz
        filter = RobustFilter(configuration: configuration)
    }

    /// Returns one estimate for each half-period this sample completes (zero or one).
    public mutating func append(_ sample: PulseSample) -> [InsulationEstimate] {
        guard sample.timeSeconds.isFinite, sample.pulseVolts.isFinite else { return [] }
        if let last = segment.last, sample.timeSeconds <= last.timeSeconds { return [] }
        let polarity = sample.pulseVolts > 0 ? 1 : (sample.pulseVolts < 0 ? -1 : 0)
        guard polarity != segmentPolarity else {
            if polarity != 0 { segment.append(sample) }
            return []
        }
        var estimates: [InsulationEstimate] = []
        if segmentPolarity != 0, !segment.isEmpty {
            estimates.append(completeHalfPeriod(atSeconds: sample.timeSeconds))
        }
        segment.removeAll(keepingCapacity: true)
        segmentPolarity = polarity
        if polarity == 0 {
            // A stopped pulse (self-test) breaks the pairing: the next half-period has no partner.
            previousHalf = nil
        } else {
            segment.append(sample)
        }
        return estimates
    }

    // MARK: one half-period

    struct HalfPeriod: Sendable {
        var polarity: Int
        var volts: Double
        var fit: TransientFit?
        var quality: EstimateQuality
        /// nil when the transient was over within the first mains period.
        var timeConstantSeconds: Double?
    }

    private mutating func completeHalfPeriod(atSeconds timeSeconds: Double) -> InsulationEstimate {
        let half = analyse(segment, polarity: segmentPolarity)
        var measurement: InsulationEstimate?
        if let previousHalf, previousHalf.polarity == -half.polarity {
            measurement = Self.pair(previousHalf, half, atSeconds: timeSeconds, configuration: configuration)
        }
        previousHalf = half
        let unpaired = InsulationEstimate(
            timeSeconds: timeSeconds, insulationResistanceOhms: nil, leakageCapacitanceFarads: nil,
            dcOffsetVolts: nil, quality: .insufficient, timeConstantSeconds: half.timeConstantSeconds)
        let current = measurement ?? unpaired
        latestMeasurement = current
        let estimate = filter.publish(current, timeConstantSeconds: half.timeConstantSeconds)
        published = estimate
        return estimate
    }

    private mutating func analyse(_ samples: [PulseSample], polarity: Int) -> HalfPeriod {
        let volts =
            configuration.measuringVoltageVolts
            ?? samples.reduce(0.0) { $0 + abs($1.pulseVolts) } / Double(max(1, samples.count))
        var half = HalfPeriod(
            polarity: polarity, volts: volts, fit: nil, quality: .insufficient, timeConstantSeconds: nil)
        guard samples.count >= 3, let edgeSeconds = samples.first?.timeSeconds,
            let endSeconds = samples.last?.timeSeconds
        else { return half }
        let times = samples.map(\.timeSeconds)
        var currents = samples.map(\.currentAmperes)
        var steps: [Double] = []
        steps.reserveCapacity(times.count - 1)
        for index in 1..<times.count { steps.append(times[index] - times[index - 1]) }
        let sampleSeconds = median(steps)
        let nominalPeriod = 1 / configuration.mainsFrequencyHertz

        var fit: TransientFit?
        if sampleSeconds > 0.5 * nominalPeriod {
            // Decimated input: every sample already is a one-mains-period mean, and the
            // front-end's sample period is its measurement of the mains period.
            var offsets: [Double] = []
            var values: [Double] = []
            for sample in samples where sample.currentAmperes.isFinite {
                offsets.append(sample.timeSeconds - edgeSeconds)
                values.append(sample.currentAmperes)
            }
            fit = TransientFit.fit(
                offsetsSeconds: offsets, values: values, spacingSeconds: sampleSeconds, floorAmperes: 1e-11,
                typicalNoiseAmperes: typicalNoiseAmperes)
            if (0.9 * nominalPeriod...1.1 * nominalPeriod).contains(sampleSeconds) {
                mainsFrequencyHertz = 1 / sampleSeconds
            }
        } else {
            Self.markClipped(&currents)
            let startSeconds = edgeSeconds + configuration.blankingSeconds
            var period = 1 / mainsFrequencyHertz
            fit = fitWindows(times, currents, startSeconds, period, sampleSeconds)
            if let first = fit,
                let observed = observedFrequency(first, times, currents, startSeconds, period)
            {
                frequencyObservations += 1
                let updated =
                    frequencyObservations == 1 ? observed : 0.5 * mainsFrequencyHertz + 0.5 * observed
                mainsFrequencyHertz = updated
                if abs(1 / updated - period) > 2e-4 * period {
                    period = 1 / updated
                    fit = fitWindows(times, currents, startSeconds, period, sampleSeconds) ?? first
                }
            }
        }
        guard let fit else { return half }
        // Only fits whose residuals needed no rejection say what the undisturbed noise is, and
        // only those with a few degrees of freedom say it with any precision.
        if fit.rejectedCount == 0, fit.usedCount >= 6 {
            noiseHistory.append(fit.noiseAmperes)
            if noiseHistory.count > Self.noiseHistoryLength { noiseHistory.removeFirst() }
        }
        half.fit = fit
        half.timeConstantSeconds = fit.timeConstantUnresolved ? nil : fit.timeConstantSeconds
        var quality = EstimateQuality.good
        // The prediction may extrapolate, but not from a record that has seen less than about
        // half of the decay: then the pulse is too short for the circuit's time constant.
        if !fit.timeConstantUnresolved, exp(-(endSeconds - edgeSeconds) / fit.timeConstantSeconds) > 0.5 {
            quality = .insufficient
        }
        if fit.usedCount < 3 { quality = .insufficient }
        if Double(fit.rejectedCount) > 0.25 * Double(fit.usedCount + fit.rejectedCount) {
            quality = max(quality, .disturbed)
        }
        half.quality = quality
        return half
    }

    /// An ADC driven into its limits (the edge current 2·U0/Rs at high Re, or the large mains
    /// ripple of an asymmetric low-resistance fault) repeats its full-scale code; those samples
    /// say nothing about the current and are dropped, with every window they fall in. Only
    /// the extremes of largest magnitude count, and only on a signal whose range is a large
    /// part of that magnitude, so a flat, noise-free quantised tail is never taken for one.
    static func markClipped(_ currents: inout [Double]) {
        let finite = currents.filter(\.isFinite)
        guard let highest = finite.max(), let lowest = finite.min() else { return }
        let magnitude = max(abs(highest), abs(lowest))
        guard magnitude > 0, highest - lowest > 0.2 * magnitude else { return }
        for extreme in [highest, lowest] where abs(extreme) >= 0.9 * magnitude {
            guard finite.lazy.filter({ $0 == extreme }).count >= 3 else { continue }
            for index in currents.indices where currents[index] == extreme { currents[index] = .nan }
        }
    }

    /// nil until a few half-periods have shown the noise.
    private var typicalNoiseAmperes: Double? {
        noiseHistory.count >= 4 ? median(noiseHistory) : nil
    }

    private func fitWindows(
        _ times: [Double], _ currents: [Double], _ startSeconds: Double, _ period: Double, _ sampleSeconds: Double
    ) -> TransientFit? {
        let windows = MainsAveraging.windowMeans(
            times: times, currents: currents, startSeconds: startSeconds, periodSeconds: period,
            maximumGapSeconds: 4 * sampleSeconds)
        guard windows.meansAmperes.count >= 3 else { return nil }
        return TransientFit.fit(
            offsetsSeconds: windows.offsetsSeconds, values: windows.meansAmperes, spacingSeconds: period,
            floorAmperes: 1e-11, typicalNoiseAmperes: typicalNoiseAmperes)
    }

    /// The mains frequency seen in what the fitted pulse response leaves of the raw samples.
    private func observedFrequency(
        _ fit: TransientFit, _ times: [Double], _ currents: [Double], _ startSeconds: Double, _ period: Double
    ) -> Double? {
        let tau = fit.timeConstantSeconds
        // The fit's amplitude is in window-mean terms; the raw signal's is larger by
        // T/(τ(1 − e^(−T/τ))). The first window is skipped, where a fast transient dominates.
        let rawAmplitude = fit.amplitudeAmperes * period / (tau * (1 - exp(-period / tau)))
        var residualTimes: [Double] = []
        var residuals: [Double] = []
        for index in times.indices where times[index] >= startSeconds + period && currents[index].isFinite {
            let offset = times[index] - startSeconds
            let model = fit.settledAmperes + (rawAmplitude.isFinite ? rawAmplitude * exp(-offset / tau) : 0)
            residualTimes.append(times[index])
            residuals.append(currents[index] - model)
        }
        return MainsAveraging.trackedFrequency(
            times: residualTimes, residuals: residuals, nominalHertz: configuration.mainsFrequencyHertz)
    }

    // MARK: pairing

    static func pair(
        _ first: HalfPeriod, _ second: HalfPeriod, atSeconds timeSeconds: Double, configuration: EstimatorConfiguration
    ) -> InsulationEstimate {
        let positive = first.polarity > 0 ? first : second
        let negative = first.polarity > 0 ? second : first
        let tau = pairedTimeConstant(first, second)
        var result = InsulationEstimate(
            timeSeconds: timeSeconds, insulationResistanceOhms: nil, leakageCapacitanceFarads: nil,
            dcOffsetVolts: nil, quality: .insufficient, timeConstantSeconds: tau.seconds)
        guard let positiveFit = positive.fit, let negativeFit = negative.fit,
            positive.quality != .insufficient, negative.quality != .insufficient
        else { return result }
        let difference = positiveFit.settledAmperes - negativeFit.settledAmperes
        guard difference > 0 else { return result }
        let rs = configuration.couplingResistanceOhms
        let totalOhms = (positive.volts + negative.volts) / difference
        // A dead short can come out a little below Rs; it is still a short, not "no value".
        let re = max(totalOhms - rs, 1)
        let differenceError = (positiveFit.settledStandardErrorAmperes * positiveFit.settledStandardErrorAmperes
            + negativeFit.settledStandardErrorAmperes * negativeFit.settledStandardErrorAmperes).squareRoot()
        let relativeError = totalOhms * differenceError / difference / re
        let offset =
            ((positive.volts - positiveFit.settledAmperes * totalOhms)
                + (-negative.volts - negativeFit.settledAmperes * totalOhms)) / 2
        var quality = max(positive.quality, negative.quality)
        if relativeError > 0.05 || !tau.consistent { quality = max(quality, .disturbed) }
        result.insulationResistanceOhms = re
        result.dcOffsetVolts = offset
        result.quality = quality
        if let seconds = tau.seconds {
            result.leakageCapacitanceFarads = seconds / (rs * re / (rs + re))
        }
        return result
    }

    /// Both polarities see the same τ; two that disagree by more than a factor of two mean the
    /// circuit changed (or a disturbance shaped one transient) within the pair.
    private static func pairedTimeConstant(_ first: HalfPeriod, _ second: HalfPeriod) -> (
        seconds: Double?, consistent: Bool
    ) {
        switch (first.timeConstantSeconds, second.timeConstantSeconds) {
        case let (a?, b?):
            let bothTrusted = first.quality == .good && second.quality == .good
            return ((a * b).squareRoot(), !bothTrusted || abs(log(a / b)) <= log(2))
        case let (a?, nil): return (a, true)
        case let (nil, b?): return (b, true)
        case (nil, nil): return (nil, true)
        }
    }
}
