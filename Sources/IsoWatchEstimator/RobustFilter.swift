import Foundation

/// Median filter in log(Re) over the last good measurements, with outlier rejection and a step
/// detector (adaptive-pulse.md, step 5). A measurement far from the median is held as a step
/// candidate; when the next one agrees with it the window restarts from the candidates, so a
/// real fault shows after two measurements while a lone outlier never shows. A rise across the
/// response value (an alarm clearing) needs three.
struct RobustFilter: Sendable {
    let configuration: EstimatorConfiguration
    private var window: [InsulationEstimate] = []
    private var candidates: [InsulationEstimate] = []
    private var recentNotGood: [InsulationEstimate] = []
    private var notGoodRun = 0
    private var lastTimeConstantSeconds: Double?

    init(configuration: EstimatorConfiguration) {
        self.configuration = configuration
    }

    mutating func publish(_ measurement: InsulationEstimate, timeConstantSeconds: Double?) -> InsulationEstimate {
        // The latest half-period's own τ, not the pair's: after a step it is the first to show
        // the new circuit, and the pulse should follow it at once.
        lastTimeConstantSeconds = timeConstantSeconds
        if measurement.quality == .good, measurement.insulationResistanceOhms != nil {
            notGoodRun = 0
            recentNotGood.removeAll()
            accept(measurement)
        } else {
            notGoodRun += 1
            if measurement.insulationResistanceOhms != nil {
                recentNotGood.append(measurement)
                if recentNotGood.count > configuration.filterLength { recentNotGood.removeFirst() }
            }
        }
        var estimate = InsulationEstimate(
            timeSeconds: measurement.timeSeconds, insulationResistanceOhms: nil, leakageCapacitanceFarads: nil,
            dcOffsetVolts: nil, quality: .insufficient, timeConstantSeconds: lastTimeConstantSeconds)
        if notGoodRun >= configuration.holdLimitHalfPeriods, !recentNotGood.isEmpty {
            // Holding a good value for ever under a lasting disturbance would hide a real fault.
            fill(&estimate, from: recentNotGood)
            estimate.quality = .disturbed
        } else if !window.isEmpty {
            fill(&estimate, from: window)
            // A lone step candidate leaves the confirmed value standing (it may be an outlier);
            // a measurement that was not good itself makes the moment doubtful.
            estimate.quality = measurement.quality == .good ? .good : .disturbed
        }
        return estimate
    }

    private mutating func accept(_ measurement: InsulationEstimate) {
        guard let ohms = measurement.insulationResistanceOhms else { return }
        guard !window.isEmpty else {
            window = [measurement]
            return
        }
        let centre = median(window.compactMap { $0.insulationResistanceOhms.map(log) })
        let tolerance = log(configuration.stepRatio)
        if abs(log(ohms) - centre) <= tolerance {
            window.append(measurement)
            if window.count > configuration.filterLength { window.removeFirst() }
            candidates.removeAll()
            return
        }
        if let last = candidates.last?.insulationResistanceOhms, abs(log(ohms) - log(last)) <= tolerance {
            candidates.append(measurement)
        } else {
            candidates = [measurement]
        }
        let response = log(configuration.responseValueOhms)
        let clearsAlarm = centre < response && log(ohms) >= response
        if candidates.count >= (clearsAlarm ? 3 : 2) {
            window = candidates
            candidates.removeAll()
        }
    }

    private func fill(_ estimate: inout InsulationEstimate, from measurements: [InsulationEstimate]) {
        estimate.insulationResistanceOhms = exp(median(measurements.compactMap { $0.insulationResistanceOhms.map(log) }))
        let capacitances = measurements.compactMap(\.leakageCapacitanceFarads)
        estimate.leakageCapacitanceFarads = capacitances.isEmpty ? nil : median(capacitances)
        let offsets = measurements.compactMap(\.dcOffsetVolts)
        estimate.dcOffsetVolts = offsets.isEmpty ? nil : median(offsets)
    }
}
