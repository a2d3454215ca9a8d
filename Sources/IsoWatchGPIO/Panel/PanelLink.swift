import Glibc
import Synchronization

/// One connection to a simulator panel, served by a thread of its own: it connects, sends what
/// callers queued, reads replies and edges, and runs the inputs' debouncers to their deadlines.
/// Callers never touch the socket; they queue a line and wait for the reply with the same id.
final class PanelLink: Sendable {
    typealias Reply = Result<[String], GPIOError>

    private struct Pending {
        var continuation: CheckedContinuation<Reply, Never>
        var address: LineAddress
        var failure: @Sendable (String) -> GPIOError
    }

    private struct Watch {
        var activeLow: Bool
        var debouncer: Debouncer
        var broadcaster: EdgeBroadcaster
    }

    private struct State {
        var outbox: [UInt8] = []
        var nextID = 1
        var pending: [Int: Pending] = [:]
        var watches: [Int: Watch] = [:]
        /// Set once the connection is gone, with the reason later operations report.
        var closedReason: String?
        var shutdownRequested = false
        var claims = 0
        var ownerGone = false
    }

    private let host: String
    private let port: UInt16
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let state = Mutex(State())

    init(host: String, port: UInt16) throws(GPIOError) {
        self.host = host
        self.port = port
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else {
            throw .threadStartFailed(reason: "pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
        do {
            // Nobody waits for it: it ends by itself when the connection ends.
            _ = try startThread(name: "gpio-panel") { [self] in run() }
        } catch {
            Glibc.close(wakeRead)
            Glibc.close(wakeWrite)
            throw error
        }
    }

    deinit {
        Glibc.close(wakeRead)
        Glibc.close(wakeWrite)
    }

    var isClosed: Bool { state.withLock { $0.closedReason != nil } }

    /// Sends `<id> text` and returns the words after `OK`, or the error `ERR` or a lost
    /// connection stands for.
    func request(_ text: String, address: LineAddress, failure: @escaping @Sendable (String) -> GPIOError)
        async throws(GPIOError) -> [String]
    {
        let reply: Reply = await withCheckedContinuation { continuation in
            let refusal = state.withLock { state -> String? in
                if let reason = state.closedReason { return reason }
                let id = state.nextID
                state.nextID += 1
                state.pending[id] = Pending(continuation: continuation, address: address, failure: failure)
                state.outbox += Array("\(id) \(text)\n".utf8)
                return nil
            }
            if let refusal {
                continuation.resume(returning: .failure(failure(refusal)))
            } else {
                wake()
            }
        }
        return try reply.get()
    }

    func watch(handle: Int, activeLow: Bool, initialHigh: Bool, debounceSeconds: Double, broadcaster: EdgeBroadcaster) {
        let closed = state.withLock { state -> Bool in
            guard state.closedReason == nil else { return true }
            state.watches[handle] = Watch(
                activeLow: activeLow,
                debouncer: Debouncer(
                    initialLevel: initialHigh != activeLow, debounceSeconds: debounceSeconds, startSeconds: Self.now()),
                broadcaster: broadcaster)
            return false
        }
        if closed { broadcaster.finish() }
    }

    func unwatch(handle: Int) {
        state.withLock { $0.watches.removeValue(forKey: handle) }?.broadcaster.finish()
    }

    func claimed() {
        state.withLock { $0.claims += 1 }
    }

    func released() {
        let idle = state.withLock { state -> Bool in
            state.claims -= 1
            return state.ownerGone && state.claims <= 0
        }
        if idle { shutdown() }
    }

    /// The backend went away: the connection stays while lines it claimed are held.
    func ownerGone() {
        let idle = state.withLock { state -> Bool in
            state.ownerGone = true
            return state.claims <= 0
        }
        if idle { shutdown() }
    }

    /// Ends the connection; the thread notices at once.
    func shutdown() {
        state.withLock { $0.shutdownRequested = true }
        wake()
    }

    private func wake() {
        var byte: UInt8 = 1
        // Non-blocking: a full pipe already holds a wake-up.
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    // MARK: The thread

    private func run() {
        let fd: Int32
        switch connect() {
        case .success(let connected): fd = connected
        case .failure(let reason):
            finish(reason: reason)
            return
        }
        defer { Glibc.close(fd) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let (outgoing, stop, deadline) = state.withLock { state -> ([UInt8], Bool, Double?) in
                defer { state.outbox.removeAll() }
                return (state.outbox, state.shutdownRequested, state.watches.values.compactMap(\.debouncer.deadlineSeconds).min())
            }
            if stop { return finish(reason: "the panel connection was closed") }
            if !outgoing.isEmpty, !sendAll(fd, outgoing) {
                return finish(reason: "sending to the simulator panel failed: \(String(cString: strerror(errno)))")
            }
            var descriptors = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let timeout = deadline.map { Int32(max(0, min(($0 - Self.now()) * 1000, 60_000)).rounded(.up)) } ?? -1
            let ready = poll(&descriptors, 2, timeout)
            if ready < 0, errno != EINTR {
                return finish(reason: "poll: \(String(cString: strerror(errno)))")
            }
            if descriptors[1].revents != 0 {
                while buffer.withUnsafeMutableBytes({ Glibc.read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
            }
            if descriptors[0].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count == 0 { return finish(reason: "the simulator panel closed the connection") }
                if count < 0, errno != EINTR, errno != EAGAIN {
                    return finish(reason: "receiving from the simulator panel failed: \(String(cString: strerror(errno)))")
                }
                if count > 0 { received += buffer[0..<count] }
                while let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: received[..<newline], as: UTF8.self)
                    received.removeSubrange(...newline)
                    handle(line)
                }
            }
            settleDebouncers()
        }
    }

    private enum Connection {
        case success(Int32)
        case failure(String)
    }

    private func connect() -> Connection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var info: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(host, String(port), &hints, &info)
        guard lookup == 0, let address = info else {
            return .failure("cannot resolve \(host): \(String(cString: gai_strerror(lookup)))")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), address.pointee.ai_protocol)
        guard fd >= 0 else { return .failure("socket: \(String(cString: strerror(errno)))") }
        guard Glibc.connect(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            let reason = "cannot connect to the simulator panel at \(host):\(port): \(String(cString: strerror(errno)))"
            Glibc.close(fd)
            return .failure(reason)
        }
        var enable: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &enable, socklen_t(MemoryLayout<Int32>.size))
        return .success(fd)
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    private func handle(_ line: String) {
        let words = line.split(separator: " ").map(String.init)
        if words.first == "EDGE" {
            guard words.count == 3, let handle = Int(words[1]) else { return }
            let emitted = state.withLock { state -> (EdgeBroadcaster, Bool)? in
                guard var watch = state.watches[handle] else { return nil }
                let level = watch.debouncer.sample((words[2] == "1") != watch.activeLow, atSeconds: Self.now())
                state.watches[handle] = watch
                return level.map { (watch.broadcaster, $0) }
            }
            if let (broadcaster, level) = emitted { broadcaster.yield(level) }
            return
        }
        guard words.count >= 2, let id = Int(words[0]), let pending = state.withLock({ $0.pending.removeValue(forKey: id) })
        else { return }
        let rest = Array(words.dropFirst(2))
        switch words[1] {
        case "OK":
            pending.continuation.resume(returning: .success(rest))
        case "ERR":
            let reason = rest.dropFirst().joined(separator: " ")
            let error: GPIOError
            switch rest.first {
            case "busy":
                // "line X is claimed by 'consumer'"
                let quoted = reason.split(separator: "'", omittingEmptySubsequences: false)
                error = .busy(pending.address, consumer: quoted.count >= 3 ? String(quoted[quoted.count - 2]) : nil)
            case "released": error = .lineReleased(pending.address)
            default: error = .invalidRequest(pending.address, reason: reason)
            }
            pending.continuation.resume(returning: .failure(error))
        default:
            pending.continuation.resume(returning: .failure(pending.failure("unexpected reply '\(line)'")))
        }
    }

    private func settleDebouncers() {
        let now = Self.now()
        let emitted = state.withLock { state -> [(EdgeBroadcaster, Bool)] in
            var emitted: [(EdgeBroadcaster, Bool)] = []
            for (handle, var watch) in state.watches {
                if let level = watch.debouncer.advance(toSeconds: now) { emitted.append((watch.broadcaster, level)) }
                state.watches[handle] = watch
            }
            return emitted
        }
        for (broadcaster, level) in emitted { broadcaster.yield(level) }
    }

    /// Fails every waiting request and ends every input's stream.
    private func finish(reason: String) {
        let (pending, watches) = state.withLock { state -> ([Pending], [Watch]) in
            state.closedReason = state.closedReason ?? reason
            defer {
                state.pending.removeAll()
                state.watches.removeAll()
            }
            return (Array(state.pending.values), Array(state.watches.values))
        }
        for request in pending { request.continuation.resume(returning: .failure(request.failure(reason))) }
        for watch in watches { watch.broadcaster.finish() }
    }
}
