import Foundation
import IsoWatchEstimator
import IsoWatchSimulator
import IsoWatchTesting
import PropertyBased
import Testing

/// The estimator against closed forms and simulator waveforms (issue 4 §1, adaptive-pulse.md).
struct EstimatorTests {
    static let rs = MeasuringCircuitParameters.medicalCouplingResistanceOhms

    /// Exact samples of the lumped circuit, fixed pulse, no disturbances.
    static func closedFormSamples(
        re: Double, ce: Double, uoff: Double = 0, halfPeriodSeconds: Double, sampleRateHertz: Double, seconds: Double
    ) -> [PulseSample] {
        var circuit = MeasuringCircuit(
            parameters: MeasuringCircuitParameters(
                insulationResistanceOhms: re, leakageCapacitanceFarads: ce, dcOffsetVolts: uoff))
        var pulse = PulseGenerator(halfPeriodSeconds: halfPeriodSeconds)
        var samples: [PulseSample] = []
        var time = 0.0
        let step = 1 / sampleRateHertz
        for index in 0...Int(seconds * sampleRateHertz) {
            let target = Double(index) * step
            while time < target - 1e-12 {
                let piece = min(target - time, pulse.secondsToNextEdge)
                circuit.advance(bySeconds: piece, generatorVolts: pulse.voltageVolts)
                pulse.advance(bySeconds: piece)
                time += piece
            }
            samples.append(
                PulseSample(
                    timeSeconds: target, pulseVolts: pulse.voltageVolts,
                    currentAmperes: circuit.measuredCurrentAmperes(generatorVolts: pulse.voltageVolts)))
        }
        return samples
    }

    @Test func test_settledCurrentIsPredictedBeforeTheTransientHasDied() throws {
        // Half-period 0.3 s against τ = Ce·(Rs∥Re) = 5 µF · 107 kΩ = 0.54 s: the current is
        // nowhere near settled at the end of a half-period, so a tail mean would be far off.
        let re = 1e6
        let samples = Self.closedFormSamples(re: re, ce: 5e-6, halfPeriodSeconds: 1.2, sampleRateHertz: 1000, seconds: 6.01)
        var estimator = InsulationEstimator(EstimatorConfiguration(couplingResistanceOhms: Self.rs))
        var measurements: [InsulationEstimate] = []
        for sample in samples where !estimator.append(sample).isEmpty {
            if let measurement = estimator.latestMeasurement { measurements.append(measurement) }
        }
        let last = try #require(measurements.last)
        #expect(last.quality == .good)
        #expect(relativeError(last.insulationResistanceOhms, re) < 0.01, "\(last)")
        #expect(relativeError(last.leakageCapacitanceFarads, 5e-6) < 0.02, "\(last)")
        let tau = 5e-6 * Self.rs * re / (Self.rs + re)
        #expect(relativeError(last.timeConstantSeconds, tau) < 0.02)
        // What waiting and averaging the last third of the same half-periods gives instead.
        let edges = samples.indices.filter { $0 > 0 && samples[$0].pulseVolts != samples[$0 - 1].pulseVolts }
        let lastTwo = Array(edges.suffix(3))
        func tailMean(_ from: Int, _ to: Int) -> Double {
            let tail = samples[(to - (to - from) / 3)..<to]
            return tail.reduce(0) { $0 + $1.currentAmperes } / Double(tail.count)
        }
        let difference = abs(tailMean(lastTwo[1], lastTwo[2]) - tailMean(lastTwo[0], lastTwo[1]))
        let waitAndAverage = 24 / difference - Self.rs
        #expect(relativeError(waitAndAverage, re) > 0.3, "the transient must matter in this case")
    }

    @Test(arguments: [0.1e-6, 1e-6, 5e-6])
    func test_accuracyAcrossOneKiloOhmToTenMegaOhmWithNominalDisturbances(capacitanceFarads: Double) throws {
        for (index, re) in [1e3, 1e4, 1e5, 1e6, 1e7].enumerated() {
            var rig = SignalRig(
                insulationResistanceOhms: re, leakageCapacitanceFarads: capacitanceFarads, dcOffsetVolts: 2,
                disturbances: SignalRig.nominalDisturbances(seed: UInt64(index + 1)))
            let estimates = rig.run(untilSeconds: 12)
            let settled = estimates.filter { $0.timeSeconds > 8 }
            #expect(!settled.isEmpty)
            for estimate in settled where estimate.quality == .good {
                // IEC 61557-8 allows ±15 %; we aim for 5 % from 10 kΩ to 1 MΩ.
                let limit = (1e4...1e6).contains(re) ? 0.05 : 0.15
                #expect(relativeError(estimate.insulationResistanceOhms, re) <= limit, "Re \(re): \(estimate)")
            }
            #expect(settled.last?.quality == .good, "Re \(re) Ce \(capacitanceFarads): \(settled.last.map { "\($0)" } ?? "none")")
        }
    }

    @Test(arguments: [-12.0, -6.0, 6.0, 12.0])
    func test_dcOffsetUpToTheMeasuringVoltageMovesTheEstimateByLessThanFivePercent(offsetVolts: Double) throws {
        let re = 200_000.0
        var rig = SignalRig(
            insulationResistanceOhms: re, leakageCapacitanceFarads: 1e-6, dcOffsetVolts: offsetVolts,
            disturbances: SignalRig.nominalDisturbances(seed: 3))
        rig.run(untilSeconds: 8)
        let published = try #require(rig.estimator.published)
        #expect(published.quality == .good)
        #expect(relativeError(published.insulationResistanceOhms, re) < 0.05, "\(published)")
        // The mean of the settled currents is the DC-fault diagnostic.
        let offset = try #require(published.dcOffsetVolts)
        #expect(abs(offset - offsetVolts) < 0.05 * 12, "\(published)")
    }

    @Test func test_mainsFrequencyIsTrackedAt60HertzAndItsRippleAveragedOut() throws {
        // An asymmetric fault (all on L1) drives tens of µA of mains current through the
        // measuring path; the mains runs 0.8 % fast, so averaging over nominal 60 Hz periods
        // would leave part of it in every window.
        let re = 300_000.0
        var rig = SignalRig(
            insulationResistanceOhms: re, leakageCapacitanceFarads: 1e-6, faultShareOnLine1: 1,
            mainsFrequencyHertz: 60.5, nominalMainsFrequencyHertz: 60,
            disturbances: [ADCNoise(standardDeviationAmperes: 20e-9, seed: 5)], feed: .raw(sampleRateHertz: 2000))
        rig.run(untilSeconds: 8)
        #expect(abs(rig.estimator.mainsFrequencyHertz - 60.5) < 0.05, "tracked \(rig.estimator.mainsFrequencyHertz) Hz")
        let published = try #require(rig.estimator.published)
        #expect(published.quality == .good)
        #expect(relativeError(published.insulationResistanceOhms, re) < 0.05, "\(published)")
    }

    @Test(arguments: [SignalRig.Feed.raw(sampleRateHertz: 1000), .frontEnd(rawRateHertz: 1000)])
    func test_stepToHalfTheResponseValueRaisesTheAlarmWithinTwoSecondsAtOneMicrofarad(feed: SignalRig.Feed) throws {
        var rig = SignalRig(
            insulationResistanceOhms: 1e6, leakageCapacitanceFarads: 1e-6,
            disturbances: SignalRig.nominalDisturbances(seed: 9), feed: feed)
        let before = rig.run(untilSeconds: 10.01)
        // Nothing below the response value while the system is healthy.
        #expect(before.allSatisfy { ($0.insulationResistanceOhms ?? .infinity) > 50_000 })
        #expect(before.last?.quality == .good)
        rig.setInsulationResistance(25_000)
        let after = rig.run(untilSeconds: 16)
        let alarm = try #require(after.first { ($0.insulationResistanceOhms ?? .infinity) < 50_000 })
        #expect(alarm.timeSeconds - 10.01 <= 2, "alarm recognised \(alarm.timeSeconds - 10.01) s after the step")
        // Once reported, the fault stays reported, and the estimate settles within 15 %.
        let fromAlarm = after.drop { $0.timeSeconds < alarm.timeSeconds }
        #expect(fromAlarm.allSatisfy { ($0.insulationResistanceOhms ?? 0) < 50_000 })
        #expect(relativeError(after.last?.insulationResistanceOhms, 25_000) < 0.05)
    }

    @Test func test_burstDisturbedHalfPeriodsAreFlaggedAndNeverConfidentlyWrong() throws {
        // Slow, strong load-switching transients: 40 µA ringing at 8 Hz, decaying in 60 ms,
        // every ~2 s, against a 10 µA measuring current.
        let re = 1e6
        let bursts = LoadSwitchingBursts(peakAmperes: 40e-6, slotSeconds: 2, decaySeconds: 0.06, ringingFrequencyHz: 8, seed: 11)
        var rig = SignalRig(
            insulationResistanceOhms: re, leakageCapacitanceFarads: 1e-6,
            disturbances: [bursts, ADCNoise(standardDeviationAmperes: 20e-9, seed: 4)], feed: .raw(sampleRateHertz: 1000))
        let estimates = rig.run(untilSeconds: 40)
        #expect(estimates.count > 40)
        for estimate in estimates where estimate.quality == .good {
            #expect(relativeError(estimate.insulationResistanceOhms, re) <= 0.15, "\(estimate)")
        }
        #expect(estimates.contains { $0.quality == .disturbed }, "a burst this strong must show in the quality")
        #expect(estimates.allSatisfy { ($0.insulationResistanceOhms ?? .infinity) > 500_000 })
    }

    @Test func test_decimatedFrontEndInputGivesTheSameAnswerAsRawInput() throws {
        let re = 150_000.0
        var raw = SignalRig(insulationResistanceOhms: re, leakageCapacitanceFarads: 2e-6, feed: .raw(sampleRateHertz: 1000))
        var decimated = SignalRig(insulationResistanceOhms: re, leakageCapacitanceFarads: 2e-6)
        raw.run(untilSeconds: 8)
        decimated.run(untilSeconds: 8)
        let fromRaw = try #require(raw.estimator.published)
        let fromDecimated = try #require(decimated.estimator.published)
        #expect(fromRaw.quality == .good && fromDecimated.quality == .good)
        #expect(relativeError(fromRaw.insulationResistanceOhms, re) < 0.01)
        #expect(relativeError(fromDecimated.insulationResistanceOhms, re) < 0.01)
        #expect(relativeError(fromDecimated.leakageCapacitanceFarads, 2e-6) < 0.05)
    }

    @Test func test_missingSamplesAndAStoppedPulseNeverProduceAValue() throws {
        var estimator = InsulationEstimator(EstimatorConfiguration(couplingResistanceOhms: Self.rs))
        var estimates: [InsulationEstimate] = []
        for index in 0..<500 {
            let time = Double(index) * 0.02
            let volts = index % 40 < 20 ? 12.0 : (index % 40 < 30 ? 0 : -12)
            estimates += estimator.append(PulseSample(timeSeconds: time, pulseVolts: volts, currentAmperes: .nan))
        }
        #expect(!estimates.isEmpty)
        #expect(estimates.allSatisfy { $0.insulationResistanceOhms == nil && $0.quality == .insufficient })
    }

    @Test func test_estimatesWithinFivePercentWheneverGoodForRandomSystems() async {
        let systems = zip(Gen.double(in: log(1e4)...log(1e6)), Gen.double(in: 0.1...5), Gen.double(in: -12...12), Gen.int(in: 1...1_000_000))
        await seededPropertyCheck(seed: 4, count: 12, input: systems) { logRe, microfarads, offset, seed in
            let re = exp(logRe)
            var rig = SignalRig(
                insulationResistanceOhms: re, leakageCapacitanceFarads: microfarads * 1e-6, dcOffsetVolts: offset,
                disturbances: SignalRig.nominalDisturbances(seed: UInt64(seed)))
            let estimates = rig.run(untilSeconds: 10)
            for estimate in estimates where estimate.quality == .good {
                #expect(relativeError(estimate.insulationResistanceOhms, re) <= 0.05, "Re \(re) Ce \(microfarads) µF Uoff \(offset): \(estimate)")
            }
            #expect(estimates.last?.quality == .good)
        }
    }
}

extension EstimatorTests {
    /// Issue 12: Re 12.1 kΩ, Ce 0.217 µF, Uoff −6.8 V, noise seed 861151 ended `disturbed`. The
    /// only disturbances are 1 µA of 50 Hz pick-up, which the front-end's one-period means remove
    /// exactly, and 20 nA of ADC noise (about 4.5 nA on a window mean), so the doubt was wrong.
    /// At 9.42–9.62 s this seed's noise leaves window residuals of
    /// [0, 0, −1.3, −0.7, 6.1, 0.3, −0.3, −4.6, −5.2, 5.8] nA: all within 1.4 σ, but the two
    /// windows that pin b and τ of a transient a few ms long are fitted exactly, four more lie
    /// close by chance, the median absolute deviation came out at 1.2 nA, and three windows of
    /// ordinary noise beyond 4.5 × 1.2 nA were rejected: more than a quarter, so `disturbed`.
    /// The outlier test now judges studentised residuals without the windows the fit
    /// reproduces by construction, against a spread no smaller than the noise of recent
    /// undisturbed half-periods. The exact Re of the report is not known beyond "12.1 kΩ":
    /// 12 050 Ω reproduces it (12 100 Ω happens not to); 8 kΩ at 0.4 µF ended disturbed the same
    /// way, and 8 kΩ at 0.1 µF with seed 42 (at 8.4 s: eight testable residuals, five of them
    /// within 1.3 nA of each other) still did with the leverage correction alone.
    @Test(arguments: [
        (12_050.0, 0.217e-6, -6.8, UInt64(861151)), (12_100, 0.217e-6, -6.8, 861151), (8_000, 0.4e-6, -6, 861151),
        (8_000, 0.1e-6, 0, 42),
    ])
    func test_regression_12kOhm_0_22uF_minus6_8V_seed861151_ordinaryNoiseIsNeverTakenForADisturbance(
        system: (re: Double, ce: Double, uoff: Double, seed: UInt64)
    ) throws {
        var rig = SignalRig(
            insulationResistanceOhms: system.re, leakageCapacitanceFarads: system.ce, dcOffsetVolts: system.uoff,
            disturbances: SignalRig.nominalDisturbances(seed: system.seed))
        let estimates = rig.run(untilSeconds: 10)
        // After the first pair and the few half-periods that show the noise, nothing here is
        // disturbed; before the fix the last two estimates of each system were.
        let warmedUp = estimates.filter { $0.timeSeconds > 1.5 }
        #expect(warmedUp.count > 35)
        for estimate in warmedUp {
            #expect(estimate.quality == .good, "\(system): \(estimate)")
            #expect(relativeError(estimate.insulationResistanceOhms, system.re) <= 0.05, "\(system): \(estimate)")
        }
    }

    /// The service's default insulation response delay (`AlarmTiming.insulation` in IsoWatchCore,
    /// `InsulationLevel`'s default `ConditionDelays`): the alarm state machine raises the alarm
    /// once the value has stayed below the response value this long.
    static let insulationResponseDelaySeconds = 1.0

    /// Issue 12's system as a real fault: a healthy system (1 MΩ, no DC offset) steps to
    /// 12.1 kΩ with a DC fault of −6.8 V at 0.217 µF under the same noise. The first value below
    /// 50 kΩ must come within the response delay plus the half-period under way at the step, and
    /// every value after it must stay below, so the state machine's delay runs out undisturbed.
    /// The step falls at several moments of the pulse.
    @Test(arguments: [10.01, 10.07, 10.13, 10.19])
    func test_insulationFaultAt12kOhm_0_22uF_minus6_8V_isReportedWithinTheResponseDelayPlusAHalfPeriod(
        stepSeconds: Double
    ) throws {
        var rig = SignalRig(
            insulationResistanceOhms: 1e6, leakageCapacitanceFarads: 0.217e-6, dcOffsetVolts: 0,
            disturbances: SignalRig.nominalDisturbances(seed: 861151))
        let before = rig.run(untilSeconds: stepSeconds)
        #expect(before.allSatisfy { ($0.insulationResistanceOhms ?? .infinity) > 50_000 })
        #expect(before.last?.quality == .good)
        let halfPeriodSeconds = rig.simulator.pulse.halfPeriodSeconds
        rig.setInsulation(resistanceOhms: 12_100, capacitanceFarads: 0.217e-6, dcOffsetVolts: -6.8)
        let after = rig.run(untilSeconds: stepSeconds + 6)
        let alarm = try #require(after.first { ($0.insulationResistanceOhms ?? .infinity) < 50_000 })
        let allowed = Self.insulationResponseDelaySeconds + halfPeriodSeconds
        #expect(alarm.timeSeconds - stepSeconds <= allowed, "below 50 kΩ \(alarm.timeSeconds - stepSeconds) s after the step, allowed \(allowed) s")
        let fromAlarm = after.drop { $0.timeSeconds < alarm.timeSeconds }
        #expect(fromAlarm.allSatisfy { ($0.insulationResistanceOhms ?? .infinity) < 50_000 })
        #expect(after.last?.quality == .good)
        #expect(relativeError(after.last?.insulationResistanceOhms, 12_100) < 0.05, "\(after.last.map { "\($0)" } ?? "none")")
    }
}

struct PulseControllerTests {
    @Test func test_halfPeriodFollowsTheTimeConstantInWholeMainsPeriods() throws {
        var controller = PulseController(minimumSeconds: 0.2, maximumSeconds: 10, mainsFrequencyHertz: 60)
        #expect(controller.halfPeriodSeconds * 60 == (0.2 * 60).rounded(.up))
        for tau in [0.001, 0.05, 0.1234, 0.7, 2.9, 50] {
            let seconds = controller.next(
                after: InsulationEstimate(
                    timeSeconds: 0, insulationResistanceOhms: 1e5, leakageCapacitanceFarads: nil, dcOffsetVolts: nil,
                    quality: .good, timeConstantSeconds: tau))
            let periods = seconds * 60
            #expect(abs(periods - periods.rounded()) < 1e-6, "whole mains periods")
            #expect(seconds >= 0.2 && seconds <= 10 + 1 / 60.0)
            #expect(seconds >= min(controller.timeConstantMultiple * tau, 10) - 1e-9)
            #expect(seconds < max(controller.timeConstantMultiple * tau, 0.2) + 1 / 60.0 + 1e-9)
        }
    }

    static func estimate(_ quality: EstimateQuality, tau: Double?) -> InsulationEstimate {
        InsulationEstimate(
            timeSeconds: 0, insulationResistanceOhms: nil, leakageCapacitanceFarads: nil, dcOffsetVolts: nil,
            quality: quality, timeConstantSeconds: tau)
    }

    @Test func test_lastingDisturbanceLengthensThePulseUpToTheMaximum() throws {
        var controller = PulseController(minimumSeconds: 0.2, maximumSeconds: 3, mainsFrequencyHertz: 50)
        // One or two disturbed half-periods (a step in the circuit) follow τ, not the old pulse.
        #expect(controller.next(after: Self.estimate(.disturbed, tau: 0.05)) == 0.2)
        #expect(controller.next(after: Self.estimate(.disturbed, tau: 0.05)) == 0.2)
        var previous = 0.2
        for _ in 0..<16 {
            let seconds = controller.next(after: Self.estimate(.disturbed, tau: 0.05))
            #expect(seconds > previous || seconds == 3)
            previous = seconds
        }
        #expect(previous == 3)
        // A good estimate brings the pulse straight back to the time constant.
        #expect(controller.next(after: Self.estimate(.good, tau: 0.4)) == 0.6)
    }

    @Test func test_insufficientEstimatesDoubleThePulse() throws {
        var controller = PulseController(minimumSeconds: 0.2, maximumSeconds: 1, mainsFrequencyHertz: 50)
        #expect(controller.next(after: Self.estimate(.insufficient, tau: nil)) == 0.4)
        #expect(controller.next(after: Self.estimate(.insufficient, tau: nil)) == 0.8)
        #expect(controller.next(after: Self.estimate(.insufficient, tau: nil)) == 1)
    }
}
