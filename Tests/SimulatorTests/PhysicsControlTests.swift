import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The physics, clock and panel parts of the control interface over real HTTP, with the effect
/// read back by a Modbus client over TCP.
@Suite struct PhysicsControlTests {
    static func withControl(_ body: (TestSimulator, URL) async throws -> Void) async throws {
        let simulator = try TestSimulator(
            site: SiteDescription(endpoints: [
                .tcp(units: [
                    UnitDescription(
                        unit: 1, profileID: "acrel-aim-m10",
                        system: ITSystemModel(ratingVoltAmperes: 8_000, loadProfile: .constant(amperes: 10))),
                    UnitDescription(unit: 2, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 400_000]),
                ])
            ]),
            clock: SimulationClock(.manual))
        defer { simulator.stop() }
        try await body(simulator, try await simulator.startControl())
    }

    static func physics(_ body: String) throws -> PhysicsView {
        try JSONDecoder().decode(PhysicsView.self, from: Data(body.utf8))
    }

    @Test func test_patchingTheTruthChangesWhatTheDeviceShowsAtItsNextMeasurement() async throws {
        try await Self.withControl { simulator, base in
            let url = base.appendingPathComponent("api/v1/endpoints/tcp0/units/1/physics")
            let (status, body) = try await ControlServerTests.call(
                "PATCH", url,
                json: #"{"insulation_l1_ohms": 30000, "insulation_l2_ohms": 1000000, "earth_connected": false, "load_amperes": 20}"#)
            #expect(status == 200, "\(body)")
            let view = try Self.physics(body)
            #expect(abs(view.insulationResistanceOhms - 30_000.0 * 1_000_000 / 1_030_000) < 1e-6)
            #expect(view.earthConnected == false && view.loadCurrentAmperes == 20)

            simulator.simulator.advancePhysics(bySeconds: 60)
            let client = try RawModbusTCPClient(port: simulator.tcpPort)
            // Acrel AIM-M10: 0x0008 kΩ, 0x0009 0.1 A, 0x000B fault bits (bit4 earth connection).
            let reply = try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x04])
            let words = try #require(reply.bytes).suffix(8)
            #expect(Array(words[words.startIndex + 2..<words.startIndex + 4]) == [0, 200], "20.0 A")
            #expect(words.last! & 0x10 != 0, "earth connection fault bit")

            // Earth back: the device measures again and follows the fault with its response time.
            _ = try await ControlServerTests.call("PATCH", url, json: #"{"earth_connected": true}"#)
            simulator.simulator.advancePhysics(bySeconds: 60)
            let again = try #require(try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x04]).bytes).suffix(8)
            #expect(Array(again.prefix(2)) == [0, 29], "29 kΩ in the device's kΩ register")
            #expect(again.last! & 0x11 == 0x01, "insulation alarm on, earth fault off")
        }
    }

    @Test func test_publishedValuesSetOnAPhysicsUnitSetTheTruthBehindThem() async throws {
        try await Self.withControl { simulator, base in
            let (status, body) = try await ControlServerTests.call(
                "PATCH", base.appendingPathComponent("api/v1/endpoints/tcp0/units/1"),
                json: #"{"values": {"insulation_resistance_ohms": 35000}, "faults": ["temperature_sensor"]}"#)
            #expect(status == 200, "\(body)")
            let physics = try #require(simulator.device(unit: 1).physics)
            #expect(abs(physics.system.insulationResistanceOhms - 35_000) < 1e-6)
            #expect(physics.system.sensor.wiring == .broken)

            let refused = try await ControlServerTests.call(
                "PATCH", base.appendingPathComponent("api/v1/endpoints/tcp0/units/1"), json: #"{"faults": ["overload"]}"#)
            #expect(refused.status == 400 && refused.body.contains("follows the physics"))
        }
    }

    @Test func test_badPhysicsPatchesAreRefusedWithTheReasonAndChangeNothing() async throws {
        try await Self.withControl { simulator, base in
            let url = base.appendingPathComponent("api/v1/endpoints/tcp0/units/1/physics")
            let before = try #require(simulator.device(unit: 1).physics)
            for (json, reason) in [
                (#"{"insulation_ohms": 1}"#, "unknown key 'insulation_ohms'"),
                (#"{"insulation_l1_ohms": -5, "load_amperes": 30}"#, "insulation_l1_ohms: must be a finite number above 0"),
                (#"{"sensor_wiring": "loose"}"#, "expected intact, broken or shorted"),
                (#"{"self_test_result": "maybe"}"#, "expected pass or fail"),
            ] {
                let (status, body) = try await ControlServerTests.call("PATCH", url, json: json)
                #expect(status == 400 && body.contains(reason), "\(json) → \(status) \(body)")
            }
            #expect(simulator.device(unit: 1).physics == before)
            let plain = try await ControlServerTests.call(
                "GET", base.appendingPathComponent("api/v1/endpoints/tcp0/units/2/physics"))
            #expect(plain.status == 409 && plain.body.contains("no physics"))
        }
    }

    @Test func test_theClockAndThePanelAreReadableAndInputsDrivable() async throws {
        try await Self.withControl { simulator, base in
            simulator.simulator.advancePhysics(bySeconds: 42)
            let clock = try await ControlServerTests.call("GET", base.appendingPathComponent("api/v1/clock"))
            #expect(clock.body.contains(#""physics_seconds":42"#) && clock.body.contains(#""time_factor":0"#))

            let drive = try await ControlServerTests.call(
                "POST", base.appendingPathComponent("api/v1/panel/lines"), json: #"{"line": "gpiochip0:19", "electrical_high": true}"#)
            #expect(drive.status == 200, "\(drive.body)")
            #expect(simulator.simulator.panel.line("gpiochip0:19")?.electricalHigh == true, "kept until a service claims it")
            let both = try await ControlServerTests.call(
                "POST", base.appendingPathComponent("api/v1/panel/lines"),
                json: #"{"line": "gpiochip0:19", "active": true, "electrical_high": true}"#)
            #expect(both.status == 400)
            let view = try await ControlServerTests.call("GET", base.appendingPathComponent("api/v1/panel"))
            let panel = try JSONDecoder().decode(PanelView.self, from: Data(view.body.utf8))
            #expect(panel.lines.map(\.line) == ["gpiochip0:19"] && panel.listen == nil)
        }
    }
}
