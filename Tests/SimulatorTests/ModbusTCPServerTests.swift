import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
import Testing

/// Real sockets on 127.0.0.1, an ephemeral port per test.
@Suite struct ModbusTCPServerTests {
    static func unit(_ id: UInt8, holding: [UInt16]) -> ServedUnit {
        var image = RegisterImage()
        image.set(.holding, 0, words: holding)
        return ServedUnit(unitID: id, image: image)
    }

    static let readTwo: [UInt8] = [0x03, 0x00, 0x00, 0x00, 0x02]

    @Test func test_replyEchoesTransactionIdAndUnitAndCarriesThePDU() async throws {
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [Self.unit(5, holding: [0x0102, 0x0304])])
        defer { server.stop() }
        #expect(server.port != 0)
        let client = try RawModbusTCPClient(port: server.port)
        let reply = try await client.request(unit: 5, pdu: Self.readTwo, transactionID: 0x4A7B)
        #expect(reply == .bytes([0x4A, 0x7B, 0, 0, 0, 7, 5, 0x03, 4, 0x01, 0x02, 0x03, 0x04]))
    }

    @Test func test_unitIdSelectsTheUnitLikeAGateway() async throws {
        let server = try ModbusTCPServer(
            host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [11, 12]), Self.unit(2, holding: [21, 22])])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        let first = try await client.request(unit: 1, pdu: Self.readTwo)
        let second = try await client.request(unit: 2, pdu: Self.readTwo)
        #expect(first.bytes.map { Array($0.suffix(4)) } == [0, 11, 0, 12])
        #expect(second.bytes.map { Array($0.suffix(4)) } == [0, 21, 0, 22])
    }

    @Test func test_absentUnitGetsException0BAfterTheGatewayDelay() async throws {
        let server = try ModbusTCPServer(
            host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])],
            absentUnitReply: .gatewayException(afterSeconds: 0.15))
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        let start = Date()
        let reply = try await client.request(unit: 9, pdu: Self.readTwo, transactionID: 3)
        #expect(reply == .bytes([0, 3, 0, 0, 0, 3, 9, 0x83, 0x0B]))
        #expect(Date().timeIntervalSince(start) >= 0.15)
    }

    @Test func test_offlineUnitGetsException0BAndAnswersAgainWhenBackOnline() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        let server = try ModbusTCPServer(
            host: "127.0.0.1", port: 0, units: [unit], absentUnitReply: .gatewayException(afterSeconds: 0.01))
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        unit.isOnline = false
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).bytes?.suffix(2) == [0x83, 0x0B])
        unit.isOnline = true
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).bytes?.suffix(5) == [4, 0, 1, 0, 2])
    }

    @Test func test_absentUnitCanBeConfiguredToStaySilent() async throws {
        let server = try ModbusTCPServer(
            host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])], absentUnitReply: .noReply)
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.request(unit: 2, pdu: Self.readTwo, timeoutSeconds: 0.3) == .timedOut)
        // The connection is still usable afterwards.
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).bytes != nil)
    }

    @Test func test_severalClientsAreServedAtTheSameTime() async throws {
        // Unit 1 takes seconds to answer; unit 2 answers at once. If connections were served one
        // at a time, the second client's quick request would wait behind the first's slow one.
        let slow = Self.unit(1, holding: [7, 8])
        slow.wireFault = WireFault(.delay(seconds: 5))
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [slow, Self.unit(2, holding: [9, 10])])
        defer { server.stop() }
        let first = try RawModbusTCPClient(port: server.port)
        let second = try RawModbusTCPClient(port: server.port)
        let slowDone = Mutex(false)
        let slowTask = Task {
            let reply = try await first.request(unit: 1, pdu: Self.readTwo, timeoutSeconds: 15)
            slowDone.withLock { $0 = true }
            return reply
        }
        try await Task.sleep(for: .milliseconds(200))
        let quick = try await second.request(unit: 2, pdu: Self.readTwo, timeoutSeconds: 15)
        let slowFinishedFirst = slowDone.withLock { $0 }
        let slowReply = try await slowTask.value

        #expect(quick.bytes?.suffix(4) == [0, 9, 0, 10])
        #expect(!slowFinishedFirst)
        #expect(slowReply.bytes?.suffix(4) == [0, 7, 0, 8])
        #expect(server.connectionCount == 2)
    }

    @Test func test_dropConnectionsClosesEveryClientAndNewOnesAreAccepted() async throws {
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])])
        defer { server.stop() }
        let first = try RawModbusTCPClient(port: server.port)
        let second = try RawModbusTCPClient(port: server.port)
        #expect(try await first.request(unit: 1, pdu: Self.readTwo).bytes != nil)
        #expect(try await second.request(unit: 1, pdu: Self.readTwo).bytes != nil)
        #expect(server.dropConnections() == 2)
        #expect(try await first.waitForClose())
        #expect(try await second.waitForClose())
        let third = try RawModbusTCPClient(port: server.port)
        #expect(try await third.request(unit: 1, pdu: Self.readTwo).bytes?.suffix(4) == [0, 1, 0, 2])
    }

    @Test func test_nonModbusProtocolIdClosesTheConnection() async throws {
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.exchange([0, 1, 0, 7, 0, 6, 1] + Self.readTwo) == .closed)
    }

    @Test func test_requestSplitAcrossSegmentsIsReassembled() async throws {
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        let bytes = MBAPFrame(transactionID: 9, unitID: 1, pdu: Self.readTwo).bytes
        #expect(try await client.exchange(Array(bytes.prefix(4)), timeoutSeconds: 0.2) == .timedOut)
        #expect(try await client.exchange(Array(bytes.dropFirst(4))).bytes?.prefix(2) == [0, 9])
    }

    @Test func test_pipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        let both =
            MBAPFrame(transactionID: 1, unitID: 1, pdu: [0x03, 0, 0, 0, 1]).bytes
            + MBAPFrame(transactionID: 2, unitID: 1, pdu: [0x03, 0, 1, 0, 1]).bytes
        // The two replies may arrive in one segment or two.
        var received = try await client.exchange(both).bytes ?? []
        if received.count < 22 { received += try await client.exchange([]).bytes ?? [] }
        #expect(received == [0, 1, 0, 0, 0, 5, 1, 3, 2, 0, 1] + [0, 2, 0, 0, 0, 5, 1, 3, 2, 0, 2])
    }

    // MARK: - Wire faults

    @Test func test_injectedExceptionAnswersEveryRequestAndChangesNothing() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.exception(.serverDeviceBusy))
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [unit])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.request(unit: 1, pdu: [0x06, 0, 0, 0, 99]).bytes?.suffix(2) == [0x86, 0x06])
        #expect(unit.image[.holding, 0] == 1)
    }

    @Test func test_faultWithACountClearsItselfAfterThatManyRequests() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.noReply, remainingRequests: 2)
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [unit])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo, transactionID: 1, timeoutSeconds: 0.2) == .timedOut)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo, transactionID: 2, timeoutSeconds: 0.2) == .timedOut)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo, transactionID: 3).bytes?.prefix(2) == [0, 3])
        #expect(unit.wireFault == nil)
    }

    @Test func test_delayFaultHoldsTheReplyBack() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.delay(seconds: 0.25))
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [unit])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        let start = Date()
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).bytes != nil)
        #expect(Date().timeIntervalSince(start) >= 0.25)
    }

    @Test func test_dropConnectionFaultClosesInsteadOfAnswering() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.dropConnection, remainingRequests: 1)
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [unit])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo) == .closed)
        let again = try RawModbusTCPClient(port: server.port)
        #expect(try await again.request(unit: 1, pdu: Self.readTwo).bytes != nil)
    }

    @Test func test_crcFaultOnAGatewayBecomesException0B() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.crcError)
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [unit])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).bytes?.suffix(2) == [0x83, 0x0B])
    }

    @Test func test_truncatedFaultSendsOnlyPartOfTheFrame() async throws {
        let unit = Self.unit(1, holding: [1, 2])
        unit.wireFault = WireFault(.truncatedFrame)
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [unit])
        defer { server.stop() }
        let client = try RawModbusTCPClient(port: server.port)
        let reply = try await client.request(unit: 1, pdu: Self.readTwo, timeoutSeconds: 0.3)
        let whole = MBAPFrame(transactionID: 1, unitID: 1, pdu: [0x03, 4, 0, 1, 0, 2]).bytes
        #expect(reply == .bytes(Array(whole.prefix(whole.count / 2))))
    }

    @Test func test_stopClosesClientsAndTheListener() async throws {
        let server = try ModbusTCPServer(host: "127.0.0.1", port: 0, units: [Self.unit(1, holding: [1, 2])])
        let client = try RawModbusTCPClient(port: server.port)
        #expect(try await client.request(unit: 1, pdu: Self.readTwo).bytes != nil)
        server.stop()
        #expect(try await client.waitForClose())
        #expect(throws: SystemCallError.self) { try RawModbusTCPClient(port: server.port) }
    }
}
