import FuzzSupport
import Foundation
import IsoWatchCore
import IsoWatchModbus

#if canImport(Glibc)
import Glibc
#endif

/// Input: byte 0 picks the table (bits 0-1) and whether the reply gets the request's transaction
/// id (bit 2) and unit id (bit 3) patched in, so the fuzzer gets past libmodbus's first checks;
/// byte 1 is the register count asked for; the rest is the reply a loopback "device" sends before
/// it closes the connection. libmodbus parses the reply; isowatch's ModbusConnection classifies
/// the outcome. Promises: no trap, no hang, and a successful read returns exactly the count asked
/// for, bits as 0 or 1.
@main
enum ModbusReplyFuzz {
    static func main() {
        let server = ReplyServer()
        let endpoint = Transport.tcp(host: "127.0.0.1", port: Int(server.port))
        Fuzzer.run { input in
            let bytes = Array(input)
            guard bytes.count >= 2 else { return }
            let table = RegisterTable.allCases[Int(bytes[0] & 3)]
            let count = UInt16(max(1, Int(bytes[1]) % (table.isBitTable ? 200 : 126)))
            server.prepare(reply: Array(bytes[2...]), patchTransaction: bytes[0] & 4 != 0, patchUnit: bytes[0] & 8 != 0)
            let connection = ModbusConnection(endpoint: endpoint)
            defer { connection.close() }
            do {
                let words = try connection.read(
                    unit: 1, block: RegisterBlock(table: table, address: 0, count: count), timeoutSeconds: 0.05)
                if words.count != Int(count) {
                    Fuzzer.violated("a successful read returns the count asked for", "\(words.count) of \(count): \(bytes)")
                }
                if table.isBitTable && words.contains(where: { $0 > 1 }) {
                    Fuzzer.violated("bits read as 0 or 1", "\(words)")
                }
            } catch {
                Fuzzer.requireClearMessage(error)
            }
            server.awaitServed()
        }
    }
}

/// A one-connection-at-a-time TCP "device" on a thread of its own: it reads one request and
/// answers with the prepared bytes, then closes.
final class ReplyServer: @unchecked Sendable {
    // @unchecked: `reply`, `patch*` and `served` are guarded by `condition`.
    private let listener: Int32
    let port: UInt16
    private let condition = NSCondition()
    private var reply: [UInt8] = []
    private var patchTransaction = false
    private var patchUnit = false
    private var served = true

    init() {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                precondition(bind(listener, raw, length) == 0, "bind")
                precondition(getsockname(listener, raw, &length) == 0, "getsockname")
            }
        }
        port = UInt16(bigEndian: address.sin_port)
        precondition(listen(listener, 8) == 0, "listen")
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    func prepare(reply: [UInt8], patchTransaction: Bool, patchUnit: Bool) {
        condition.withLock {
            self.reply = reply
            self.patchTransaction = patchTransaction
            self.patchUnit = patchUnit
            served = false
        }
    }

    /// Waits until the server has finished with this input's connection, so the next input's
    /// reply is never sent to this one.
    func awaitServed() {
        condition.withLock {
            while !served { _ = condition.wait(until: Date().addingTimeInterval(1)); if !served { served = true } }
        }
    }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            var request = [UInt8](repeating: 0, count: 260)
            var pollDescriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            var received = 0
            if poll(&pollDescriptor, 1, 200) > 0 {
                received = recv(client, &request, request.count, 0)
            }
            var answer = condition.withLock { reply }
            let (patchTransaction, patchUnit) = condition.withLock { (self.patchTransaction, self.patchUnit) }
            if received >= 7 {
                if patchTransaction && answer.count >= 2 { answer[0] = request[0]; answer[1] = request[1] }
                if patchUnit && answer.count >= 7 { answer[6] = request[6] }
            }
            if !answer.isEmpty { _ = send(client, answer, answer.count, Int32(MSG_NOSIGNAL)) }
            close(client)
            condition.withLock {
                served = true
                condition.broadcast()
            }
        }
    }
}
