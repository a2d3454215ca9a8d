import IsoWatchCore

/// What one observation says about one condition.
enum Evidence: Sendable, Equatable {
    /// At or beyond the response value, or flagged by the device.
    case violating
    /// Not at the response value, but not past the release value either (inside the hysteresis).
    case withinHysteresis
    /// Past the release value.
    case released
    /// A value that cannot tell which side of the response value the truth is on: an invalid
    /// value, or "< x" / "> x" with x on the wrong side. Doubt never releases an alarm and never
    /// cancels one that is waiting for its response delay.
    case uncertain

    /// When several sources speak to one condition, the most alarming one wins, and doubt
    /// outranks a calm reading so that one unsure sensor cannot release the condition.
    static func combined(_ items: [Evidence]) -> Evidence? {
        let ranked: [Evidence] = [.violating, .uncertain, .withinHysteresis, .released]
        return ranked.first { items.contains($0) }
    }
}

/// A response/release pair on one quantity.
struct Threshold: Sendable {
    enum Direction: Sendable {
        /// Insulation resistance: the fault is a low value.
        case alarmsWhenFalling
        /// Load, temperature, PTC resistance: the fault is a high value.
        case alarmsWhenRising
    }

    var responseValue: Double
    var releaseValue: Double
    var direction: Direction

    func classify(_ measured: MeasuredValue) -> Evidence {
        guard measured.value.isFinite else { return .uncertain }
        switch direction {
        case .alarmsWhenRising:
            return Self.classifyRising(measured.value, measured.validity, responseValue, releaseValue)
        case .alarmsWhenFalling:
            // A falling threshold is a rising one on the negated axis, where "< x" becomes "> −x".
            let mirrored: Validity =
                switch measured.validity {
                case .belowRange: .aboveRange
                case .aboveRange: .belowRange
                case .actual, .invalid: measured.validity
                }
            return Self.classifyRising(-measured.value, mirrored, -responseValue, -releaseValue)
        }
    }

    private static func classifyRising(
        _ value: Double, _ validity: Validity, _ response: Double, _ release: Double
    ) -> Evidence {
        switch validity {
        case .actual:
            if value >= response { return .violating }
            return value <= release ? .released : .withinHysteresis
        case .aboveRange:
            // The truth is above `value`: conclusive only if `value` is already at the response value.
            return value >= response ? .violating : .uncertain
        case .belowRange:
            // The truth is below `value`: calm if `value` is at or under the response value.
            if value <= release { return .released }
            return value <= response ? .withinHysteresis : .uncertain
        case .invalid:
            return .uncertain
        }
    }
}

/// What a reading says about each condition.
struct ConditionObservation: Sendable, Equatable {
    var evidence: Evidence
    /// Values for the episode's worst-value memory (never invalid ones).
    var values: [Quantity: MeasuredValue]
}

struct ReadingAssessment: Sendable {
    var observations: [AlarmCondition: ConditionObservation]
    /// A new insulation value that says which side of the alarm response value Re is on. Only
    /// such a value proves the system is safe; anything else lets the stale timer run.
    var hasFreshConclusiveInsulation: Bool
    /// Conditions this reading carried a value for.
    var judgedByValue: Set<AlarmCondition>
}

extension AlarmSettings {
    var insulationThreshold: Threshold {
        Threshold(responseValue: insulation.responseOhms, releaseValue: insulation.releaseOhms, direction: .alarmsWhenFalling)
    }

    /// - Parameters:
    ///   - isNewMeasurement: the update counter moved (or the device has none). A repeated
    ///     measurement is no new evidence: it neither starts nor cancels a delay.
    ///   - insulationUnderTest: a test is running. An IMD's self-test simulates an insulation
    ///     fault, so its insulation verdict during the test must not be taken for a real one.
    ///   - judgedByValueBefore: conditions an earlier reading carried a value for. Once a device
    ///     has shown a value, a reading without one is a gap, not a release.
    func assess(
        _ reading: DecodedReading, isNewMeasurement: Bool, insulationUnderTest: Bool,
        judgedByValueBefore: Set<AlarmCondition>
    ) -> ReadingAssessment {
        let flagged = Set(reading.faults.map(AlarmCondition.init))
        var observations: [AlarmCondition: ConditionObservation] = [:]
        var judgedByValue: Set<AlarmCondition> = []

        func record(
            _ condition: AlarmCondition, sources: [(Quantity, MeasuredValue, Threshold)], deviceFlagExists: Bool
        ) {
            let values = Dictionary(
                sources.filter { $0.1.validity != .invalid }.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
            if !sources.isEmpty { judgedByValue.insert(condition) }
            if flagged.contains(condition) {
                observations[condition] = ConditionObservation(evidence: .violating, values: isNewMeasurement ? values : [:])
            } else if !sources.isEmpty {
                guard isNewMeasurement, let evidence = Evidence.combined(sources.map { $0.2.classify($0.1) }) else { return }
                observations[condition] = ConditionObservation(evidence: evidence, values: values)
            } else if deviceFlagExists, !judgedByValueBefore.contains(condition) {
                // The device measures nothing isowatch could judge (for example amperes without a
                // rated current): its own flag is the only verdict there is.
                observations[condition] = ConditionObservation(evidence: .released, values: [:])
            }
        }

        var freshConclusive = false
        if !insulationUnderTest {
            let insulationSources = reading[.insulationResistanceOhms].map { [(Quantity.insulationResistanceOhms, $0)] } ?? []
            let alarm = insulationThreshold
            record(.insulation, sources: insulationSources.map { ($0.0, $0.1, alarm) }, deviceFlagExists: true)
            if let prewarning = insulationPrewarning {
                let level = Threshold(
                    responseValue: prewarning.responseOhms, releaseValue: prewarning.releaseOhms, direction: .alarmsWhenFalling)
                record(.insulationPrewarning, sources: insulationSources.map { ($0.0, $0.1, level) }, deviceFlagExists: false)
            }
            if isNewMeasurement, let value = reading[.insulationResistanceOhms] {
                freshConclusive = alarm.classify(value) != .uncertain
            }
        }

        let load = Threshold(
            responseValue: overload.responsePercent, releaseValue: overload.releasePercent, direction: .alarmsWhenRising)
        record(.overload, sources: loadPercent(in: reading).map { [(.loadPercent, $0, load)] } ?? [], deviceFlagExists: true)

        var temperatureSources: [(Quantity, MeasuredValue, Threshold)] = []
        if let celsius = reading[.windingTemperatureCelsius] {
            let level = Threshold(
                responseValue: overtemperature.responseCelsius, releaseValue: overtemperature.releaseCelsius,
                direction: .alarmsWhenRising)
            temperatureSources.append((.windingTemperatureCelsius, celsius, level))
        }
        if let ohms = reading[.temperatureSensorOhms] {
            let level = Threshold(
                responseValue: overtemperature.sensorResponseOhms, releaseValue: overtemperature.sensorReleaseOhms,
                direction: .alarmsWhenRising)
            temperatureSources.append((.temperatureSensorOhms, ohms, level))
        }
        record(.overtemperature, sources: temperatureSources, deviceFlagExists: true)

        // Faults only the device can see: its status bits are read on every poll, so they are
        // current even when the measurement counter did not move.
        for condition in [AlarmCondition.earthConnection, .lineConnection, .temperatureSensor, .device] {
            observations[condition] = ConditionObservation(
                evidence: flagged.contains(condition) ? .violating : .released, values: [:])
        }

        return ReadingAssessment(
            observations: observations, hasFreshConclusiveInsulation: freshConclusive, judgedByValue: judgedByValue)
    }

    /// `load_percent` when the device publishes a usable one, else computed from
    /// `load_current_amperes` and the configured rated current.
    func loadPercent(in reading: DecodedReading) -> MeasuredValue? {
        let published = reading[.loadPercent]
        if let published, published.validity != .invalid { return published }
        if let amperes = reading[.loadCurrentAmperes], let rated = overload.ratedCurrentAmperes {
            return MeasuredValue(amperes.value / rated * 100, validity: amperes.validity)
        }
        return published
    }
}

extension MeasuredValue {
    /// The worse of two values of one quantity: the lower insulation resistance, the higher
    /// anything else. On a tie the one the device marks as beyond its range is worse.
    static func worse(_ lhs: MeasuredValue, _ rhs: MeasuredValue, of quantity: Quantity) -> MeasuredValue {
        let lowerIsWorse = quantity == .insulationResistanceOhms
        if lhs.value != rhs.value {
            return (lhs.value < rhs.value) == lowerIsWorse ? lhs : rhs
        }
        let beyond: Validity = lowerIsWorse ? .belowRange : .aboveRange
        return rhs.validity == beyond ? rhs : lhs
    }
}

extension [Quantity: MeasuredValue] {
    mutating func keepWorst(of values: [Quantity: MeasuredValue]) {
        for (quantity, value) in values {
            self[quantity] = self[quantity].map { MeasuredValue.worse($0, value, of: quantity) } ?? value
        }
    }
}
