import Foundation
import IsoWatchThreads
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP socket for the hostile clients and the well-behaved probes of the attack suite.
/// Every call blocks: use it only on threads the suite owns (`AttackThread`), never on Swift's
/// cooperative pool.
final class RawSocket: @unchecked Sendable {
    // @unchecked: one owner thread at a time uses a socket.
    let descriptor: Int32
    private var closed = false

    /// Connects to `host:port`. `source` binds the client end first (127.0.0.2 … are all
    /// loopback on Linux, so one process can be twenty clients); `receiveBuffer` shrinks the
    /// kernel's receive buffer before connecting, for a client that never reads.
    init(host: String = "127.0.0.1", port: Int, source: String? = nil, receiveBuffer: Int32? = nil, timeoutSeconds: Double = 3)
        throws
    {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw SuiteError("socket: \(Self.lastError())") }
        var timeout = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - timeoutSeconds.rounded(.down)) * 1e6))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var local = try Self.address(source, port: 0)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let error = Self.lastError()
                Glibc.close(descriptor)
                throw SuiteError("bind \(source): \(error)")
            }
        }
        var remote = try Self.address(host, port: port)
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let error = Self.lastError()
            Glibc.close(descriptor)
            throw SuiteError("connect \(host):\(port): \(error)")
        }
    }

    deinit { close() }

    static func address(_ host: String, port: Int) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw SuiteError("not an IPv4 address: \(host)") }
        return address
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// Sends everything (blocking up to the send timeout); false once the peer is gone.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    /// What a client that never waits manages to queue: bytes sent, 0 when the buffers are full,
    /// nil once the peer is gone.
    func sendWithoutWaiting(_ bytes: [UInt8]) -> Int? {
        let sent = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        if sent >= 0 { return sent }
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : nil
    }

    /// Up to `limit` bytes; [] at the peer's end of stream; nil on timeout or error.
    func receive(limit: Int = 65536) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, limit, 0) }
        if count < 0 { return nil }
        return Array(buffer[..<count])
    }

    /// Whether the server has closed this connection, without reading what it sent: a peek.
    var closedByPeer: Bool {
        var byte: UInt8 = 0
        let count = recv(descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if count == 0 { return true }
        if count < 0 { return !(errno == EAGAIN || errno == EWOULDBLOCK) }
        return false
    }

    /// The first bytes the server sent, left in the buffer (a never-reading client's status line).
    func peek(_ limit: Int) -> String {
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, limit, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
    }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(descriptor)
    }
}

/// One HTTP/1.1 exchange over a fresh connection, written byte for byte as given (no client
/// normalises the path): the answer's status, headers and body so far.
struct HTTPExchange: Sendable {
    var status: Int
    var headers: [String: String]
    var body: String

    static func perform(
        port: Int, method: String, path: String, headers: [String: String] = [:], body: [UInt8] = [], source: String? = nil,
        timeoutSeconds: Double = 3
    ) -> HTTPExchange? {
        guard let socket = try? RawSocket(port: port, source: source, timeoutSeconds: timeoutSeconds) else { return nil }
        defer { socket.close() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        // A server may answer (413) and close before it has read a large body: what it answered counts.
        _ = socket.send(Array(head.utf8) + body)
        var received: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline, received.count < 1 << 20 {
            guard let chunk = socket.receive(), !chunk.isEmpty else { break }
            received += chunk
        }
        return parse(received)
    }

    static func parse(_ bytes: [UInt8]) -> HTTPExchange? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.hasPrefix("HTTP/1."), let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first,
            let status = Int(statusText)
        else { return nil }
        let parts = text.components(separatedBy: "\r\n\r\n")
        var headers: [String: String] = [:]
        for line in parts[0].split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPExchange(status: status, headers: headers, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }
}

/// A thread of the suite's own for blocking clients, with a stop flag it checks between steps.
final class AttackThread: Sendable {
    private let stopFlag = Mutex(false)
    /// Set once in `init`, when the thread's body may capture `self`.
    private let thread = Mutex<OwnedThread?>(nil)

    init(name: String, _ body: @escaping @Sendable (AttackThread) -> Void) {
        let thread = OwnedThread.essential(name: name) { [self] in body(self) }
        self.thread.withLock { $0 = thread }
    }

    var stopped: Bool { stopFlag.withLock { $0 } }

    func stop() { stopFlag.withLock { $0 = true } }

    /// Waits for the body to return (it checks `stopped` at least every few hundred milliseconds).
    func join() async {
        await thread.withLock { $0 }?.join()
    }

    /// Sleeps in small steps so that `stop()` is noticed; false once stopped.
    func pause(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if stopped { return false }
            usleep(UInt32(min(0.05, max(0.001, deadline.timeIntervalSinceNow)) * 1e6))
        }
        return !stopped
    }
}

/// Modbus TCP framing for the BMS clients: function 4 (read input registers).
enum BMSRequest {
    static func readInputRegisters(transaction: UInt16, address: UInt16, count: UInt16) -> [UInt8] {
        [
            UInt8(transaction >> 8), UInt8(transaction & 0xFF), 0, 0, 0, 6, 1, 4,
            UInt8(address >> 8), UInt8(address & 0xFF), UInt8(count >> 8), UInt8(count & 0xFF),
        ]
    }
}
