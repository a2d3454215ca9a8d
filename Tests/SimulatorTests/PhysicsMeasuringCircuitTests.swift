import Foundation
import IsoWatchSimulator
import Testing

/// The IMD measuring circuit against closed-form results (adaptive-pulse.md "Signal model").
struct PhysicsMeasuringCircuitTests {
    static let amplitudeVolts = MeasuringCircuitParameters.medicalPulseAmplitudeVolts
    static let couplingOhms = MeasuringCircuitParameters.medicalCouplingResistanceOhms

    @Test func test_rcStepResponseFollowsTheAnalyticExponential() {
        let parameters = MeasuringCircuitParameters(insulationResistanceOhms: 200_000, leakageCapacitanceFarads: 1e-6)
        let tau = 1e-6 * (120_000.0 * 200_000 / 320_000)
        #expect(abs(parameters.timeConstantSeconds - tau) < 1e-15)
        let settledVolts = 12.0 * 200_000 / 320_000
        var circuit = MeasuringCircuit(parameters: parameters)
        var timeSeconds = 0.0
        // Uneven steps: the exact discretisation must not depend on the step size.
        let steps = [0.0003, 0.001, 0.0071, 0.02, 0.0005, 0.04, 0.013, 0.1]
        for stepSeconds in steps + steps {
            circuit.advance(bySeconds: stepSeconds, generatorVolts: 12)
            timeSeconds += stepSeconds
            let expectedVolts = settledVolts * (1 - exp(-timeSeconds / tau))
            #expect(abs(circuit.nodeVoltageVolts - expectedVolts) < 1e-9 * settledVolts)
            let expectedAmperes = (12 - expectedVolts) / 120_000
            #expect(abs(circuit.measuredCurrentAmperes(generatorVolts: 12) - expectedAmperes) < 1e-12 * 1e-4)
        }
    }

    @Test(arguments: [(75_000.0, 3.0), (1_000_000.0, -5.0), (10_000.0, 12.0), (400_000.0, 0.0)])
    func test_settledCurrentsOfBothPolaritiesRecoverReDespiteADCOffset(reOhms: Double, offsetVolts: Double) {
        let parameters = MeasuringCircuitParameters(
            insulationResistanceOhms: reOhms, leakageCapacitanceFarads: 0.5e-6, dcOffsetVolts: offsetVolts)
        let halfPeriodSeconds = 50 * parameters.timeConstantSeconds
        var simulator = MeasuringSignalSimulator(
            circuit: TwoConductorMeasuringCircuit(parameters: parameters),
            pulse: PulseGenerator(halfPeriodSeconds: halfPeriodSeconds))
        // Sample just before each edge, when the capacitance has long settled.
        simulator.advance(bySeconds: halfPeriodSeconds * 0.999)
        let positive = simulator.sample()
        simulator.advance(bySeconds: halfPeriodSeconds)
        let negative = simulator.sample()
        #expect(positive.pulseVolts == 12 && negative.pulseVolts == -12)

        let totalOhms = Self.couplingOhms + reOhms
        let scale = 12 / totalOhms
        #expect(abs(positive.currentAmperes - (12 - offsetVolts) / totalOhms) < 1e-6 * scale)
        #expect(abs(negative.currentAmperes - (-12 - offsetVolts) / totalOhms) < 1e-6 * scale)

        let recoveredOhms = 2 * Self.amplitudeVolts / (positive.currentAmperes - negative.currentAmperes) - Self.couplingOhms
        #expect(abs(recoveredOhms - reOhms) < 1e-5 * reOhms)
        let meanAmperes = (positive.currentAmperes + negative.currentAmperes) / 2
        #expect(abs(meanAmperes - (-offsetVolts / totalOhms)) < 1e-6 * scale)
    }

    @Test func test_aPulseEdgeInsideAStepIsHonouredExactly() {
        let parameters = MeasuringCircuitParameters(insulationResistanceOhms: 150_000, leakageCapacitanceFarads: 2e-6)
        func simulator() -> MeasuringSignalSimulator {
            MeasuringSignalSimulator(
                circuit: TwoConductorMeasuringCircuit(parameters: parameters),
                pulse: PulseGenerator(halfPeriodSeconds: 0.0373))
        }
        var coarse = simulator()
        var fine = simulator()
        coarse.advance(bySeconds: 1)
        for _ in 0..<1000 { fine.advance(bySeconds: 0.001) }
        #expect(abs(coarse.circuit.lumped.nodeVoltageVolts - fine.circuit.lumped.nodeVoltageVolts) < 1e-9)
        // 1 s / 37.3 ms = 26.8 half-periods: 26 edges, back to positive.
        #expect(coarse.pulse.isPositive && fine.pulse.isPositive)
        #expect(abs(coarse.pulse.secondsSinceEdge - (1 - 26 * 0.0373)) < 1e-9)
    }

    @Test func test_shorteningTheHalfPeriodEndsAnOverdueHalfPeriodAtOnce() {
        var pulse = PulseGenerator(halfPeriodSeconds: 1)
        pulse.advance(bySeconds: 0.3)
        #expect(pulse.isPositive)
        pulse.halfPeriodSeconds = 0.2
        #expect(pulse.secondsToNextEdge == 0)
        var simulator = MeasuringSignalSimulator(
            circuit: TwoConductorMeasuringCircuit(
                parameters: MeasuringCircuitParameters(insulationResistanceOhms: 1e6, leakageCapacitanceFarads: 1e-7)),
            pulse: pulse)
        simulator.advance(bySeconds: 0.1)
        #expect(!simulator.pulse.isPositive)
        #expect(abs(simulator.pulse.secondsSinceEdge - 0.1) < 1e-12)
        simulator.advance(bySeconds: 0.1)
        #expect(simulator.pulse.isPositive)
    }

    /// The phasor solution of the two-conductor model against a brute-force RK4 integration of
    /// Kirchhoff's law written per conductor, with one side faulted and unequal capacitances.
    @Test func test_asymmetricInsulationPutsMainsRippleIntoTheMeasuredCurrent() {
        let line1 = ConductorInsulation(insulationResistanceOhms: 60_000, leakageCapacitanceFarads: 0.3e-6)
        let line2 = ConductorInsulation(insulationResistanceOhms: 2_000_000, leakageCapacitanceFarads: 0.5e-6)
        let mains = MainsSupply(
            voltageRMSVolts: 230, frequencyHz: 50, harmonics: [MainsHarmonic(order: 3, fractionOfFundamental: 0.1, phaseRadians: 0.4)])
        let offsetVolts = 2.0
        var circuit = TwoConductorMeasuringCircuit(line1: line1, line2: line2, dcOffsetVolts: offsetVolts, mains: mains)

        let rs = Self.couplingOhms
        let peakVolts = 230 * 2.0.squareRoot()
        let omega = 2 * Double.pi * 50
        func mainsVolts(_ t: Double) -> Double { peakVolts * (sin(omega * t) + 0.1 * sin(3 * omega * t + 0.4)) }
        func mainsSlope(_ t: Double) -> Double {
            peakVolts * omega * (cos(omega * t) + 0.3 * cos(3 * omega * t + 0.4))
        }
        // KCL at the system: (ug − v)/Rs = Σ (u_j − Uoff)/Re_j + Ce_j·du_j/dt, u1,2 = v ± um/2.
        func slope(_ v: Double, _ t: Double) -> Double {
            let (u1, u2) = (v + mainsVolts(t) / 2, v - mainsVolts(t) / 2)
            let injected = (12 - v) / rs - (u1 - offsetVolts) / 60_000 - (u2 - offsetVolts) / 2_000_000
            let capacitiveCoupling = (0.3e-6 - 0.5e-6) * mainsSlope(t) / 2
            return (injected - capacitiveCoupling) / 0.8e-6
        }
        var v = 0.0
        var t = 0.0
        let stepSeconds = 5e-6
        var maximumErrorAmperes = 0.0
        var rippleRange = (Double.infinity, -Double.infinity)
        // τ ≈ 0.8 µF · 40 kΩ ≈ 32 ms: after 0.4 s both have forgotten their start.
        while t < 0.44 {
            let k1 = slope(v, t)
            let k2 = slope(v + stepSeconds / 2 * k1, t + stepSeconds / 2)
            let k3 = slope(v + stepSeconds / 2 * k2, t + stepSeconds / 2)
            let k4 = slope(v + stepSeconds * k3, t + stepSeconds)
            v += stepSeconds / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            circuit.advance(bySeconds: stepSeconds, generatorVolts: 12)
            t += stepSeconds
            if t > 0.4 {
                let referenceAmperes = (12 - v) / rs
                let modelAmperes = circuit.measuredCurrentAmperes(atSeconds: t, generatorVolts: 12)
                maximumErrorAmperes = max(maximumErrorAmperes, abs(modelAmperes - referenceAmperes))
                rippleRange = (min(rippleRange.0, modelAmperes), max(rippleRange.1, modelAmperes))
            }
        }
        let rippleAmperes = rippleRange.1 - rippleRange.0
        #expect(rippleAmperes > 1e-6, "an asymmetric system shows mains ripple in im")
        #expect(maximumErrorAmperes < 1e-4 * rippleAmperes)
    }

    @Test func test_symmetricInsulationCancelsMainsRipple() {
        let parameters = MeasuringCircuitParameters(insulationResistanceOhms: 80_000, leakageCapacitanceFarads: 1e-6)
        let symmetric = TwoConductorMeasuringCircuit(parameters: parameters, faultShareOnLine1: 0.5)
        let oneSided = TwoConductorMeasuringCircuit(parameters: parameters, faultShareOnLine1: 1)
        let times = (0..<200).map { Double($0) * 0.0001 }
        let symmetricSwing = times.map { symmetric.mainsNodeVoltageVolts(atSeconds: $0) }.map(abs).max() ?? 0
        let oneSidedSwing = times.map { oneSided.mainsNodeVoltageVolts(atSeconds: $0) }.map(abs).max() ?? 0
        #expect(symmetricSwing < 1e-9)
        #expect(oneSidedSwing > 1)
        // Either way the IMD sees the same lumped Re and Ce.
        #expect(abs(oneSided.equivalentParameters.insulationResistanceOhms - 80_000) < 1e-6)
        #expect(abs(symmetric.equivalentParameters.leakageCapacitanceFarads - 1e-6) < 1e-18)
    }
}
