import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// Clients no one here wrote (mbpoll from Debian, pymodbus from PyPI) read the simulator, over
/// loopback TCP and over its RTU pseudo-terminal, and see the values set on the simulated devices.
@Suite(.serialized)
struct ThirdPartyClientTests {
    /// Acrel AIM-M10 map: 0x0008 kΩ, 0x0009 0.1 A, 0x000A °C, 0x000B fault bits.
    static func acrel(_ unit: UInt8, ohms: Double, amperes: Double, celsius: Double, faults: Set<Fault> = []) -> UnitDescription {
        UnitDescription(
            unit: unit, profileID: "acrel-aim-m10",
            state: DeviceState(
                values: [
                    .insulationResistanceOhms: MeasuredValue(ohms), .loadCurrentAmperes: MeasuredValue(amperes),
                    .windingTemperatureCelsius: MeasuredValue(celsius),
                ], faults: faults))
    }

    /// mbpoll prints one `[REF]: VALUE` line per register (1-based references), with the signed
    /// reading in brackets after a value above 32767: `[11]: 65533 (-3)`.
    static func mbpollValues(_ output: String) -> [Int: Int] {
        var values: [Int: Int] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("["), parts[0].hasSuffix("]"),
                let reference = Int(parts[0].dropFirst().dropLast()),
                let value = parts[1].split(whereSeparator: \.isWhitespace).first.flatMap({ Int($0) })
            else { continue }
            values[reference] = value
        }
        return values
    }

    @Test func test_mbpollReadsTheSimulatorOverTCP() async throws {
        let simulator = try TestSimulator(tcpUnits: [
            Self.acrel(1, ohms: 420_000, amperes: 5.2, celsius: 41, faults: [.insulation, .earthConnection]),
            Self.acrel(2, ohms: 35_000, amperes: 12.5, celsius: -3),
        ])
        defer { simulator.stop() }
        let mbpoll = try TestTools.tool("mbpoll")
        let port = String(simulator.tcpPort)
        let first = try await onOwnThread {
            try ExternalPeer.run(mbpoll, ["-m", "tcp", "-p", port, "-a", "1", "-r", "9", "-c", "4", "-t", "4", "-1", "127.0.0.1"])
        }
        #expect(first.status == 0, "\(first.output)")
        #expect(Self.mbpollValues(first.output) == [9: 420, 10: 52, 11: 41, 12: 0x11])

        // A value changed while it runs is what the next read sees.
        simulator.device(unit: 2).update { $0.values[.insulationResistanceOhms] = MeasuredValue(28_000) }
        let second = try await onOwnThread {
            try ExternalPeer.run(mbpoll, ["-m", "tcp", "-p", port, "-a", "2", "-r", "9", "-c", "4", "-t", "4", "-1", "127.0.0.1"])
        }
        // -3 °C is the two's complement 65533 in a 16-bit register; mbpoll prints it unsigned.
        #expect(Self.mbpollValues(second.output) == [9: 28, 10: 125, 11: 65533, 12: 0])
    }

    @Test func test_mbpollReadsTheSimulatorOverRTU() async throws {
        let simulator = try TestSimulator(
            rtuUnits: [Self.acrel(3, ohms: 910_000, amperes: 1.1, celsius: 30)],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let mbpoll = try TestTools.tool("mbpoll")
        let path = simulator.ptyPath
        let result = try await onOwnThread {
            try ExternalPeer.run(
                mbpoll, ["-m", "rtu", "-b", "19200", "-P", "even", "-a", "3", "-r", "9", "-c", "4", "-t", "4", "-1", path])
        }
        #expect(result.status == 0, "\(result.output)")
        #expect(Self.mbpollValues(result.output) == [9: 910, 10: 11, 11: 30, 12: 0])
    }

    @Test func test_pymodbusReadsSeveralUnitsOnTheSimulatedRTUBusAndAnOfflineUnitStaysSilent() async throws {
        let simulator = try TestSimulator(
            rtuUnits: [
                Self.acrel(1, ohms: 640_000, amperes: 14.2, celsius: 41),
                Self.acrel(2, ohms: 520_000, amperes: 9.8, celsius: 38),
            ],
            serialLine: SerialLine(baud: 19200, parity: .none))
        defer { simulator.stop() }
        let python = try TestTools.python()
        let script = TestTools.interopScript("read_client.py")
        let path = simulator.ptyPath
        func read(_ unit: Int) async throws -> (status: Int32, output: String) {
            try await onOwnThread {
                try ExternalPeer.run(
                    python,
                    [script, "--rtu", path, "--baud", "19200", "--parity", "N", "--unit", String(unit), "--address", "8", "--count", "4"])
            }
        }
        let first = try await read(1)
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("[640, 142, 41, 0]"))
        let second = try await read(2)
        #expect(second.output.contains("[520, 98, 38, 0]"))

        simulator.device(unit: 2).unit.isOnline = false
        let offline = try await read(2)
        #expect(offline.status == 1)
        // The bus keeps its sync: unit 1 still answers right after the silent one.
        let again = try await read(1)
        #expect(again.output.contains("[640, 142, 41, 0]"))
    }
}
