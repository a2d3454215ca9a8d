import Foundation
import IsoWatchSimulator
import Testing

/// Disturbance sources and the seeded noise that makes simulated benchmarks repeatable.
struct PhysicsDisturbanceTests {
    static func disturbedSimulator(seed: UInt64) -> MeasuringSignalSimulator {
        MeasuringSignalSimulator(
            circuit: TwoConductorMeasuringCircuit(
                parameters: MeasuringCircuitParameters(
                    insulationResistanceOhms: 100_000, leakageCapacitanceFarads: 1e-6, dcOffsetVolts: 1),
                faultShareOnLine1: 0.8),
            pulse: PulseGenerator(halfPeriodSeconds: 0.5),
            disturbances: [
                MainsRipple(amplitudeAmperes: 1e-6, harmonics: [MainsHarmonic(order: 3, fractionOfFundamental: 0.05)]),
                ConverterDisturbance(amplitudeAmperes: 0.5e-6, frequencyHz: 7),
                LoadSwitchingBursts(peakAmperes: 5e-6, seed: seed &+ 1),
                ADCNoise(standardDeviationAmperes: 50e-9, seed: seed),
            ],
            quantiser: CurrentQuantiser())
    }

    @Test func test_sameSeedGivesTheSameWaveformAndAnotherSeedOtherNoise() {
        var first = Self.disturbedSimulator(seed: 42)
        var again = Self.disturbedSimulator(seed: 42)
        var other = Self.disturbedSimulator(seed: 43)
        let samples = first.samples(count: 3000, sampleRateHz: 1000)
        #expect(samples == again.samples(count: 3000, sampleRateHz: 1000))
        let otherSamples = other.samples(count: 3000, sampleRateHz: 1000)
        let differing = zip(samples, otherSamples).filter { $0.currentAmperes != $1.currentAmperes }.count
        #expect(differing > 2500)
        #expect(zip(samples, otherSamples).allSatisfy { $0.pulseVolts == $1.pulseVolts })
    }

    @Test func test_adcNoiseIsGaussianWithTheRequestedStandardDeviation() {
        var noise = ADCNoise(standardDeviationAmperes: 20e-9, seed: 9)
        let draws = (0..<40_000).map { noise.currentAmperes(atSeconds: Double($0)) }
        let mean = draws.reduce(0, +) / Double(draws.count)
        let variance = draws.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws.count - 1)
        #expect(abs(mean) < 4 * 20e-9 / 200)
        #expect(abs(variance.squareRoot() / 20e-9 - 1) < 0.03)
        // About 68.3 % of a normal distribution lies within one standard deviation.
        let withinOneSigma = Double(draws.filter { abs($0 - mean) < 20e-9 }.count) / Double(draws.count)
        #expect(abs(withinOneSigma - 0.6827) < 0.01)
    }

    @Test func test_quantisationRoundsToTheADCStepAndClipsAtFullScale() {
        let quantiser = CurrentQuantiser(fullScaleAmperes: 100e-6, bits: 10)
        let stepAmperes = 200e-6 / 1024
        #expect(abs(quantiser.stepAmperes - stepAmperes) < 1e-18)
        #expect(abs(quantiser.quantised(0.4 * stepAmperes)) < 1e-18)
        #expect(abs(quantiser.quantised(3.6 * stepAmperes) - 4 * stepAmperes) < 1e-18)
        #expect(abs(quantiser.quantised(-3.6 * stepAmperes) + 4 * stepAmperes) < 1e-18)
        #expect(abs(quantiser.quantised(1) - (100e-6 - stepAmperes)) < 1e-15)
        #expect(abs(quantiser.quantised(-1) + 100e-6) < 1e-15)
    }

    @Test func test_loadSwitchingBurstsRingOncePerSlotWhateverTheSamplingOrder() {
        let bursts = LoadSwitchingBursts(peakAmperes: 5e-6, slotSeconds: 2, decaySeconds: 0.01, seed: 5)
        let times = (0..<100_000).map { Double($0) * 0.0001 }  // 10 s: five slots
        let forward = times.map { bursts.currentAmperes(atSeconds: $0) }
        let backward = times.reversed().map { bursts.currentAmperes(atSeconds: $0) }
        #expect(forward == Array(backward.reversed()))
        for slot in 0..<5 {
            let inSlot = forward[(slot * 20_000)..<((slot + 1) * 20_000)]
            // A burst decays by e⁻¹ in 10 ms: above half its peak for a few ms, quiet most of the slot.
            #expect((inSlot.map(abs).max() ?? 0) > 2.5e-6)
            #expect(Double(inSlot.filter { abs($0) > 0.05e-6 }.count) < 0.1 * Double(inSlot.count))
        }
        let otherSeed = LoadSwitchingBursts(peakAmperes: 5e-6, slotSeconds: 2, decaySeconds: 0.01, seed: 6)
        #expect(times.map { otherSeed.currentAmperes(atSeconds: $0) } != forward)
    }

    @Test func test_mainsRippleAndConverterDisturbanceAreSinesOfTheirFrequency() {
        let ripple = MainsRipple(amplitudeAmperes: 2e-6, frequencyHz: 60)
        let converter = ConverterDisturbance(amplitudeAmperes: 1e-6, frequencyHz: 12.5)
        #expect(abs(ripple.currentAmperes(atSeconds: 1.0 / 240) - 2e-6) < 1e-15)
        #expect(abs(ripple.currentAmperes(atSeconds: 1.0 / 60 + 0.003) - ripple.currentAmperes(atSeconds: 0.003)) < 1e-15)
        #expect(abs(converter.currentAmperes(atSeconds: 0.02) - 1e-6) < 1e-15)
        #expect(abs(converter.currentAmperes(atSeconds: 0.06) + 1e-6) < 1e-15)
    }
}
