import Foundation
import IsoWatchEstimator
import IsoWatchTesting
import Testing

/// `isowatch analyze` end to end: a waveform written by `isowatch-sim waveform`, the built
/// binary run as a subprocess, its JSON checked against the true insulation.
@Suite(.serialized)
struct AnalyzeCommandTests {
    func binary(_ name: String) throws -> String {
        guard let url = RepositoryPaths.builtProduct(name) else {
            throw ExternalPeer.PeerError.missingTool("\(name) is not built: run swift build --build-tests")
        }
        return url.path
    }

    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-analyze-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    func analyze(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let isowatch = try binary("isowatch")
        return try await Task.detached { try ExternalPeer.run(isowatch, ["analyze"] + arguments, timeoutSeconds: 120) }.value
    }

    @Test func test_analyzeEstimatesTheInsulationOfASimulatedWaveformWithinFivePercent() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appending(path: "wave.csv").path
        let simulator = try binary("isowatch-sim")
        let generated = try await Task.detached {
            try ExternalPeer.run(
                simulator,
                [
                    "waveform", "--insulation-resistance-ohms", "40000", "--leakage-capacitance-farads", "1e-6",
                    "--dc-offset-volts", "3", "--half-period-seconds", "0.5", "--duration-seconds", "5.9",
                    "--mains-frequency-hz", "60", "--mains-ripple", "--harmonics", "--adc-noise", "--adc-bits", "16",
                    "--sample-rate-hz", "500", "--seed", "7", "--output", file,
                ])
        }.value
        #expect(generated.status == 0, "\(generated.output)")
        let result = try await analyze([file, "--coupling-resistance", "120000", "--mains-frequency", "60", "--json"])
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        let ohms = try #require(object["insulation_resistance_ohms"] as? Double)
        #expect(abs(ohms - 40_000) / 40_000 < 0.05, "\(ohms)")
        let farads = try #require(object["leakage_capacitance_farads"] as? Double)
        #expect(abs(farads - 1e-6) / 1e-6 < 0.10, "\(farads)")
        #expect(object["quality"] as? String == "good")
        // 5.9 s of 0.5 s half-periods: 11 edges complete 11 half-periods.
        let estimates = try #require(object["estimates"] as? [[String: Any]])
        #expect(estimates.count == 11)
        let times = estimates.compactMap { $0["time_s"] as? Double }
        #expect(times == times.sorted() && times.count == estimates.count)
        #expect(estimates.first?["quality"] as? String == "insufficient", "one half-period alone gives no value")
        #expect(estimates.first?["insulation_resistance_ohms"] is NSNull)
        for estimate in estimates {
            #expect(Set(estimate.keys) == ["time_s", "insulation_resistance_ohms", "leakage_capacitance_farads", "quality"])
        }
        #expect(estimates.last?["insulation_resistance_ohms"] as? Double == ohms)
    }

    @Test func test_analyzeIgnoresExtraColumnsAndReadsPolarityFromPulseVoltage() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Written here from the closed form, columns reordered and an extra one added.
        let samples = EstimatorTests.closedFormSamples(
            re: 80_000, ce: 0.5e-6, halfPeriodSeconds: 0.3, sampleRateHertz: 400, seconds: 3)
        var text = "current_a,note,time_s,pulse_v\n"
        for sample in samples { text += "\(sample.currentAmperes),x,\(sample.timeSeconds),\(sample.pulseVolts)\n" }
        let file = directory.appending(path: "reordered.csv")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let result = try await analyze([file.path, "--coupling-resistance", "120000", "--json"])
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let ohms = try #require(object["insulation_resistance_ohms"] as? Double)
        #expect(abs(ohms - 80_000) / 80_000 < 0.01)
    }

    /// Python's own `csv` module rewrites an LF file the ways spreadsheets and scripts do:
    /// the default dialect (CRLF, minimal quoting) and QUOTE_ALL with a byte-order mark. The
    /// numbers keep their text, so `isowatch analyze` must print exactly what it prints for the
    /// LF file (issue 12 §5: it refused the CRLF file).
    @Test func test_analyzeGivesTheSameResultForFilesPythonsCSVModuleWrites() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let samples = EstimatorTests.closedFormSamples(
            re: 60_000, ce: 0.8e-6, halfPeriodSeconds: 0.3, sampleRateHertz: 400, seconds: 3)
        // A note column whose text makes minimal quoting quote: a comma, a quote, a line break.
        let notes = ["theatre 3, bed 2", "say \"stop\"", "two\nlines", "Ω µA", "plain"]
        var text = "time_s,pulse_v,current_a,note\n"
        for (index, sample) in samples.enumerated() {
            var note = notes[index % notes.count]
            if note.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) {
                note = "\"" + note.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            }
            text += "\(sample.timeSeconds),\(sample.pulseVolts),\(sample.currentAmperes),\(note)\n"
        }
        let lf = directory.appending(path: "lf.csv")
        try text.write(to: lf, atomically: true, encoding: .utf8)
        let minimal = directory.appending(path: "python-default.csv")
        let quotedAll = directory.appending(path: "python-quote-all-bom.csv")
        let script = """
            import csv, sys
            with open(sys.argv[1], newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            with open(sys.argv[2], "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows(rows)
            with open(sys.argv[3], "w", newline="", encoding="utf-8-sig") as f:
                csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
            print(len(rows))
            """
        let python = try (try? TestTools.python()) ?? TestTools.tool("python3")
        let written = try await Task.detached {
            try ExternalPeer.run(python, ["-c", script, lf.path, minimal.path, quotedAll.path])
        }.value
        #expect(written.status == 0, "\(written.output)")
        #expect(written.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(samples.count + 1)")
        // What Python wrote is what this test claims it wrote.
        let minimalBytes = try Data(contentsOf: minimal)
        let minimalText = String(decoding: minimalBytes, as: UTF8.self)
        #expect(minimalText.hasPrefix("time_s,pulse_v,current_a,note\r\n"))
        #expect(minimalText.contains("\"theatre 3, bed 2\"\r\n") && minimalText.contains("\"say \"\"stop\"\"\""))
        #expect(minimalText.contains("\"two\nlines\""), "a line break inside a field stays as written")
        let quotedAllBytes = try Data(contentsOf: quotedAll)
        #expect(quotedAllBytes.starts(with: [0xEF, 0xBB, 0xBF]))
        #expect(String(decoding: quotedAllBytes.dropFirst(3), as: UTF8.self).hasPrefix("\"time_s\",\"pulse_v\",\"current_a\",\"note\"\r\n\"0"))

        let arguments = ["--coupling-resistance", "120000", "--json"]
        let fromLF = try await analyze([lf.path] + arguments)
        #expect(fromLF.status == 0, "\(fromLF.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(fromLF.output.utf8)) as? [String: Any])
        let ohms = try #require(object["insulation_resistance_ohms"] as? Double)
        #expect(abs(ohms - 60_000) / 60_000 < 0.01)
        for file in [minimal, quotedAll] {
            let result = try await analyze([file.path] + arguments)
            #expect(result.status == 0, "\(file.lastPathComponent): \(result.output)")
            #expect(result.output == fromLF.output, "\(file.lastPathComponent)")
        }
    }

    @Test(arguments: [
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1e-5\n0.002,12,abc\n", 4, "current_a 'abc'"),
        ("time_s,pulse_v\n0,12\n", 1, "lacks the column 'current_a'"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12\n", 3, "2 fields"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1e-5\n0.001,12,1e-5\n", 4, "does not increase"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.01,12,1e-5\n0.02,12,1e-5\n", 3, "below 200 Hz"),
        ("", 1, "empty file"),
        ("time_s,pulse_v,current_a\r\n0,12,1e-5\r\n0.001,12,1e-5\r\n0.002,\"12,1e-5\r\n", 4, "never closed"),
        ("time_s,pulse_v,current_a\r\n0,12,1e-5\r0.001,12,1e-5\r\n", 2, "carriage return without a line feed"),
    ])
    func test_malformedInputFailsWithAnErrorNamingTheLine(text: String, line: Int, reason: String) async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appending(path: "bad.csv")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let result = try await analyze([file.path, "--coupling-resistance", "120000", "--json"])
        #expect(result.status != 0)
        #expect(result.output.contains("line \(line):"), "\(result.output)")
        #expect(result.output.contains(reason), "\(result.output)")
        #expect(!result.output.contains("{"), "no JSON on failure")
    }
}
