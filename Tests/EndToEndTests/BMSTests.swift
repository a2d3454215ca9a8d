import Foundation
import IsoWatchBMS
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
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

    /// FC4, input registers 0...124: the largest reply the server sends (259 bytes).
    static let largeRead: [UInt8] = [0x04, 0x00, 0x00, 0x00, 125]
    /// MBAP header, function, byte count, 125 registers.
    static let largeReplyLength = 7 + 2 + 250

    /// Issue 13 §3: at most `max_clients` (16 by default) are served; the 17th is closed at once
    /// and the others go on being answered.
    @Test func test_aClientBeyondTheCapIsClosedAtOnce() async throws {
        let server = try BMSServer(host: "127.0.0.1", port: 0, registerCount: 200)
        defer { server.stop() }
        var clients: [RawModbusTCPClient] = []
        for index in 0..<16 {
            let client = try RawModbusTCPClient(port: UInt16(server.port))
            // Answered, so the server has taken it on before the next one connects.
            let reply = try await client.request(unit: 1, pdu: Self.largeRead, transactionID: UInt16(index), timeoutSeconds: 10)
            let length = reply.bytes?.count ?? 0
            try #require(length == Self.largeReplyLength, "client \(index + 1): \(reply)")
            clients.append(client)
        }
        let seventeenth = try RawModbusTCPClient(port: UInt16(server.port))
        #expect(try await seventeenth.waitForClose(timeoutSeconds: 10), "the 17th connection was not closed")
        let first = try await clients[0].request(unit: 1, pdu: Self.largeRead, transactionID: 99, timeoutSeconds: 10)
        #expect(first.bytes?.count == Self.largeReplyLength)
    }

    /// A client that pipelines requests and never reads the replies fills its socket buffers; the
    /// server's thread must not wait in `send()` for it: the client is dropped, another client is
    /// answered the whole time, and `stop()` returns while a third hangs after half a header.
    @Test func test_aClientThatNeverReadsCannotStallTheServerOrItsStop() async throws {
        let server = try BMSServer(host: "127.0.0.1", port: 0, registerCount: 200)
        let port = UInt16(server.port)
        let polling = try RawModbusTCPClient(port: port)
        let halfHeader = try RawModbusTCPClient(port: port)
        #expect(try await halfHeader.exchange([0x00, 0x01, 0x00], timeoutSeconds: 0.2) == .timedOut)

        // The flood runs on its own thread and ends when the server drops it (or at the bound);
        // meanwhile the other client must be answered (the old server: its thread stuck in
        // send() to the flooding client, nobody else answered).
        let flooding = Atomic(true)
        let flood = Task {
            defer { flooding.store(false, ordering: .relaxed) }
            return try await onOwnThread { try Self.floodWithoutReading(port: port, bound: .seconds(60)) }
        }
        var answered = 0
        var transaction: UInt16 = 0
        repeat {
            transaction &+= 1
            let reply = try await polling.request(unit: 1, pdu: Self.largeRead, transactionID: transaction, timeoutSeconds: 10)
            let length = reply.bytes?.count ?? 0
            try #require(length == Self.largeReplyLength, "request \(transaction) while another client floods: \(reply)")
            answered += 1
        } while flooding.load(ordering: .relaxed)
        let outcome = try await flood.value
        // And after the flood, still answered.
        let after = try await polling.request(unit: 1, pdu: Self.largeRead, transactionID: 0xFFFF, timeoutSeconds: 10)
        let stopped = try await onOwnThread { server.stop(timeoutSeconds: 10) }

        #expect(outcome == .droppedByServer, "the server kept a client that does not read")
        #expect(answered >= 1)
        #expect(after.bytes?.count == Self.largeReplyLength, "\(after)")
        #expect(stopped, "stop() did not return while a client hung")
        #expect(try await halfHeader.waitForClose(timeoutSeconds: 10))
    }

    /// A client with no complete request for the idle time is closed (a vanished peer, or one that
    /// sends a byte at a time to hold a connection).
    @Test func test_anIdleClientIsClosed() async throws {
        let server = try BMSServer(host: "127.0.0.1", port: 0, registerCount: 200, idleTimeoutSeconds: 1)
        defer { server.stop() }
        let idle = try RawModbusTCPClient(port: UInt16(server.port))
        #expect(try await idle.exchange([0x00], timeoutSeconds: 0.1) == .timedOut)
        #expect(try await idle.waitForClose(timeoutSeconds: 30))
    }

    enum FloodOutcome: Equatable, Sendable {
        /// The server closed the connection (a send failed with a reset or a broken pipe).
        case droppedByServer
        /// The bound passed and the server still held the connection.
        case boundReached
    }

    /// Sends FC4 requests as fast as the socket takes them and never reads a byte. Blocking; run it
    /// on an owned thread.
    static func floodWithoutReading(port: UInt16, bound: Duration) throws -> FloodOutcome {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw SystemCallError("connect") }
        // Many requests per send, so the buffers fill in a moment.
        let requests = (0..<64).flatMap { index in
            MBAPFrame(transactionID: UInt16(index), unitID: 1, pdu: largeRead).bytes
        }
        let start = ContinuousClock.now
        while start.duration(to: .now) < bound {
            let sent = requests.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // A send that timed out (SO_SNDTIMEO) only means the buffers are full: keep the
            // connection open, unread, and keep trying, as a stuck client would.
            if sent < 0, errno != EAGAIN, errno != EWOULDBLOCK { return .droppedByServer }
        }
        return .boundReached
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
