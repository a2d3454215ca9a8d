import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The control interface over real HTTP, and its effect seen by a real Modbus client.
@Suite struct ControlServerTests {
    static func call(_ method: String, _ url: URL, json: String? = nil) async throws -> (status: Int, body: String) {
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let json {
            request.httpBody = Data(json.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    static func withControl(_ body: (TestSimulator, URL) async throws -> Void) async throws {
        let simulator = try TestSimulator(
            tcpUnits: [UnitDescription(unit: 1, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 500_000])],
            rtuUnits: [UnitDescription(unit: 2, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 400_000])],
            serialLine: SerialLine(baud: 115200, parity: .none))
        defer { simulator.stop() }
        try await body(simulator, try await simulator.startControl())
    }

    @Test func test_listsEveryUnitWithItsEndpointAndValues() async throws {
        try await Self.withControl { _, base in
            let (status, body) = try await Self.call("GET", base.appendingPathComponent("api/v1/units"))
            #expect(status == 200)
            let units = try JSONDecoder().decode(UnitsView.self, from: Data(body.utf8)).units
            #expect(units.map(\.endpoint) == ["tcp0", "rtu0"])
            #expect(units.map(\.transport) == ["tcp", "rtu"])
            #expect(units[0].values["insulation_resistance_ohms"] == 500_000)
            #expect(units[1].values["insulation_resistance_ohms"] == 400_000)
            #expect(units.allSatisfy { $0.online && $0.wireFault == nil })
        }
    }

    @Test func test_patchedValueAndFaultsReachTheRegisters() async throws {
        try await Self.withControl { simulator, base in
            let (status, _) = try await Self.call(
                "PATCH", base.appendingPathComponent("api/v1/endpoints/tcp0/units/1"),
                json: #"{"values": {"insulation_resistance_ohms": 30000}, "faults": ["insulation", "earth_connection"]}"#)
            #expect(status == 200)
            let client = try RawModbusTCPClient(port: simulator.tcpPort)
            // Acrel AIM-M10: 0x0008 insulation in kΩ, 0x000B fault bits (bit0 insulation, bit4 earth).
            let reply = try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x04])
            let words = try #require(reply.bytes).suffix(8)
            #expect(Array(words.prefix(2)) == [0, 30])
            #expect(Array(words.suffix(2)) == [0x00, 0x11])
        }
    }

    @Test func test_patchTakesAUnitOfflineAndInjectsAndClearsWireFaults() async throws {
        try await Self.withControl { simulator, base in
            let url = base.appendingPathComponent("api/v1/endpoints/rtu0/units/2")
            #expect(try await Self.call("PATCH", url, json: #"{"online": false}"#).status == 200)
            let client = try RawRTUClient(path: simulator.ptyPath)
            let read: [UInt8] = [0x03, 0x00, 0x08, 0x00, 0x01]
            #expect(try await client.request(unit: 2, pdu: read, timeoutSeconds: 0.3).reply == .timedOut)

            let (status, body) = try await Self.call(
                "PATCH", url, json: #"{"online": true, "wire_fault": {"kind": "exception", "exception_code": 4}}"#)
            #expect(status == 200)
            #expect(try JSONDecoder().decode(UnitView.self, from: Data(body.utf8)).wireFault == WireFault(.exception(.serverDeviceFailure)))
            #expect(try await client.request(unit: 2, pdu: read).reply == .bytes(ModbusCRC.sealed([2, 0x83, 0x04])))

            #expect(try await Self.call("PATCH", url, json: #"{"wire_fault": null}"#).status == 200)
            #expect(try await client.request(unit: 2, pdu: read).reply == .bytes(ModbusCRC.sealed([2, 0x03, 2, 0x01, 0x90])))
        }
    }

    @Test func test_dropConnectionsClosesTheTCPClients() async throws {
        try await Self.withControl { simulator, base in
            let client = try RawModbusTCPClient(port: simulator.tcpPort)
            #expect(try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x01]).bytes != nil)
            let (status, body) = try await Self.call("POST", base.appendingPathComponent("api/v1/endpoints/tcp0/drop-connections"))
            #expect(status == 200)
            #expect(try JSONDecoder().decode(DropView.self, from: Data(body.utf8)).dropped == 1)
            #expect(try await client.waitForClose())
            #expect(try await Self.call("POST", base.appendingPathComponent("api/v1/endpoints/rtu0/drop-connections")).status == 409)
        }
    }

    @Test(arguments: [
        ("tcp0/units/1", #"{"values": {"insulation_resistence_ohms": 1}}"#, 400, "insulation_resistence_ohms"),
        ("tcp0/units/1", #"{"values": {"leakage_capacitance_farads": 1e-6}}"#, 400, "publishes no such quantity"),
        ("tcp0/units/1", #"{"faults": ["smoke"]}"#, 400, "unknown fault 'smoke'"),
        ("tcp0/units/1", #"{"onlin": false}"#, 400, "unknown key 'onlin'"),
        ("tcp0/units/1", #"{"wire_fault": {"kind": "gremlins"}}"#, 400, "gremlins"),
        ("tcp0/units/1", #"{"online": "yes"}"#, 400, "online"),
        ("tcp0/units/9", #"{"online": false}"#, 404, "no unit '9'"),
        ("gw9/units/1", #"{"online": false}"#, 404, "no endpoint 'gw9'"),
    ] as [(String, String, Int, String)])
    func test_badRequestsAreRefusedWithAReasonAndChangeNothing(path: String, json: String, status: Int, reason: String) async throws {
        try await Self.withControl { simulator, base in
            let before = simulator.device(unit: 1).state
            let response = try await Self.call("PATCH", base.appendingPathComponent("api/v1/endpoints/\(path)"), json: json)
            #expect(response.status == status)
            #expect(response.body.contains(reason), "\(response.body)")
            #expect(simulator.device(unit: 1).state == before)
            #expect(simulator.device(unit: 1).unit.isOnline)
        }
    }

    @Test func test_controlListensOnLoopbackOnly() throws {
        let simulator = try TestSimulator(tcpUnits: [UnitDescription(unit: 1, profileID: "acrel-aim-m10", values: [:])])
        defer { simulator.stop() }
        for host in ["0.0.0.0", "10.1.2.3", "::", "127.evil.example"] {
            #expect(throws: SimulatorError.self, "\(host)") { try ControlServer(simulator: simulator.simulator, host: host, port: 0) }
        }
        for host in ["127.0.0.1", "127.0.0.2", "::1", "localhost"] {
            #expect(throws: Never.self, "\(host)") { try ControlServer(simulator: simulator.simulator, host: host, port: 0) }
        }
    }
}
