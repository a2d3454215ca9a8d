import IsoWatchSimulator
import Testing

/// The measuring pulse flips at the sample whose index ends a half-period, however large the
/// absolute sample times are (a day-long run rounds each time to about 1e-11 s).
struct PulseEdgePlacementTests {
    @Test func test_pulseEdgesFallOnTheSampleIndexADayIntoARun() {
        let sampleRateHz = 1000.0
        let samplesPerHalfPeriod = 300
        // A day in, at a sample time that is no round number, as after an adaptive pulse change.
        let firstIndex = 86_400_123
        var simulator = MeasuringSignalSimulator(
            circuit: TwoConductorMeasuringCircuit(
                parameters: MeasuringCircuitParameters(insulationResistanceOhms: 100_000, leakageCapacitanceFarads: 1e-7)),
            pulse: PulseGenerator(halfPeriodSeconds: Double(samplesPerHalfPeriod) / sampleRateHz),
            startSeconds: Double(firstIndex) / sampleRateHz)
        var misplaced: [Int] = []
        for offset in 0..<(40 * samplesPerHalfPeriod) {
            // Times from the global index, as the waveform command and the estimator bench take them.
            let timeSeconds = Double(firstIndex + offset) / sampleRateHz
            simulator.advance(bySeconds: timeSeconds - simulator.timeSeconds)
            let expectedVolts = (offset / samplesPerHalfPeriod) % 2 == 0 ? 12.0 : -12.0
            if simulator.sample().pulseVolts != expectedVolts { misplaced.append(offset) }
        }
        #expect(misplaced.isEmpty, "samples with the wrong pulse polarity: \(misplaced.prefix(10))")
    }
}
