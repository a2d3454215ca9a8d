import Foundation

/// How far a value can be trusted. `good`: within the IEC 61557-8 accuracy (±15 %) as far as
/// the estimator can tell; `disturbed`: a value exists but a disturbance, an unconfirmed step
/// or a held value makes it doubtful; `insufficient`: not enough signal for any value.
public enum EstimateQuality: String, Sendable, Equatable, CaseIterable, Comparable {
    case good
    case disturbed
    case insufficient

    private var rank: Int {
        switch self {
        case .good: 0
        case .disturbed: 1
        case .insufficient: 2
        }
    }

    /// Ordered from best to worst, so `max` of two qualities is the worse one.
    public static func < (lhs: EstimateQuality, rhs: EstimateQuality) -> Bool { lhs.rank < rhs.rank }
}

public struct EstimatorConfiguration: Sendable, Equatable {
    /// Rs: internal impedance of the IMD front-end (coupling plus measuring resistor).
    public var couplingResistanceOhms: Double
    /// U0, the pulse amplitude. nil: read from the samples' `pulseVolts` per half-period.
    public var measuringVoltageVolts: Double?
    /// Nominal mains frequency (50 or 60 Hz); the estimator tracks the actual one within ±1.5 %.
    public var mainsFrequencyHertz: Double
    /// The alarm threshold of the system: a step that would clear an alarm (a rise across it)
    /// needs one more confirmation than a step into alarm.
    public var responseValueOhms: Double
    /// Valid measurements the robust filter takes its median over.
    public var filterLength: Int
    /// A measurement further than this factor from the filter's median is a step candidate
    /// (or an outlier) rather than a member of the window.
    public var stepRatio: Double
    /// Raw input only: samples this long after a pulse edge are ignored (edge artefacts of the
    /// generator and the ADC's anti-alias filter).
    public var blankingSeconds: Double
    /// After this many consecutive half-periods without a good measurement the published value
    /// follows the disturbed measurements (flagged `disturbed`) instead of holding the last
    /// good one, so a real fault under a lasting disturbance still shows.
    public var holdLimitHalfPeriods: Int

    public init(
        couplingResistanceOhms: Double, measuringVoltageVolts: Double? = nil, mainsFrequencyHertz: Double = 50,
        responseValueOhms: Double = 50_000, filterLength: Int = 5, stepRatio: Double = 1.25,
        blankingSeconds: Double = 0.002, holdLimitHalfPeriods: Int = 6
    ) {
        precondition(couplingResistanceOhms > 0, "the coupling resistance must be positive")
        precondition(mainsFrequencyHertz > 0 && responseValueOhms > 0 && filterLength >= 1 && stepRatio > 1)
        self.couplingResistanceOhms = couplingResistanceOhms
        self.measuringVoltageVolts = measuringVoltageVolts
        self.mainsFrequencyHertz = mainsFrequencyHertz
        self.responseValueOhms = responseValueOhms
        self.filterLength = filterLength
        self.stepRatio = stepRatio
        self.blankingSeconds = blankingSeconds
        self.holdLimitHalfPeriods = holdLimitHalfPeriods
    }
}

/// One sample of the measuring signal: raw ADC samples (≥ 200 Hz) or the front-end's
/// one-mains-period boxcar means. `pulseVolts` carries the polarity (0: pulse stopped);
/// a NaN current is a missing sample (overrange, blanking).
public struct PulseSample: Sendable, Equatable {
    public var timeSeconds: Double
    public var pulseVolts: Double
    public var currentAmperes: Double

    public init(timeSeconds: Double, pulseVolts: Double, currentAmperes: Double) {
        self.timeSeconds = timeSeconds
        self.pulseVolts = pulseVolts
        self.currentAmperes = currentAmperes
    }
}

public struct InsulationEstimate: Sendable, Equatable {
    public var timeSeconds: Double
    public var insulationResistanceOhms: Double?
    public var leakageCapacitanceFarads: Double?
    public var dcOffsetVolts: Double?
    public var quality: EstimateQuality
    /// τ = Ce·(Rs ∥ Re) of the latest half-period; the pulse controller sizes the pulse from it.
    public var timeConstantSeconds: Double?

    public init(
        timeSeconds: Double, insulationResistanceOhms: Double?, leakageCapacitanceFarads: Double?,
        dcOffsetVolts: Double?, quality: EstimateQuality, timeConstantSeconds: Double?
    ) {
        self.timeSeconds = timeSeconds
        self.insulationResistanceOhms = insulationResistanceOhms
        self.leakageCapacitanceFarads = leakageCapacitanceFarads
        self.dcOffsetVolts = dcOffsetVolts
        self.quality = quality
        self.timeConstantSeconds = timeConstantSeconds
    }
}
