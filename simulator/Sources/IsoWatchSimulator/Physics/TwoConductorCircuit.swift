import Foundation

/// One conductor's insulation to earth.
public struct ConductorInsulation: Sendable, Equatable {
    public var insulationResistanceOhms: Double
    public var leakageCapacitanceFarads: Double

    public init(insulationResistanceOhms: Double, leakageCapacitanceFarads: Double) {
        precondition(insulationResistanceOhms > 0 && leakageCapacitanceFarads >= 0)
        self.insulationResistanceOhms = insulationResistanceOhms
        self.leakageCapacitanceFarads = leakageCapacitanceFarads
    }
}

/// A harmonic of the mains voltage, as a fraction of the fundamental's amplitude.
public struct MainsHarmonic: Sendable, Equatable {
    public var order: Int
    public var fractionOfFundamental: Double
    public var phaseRadians: Double

    public init(order: Int, fractionOfFundamental: Double, phaseRadians: Double = 0) {
        precondition(order >= 1)
        self.order = order
        self.fractionOfFundamental = fractionOfFundamental
        self.phaseRadians = phaseRadians
    }
}

/// The secondary voltage of the isolating transformer between L1 and L2.
public struct MainsSupply: Sendable, Equatable {
    public var voltageRMSVolts: Double
    /// 50 or 60 Hz; the estimator must track ±1 %, so any value is accepted.
    public var frequencyHz: Double
    public var harmonics: [MainsHarmonic]

    public init(voltageRMSVolts: Double = 230, frequencyHz: Double = 50, harmonics: [MainsHarmonic] = []) {
        self.voltageRMSVolts = voltageRMSVolts
        self.frequencyHz = frequencyHz
        self.harmonics = harmonics
    }

    /// Fundamental first, then the harmonics; amplitudes are peak values.
    var components: [(angularFrequency: Double, amplitudeVolts: Double, phaseRadians: Double)] {
        let peakVolts = voltageRMSVolts * 2.0.squareRoot()
        let omega = 2 * Double.pi * frequencyHz
        return [(omega, peakVolts, 0)]
            + harmonics.map { (omega * Double($0.order), peakVolts * $0.fractionOfFundamental, $0.phaseRadians) }
    }

    public func voltageVolts(atSeconds timeSeconds: Double) -> Double {
        components.reduce(0) { $0 + $1.amplitudeVolts * sin($1.angularFrequency * timeSeconds + $1.phaseRadians) }
    }
}

/// The measuring circuit on a real two-conductor IT system, where mains ripple in the measured
/// current comes from the physics instead of being added on.
///
/// Model (derived here; the lumped circuit is its special case):
/// - L1 and L2 have voltages u1, u2 to earth; the transformer secondary is stiff, so
///   u1 − u2 = um(t), the mains voltage. Write u1 = v + um/2, u2 = v − um/2 with v the midpoint.
/// - The IMD couples to both conductors through 2·Rs each (as real IMDs do, so no mains current
///   flows through the generator): im = (ug − u1)/(2Rs) + (ug − u2)/(2Rs) = (ug − v)/Rs.
/// - Each conductor leaks through Re_j ∥ Ce_j; a DC fault Uoff sits in series with both Re_j
///   (a rectifier behind the fault). Kirchhoff at the whole system:
///   (ug − v)/Rs = Σ_j [(u_j − Uoff)/Re_j + Ce_j·du_j/dt], which with G = G1 + G2, C = C1 + C2 is
///   C·dv/dt = ug/Rs + Uoff·G − (1/Rs + G)·v − (G1 − G2)/2·um − (C1 − C2)/2·dum/dt.
/// - v is linear, so v = v_p + v_m: v_p is the lumped circuit with Re = 1/G, Ce = C (same τ,
///   same settled currents), and v_m is the sinusoidal steady state driven by the last two
///   terms, which vanish when the two sides are symmetric. Per mains component of amplitude A
///   at ω: V_m = −A·[(G1 − G2)/2 + jω(C1 − C2)/2] / [(1/Rs + G) + jωC]. The mains is taken as
///   on for ever, so v_m carries no start-up transient.
public struct TwoConductorMeasuringCircuit: Sendable, Equatable {
    public var line1: ConductorInsulation { didSet { updateLumped() } }
    public var line2: ConductorInsulation { didSet { updateLumped() } }
    public var couplingResistanceOhms: Double { didSet { updateLumped() } }
    public var dcOffsetVolts: Double { didSet { updateLumped() } }
    public var mains: MainsSupply
    /// The common-mode part v_p: the pulse response the estimator is after.
    public private(set) var lumped: MeasuringCircuit

    public init(
        line1: ConductorInsulation, line2: ConductorInsulation,
        couplingResistanceOhms: Double = MeasuringCircuitParameters.medicalCouplingResistanceOhms,
        dcOffsetVolts: Double = 0, mains: MainsSupply = MainsSupply()
    ) {
        self.line1 = line1
        self.line2 = line2
        self.couplingResistanceOhms = couplingResistanceOhms
        self.dcOffsetVolts = dcOffsetVolts
        self.mains = mains
        lumped = MeasuringCircuit(
            parameters: Self.lumpedParameters(line1, line2, couplingResistanceOhms, dcOffsetVolts))
    }

    /// A system whose total insulation is `parameters` (Re, Ce), split between the conductors:
    /// `faultShareOnLine1` of the leakage conductance sits on L1 (0.5: symmetric, 1: all on L1);
    /// the capacitance is split evenly, as cable capacitance is.
    public init(
        parameters: MeasuringCircuitParameters, faultShareOnLine1: Double = 0.5, mains: MainsSupply = MainsSupply()
    ) {
        precondition((0...1).contains(faultShareOnLine1))
        let conductanceSiemens = 1 / parameters.insulationResistanceOhms
        // A share of exactly 0 or 1 leaves one conductor perfectly insulated; a huge finite
        // resistance keeps the arithmetic finite.
        func resistance(share: Double) -> Double {
            share > 0 ? 1 / (share * conductanceSiemens) : 1e18
        }
        self.init(
            line1: ConductorInsulation(
                insulationResistanceOhms: resistance(share: faultShareOnLine1),
                leakageCapacitanceFarads: parameters.leakageCapacitanceFarads / 2),
            line2: ConductorInsulation(
                insulationResistanceOhms: resistance(share: 1 - faultShareOnLine1),
                leakageCapacitanceFarads: parameters.leakageCapacitanceFarads / 2),
            couplingResistanceOhms: parameters.couplingResistanceOhms, dcOffsetVolts: parameters.dcOffsetVolts,
            mains: mains)
    }

    private static func lumpedParameters(
        _ line1: ConductorInsulation, _ line2: ConductorInsulation, _ couplingResistanceOhms: Double,
        _ dcOffsetVolts: Double
    ) -> MeasuringCircuitParameters {
        let conductanceSiemens = 1 / line1.insulationResistanceOhms + 1 / line2.insulationResistanceOhms
        return MeasuringCircuitParameters(
            couplingResistanceOhms: couplingResistanceOhms, insulationResistanceOhms: 1 / conductanceSiemens,
            leakageCapacitanceFarads: line1.leakageCapacitanceFarads + line2.leakageCapacitanceFarads,
            dcOffsetVolts: dcOffsetVolts)
    }

    private mutating func updateLumped() {
        lumped.parameters = Self.lumpedParameters(line1, line2, couplingResistanceOhms, dcOffsetVolts)
    }

    /// The lumped equivalent: Re = Re1 ∥ Re2, Ce = Ce1 + Ce2 (what an IMD reports).
    public var equivalentParameters: MeasuringCircuitParameters { lumped.parameters }

    public mutating func advance(bySeconds stepSeconds: Double, generatorVolts: Double) {
        lumped.advance(bySeconds: stepSeconds, generatorVolts: generatorVolts)
    }

    /// v_m(t): the midpoint's mains-driven swing to earth.
    public func mainsNodeVoltageVolts(atSeconds timeSeconds: Double) -> Double {
        let conductance1 = 1 / line1.insulationResistanceOhms
        let conductance2 = 1 / line2.insulationResistanceOhms
        let totalConductance = 1 / couplingResistanceOhms + conductance1 + conductance2
        let capacitanceDifference = line1.leakageCapacitanceFarads - line2.leakageCapacitanceFarads
        let totalCapacitance = line1.leakageCapacitanceFarads + line2.leakageCapacitanceFarads
        var volts = 0.0
        for component in mains.components {
            let omega = component.angularFrequency
            // (a + jb)/(c + jd), then the imaginary part of V·e^{jθ} for the sine convention.
            let a = (conductance1 - conductance2) / 2
            let b = omega * capacitanceDifference / 2
            let c = totalConductance
            let d = omega * totalCapacitance
            let denominator = c * c + d * d
            let real = -component.amplitudeVolts * (a * c + b * d) / denominator
            let imaginary = -component.amplitudeVolts * (b * c - a * d) / denominator
            let theta = omega * timeSeconds + component.phaseRadians
            volts += real * sin(theta) + imaginary * cos(theta)
        }
        return volts
    }

    public func measuredCurrentAmperes(atSeconds timeSeconds: Double, generatorVolts: Double) -> Double {
        lumped.measuredCurrentAmperes(generatorVolts: generatorVolts)
            - mainsNodeVoltageVolts(atSeconds: timeSeconds) / couplingResistanceOhms
    }
}
