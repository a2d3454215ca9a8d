import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// A real pty per test, opened by the raw client like a USB RS-485 adapter. Serialized: the
/// timing checks should not compete with each other for the two cores.
@Suite(.serialized) struct ModbusRTUServerTests {
    static func unit(_ id: UInt8, holding: [UInt16]) -> ServedUnit {
        var image = RegisterImage()
        image.set(.holding, 0, words: holding)
        return ServedUnit(unitID: id, image: image)
    }

    static let fast = SerialLine(baud: 115200, parity: .none)
    static let readTwo: [UInt8] = [0x03, 0x00, 0x00, 0x00, 0x02]

    @Test func test_replyIsAddressPDUAndCRC() async throws {
        let server = try ModbusRTUServer(units: [Self.unit(3, holding: [0x0102, 0x0304])], serialLine: Self.fast)
        defer { server.stop() }
        #expect(server.slavePath.hasPrefix("/dev/pts/"))
        let client = try RawRTUClient(path: server.slavePath)
        let (reply, _) = try await client.request(unit: 3, pdu: Self.readTwo)
        #expect(reply == .bytes(ModbusCRC.sealed([3, 0x03, 4, 0x01, 0x02, 0x03, 0x04])))
    }

    @Test func test_severalUnitsShareTheBusAndEachAnswersForItself() async throws {
        let server = try ModbusRTUServer(
            units: [Self.unit(1, holding: [11, 12]), Self.unit(2, holding: [21, 22])], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        #expect(try await client.request(unit: 2, pdu: Self.readTwo).reply == .bytes(ModbusCRC.sealed([2, 3, 4, 0, 21, 0, 22])))
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply == .bytes(ModbusCRC.sealed([1, 3, 4, 0, 11, 0, 12])))
    }

    @Test func test_unitNotOnTheBusStaysSilentAndTheBusKeepsSync() async throws {
        let server = try ModbusRTUServer(units: [Self.unit(1, holding: [1, 2])], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        #expect(try await client.request(unit: 9, pdu: Self.readTwo, timeoutSeconds: 0.3).reply == .timedOut)
        // libmodbus's own slave would now treat the next frame as a reply and lose it.
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
    }

    @Test func test_offlineUnitStaysSilent() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        let server = try ModbusRTUServer(units: [unit], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        unit.isOnline = false
        #expect(try await client.request(unit: 1, pdu: Self.readTwo, timeoutSeconds: 0.3).reply == .timedOut)
        unit.isOnline = true
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
    }

    @Test func test_frameWithBadCRCIsIgnored() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        let server = try ModbusRTUServer(units: [unit], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        var frame = ModbusCRC.sealed([1, 0x06, 0, 0, 0, 99])
        frame[frame.count - 1] ^= 0x01
        #expect(try await client.exchange(frame, timeoutSeconds: 0.3).reply == .timedOut)
        #expect(unit.image[.holding, 0] == 1)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
    }

    @Test func test_noiseBeforeAFrameIsDroppedAtTheSilentInterval() async throws {
        let server = try ModbusRTUServer(units: [Self.unit(1, holding: [1, 2])], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        #expect(try await client.exchange([0x01, 0x03, 0x55], timeoutSeconds: 0.2).reply == .timedOut)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
    }

    @Test func test_unknownFunctionFramedBySilenceGetsException01() async throws {
        let server = try ModbusRTUServer(units: [Self.unit(1, holding: [1, 2])], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        // 0x2B/0x0E (read device identification) has no length rule: only t3.5 ends it.
        let (reply, _) = try await client.request(unit: 1, pdu: [0x2B, 0x0E, 0x01, 0x00])
        #expect(reply == .bytes(ModbusCRC.sealed([1, 0xAB, 0x01])))
    }

    @Test func test_broadcastWriteReachesEveryUnitAndNobodyAnswers() async throws {
        let units = [Self.unit(1, holding: [1, 2]), Self.unit(2, holding: [3, 4])]
        let server = try ModbusRTUServer(units: units, serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        #expect(try await client.request(unit: 0, pdu: [0x06, 0, 1, 0, 77], timeoutSeconds: 0.3).reply == .timedOut)
        #expect(units.map { $0.image[.holding, 1] } == [77, 77])
    }

    @Test func test_crcFaultSendsAReplyWhoseCRCFails() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.crcError)
        let server = try ModbusRTUServer(units: [unit], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        let reply = try #require(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes)
        #expect(reply.count == 9)
        #expect(Array(reply.prefix(7)) == [1, 3, 4, 0, 1, 0, 2])
        #expect(!ModbusCRC.isIntact(reply))
    }

    @Test func test_truncatedFaultSendsHalfTheFrame() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.truncatedFrame)
        let server = try ModbusRTUServer(units: [unit], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        let whole = ModbusCRC.sealed([1, 3, 4, 0, 1, 0, 2])
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply == .bytes(Array(whole.prefix(whole.count / 2))))
    }

    @Test func test_delayFaultAddsToTheWireTime() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.delay(seconds: 0.3))
        let server = try ModbusRTUServer(units: [unit], serialLine: Self.fast)
        defer { server.stop() }
        let client = try RawRTUClient(path: server.slavePath)
        let (reply, elapsed) = try await client.request(unit: 1, pdu: Self.readTwo)
        #expect(reply.bytes != nil)
        #expect(elapsed >= 0.3)
    }

    @Test func test_replyTimeGrowsWithTheBaudRateDivisor() async throws {
        // 125 registers: an 8-byte request and a 255-byte reply, 11 bits a character at 8E1.
        var image = RegisterImage()
        image.set(.holding, 0, words: [UInt16](repeating: 0x5A5A, count: 125))
        let readAll: [UInt8] = [0x03, 0, 0, 0, 125]
        var elapsed: [Int: Double] = [:]
        for baud in [4800, 38400] {
            let line = SerialLine(baud: baud, parity: .even)
            let server = try ModbusRTUServer(
                units: [ServedUnit(unitID: 1, image: image)], serialLine: line, turnaroundSeconds: 0.002)
            defer { server.stop() }
            let client = try RawRTUClient(path: server.slavePath)
            let (reply, seconds) = try await client.request(unit: 1, pdu: readAll, timeoutSeconds: 2)
            #expect(reply.bytes?.count == 255)
            let wire = line.exchangeSeconds(requestBytes: 8, replyBytes: 255, turnaroundSeconds: 0.002)
            #expect(seconds >= wire, "at \(baud) baud")
            elapsed[baud] = seconds
        }
        // Each exchange takes at least its own wire time (611 ms at 4800 baud, 76 ms at 38400): a
        // lower bound only, since a loaded machine can stretch either one but never shorten it.
        let slow = try #require(elapsed[4800])
        let slowWire = SerialLine(baud: 4800, parity: .even).exchangeSeconds(requestBytes: 8, replyBytes: 255, turnaroundSeconds: 0.002)
        let fastWire = SerialLine(baud: 38400, parity: .even).exchangeSeconds(requestBytes: 8, replyBytes: 255, turnaroundSeconds: 0.002)
        #expect(slowWire > 6 * fastWire)
        #expect(slow >= slowWire)
    }

    @Test func test_busSurvivesTheClientClosingAndReopening() async throws {
        let server = try ModbusRTUServer(units: [Self.unit(1, holding: [1, 2])], serialLine: Self.fast)
        defer { server.stop() }
        do {
            let client = try RawRTUClient(path: server.slavePath)
            #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
        }
        try await Task.sleep(for: .milliseconds(100))
        let reopened = try RawRTUClient(path: server.slavePath)
        #expect(try await reopened.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
    }

    @Test func test_symlinkPointsAtThePtyAndIsRemovedOnStop() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-sim-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("bus/rtu0").path
        let server = try ModbusRTUServer(units: [Self.unit(1, holding: [1, 2])], serialLine: Self.fast, linkPath: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == server.slavePath)
        let client = try RawRTUClient(path: link)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).reply.bytes != nil)
        server.stop()
        #expect(!FileManager.default.fileExists(atPath: link))
    }

    @Test func test_aStaleLinkIsReplacedButARegularFileIsNot() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-sim-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appendingPathComponent("rtu0").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/pts/9999")
        let server = try ModbusRTUServer(units: [Self.unit(1, holding: [1])], linkPath: link)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == server.slavePath)
        server.stop()

        let file = directory.appendingPathComponent("precious").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: file))
        #expect(throws: SystemCallError.self) { try ModbusRTUServer(units: [Self.unit(1, holding: [1])], linkPath: file) }
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me")
    }
}
