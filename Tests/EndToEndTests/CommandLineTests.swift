import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The `isowatch` binary as an operator runs it.
@Suite(.serialized)
struct CommandLineTests {
    func isowatch() throws -> String {
        try RepositoryPaths.requiredProduct("isowatch").path
    }

    @Test func test_readPrintsDecodedQuantitiesAsJSONWithUnitsInTheKeys() async throws {
        let simulator = try TestSimulator(
            rtuUnits: [
                UnitDescription(
                    unit: 4, profileID: "acrel-aim-m10",
                    state: DeviceState(
                        values: [
                            .insulationResistanceOhms: MeasuredValue(45_000), .loadCurrentAmperes: MeasuredValue(14.2),
                            .windingTemperatureCelsius: MeasuredValue(67),
                        ], faults: [.insulation, .temperatureSensor]))
            ],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let binary = try isowatch()
        let path = simulator.ptyPath
        let result = try await onOwnThread {
            try ExternalPeer.run(
                binary,
                [
                    "read", "--profile", "acrel-aim-m10", "--rtu", path, "--baud", "19200", "--parity", "E", "--unit", "4",
                    "--json", "--profiles", RepositoryPaths.profiles.path,
                ])
        }
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        #expect(object["insulation_resistance_ohms"] as? Double == 45_000)
        #expect(object["load_current_amperes"] as? Double == 14.2)
        #expect(object["winding_temperature_celsius"] as? Double == 67)
        #expect(object["faults"] as? [String] == ["insulation", "temperature_sensor"])
        // The Acrel map has no capacitance: an absent quantity is omitted, never zero.
        #expect(object["leakage_capacitance_farads"] == nil)
    }

    @Test func test_readFromAnAbsentDeviceFailsWithTheReason() async throws {
        let port = try freeTCPPort()
        let binary = try isowatch()
        let result = try await onOwnThread {
            try ExternalPeer.run(
                binary,
                ["read", "--profile", "trafox-im01-med", "--tcp", "127.0.0.1:\(port)", "--profiles", RepositoryPaths.profiles.path])
        }
        #expect(result.status == 1)
        #expect(result.output.contains("cannot connect"))
        #expect(result.output.contains("refused"))
    }

    @Test func test_checkConfigAcceptsTheDemoConfiguration() async throws {
        let binary = try isowatch()
        let file = RepositoryPaths.root.appending(path: "hardware/demo/isowatch.yaml").path
        let result = try await onOwnThread { try ExternalPeer.run(binary, ["check-config", file]) }
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("valid, 6 IT system(s)"))
    }

    @Test func test_checkConfigNamesFileLineAndFieldOfEveryError() async throws {
        let scratch = try ScratchDirectory("isowatch-cli")
        defer { scratch.remove() }
        let file = try scratch.write("""
            site: { name: "Test" }
            http: { listen: "127.0.0.1:8080" }
            gpio: { backend: simulated }
            profiles_directory: \(RepositoryPaths.profiles.path)
            systems:
              - id: or-1
                name: "OR 1"
                location: "OR 1"
                transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
                device:
                  profile: acrel-aim-m10
                  transport: { tcp: { host: 127.0.0.1, port: 502 } }
                  unit: 0
                thresholds: { insulation_response_ohms: 20000 }
            """, to: "bad.yaml")
        let binary = try isowatch()
        let result = try await onOwnThread { try ExternalPeer.run(binary, ["check-config", file.path]) }
        #expect(result.status != 0)
        #expect(result.output.contains("bad.yaml:13:"))
        #expect(result.output.contains("systems[0].device.unit"))
        #expect(result.output.contains("bad.yaml:14:"))
        #expect(result.output.contains("systems[0].thresholds.insulation_response_ohms"))
        #expect(result.output.contains("not starting"))
    }
}
