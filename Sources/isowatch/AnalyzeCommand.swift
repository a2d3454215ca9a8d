import ArgumentParser
import Foundation
import IsoWatchEstimator

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Run the live insulation estimator over a recorded measuring signal (CSV).",
        discussion: """
            FILE has the header time_s,pulse_v,current_a (extra columns in any position are \
            ignored), a sample rate of 200 Hz or more, and the pulse polarity in the sign of \
            pulse_v; `isowatch-sim waveform` writes such files. Each completed half-period gives \
            the value the live pipeline would publish at that moment.

            FILE is CSV as RFC 4180 defines it, which is what Python's csv module and \
            spreadsheets write: UTF-8 with or without a byte-order mark, lines ending in CRLF \
            or LF (mixed, and the last line may have none), fields optionally in double quotes (a quote \
            inside is written "", and a quoted field may hold commas and line breaks). Blank \
            lines, and spaces or tabs around a column name or a number, are ignored. Anything \
            else (a quote that is never closed, a quote inside an unquoted field, a carriage \
            return without a line feed, a row with a different number of fields from the \
            header, a value that is not a finite number, times that do not increase, bytes \
            that are not UTF-8) is refused with the line on which the record starts.
            """)

    @Argument(help: "The recorded signal (CSV).")
    var file: String

    @Option(help: "Internal impedance Rs of the measuring front-end, in ohms.")
    var couplingResistance: Double

    @Option(help: "Nominal mains frequency in hertz (50 or 60); the actual one is tracked within ±1.5 %.")
    var mainsFrequency: Double = 50

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard couplingResistance > 0, couplingResistance.isFinite else {
            throw ValidationError("--coupling-resistance must be a positive number of ohms")
        }
        guard (40...70).contains(mainsFrequency) else {
            throw ValidationError("--mains-frequency must be a mains frequency (40...70 Hz)")
        }
    }

    func run() throws {
        let samples: [PulseSample]
        do {
            // In chunks: a long recording is tens of megabytes, and the reader keeps only samples.
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: file))
            defer { try? handle.close() }
            var reader = PulseCSV.Reader()
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { try reader.feed(chunk) }
            samples = try reader.finish(minimumSampleRateHertz: 200)
        } catch let error as PulseCSVError {
            FileHandle.standardError.write(Data("isowatch analyze: \(file): \(error)\n".utf8))
            throw ExitCode.failure
        } catch {
            FileHandle.standardError.write(Data("isowatch analyze: cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode.failure
        }
        var estimator = InsulationEstimator(
            EstimatorConfiguration(couplingResistanceOhms: couplingResistance, mainsFrequencyHertz: mainsFrequency))
        var estimates: [InsulationEstimate] = []
        for sample in samples { estimates += estimator.append(sample) }
        let final = estimates.last
        if json {
            let object: [String: Any] = [
                "insulation_resistance_ohms": Self.jsonNumber(final?.insulationResistanceOhms),
                "leakage_capacitance_farads": Self.jsonNumber(final?.leakageCapacitanceFarads),
                "quality": (final?.quality ?? .insufficient).rawValue,
                "estimates": estimates.map { estimate -> [String: Any] in
                    [
                        "time_s": estimate.timeSeconds,
                        "insulation_resistance_ohms": Self.jsonNumber(estimate.insulationResistanceOhms),
                        "leakage_capacitance_farads": Self.jsonNumber(estimate.leakageCapacitanceFarads),
                        "quality": estimate.quality.rawValue,
                    ]
                },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("half-periods completed: \(estimates.count)")
            print("insulation resistance: \(final?.insulationResistanceOhms.map { Self.format($0, "Ω") } ?? "none")")
            print("leakage capacitance:   \(final?.leakageCapacitanceFarads.map { Self.format($0, "F") } ?? "none")")
            print("DC offset:             \(final?.dcOffsetVolts.map { String(format: "%.3f V", $0) } ?? "none")")
            print("quality:               \((final?.quality ?? .insufficient).rawValue)")
            print("mains frequency:       \(String(format: "%.3f Hz", estimator.mainsFrequencyHertz))")
        }
    }

    private static func jsonNumber(_ value: Double?) -> Any { value.map { $0 as Any } ?? NSNull() }

    /// 3 significant digits with an SI prefix: 48.2 kΩ, 1.00 µF.
    private static func format(_ value: Double, _ unit: String) -> String {
        let prefixes: [(Double, String)] = [(1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")]
        let (scale, prefix) = prefixes.first { abs(value) >= $0.0 } ?? (1e-12, "p")
        return String(format: "%#.3g", value / scale) + " \(prefix)\(unit)"
    }
}
