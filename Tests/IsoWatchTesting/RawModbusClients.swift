#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import IsoWatchSimulator

/// What came back for a request sent byte by byte.
public enum RawReply: Sendable, Equatable {
    case bytes([UInt8])
    /// Nothing (or nothing more) arrived before the timeout.
    case timedOut
    /// The server closed the connection.
    case closed

    public var bytes: [UInt8]? {
        if case .bytes(let bytes) = self { bytes } else { nil }
    }
}

/// A deliberately minimal Modbus TCP client: it sends exactly the bytes a test writes and
/// returns exactly what the server sends, so tests can check framing and misbehaviour that a
/// real client library would hide or refuse.
public final class RawModbusTCPClient: Sendable {
    private let fd: Int32

    public init(host: String = "127.0.0.1", port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let error = SystemCallError("connect", detail: "\(host):\(port)")
            Glibc.close(fd)
            throw error
        }
    }

    deinit { Glibc.close(fd) }

    /// Sends an MBAP request and waits for one complete MBAP reply.
    public func request(
        unit: UInt8, pdu: [UInt8], transactionID: UInt16 = 1, timeoutSeconds: Double = 2
    ) async throws -> RawReply {
        try await exchange(MBAPFrame(transactionID: transactionID, unitID: unit, pdu: pdu).bytes, timeoutSeconds: timeoutSeconds)
    }

    /// Sends raw bytes and collects the reply: a whole MBAP frame, or what arrived before the
    /// timeout or the close.
    public func exchange(_ bytes: [UInt8], timeoutSeconds: Double = 2) async throws -> RawReply {
        let fd = self.fd
        return try await onOwnThread {
            guard sendAll(fd, bytes) else { return .closed }
            return receive(fd, timeoutSeconds: timeoutSeconds) { buffer in
                guard buffer.count >= 6 else { return false }
                return buffer.count >= 6 + (Int(buffer[4]) << 8 | Int(buffer[5]))
            }
        }
    }

    /// Waits for the server to close the connection; true when it did within the timeout.
    public func waitForClose(timeoutSeconds: Double = 2) async throws -> Bool {
        let fd = self.fd
        return try await onOwnThread { receive(fd, timeoutSeconds: timeoutSeconds) { _ in false } == .closed }
    }
}

/// The master's end of a simulated RS-485 bus: opens the pty slave like a serial adapter.
public final class RawRTUClient: Sendable {
    private let fd: Int32

    public init(path: String) throws {
        fd = open(path, O_RDWR | O_NOCTTY)
        guard fd >= 0 else { throw SystemCallError("open", detail: path) }
        var settings = termios()
        tcgetattr(fd, &settings)
        cfmakeraw(&settings)
        tcsetattr(fd, TCSANOW, &settings)
    }

    deinit { Glibc.close(fd) }

    /// Sends `frame` (CRC included, as given) and collects the reply until the line has been
    /// quiet for `silenceSeconds` after the first byte, or `timeoutSeconds` pass without one.
    /// Also returns the seconds from sending to the last byte of the reply.
    public func exchange(_ frame: [UInt8], timeoutSeconds: Double = 1, silenceSeconds: Double = 0.03) async throws
        -> (reply: RawReply, elapsedSeconds: Double)
    {
        let fd = self.fd
        return try await onOwnThread {
            tcflush(fd, TCIFLUSH)
            let start = monotonic()
            guard sendAll(fd, frame, socket: false) else { return (.closed, 0) }
            var buffer: [UInt8] = []
            var lastByte = start
            while true {
                let waitSeconds = buffer.isEmpty ? timeoutSeconds - (monotonic() - start) : silenceSeconds
                guard waitSeconds > 0, poll(fd, seconds: waitSeconds) else { break }
                var chunk = [UInt8](repeating: 0, count: 512)
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                buffer += chunk[0..<count]
                lastByte = monotonic()
            }
            return (buffer.isEmpty ? .timedOut : .bytes(buffer), lastByte - start)
        }
    }

    /// Sends a request with its CRC appended.
    public func request(unit: UInt8, pdu: [UInt8], timeoutSeconds: Double = 1) async throws
        -> (reply: RawReply, elapsedSeconds: Double)
    {
        try await exchange(ModbusCRC.sealed([unit] + pdu), timeoutSeconds: timeoutSeconds)
    }
}

// MARK: - Blocking helpers (run on owned threads only)

private func monotonic() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

private func poll(_ fd: Int32, seconds: Double) -> Bool {
    var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return Glibc.poll(&descriptor, 1, Int32((seconds * 1000).rounded(.up))) > 0
}

private func sendAll(_ fd: Int32, _ bytes: [UInt8], socket: Bool = true) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let sent = bytes[offset...].withUnsafeBytes {
            socket ? send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) : write(fd, $0.baseAddress, $0.count)
        }
        guard sent > 0 else { return false }
        offset += sent
    }
    return true
}

private func receive(_ fd: Int32, timeoutSeconds: Double, complete: ([UInt8]) -> Bool) -> RawReply {
    let deadline = monotonic() + timeoutSeconds
    var buffer: [UInt8] = []
    while !complete(buffer) {
        let remaining = deadline - monotonic()
        guard remaining > 0, poll(fd, seconds: remaining) else { return buffer.isEmpty ? .timedOut : .bytes(buffer) }
        var chunk = [UInt8](repeating: 0, count: 1024)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return buffer.isEmpty ? .closed : .bytes(buffer) }
        buffer += chunk[0..<count]
    }
    return .bytes(buffer)
}
