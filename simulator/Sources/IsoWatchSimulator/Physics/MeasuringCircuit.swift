import Foundation

/// The values of the lumped measuring circuit of an IMD (adaptive-pulse.md "Signal model"):
/// a pulse generator ±U0 drives the IT system through the coupling resistance Rs; the system
/// leaks to earth through Re ∥ Ce; a DC fault adds the offset Uoff in series with Re.
public struct MeasuringCircuitParameters: Sendable, Equatable {
    public var couplingResistanceOhms: Double
    public var insulationResistanceOhms: Double
    public var leakageCapacitanceFarads: Double
    public var dcOffsetVolts: Double

    public init(
        couplingResistanceOhms: Double = MeasuringCircuitParameters.medicalCouplingResistanceOhms,
        insulationResistanceOhms: Double, leakageCapacitanceFarads: Double, dcOffsetVolts: Double = 0
    ) {
        precondition(couplingResistanceOhms > 0 && insulationResistanceOhms > 0 && leakageCapacitanceFarads >= 0)
        self.couplingResistanceOhms = couplingResistanceOhms
        self.insulationResistanceOhms = insulationResistanceOhms
        self.leakageCapacitanceFarads = leakageCapacitanceFarads
        self.dcOffsetVolts = dcOffsetVolts
    }

    /// Medical preset: IEC 61557-8 asks for an internal impedance of at least 100 kΩ so the
    /// measuring current stays far below 1 mA in a patient environment; 120 kΩ with 12 V gives
    /// at most 100 µA even on a dead short to earth.
    public static let medicalCouplingResistanceOhms = 120_000.0
    public static let medicalPulseAmplitudeVolts = 12.0

    /// Rs ∥ Re: the resistance the leakage capacitance sees.
    public var parallelResistanceOhms: Double {
        couplingResistanceOhms * insulationResistanceOhms / (couplingResistanceOhms + insulationResistanceOhms)
    }

    /// τ = Ce·(Rs ∥ Re).
    public var timeConstantSeconds: Double { leakageCapacitanceFarads * parallelResistanceOhms }

    /// uss = (ug·Re + Uoff·Rs)/(Rs + Re): the divider Rs–Re between generator and offset.
    public func settledNodeVoltageVolts(generatorVolts: Double) -> Double {
        (generatorVolts * insulationResistanceOhms + dcOffsetVolts * couplingResistanceOhms)
            / (couplingResistanceOhms + insulationResistanceOhms)
    }

    /// (ug − Uoff)/(Rs + Re): what an IMD reads once the capacitance has charged.
    public func settledCurrentAmperes(generatorVolts: Double) -> Double {
        (generatorVolts - dcOffsetVolts) / (couplingResistanceOhms + insulationResistanceOhms)
    }
}

/// The lumped measuring circuit as a state (the node voltage ue of the IT system to earth).
///
/// Time is a parameter: `advance(bySeconds:generatorVolts:)` applies the exact discretisation
/// ue ← a·ue + (1 − a)·uss with a = exp(−h/τ), exact for any step as long as the generator holds
/// one polarity during it (the signal simulator splits steps at pulse edges for that reason).
public struct MeasuringCircuit: Sendable, Equatable {
    /// May change between steps (a fault appearing); ue is continuous across the change, as the
    /// charge on Ce is.
    public var parameters: MeasuringCircuitParameters
    public private(set) var nodeVoltageVolts: Double

    public init(parameters: MeasuringCircuitParameters, nodeVoltageVolts: Double = 0) {
        self.parameters = parameters
        self.nodeVoltageVolts = nodeVoltageVolts
    }

    public mutating func advance(bySeconds stepSeconds: Double, generatorVolts: Double) {
        guard stepSeconds > 0 else { return }
        let settledVolts = parameters.settledNodeVoltageVolts(generatorVolts: generatorVolts)
        let tau = parameters.timeConstantSeconds
        // Without capacitance the node follows the divider at once (exp(−h/0) would be 0 anyway,
        // but 0/0 must not arise for τ = 0).
        let decay = tau > 0 ? exp(-stepSeconds / tau) : 0
        nodeVoltageVolts = decay * nodeVoltageVolts + (1 - decay) * settledVolts
    }

    /// im = (ug − ue)/Rs: the current through the coupling resistance, what the IMD digitises.
    public func measuredCurrentAmperes(generatorVolts: Double) -> Double {
        (generatorVolts - nodeVoltageVolts) / parameters.couplingResistanceOhms
    }
}

/// The IMD's square-wave measuring pulse ±U0 with a settable half-period: adaptive IMDs
/// lengthen the pulse for large leakage capacitances, and the service will command it.
public struct PulseGenerator: Sendable, Equatable {
    public var amplitudeVolts: Double
    /// A change takes effect for the half-period under way: if the new value is already
    /// exceeded, the next edge comes at once, as on a device that re-arms its timer.
    public var halfPeriodSeconds: Double {
        didSet { precondition(halfPeriodSeconds > 0, "a half-period must be positive") }
    }
    public private(set) var isPositive: Bool
    public private(set) var secondsSinceEdge: Double

    public init(
        amplitudeVolts: Double = MeasuringCircuitParameters.medicalPulseAmplitudeVolts, halfPeriodSeconds: Double,
        startsPositive: Bool = true
    ) {
        precondition(halfPeriodSeconds > 0, "a half-period must be positive")
        self.amplitudeVolts = amplitudeVolts
        self.halfPeriodSeconds = halfPeriodSeconds
        self.isPositive = startsPositive
        self.secondsSinceEdge = 0
    }

    public var voltageVolts: Double { isPositive ? amplitudeVolts : -amplitudeVolts }

    public var secondsToNextEdge: Double { max(0, halfPeriodSeconds - secondsSinceEdge) }

    /// Moves time on by at most `secondsToNextEdge`; reaching the edge flips the polarity.
    public mutating func advance(bySeconds stepSeconds: Double) {
        precondition(stepSeconds <= secondsToNextEdge + 1e-12, "a step must not cross a pulse edge")
        secondsSinceEdge += stepSeconds
        // Rounding of summed steps must not postpone an edge by one whole step.
        if secondsSinceEdge >= halfPeriodSeconds * (1 - 1e-12) {
            isPositive.toggle()
            secondsSinceEdge = 0
        }
    }
}
