import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@Suite(.serialized)
struct BMSTests {
    /// Issue 6 §5: a third-party Modbus client (mbpoll) reads the published values and alarm
    /// states after a fault set in the simulator; writes are refused (read-only).
    @Test func test_mbpollReadsPublishedValuesAndAlarmStateAfterAFault() async throws {
        let mbpoll = try TestTools.tool("mbpoll")
        let port = try freeTCPPort()
        let harness = try await ServiceHarness(
            site: WalkingSkeletonTests.site(),
            configurationYAML: StoreTestSite.configuration(database: StoreTestSite.database(), bmsPort: port))
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        // The publisher runs twice a second: read until the BMS sees the fault.
        var registers: [Int: Int] = [:]
        let deadline = Date().addingTimeInterval(10)
        repeat {
            // -t 3: input registers; -0: zero-based addresses; the header and OR 1's block (100...111).
            registers = try Self.read(mbpoll, port: port, start: 100, count: 12)
            if registers[100] == 1 && registers[105] == 30_000 { break }
            try await Task.sleep(for: .milliseconds(200))
        } while Date() < deadline
        let header = try Self.read(mbpoll, port: port, start: 0, count: 4)
        let icu = try Self.read(mbpoll, port: port, start: 200, count: 12)
        let write = try ExternalPeer.run(mbpoll, ["-m", "tcp", "-p", "\(port)", "-a", "1", "-t", "4", "-0", "-r", "100", "-1", "127.0.0.1", "0"])
        try await harness.stop()

        #expect(header[0] == 1)  // map version
        #expect(header[1] == 2)  // systems
        #expect(header[3] == 1)
        #expect(registers[100] == 1)  // alarm
        // AlarmCondition order: bit 1 is insulation.
        #expect(((registers[101] ?? 0) >> 1) & 1 == 1)
        #expect(registers[104] == 0)
        #expect(registers[105] == 30_000)
        #expect(((registers[102] ?? 0) >> 1) & 1 == 1)  // yellow
        #expect(icu[200] == 0)  // ICU 1 normal
        #expect(icu[204] == Int(650_000 >> 16))
        #expect(icu[205] == 650_000 & 0xFFFF)
        #expect(icu[206] == 800)  // 0.8 µF in nF
        #expect(write.status != 0)
    }

    static func read(_ mbpoll: String, port: UInt16, start: Int, count: Int) throws -> [Int: Int] {
        let result = try ExternalPeer.run(
            mbpoll, ["-m", "tcp", "-p", "\(port)", "-a", "1", "-t", "3", "-0", "-r", "\(start)", "-c", "\(count)", "-1", "127.0.0.1"])
        var registers: [Int: Int] = [:]
        // Lines like "[100]: 	1"
        for line in result.output.split(separator: "\n") where line.hasPrefix("[") {
            let parts = line.dropFirst().split(separator: "]")
            guard parts.count == 2, let address = Int(parts[0]) else { continue }
            let value = parts[1].drop { $0 == ":" || $0 == " " || $0 == "\t" }
            if let number = Int(value.split(separator: " ").first ?? "") { registers[address] = number }
        }
        return registers
    }
}
