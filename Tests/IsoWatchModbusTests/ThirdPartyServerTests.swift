import Foundation
import IsoWatchCore
import IsoWatchTesting
import IsoWatchThreads
import Testing

@testable import IsoWatchModbus

/// isowatch's libmodbus client against a Modbus server no one here wrote: pymodbus, laid out per
/// the Acrel AIM-M10 public map, over loopback TCP and over a pseudo-terminal pair for RTU.
@Suite(.serialized)
struct ThirdPartyServerTests {
    static let profiles = try! ProfileLibrary.load(directory: RepositoryPaths.profiles)
    var acrel: DeviceProfile { Self.profiles["acrel-aim-m10"]! }

    // Unit 1: 420 kΩ, 5.2 A, 41 °C, faults 0x11 = insulation + earth connection.
    // Unit 2: 35 kΩ, 12.5 A, -3 °C, no fault bits.
    static let values = #"{"1": {"insulation_kohm": 420, "load_deciamps": 52, "temperature_c": 41, "faults": 17}, "2": {"insulation_kohm": 35, "load_deciamps": 125, "temperature_c": -3, "faults": 0}}"#

    static func startServer(_ transport: [String], units: String = "1,2") throws -> ExternalPeer {
        try ExternalPeer(
            executable: TestTools.python(),
            arguments: [TestTools.interopScript("acrel_server.py")] + transport + ["--units", units, "--values", values],
            readyWhen: { $0.contains("READY") })
    }

    func readOnce(_ endpoint: Transport, unit: UInt8) async throws -> DecodedReading {
        let profile = acrel
        return try await OwnedThread.run(name: "test-read") {
            let connection = ModbusConnection(endpoint: endpoint)
            defer { connection.close() }
            var image = RegisterImage()
            for block in profile.readBlocks() {
                image.set(block.table, block.address, words: try connection.read(unit: unit, block: block, timeoutSeconds: 1))
            }
            return try profile.decode(image, at: Date())
        }
    }

    func expectUnitOne(_ reading: DecodedReading) {
        #expect(reading[.insulationResistanceOhms]?.value == 420_000)
        #expect(abs((reading[.loadCurrentAmperes]?.value ?? .nan) - 5.2) < 1e-9)
        #expect(reading[.windingTemperatureCelsius]?.value == 41)
        #expect(reading.faults == [.insulation, .earthConnection])
    }

    @Test func test_readsAcrelMapFromPymodbusOverTCP() async throws {
        let port = Int(try freeTCPPort())
        let server = try Self.startServer(["--tcp", "127.0.0.1:\(port)"])
        defer { server.stop() }
        expectUnitOne(try await readOnce(.tcp(host: "127.0.0.1", port: port), unit: 1))
        let second = try await readOnce(.tcp(host: "127.0.0.1", port: port), unit: 2)
        #expect(second[.insulationResistanceOhms]?.value == 35_000)
        #expect(second[.windingTemperatureCelsius]?.value == -3)
        #expect(second.faults.isEmpty)
    }

    @Test func test_readsAcrelMapFromPymodbusOverRTU() async throws {
        let cable = try PseudoTerminalPair()
        defer { cable.close() }
        let server = try Self.startServer(["--rtu", cable.first, "--baud", "19200", "--parity", "N"])
        defer { server.stop() }
        let line = SerialSettings(device: cable.second, baud: 19200, parity: .none)
        expectUnitOne(try await readOnce(.rtu(line), unit: 1))
        let second = try await readOnce(.rtu(line), unit: 2)
        #expect(abs((second[.loadCurrentAmperes]?.value ?? .nan) - 12.5) < 1e-9)
    }

    @Test func test_anAddressTheDeviceDoesNotMapIsAnExceptionNotAValue() async throws {
        let port = Int(try freeTCPPort())
        let server = try Self.startServer(["--tcp", "127.0.0.1:\(port)"])
        defer { server.stop() }
        let endpoint = Transport.tcp(host: "127.0.0.1", port: port)
        let error = await #expect(throws: ModbusError.self) {
            try await OwnedThread.run(name: "test-read") {
                let connection = ModbusConnection(endpoint: endpoint)
                defer { connection.close() }
                return try connection.read(
                    unit: 1, block: RegisterBlock(table: .holding, address: 0x0100, count: 2), timeoutSeconds: 1)
            }
        }
        #expect(error == .exception(code: 2))
    }

    @Test func test_connectingToNothingFailsWithAReason() async throws {
        let port = Int(try freeTCPPort())
        let error = await #expect(throws: ModbusError.self) {
            try await OwnedThread.run(name: "test-read") {
                let connection = ModbusConnection(endpoint: .tcp(host: "127.0.0.1", port: port))
                try connection.connect()
            }
        }
        guard case let .connectFailed(reason) = error else {
            Issue.record("expected connectFailed, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("refused"))
    }
}
