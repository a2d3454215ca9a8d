import Foundation
import IsoWatchEstimator
import IsoWatchSimulator

/// The conditions of one simulated IT system and its measuring path.
struct Conditions: Sendable {
    var insulationResistanceOhms: Double
    var leakageCapacitanceFarads: Double
    var dcOffsetVolts = 0.0
    /// Share of the leakage conductance on L1: 0.5 symmetric, 1 an asymmetric fault (the mains
    /// then drives a large ripple through the measuring path).
    var faultShareOnLine1 = 0.5
    var mainsFrequencyHertz = 50.0
    var mainsRippleAmperes = 0.0
    var harmonics = false
    var converterAmperes = 0.0
    var converterFrequencyHertz = 15.0
    var burstPeakAmperes = 0.0
    var adcNoiseAmperes = 0.0
    var quantised = false
    var seed: UInt64 = 1

    /// Nominal disturbances: mains pick-up with harmonics, ADC noise, 16-bit quantisation, and
    /// a slightly asymmetric system.
    static func nominal(re: Double, ce: Double, seed: UInt64) -> Conditions {
        var conditions = Conditions(insulationResistanceOhms: re, leakageCapacitanceFarads: ce, seed: seed)
        conditions.dcOffsetVolts = 2
        conditions.mainsRippleAmperes = 1e-6
        conditions.harmonics = true
        conditions.adcNoiseAmperes = 20e-9
        conditions.quantised = true
        return conditions
    }

    func makeSimulator(halfPeriodSeconds: Double) -> MeasuringSignalSimulator {
        let harmonicSet =
            harmonics
            ? [MainsHarmonic(order: 3, fractionOfFundamental: 0.05), MainsHarmonic(order: 5, fractionOfFundamental: 0.03)]
            : []
        let parameters = MeasuringCircuitParameters(
            insulationResistanceOhms: insulationResistanceOhms, leakageCapacitanceFarads: leakageCapacitanceFarads,
            dcOffsetVolts: dcOffsetVolts)
        let circuit = TwoConductorMeasuringCircuit(
            parameters: parameters, faultShareOnLine1: faultShareOnLine1,
            mains: MainsSupply(frequencyHz: mainsFrequencyHertz, harmonics: harmonicSet))
        var disturbances: [any CurrentDisturbance] = []
        if mainsRippleAmperes > 0 {
            disturbances.append(
                MainsRipple(amplitudeAmperes: mainsRippleAmperes, frequencyHz: mainsFrequencyHertz, harmonics: harmonicSet))
        }
        if converterAmperes > 0 {
            disturbances.append(
                ConverterDisturbance(amplitudeAmperes: converterAmperes, frequencyHz: converterFrequencyHertz))
        }
        if burstPeakAmperes > 0 {
            disturbances.append(LoadSwitchingBursts(peakAmperes: burstPeakAmperes, seed: SplitMix64.mix(seed ^ 0x4C53)))
        }
        if adcNoiseAmperes > 0 {
            disturbances.append(ADCNoise(standardDeviationAmperes: adcNoiseAmperes, seed: SplitMix64.mix(seed ^ 0x4E5A)))
        }
        return MeasuringSignalSimulator(
            circuit: circuit, pulse: PulseGenerator(halfPeriodSeconds: halfPeriodSeconds), disturbances: disturbances,
            // The front-end's ring holds s16 counts of 10 nA (hardware/profiles/isowatch-frontend.yaml).
            quantiser: quantised ? CurrentQuantiser(fullScaleAmperes: 327.68e-6, bits: 16) : nil)
    }
}

extension MeasuringSignalSimulator {
    /// A fault appears: the total insulation becomes `ohms`, split between the conductors as before.
    mutating func setInsulationResistance(_ ohms: Double, faultShareOnLine1 share: Double) {
        circuit.line1.insulationResistanceOhms = share > 0 ? ohms / share : 1e18
        circuit.line2.insulationResistanceOhms = share < 1 ? ohms / (1 - share) : 1e18
    }
}

/// How the estimator receives the signal: raw ADC samples, or the front-end's one-mains-period
/// boxcar means (what the live service reads over Modbus).
enum Feed: Sendable {
    case raw(sampleRateHertz: Double)
    case frontEnd(rawRateHertz: Double)
}

/// Something that turns samples into published estimates: the adaptive estimator, or the
/// fixed-pulse baseline.
protocol Method {
    mutating func append(_ sample: PulseSample) -> [InsulationEstimate]
    /// The half-period to command after an estimate; nil keeps the pulse as it is.
    mutating func halfPeriod(after estimate: InsulationEstimate) -> Double?
    var initialHalfPeriodSeconds: Double { get }
}

struct AdaptiveMethod: Method {
    var estimator: InsulationEstimator
    var controller: PulseController

    init(configuration: EstimatorConfiguration, mainsFrequencyHertz: Double = 50) {
        estimator = InsulationEstimator(configuration)
        controller = PulseController(minimumSeconds: 0.2, maximumSeconds: 10, mainsFrequencyHertz: mainsFrequencyHertz)
    }

    mutating func append(_ sample: PulseSample) -> [InsulationEstimate] { estimator.append(sample) }
    mutating func halfPeriod(after estimate: InsulationEstimate) -> Double? { controller.next(after: estimate) }
    var initialHalfPeriodSeconds: Double { controller.halfPeriodSeconds }
}

/// The plain method of a simple IMD: a fixed half-period long enough for the largest
/// capacitance, the current averaged over the last half of each half-period (whole mains
/// periods), Re from the last two half-periods, no prediction and no filter.
struct FixedPulseBaseline: Method {
    var halfPeriodSeconds: Double
    var couplingResistanceOhms: Double
    var mainsPeriodSeconds: Double
    private var segment: [PulseSample] = []
    private var polarity = 0
    private var previous: (polarity: Int, volts: Double, amperes: Double)?

    init(halfPeriodSeconds: Double, couplingResistanceOhms: Double, mainsFrequencyHertz: Double) {
        self.halfPeriodSeconds = halfPeriodSeconds
        self.couplingResistanceOhms = couplingResistanceOhms
        mainsPeriodSeconds = 1 / mainsFrequencyHertz
    }

    var initialHalfPeriodSeconds: Double { halfPeriodSeconds }
    mutating func halfPeriod(after estimate: InsulationEstimate) -> Double? { nil }

    mutating func append(_ sample: PulseSample) -> [InsulationEstimate] {
        let sign = sample.pulseVolts > 0 ? 1 : -1
        guard sign != polarity else {
            segment.append(sample)
            return []
        }
        defer {
            segment = [sample]
            polarity = sign
        }
        guard polarity != 0, let end = segment.last?.timeSeconds, let start = segment.first?.timeSeconds else { return [] }
        let periods = max(1, ((end - start) / 2 / mainsPeriodSeconds).rounded(.down))
        let from = end - periods * mainsPeriodSeconds
        let tail = segment.filter { $0.timeSeconds > from }
        let amperes = tail.reduce(0) { $0 + $1.currentAmperes } / Double(tail.count)
        let volts = segment.reduce(0) { $0 + abs($1.pulseVolts) } / Double(segment.count)
        var estimate = InsulationEstimate(
            timeSeconds: sample.timeSeconds, insulationResistanceOhms: nil, leakageCapacitanceFarads: nil,
            dcOffsetVolts: nil, quality: .insufficient, timeConstantSeconds: nil)
        if let previous, previous.polarity == -polarity {
            let difference = polarity > 0 ? amperes - previous.amperes : previous.amperes - amperes
            if difference > 0 {
                estimate.insulationResistanceOhms = max(1, (volts + previous.volts) / difference - couplingResistanceOhms)
                estimate.quality = .good
            }
        }
        previous = (polarity, volts, amperes)
        return [estimate]
    }
}

/// One closed-loop run: the simulator, the feed, the method, and the pulse commands it sends.
struct Run<M: Method> {
    var simulator: MeasuringSignalSimulator
    var method: M
    var feed: Feed
    var faultShareOnLine1: Double
    private var sampleIndex = 0
    private var boxcarSum = 0.0
    private var boxcarCount = 0
    private let mainsPeriodSeconds: Double

    init(conditions: Conditions, method: M, feed: Feed) {
        self.method = method
        self.feed = feed
        faultShareOnLine1 = conditions.faultShareOnLine1
        simulator = conditions.makeSimulator(halfPeriodSeconds: method.initialHalfPeriodSeconds)
        mainsPeriodSeconds = 1 / conditions.mainsFrequencyHertz
    }

    var timeSeconds: Double { simulator.timeSeconds }

    /// Runs until `untilSeconds`, handing every published estimate to `observe`.
    mutating func run(untilSeconds: Double, observe: (InsulationEstimate) -> Void) {
        switch feed {
        case let .raw(rate):
            while true {
                let time = Double(sampleIndex) / rate
                guard time <= untilSeconds else { return }
                step(rate)
                let sample = simulator.sample()
                sampleIndex += 1
                deliver(PulseSample(timeSeconds: time, pulseVolts: sample.pulseVolts, currentAmperes: sample.currentAmperes), observe)
            }
        case let .frontEnd(rate):
            let perPeriod = Int((rate * mainsPeriodSeconds).rounded())
            let quantiser = simulator.quantiser
            while true {
                let time = Double(sampleIndex) / rate
                guard time <= untilSeconds else { return }
                step(rate)
                let sample = simulator.sample()
                sampleIndex += 1
                // The front-end flags a mean spoilt by an overranged sample as no value.
                let clipped = quantiser.map { abs(sample.currentAmperes) >= $0.fullScaleAmperes - $0.stepAmperes } ?? false
                boxcarSum += clipped ? .nan : sample.currentAmperes
                boxcarCount += 1
                if boxcarCount == perPeriod {
                    // The mean is published at the end of its period, with the polarity it had.
                    let mean = boxcarSum / Double(perPeriod)
                    boxcarSum = 0
                    boxcarCount = 0
                    deliver(
                        PulseSample(timeSeconds: time, pulseVolts: sample.pulseVolts, currentAmperes: mean), observe)
                }
            }
        }
    }

    /// Whole sample periods, not `index/rate − now`: at a day's worth of seconds the difference
    /// carries rounding of 1e-11 s per step, which the pulse generator sums and which then moves
    /// an edge by a whole sample, off the front-end's mains-period grid. The real front-end
    /// times its edges in whole samples.
    private mutating func step(_ rate: Double) {
        if sampleIndex > 0 { simulator.advance(bySeconds: 1 / rate) }
    }

    private mutating func deliver(_ sample: PulseSample, _ observe: (InsulationEstimate) -> Void) {
        for estimate in method.append(sample) {
            observe(estimate)
            if let seconds = method.halfPeriod(after: estimate) { simulator.pulse.halfPeriodSeconds = seconds }
        }
    }
}

extension Run {
    /// The front-end stream alone (no estimator), for timing the estimator separately.
    mutating func recordFrontEnd(untilSeconds: Double, _ record: (PulseSample) -> Void) {
        guard case let .frontEnd(rate) = feed else { return }
        let perPeriod = Int((rate / 50).rounded())
        var sum = 0.0
        var count = 0
        var index = 0
        while Double(index) / rate <= untilSeconds {
            let time = Double(index) / rate
            index += 1
            simulator.advance(bySeconds: time - simulator.timeSeconds)
            let sample = simulator.sample()
            sum += sample.currentAmperes
            count += 1
            if count == perPeriod {
                record(PulseSample(timeSeconds: time, pulseVolts: sample.pulseVolts, currentAmperes: sum / Double(count)))
                sum = 0
                count = 0
            }
        }
    }
}
