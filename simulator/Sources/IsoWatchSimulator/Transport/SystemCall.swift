#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import IsoWatchThreads

/// A failed POSIX call, with the errno it left.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var code: Int32
    public var detail: String?

    public init(_ call: String, code: Int32 = errno, detail: String? = nil) {
        self.call = call
        self.code = code
        self.detail = detail
    }

    public var description: String {
        let reason = String(cString: strerror(code))
        return detail.map { "\(call) \($0): \(reason)" } ?? "\(call): \(reason)"
    }
}

/// Starts one of the simulator's threads; a refusal is reported as the failed pthread_create.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemCallError) -> OwnedThread {
    do {
        return try OwnedThread(name: name, body)
    } catch {
        throw SystemCallError("pthread_create", code: error.code)
    }
}

/// Seconds on a monotonic clock, for deadlines that wall-clock adjustments must not move.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Writes all of `bytes`, retrying short writes and EINTR. Returns false when the peer is gone.
func writeAll(_ fd: Int32, _ bytes: [UInt8], socket: Bool) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { buffer -> Int in
            #if canImport(Glibc)
            socket ? send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) : write(fd, buffer.baseAddress, buffer.count)
            #else
            write(fd, buffer.baseAddress, buffer.count)
            #endif
        }
        if written < 0 {
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 100)
                continue
            }
            return false
        }
        offset += written
    }
    return true
}

/// Reads what is available (at most `capacity` bytes). nil on end of stream or error.
func readAvailable(_ fd: Int32, capacity: Int = 4096) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: capacity)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count > 0 { return Array(buffer[0..<count]) }
        if count < 0, errno == EINTR { continue }
        if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { return [] }
        return nil
    }
}

func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
}
