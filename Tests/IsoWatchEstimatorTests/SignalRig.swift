import Foundation
import IsoWatchEstimator
import IsoWatchSimulator

/// A simulated IT system and measuring path driving the estimator in closed loop (the pulse
/// controller sets the simulator's half-period), fed raw or as front-end mains-period means.
struct SignalRig {
    enum Feed: Sendable {
        case raw(sampleRateHertz: Double)
        /// One-mains-period boxcar means of raw samples at `rawRateHertz`, as isowatch-frontend publishes.
        case frontEnd(rawRateHertz: Double)
    }

    var simulator: MeasuringSignalSimulator
    var estimator: InsulationEstimator
    var controller: PulseController
    let feed: Feed
    let faultShareOnLine1: Double
    private(set) var estimates: [InsulationEstimate] = []
    private var index = 0
    private var boxcar: [Double] = []
    private let mainsPeriodSeconds: Double

    init(
        insulationResistanceOhms: Double, leakageCapacitanceFarads: Double, dcOffsetVolts: Double = 0,
        faultShareOnLine1: Double = 0.5, mainsFrequencyHertz: Double = 50, nominalMainsFrequencyHertz: Double? = nil,
        disturbances: [any CurrentDisturbance] = [], quantised: Bool = true, feed: Feed = .frontEnd(rawRateHertz: 1000)
    ) {
        let nominal = nominalMainsFrequencyHertz ?? mainsFrequencyHertz
        controller = PulseController(minimumSeconds: 0.2, maximumSeconds: 10, mainsFrequencyHertz: nominal)
        estimator = InsulationEstimator(
            EstimatorConfiguration(
                couplingResistanceOhms: MeasuringCircuitParameters.medicalCouplingResistanceOhms,
                mainsFrequencyHertz: nominal))
        let parameters = MeasuringCircuitParameters(
            insulationResistanceOhms: insulationResistanceOhms, leakageCapacitanceFarads: leakageCapacitanceFarads,
            dcOffsetVolts: dcOffsetVolts)
        simulator = MeasuringSignalSimulator(
            circuit: TwoConductorMeasuringCircuit(
                parameters: parameters, faultShareOnLine1: faultShareOnLine1,
                mains: MainsSupply(frequencyHz: mainsFrequencyHertz)),
            pulse: PulseGenerator(halfPeriodSeconds: controller.halfPeriodSeconds), disturbances: disturbances,
            quantiser: quantised ? CurrentQuantiser() : nil)
        self.feed = feed
        self.faultShareOnLine1 = faultShareOnLine1
        mainsPeriodSeconds = 1 / mainsFrequencyHertz
    }

    /// The nominal disturbances of the benchmark: mains pick-up and ADC noise.
    static func nominalDisturbances(seed: UInt64) -> [any CurrentDisturbance] {
        [MainsRipple(amplitudeAmperes: 1e-6), ADCNoise(standardDeviationAmperes: 20e-9, seed: seed)]
    }

    mutating func setInsulationResistance(_ ohms: Double) {
        let share = faultShareOnLine1
        simulator.circuit.line1.insulationResistanceOhms = share > 0 ? ohms / share : 1e18
        simulator.circuit.line2.insulationResistanceOhms = share < 1 ? ohms / (1 - share) : 1e18
    }

    /// A step of the whole insulation (a fault with a DC component, or a change of the system):
    /// the capacitance split evenly between the conductors, as at construction.
    mutating func setInsulation(resistanceOhms: Double, capacitanceFarads: Double, dcOffsetVolts: Double) {
        setInsulationResistance(resistanceOhms)
        simulator.circuit.line1.leakageCapacitanceFarads = capacitanceFarads / 2
        simulator.circuit.line2.leakageCapacitanceFarads = capacitanceFarads / 2
        simulator.circuit.dcOffsetVolts = dcOffsetVolts
    }

    /// Runs to `untilSeconds` of simulated time; returns the estimates published meanwhile.
    @discardableResult
    mutating func run(untilSeconds: Double) -> [InsulationEstimate] {
        let before = estimates.count
        switch feed {
        case let .raw(rate):
            while Double(index) / rate <= untilSeconds {
                let sample = take(rate)
                deliver(sample)
            }
        case let .frontEnd(rate):
            let perPeriod = Int((rate * mainsPeriodSeconds).rounded())
            while Double(index) / rate <= untilSeconds {
                let sample = take(rate)
                boxcar.append(sample.currentAmperes)
                if boxcar.count == perPeriod {
                    let mean = boxcar.reduce(0, +) / Double(perPeriod)
                    boxcar.removeAll(keepingCapacity: true)
                    deliver(PulseSample(timeSeconds: sample.timeSeconds, pulseVolts: sample.pulseVolts, currentAmperes: mean))
                }
            }
        }
        return Array(estimates[before...])
    }

    private mutating func take(_ rate: Double) -> PulseSample {
        let time = Double(index) / rate
        index += 1
        simulator.advance(bySeconds: time - simulator.timeSeconds)
        let sample = simulator.sample()
        return PulseSample(timeSeconds: time, pulseVolts: sample.pulseVolts, currentAmperes: sample.currentAmperes)
    }

    private mutating func deliver(_ sample: PulseSample) {
        for estimate in estimator.append(sample) {
            estimates.append(estimate)
            simulator.pulse.halfPeriodSeconds = controller.next(after: estimate)
        }
    }
}

func relativeError(_ estimate: Double?, _ truth: Double) -> Double {
    guard let estimate else { return .infinity }
    return abs(estimate - truth) / truth
}
