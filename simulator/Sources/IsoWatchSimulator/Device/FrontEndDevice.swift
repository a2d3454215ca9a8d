import Foundation
import IsoWatchCore
import IsoWatchThreads

/// The measuring front-end's signal chain as a value type, one published sample at a time: the
/// ±U0 pulse through the two-conductor circuit with disturbances, averaged over exactly one mains
/// period (hardware/profiles/README.md, "isowatch-frontend").
///
/// No clock: `FrontEndDevice` calls `nextSample` once per sample period of real time.
struct FrontEndSignalChain: Sendable {
    /// Sub-samples per mains period for the boxcar mean. Uniform sampling over a whole period sums
    /// every mains harmonic below half this count to zero, as the front-end's integrator does.
    static let subSamples = 40
    /// ±327.67 µA: the s16 range of 10 nA counts; beyond it the front-end reports overrange.
    static let fullScaleAmperes = 32_767e-8

    private(set) var signal: MeasuringSignalSimulator
    let samplePeriodSeconds: Double

    init(
        insulationResistanceOhms: Double, leakageCapacitanceFarads: Double, couplingResistanceOhms: Double,
        measuringVoltageVolts: Double, samplePeriodSeconds: Double, halfPeriodSeconds: Double, seed: UInt64
    ) {
        self.samplePeriodSeconds = samplePeriodSeconds
        let circuit = TwoConductorMeasuringCircuit(
            parameters: MeasuringCircuitParameters(
                couplingResistanceOhms: couplingResistanceOhms, insulationResistanceOhms: insulationResistanceOhms,
                leakageCapacitanceFarads: leakageCapacitanceFarads),
            faultShareOnLine1: Self.faultShareOnLine1, mains: MainsSupply(frequencyHz: 1 / samplePeriodSeconds))
        signal = MeasuringSignalSimulator(
            circuit: circuit,
            pulse: PulseGenerator(
                amplitudeVolts: measuringVoltageVolts,
                halfPeriodSeconds: Self.inForce(halfPeriodSeconds, samplePeriodSeconds: samplePeriodSeconds)),
            disturbances: [ADCNoise(standardDeviationAmperes: 0.3e-6, seed: seed)],
            // The ADC sees the mains ripple before the boxcar removes it: its range must hold
            // pulse current and ripple together (an asymmetric 25 kΩ fault at 0.5 µF gives about
            // 70 µA of ripple on top of 83 µA), or clipping would bias the mean.
            quantiser: CurrentQuantiser(fullScaleAmperes: 1e-3, bits: 18))
    }

    /// An asymmetric fault (most of the leakage on L1) makes the mains appear in the measured
    /// current, as on a real system; the boxcar must remove it.
    static let faultShareOnLine1 = 0.6

    /// The firmware rounds a commanded half-period up to whole samples, so every edge falls on a
    /// sample boundary and every sample has one polarity.
    static func inForce(_ commandedSeconds: Double, samplePeriodSeconds: Double) -> Double {
        let samples = max(1, (commandedSeconds / samplePeriodSeconds * (1 - 1e-9)).rounded(.up))
        return samples * samplePeriodSeconds
    }

    var halfPeriodSeconds: Double { signal.pulse.halfPeriodSeconds }

    /// Re and Ce may change at any time (a fault appears); the charge on Ce carries over.
    mutating func setInsulation(resistanceOhms: Double, capacitanceFarads: Double) {
        let conductance = 1 / resistanceOhms
        let line1 = ConductorInsulation(
            insulationResistanceOhms: 1 / (Self.faultShareOnLine1 * conductance),
            leakageCapacitanceFarads: capacitanceFarads / 2)
        let line2 = ConductorInsulation(
            insulationResistanceOhms: 1 / ((1 - Self.faultShareOnLine1) * conductance),
            leakageCapacitanceFarads: capacitanceFarads / 2)
        if signal.circuit.line1 != line1 { signal.circuit.line1 = line1 }
        if signal.circuit.line2 != line2 { signal.circuit.line2 = line2 }
    }

    /// Takes effect at the next sample boundary, which is where this is called.
    mutating func command(halfPeriodSeconds: Double) {
        let seconds = Self.inForce(halfPeriodSeconds, samplePeriodSeconds: samplePeriodSeconds)
        if seconds != signal.pulse.halfPeriodSeconds { signal.pulse.halfPeriodSeconds = seconds }
    }

    /// One published sample: the polarity in force during it and the boxcar mean of the current
    /// over one mains period (midpoint rule), or nil on overrange.
    mutating func nextSample() -> (amperes: Double?, positive: Bool) {
        let positive = signal.pulse.isPositive
        let step = samplePeriodSeconds / Double(Self.subSamples)
        var sum = 0.0
        signal.advance(bySeconds: step / 2)
        for index in 0..<Self.subSamples {
            if index > 0 { signal.advance(bySeconds: step) }
            sum += signal.sample().currentAmperes
        }
        signal.advance(bySeconds: step / 2)
        let mean = sum / Double(Self.subSamples)
        return (abs(mean) < Self.fullScaleAmperes ? mean : nil, positive)
    }
}

/// A simulated isowatch-frontend: the physics above fills its sample ring in real time, on a
/// thread it owns, at one sample per mains period. Reads the pulse half-period and the self-test
/// trigger a client wrote; the true Re and Ce are the device state's `insulation_resistance_ohms`
/// and `leakage_capacitance_farads` (set by the site file or `isowatch-sim set`), which the
/// front-end itself never publishes: the service must estimate them.
public final class FrontEndDevice: Sendable {
    public let device: SimulatedDevice
    private let stopSignal: StopSignal
    private let thread: OwnedThread

    public static let defaultInsulationResistanceOhms = 650_000.0
    public static let defaultLeakageCapacitanceFarads = 0.8e-6
    /// Power-up half-period until the service commands one.
    public static let defaultHalfPeriodSeconds = 0.4
    /// How long the self-test keeps the pulse stopped (samples "no value").
    public static let selfTestSeconds = 2.0

    /// Calibration and mains figures a site may set as auxiliary fields (for example
    /// `sample_period_seconds: 0.016667` for a 60 Hz system); these when it does not.
    static let auxiliaryDefaults: [String: Double] = [
        "sample_period_seconds": 0.02,
        "measuring_voltage_volts": MeasuringCircuitParameters.medicalPulseAmplitudeVolts,
        "coupling_resistance_ohms": MeasuringCircuitParameters.medicalCouplingResistanceOhms,
    ]

    init(device: SimulatedDevice, seed: UInt64) throws(SystemCallError) {
        self.device = device
        let profile = device.profile
        var initial = device.state
        for (name, value) in Self.auxiliaryDefaults where !(initial.auxiliary[name].map { $0 > 0 } ?? false) {
            initial.auxiliary[name] = value
        }
        // One mains period: 40 to 70 Hz systems only (anything else is a typo in the site).
        if !(1.0 / 70...1.0 / 40).contains(initial.auxiliary["sample_period_seconds"]!) {
            initial.auxiliary["sample_period_seconds"] = Self.auxiliaryDefaults["sample_period_seconds"]
        }
        let samplePeriod = initial.auxiliary["sample_period_seconds"]!
        let commanded = initial.parameters["pulse_half_period_seconds"] ?? Self.defaultHalfPeriodSeconds
        let chain = FrontEndSignalChain(
            insulationResistanceOhms: initial.values[.insulationResistanceOhms]?.value ?? Self.defaultInsulationResistanceOhms,
            leakageCapacitanceFarads: initial.values[.leakageCapacitanceFarads]?.value ?? Self.defaultLeakageCapacitanceFarads,
            couplingResistanceOhms: initial.auxiliary["coupling_resistance_ohms"]!,
            measuringVoltageVolts: initial.auxiliary["measuring_voltage_volts"]!, samplePeriodSeconds: samplePeriod,
            halfPeriodSeconds: commanded, seed: seed)
        device.update { state in
            state.auxiliary = initial.auxiliary
            state.auxiliary["pulse_polarity"] = 1
            state.auxiliary["pulse_half_period_seconds"] = chain.halfPeriodSeconds
            state.auxiliary["self_test_state"] = state.auxiliary["self_test_state"] ?? 0
        }
        // The ring holds "no value" until the first samples are produced, as after power-up.
        if let ring = profile.sampleWindow {
            device.unit.updateImage { image in
                let empty = ring.sample.noValue.first ?? 0
                for slot in 0..<ring.length {
                    let width = ring.sample.type.width
                    image.set(ring.table, ring.sample.address &+ UInt16(slot * width), words: ring.sample.words(forRaw: empty))
                }
            }
        }

        let stopSignal = try StopSignal()
        self.stopSignal = stopSignal
        let start = monotonicSeconds()
        let initialChain = chain
        thread = try startThread(name: "sim-frontend") {
            var chain = initialChain
            var selfTestSamplesLeft = 0
            var produced = 0
            while true {
                produced += 1
                guard stopSignal.sleep(until: start + Double(produced) * samplePeriod) else { return }
                let truth = device.state
                chain.setInsulation(
                    resistanceOhms: max(1, truth.values[.insulationResistanceOhms]?.value ?? Self.defaultInsulationResistanceOhms),
                    capacitanceFarads: max(0, truth.values[.leakageCapacitanceFarads]?.value ?? Self.defaultLeakageCapacitanceFarads))
                if let commanded = truth.parameters["pulse_half_period_seconds"], commanded > 0 {
                    chain.command(halfPeriodSeconds: commanded)
                }
                let startsSelfTest = selfTestSamplesLeft == 0 && truth.parameters["self_test"] == 1
                if startsSelfTest { selfTestSamplesLeft = max(1, Int((Self.selfTestSeconds / samplePeriod).rounded())) }

                let sample: WindowSample
                var auxiliary = truth.auxiliary
                var clearTrigger = false
                auxiliary["pulse_half_period_seconds"] = chain.halfPeriodSeconds
                if selfTestSamplesLeft > 0 {
                    // The pulse is stopped while the front-end checks its own measuring path; the
                    // physics is frozen meanwhile (nothing is measured).
                    selfTestSamplesLeft -= 1
                    auxiliary["pulse_polarity"] = 0
                    auxiliary["self_test_state"] = selfTestSamplesLeft > 0 ? 1 : (truth.faults.contains(.device) ? 3 : 2)
                    clearTrigger = selfTestSamplesLeft == 0
                    sample = WindowSample(sequence: 0, value: nil, positivePolarity: false)
                } else {
                    let (amperes, positive) = chain.nextSample()
                    auxiliary["pulse_polarity"] = positive ? 1 : -1
                    sample = WindowSample(sequence: 0, value: amperes, positivePolarity: positive)
                }
                device.produceSample { state in
                    state.auxiliary = auxiliary
                    // The device clears its trigger when the test is over, so a later 1 starts another.
                    if clearTrigger { state.parameters["self_test"] = 0 }
                } edit: { counter, image in
                    var placed = sample
                    placed.sequence = counter &- 1
                    profile.encodeSampleWindow(SampleWindowReading(samplesProduced: counter, samples: [placed]), into: &image)
                    // The commercial devices' self-test overlay knows nothing of this one: its state is ours.
                    if let field = profile.auxiliary["self_test_state"], let state = auxiliary["self_test_state"] {
                        image.set(field.table, field.address, words: field.words(forRaw: state))
                    }
                    if clearTrigger, let trigger = profile.parameters["self_test"] {
                        image.set(trigger.table, trigger.address, words: trigger.words(forRaw: 0))
                    }
                }
            }
        }
    }

    /// Stops producing samples and joins the thread.
    func stop() {
        stopSignal.fire()
        thread.join()
    }
}
