import ArgumentParser
import Foundation
import IsoWatchSimulator

struct WaveformCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waveform",
        abstract: "Write the sampled measuring signal of an IMD (pulse voltage, measured current) as CSV.",
        discussion: """
            Columns time_s,pulse_v,current_a. The IT system has two conductors: with \
            --fault-share-on-l1 other than 0.5 the insulation is asymmetric and mains ripple \
            appears in the current through the physics, before any --mains-ripple pick-up is added.

            Example:
              isowatch-sim waveform --insulation-resistance-ohms 40000 --leakage-capacitance-farads 1e-6 --half-period-seconds 0.5 --duration-seconds 4 --adc-noise --seed 7 --output wave.csv
            """)

    @Option(help: "Total insulation resistance Re of the IT system to earth.")
    var insulationResistanceOhms: Double = 1_000_000

    @Option(help: "Total leakage capacitance Ce of the IT system to earth.")
    var leakageCapacitanceFarads: Double = 1e-6

    // `.unconditional`: a negative offset ("-5") is this option's value, not an unknown option.
    @Option(parsing: .unconditional, help: "DC offset Uoff in series with Re (a DC fault).")
    var dcOffsetVolts: Double = 0

    @Option(help: "Share of the leakage conductance on L1 (0.5 symmetric, 1 all on L1).")
    var faultShareOnL1: Double = 0.5

    @Option(help: "Half-period of the measuring pulse.")
    var halfPeriodSeconds: Double = 1

    @Option(help: "Pulse amplitude U0 (medical preset 12 V).")
    var pulseAmplitudeVolts: Double = 12

    @Option(help: "Coupling resistance Rs (medical preset 120 kΩ).")
    var couplingResistanceOhms: Double = 120_000

    @Option(help: "Length of the waveform.")
    var durationSeconds: Double = 10

    @Option(help: "Samples per second.")
    var sampleRateHz: Double = 1000

    @Option(help: "Mains frequency of the IT system (50 or 60 Hz, any value accepted).")
    var mainsFrequencyHz: Double = 50

    @Option(help: "Mains voltage between L1 and L2 (RMS).")
    var mainsVoltageVolts: Double = 230

    @Flag(help: "Add 3rd (5 %) and 5th (3 %) harmonics to the mains and to the ripple.")
    var harmonics = false

    @Flag(help: "Add mains-frequency pick-up in the measuring path.")
    var mainsRipple = false
    @Option(help: "Peak of the mains pick-up.")
    var mainsRippleAmperes: Double = 1e-6

    @Flag(help: "Add a low-frequency converter disturbance.")
    var converter = false
    @Option(help: "Converter disturbance frequency, 1 to 100 Hz.")
    var converterFrequencyHz: Double = 15
    @Option(help: "Peak of the converter disturbance.")
    var converterAmperes: Double = 1e-6

    @Flag(help: "Add load-switching bursts (one per 2 s slot at a seeded time).")
    var loadSwitching = false
    @Option(help: "Peak of a load-switching burst.")
    var loadSwitchingAmperes: Double = 5e-6

    @Flag(help: "Add white Gaussian ADC noise.")
    var adcNoise = false
    @Option(help: "Standard deviation of the ADC noise.")
    var adcNoiseAmperes: Double = 20e-9

    @Option(help: "Quantise the current with a bipolar ADC of this many bits (default: no quantisation).")
    var adcBits: Int?
    @Option(help: "ADC full scale (±).")
    var adcFullScaleAmperes: Double = 200e-6

    @Option(help: "Seed of the noise and of the burst times.")
    var seed: UInt64 = 1

    @Option(help: "Write to this file instead of standard output.")
    var output: String?

    func validate() throws {
        let positive: [(String, Double)] = [
            ("--insulation-resistance-ohms", insulationResistanceOhms), ("--half-period-seconds", halfPeriodSeconds),
            ("--coupling-resistance-ohms", couplingResistanceOhms), ("--sample-rate-hz", sampleRateHz),
            ("--mains-frequency-hz", mainsFrequencyHz),
        ]
        for (name, value) in positive where !(value > 0 && value.isFinite) {
            throw ValidationError("\(name) must be a positive number")
        }
        guard leakageCapacitanceFarads >= 0, durationSeconds >= 0 else {
            throw ValidationError("--leakage-capacitance-farads and --duration-seconds must not be negative")
        }
        guard (0...1).contains(faultShareOnL1) else { throw ValidationError("--fault-share-on-l1 must be 0...1") }
        if converter, !(1...100).contains(converterFrequencyHz) {
            throw ValidationError("--converter-frequency-hz must be 1...100")
        }
        if let adcBits, !(2...32).contains(adcBits) { throw ValidationError("--adc-bits must be 2...32") }
        guard adcFullScaleAmperes > 0 else { throw ValidationError("--adc-full-scale-amperes must be positive") }
    }

    func makeSimulator() -> MeasuringSignalSimulator {
        let harmonicSet = harmonics
            ? [
                MainsHarmonic(order: 3, fractionOfFundamental: 0.05),
                MainsHarmonic(order: 5, fractionOfFundamental: 0.03),
            ]
            : []
        let parameters = MeasuringCircuitParameters(
            couplingResistanceOhms: couplingResistanceOhms, insulationResistanceOhms: insulationResistanceOhms,
            leakageCapacitanceFarads: leakageCapacitanceFarads, dcOffsetVolts: dcOffsetVolts)
        let mains = MainsSupply(voltageRMSVolts: mainsVoltageVolts, frequencyHz: mainsFrequencyHz, harmonics: harmonicSet)
        let circuit = TwoConductorMeasuringCircuit(parameters: parameters, faultShareOnLine1: faultShareOnL1, mains: mains)
        var disturbances: [any CurrentDisturbance] = []
        if mainsRipple {
            disturbances.append(
                MainsRipple(
                    amplitudeAmperes: mainsRippleAmperes, frequencyHz: mainsFrequencyHz, harmonics: harmonicSet))
        }
        if converter {
            disturbances.append(
                ConverterDisturbance(amplitudeAmperes: converterAmperes, frequencyHz: converterFrequencyHz))
        }
        // Each random source gets its own stream derived from the one seed, so switching one
        // source on does not change what another draws.
        if loadSwitching {
            disturbances.append(
                LoadSwitchingBursts(peakAmperes: loadSwitchingAmperes, seed: SplitMix64.mix(seed ^ 0x4C53)))
        }
        if adcNoise {
            disturbances.append(
                ADCNoise(standardDeviationAmperes: adcNoiseAmperes, seed: SplitMix64.mix(seed ^ 0x4E5A)))
        }
        return MeasuringSignalSimulator(
            circuit: circuit,
            pulse: PulseGenerator(amplitudeVolts: pulseAmplitudeVolts, halfPeriodSeconds: halfPeriodSeconds),
            disturbances: disturbances,
            quantiser: adcBits.map { CurrentQuantiser(fullScaleAmperes: adcFullScaleAmperes, bits: $0) })
    }

    func run() throws {
        let handle: FileHandle
        if let output {
            guard FileManager.default.createFile(atPath: output, contents: nil) else {
                throw ValidationError("cannot create \(output)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        } else {
            handle = FileHandle.standardOutput
        }
        defer { if output != nil { try? handle.close() } }

        var simulator = makeSimulator()
        let sampleCount = Int((durationSeconds * sampleRateHz).rounded(.down)) + 1
        var text = "time_s,pulse_v,current_a\n"
        // Written in chunks so a day-long waveform does not sit in memory at once.
        let chunkSamples = 4096
        var written = 0
        while written < sampleCount {
            let count = min(chunkSamples, sampleCount - written)
            // Times from the global index keep long files free of accumulated rounding.
            for index in written..<(written + count) {
                let timeSeconds = Double(index) / sampleRateHz
                simulator.advance(bySeconds: timeSeconds - simulator.timeSeconds)
                let sample = simulator.sample()
                text += "\(timeSeconds),\(sample.pulseVolts),\(sample.currentAmperes)\n"
            }
            try handle.write(contentsOf: Data(text.utf8))
            text = ""
            written += count
        }
    }
}
