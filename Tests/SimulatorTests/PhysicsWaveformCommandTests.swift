import Foundation
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// `isowatch-sim waveform`, run as a bench script would run it.
struct PhysicsWaveformCommandTests {
    struct Row: Equatable {
        var timeSeconds: Double
        var pulseVolts: Double
        var currentAmperes: Double
    }

    static func parse(_ csv: String) throws -> (header: String, rows: [Row]) {
        var lines = csv.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.last == "", "the file ends with a newline")
        lines.removeLast()
        let rows = try lines.dropFirst().map { line -> Row in
            let fields = line.split(separator: ",").map { Double($0) }
            try #require(fields.count == 3 && fields.allSatisfy { $0 != nil }, "row \(line) is three numbers")
            return Row(timeSeconds: fields[0]!, pulseVolts: fields[1]!, currentAmperes: fields[2]!)
        }
        return (lines.first ?? "", rows)
    }

    @Test func test_waveformCommandWritesAParseableCSVOfTheSettledPulseCurrents() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-wave-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("wave.csv").path
        let arguments = [
            "waveform", "--insulation-resistance-ohms", "100000", "--leakage-capacitance-farads", "1e-7",
            "--dc-offset-volts", "2", "--half-period-seconds", "0.1", "--duration-seconds", "0.5",
            "--sample-rate-hz", "1000", "--mains-frequency-hz", "60", "--adc-noise", "--seed", "3",
        ]
        let written = try await SimulatorCommandTests.run(arguments + ["--output", file])
        #expect(written.status == 0, "\(written.output)")
        let csv = try String(contentsOfFile: file, encoding: .utf8)
        let (header, rows) = try Self.parse(csv)
        #expect(header == "time_s,pulse_v,current_a")
        #expect(rows.count == 501)
        for (index, row) in rows.enumerated() {
            #expect(abs(row.timeSeconds - Double(index) / 1000) < 1e-12)
            // 100 samples per half-period, starting positive.
            #expect(row.pulseVolts == ((index / 100) % 2 == 0 ? 12 : -12))
        }
        // τ = 0.1 µF · 54.5 kΩ ≈ 5.5 ms: settled long before each edge, within the 20 nA noise.
        let totalOhms = 120_000.0 + 100_000
        #expect(abs(rows[99].currentAmperes - 10 / totalOhms) < 0.2e-6)
        #expect(abs(rows[199].currentAmperes - (-14 / totalOhms)) < 0.2e-6)

        let printed = try await SimulatorCommandTests.run(arguments)
        #expect(printed.status == 0)
        #expect(printed.output == csv, "standard output carries the same CSV as --output")
    }

    @Test func test_waveformCommandRefusesANonPositiveHalfPeriod() async throws {
        let result = try await SimulatorCommandTests.run(["waveform", "--half-period-seconds", "0"])
        #expect(result.status != 0)
        #expect(result.output.contains("--half-period-seconds"))
    }
}
