import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The built `isowatch-sim` executable, run as a test bench would run it.
@Suite(.serialized) struct SimulatorCommandTests {
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let executable = try #require(RepositoryPaths.builtProduct("isowatch-sim"), "isowatch-sim is built")
        return try await onOwnThread {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    @Test func test_serveQuickFormAnnouncesItsEndpointsAndStopsOnSIGTERM() async throws {
        let executable = try #require(RepositoryPaths.builtProduct("isowatch-sim"), "isowatch-sim is built")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-sim-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("rtu0").path
        let (tcpPort, controlPort) = (try freeTCPPort(), try freeTCPPort())
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "serve", "--profiles", RepositoryPaths.profiles.path, "--profile", "acrel-aim-m10",
            "--tcp", "127.0.0.1:\(tcpPort)", "--rtu-link", link, "--baud", "9600", "--parity", "N",
            "--unit", "1", "--unit", "2", "--value", "insulation_resistance_ohms=250000",
            "--control", "127.0.0.1:\(controlPort)",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let reader = pipe.fileHandleForReading
        let announced = try await onOwnThread {
            var text = ""
            while !text.contains("control http") {
                let data = reader.availableData
                if data.isEmpty { break }
                text += String(decoding: data, as: UTF8.self)
            }
            return text
        }
        #expect(announced.contains("[tcp0] tcp 127.0.0.1:\(tcpPort) units 1,2"))
        #expect(announced.contains("(link \(link)) units 1,2 @9600 8N1"))

        let control = "http://127.0.0.1:\(controlPort)"
        let set = try await Self.run([
            "set", "--control", control, "--endpoint", "tcp0", "--unit", "2", "insulation_resistance_ohms=42000",
            "--faults", "insulation",
        ])
        #expect(set.status == 0, "\(set.output)")
        let client = try RawModbusTCPClient(port: tcpPort)
        let words = try #require(try await client.request(unit: 2, pdu: [0x03, 0x00, 0x08, 0x00, 0x04]).bytes).suffix(8)
        // Acrel: 0x0008 insulation in kΩ … 0x000B fault bits, bit 0 insulation.
        #expect(Array(words.prefix(2)) == [0, 42])
        #expect(Array(words.suffix(2)) == [0, 1])
        let rtu = try RawRTUClient(path: link)
        #expect(try await rtu.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x01]).reply == .bytes(ModbusCRC.sealed([1, 3, 2, 0, 250])))

        let offline = try await Self.run(["set", "--control", control, "--endpoint", "tcp0", "--unit", "1", "--offline"])
        #expect(offline.output.contains("unit 1  acrel-aim-m10  OFFLINE"), "\(offline.output)")
        #expect(try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x01]).bytes?.suffix(2) == [0x83, 0x0B])

        let status = try await Self.run(["status", "--control", control])
        #expect(status.output.contains("unit 2  acrel-aim-m10  online"))
        #expect(status.output.contains("insulation_resistance_ohms=42000"))

        let refused = try await Self.run(["set", "--control", control, "--endpoint", "tcp0", "--unit", "2", "--faults", "smoke"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("unknown fault 'smoke'"))

        process.terminate()
        try await onOwnThread { process.waitUntilExit() }
        #expect(process.terminationStatus == 0)
        #expect(!FileManager.default.fileExists(atPath: link))
    }

    @Test func test_serveRefusesABrokenSiteFileNamingTheLine() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-site-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("endpoints:\n  - listen: 127.0.0.1:0\n    units:\n      - unit: 1\n        profile: nope-9000\n        colour: red\n".utf8).write(to: file)
        let result = try await Self.run(["serve", "--site", file.path, "--profiles", RepositoryPaths.profiles.path, "--no-control"])
        #expect(result.status != 0)
        #expect(result.output.contains("\(file.path):6:9: field 'endpoints[0].units[0].colour'"))
    }
}
