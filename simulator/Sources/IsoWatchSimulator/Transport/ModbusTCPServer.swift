#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// How a TCP gateway answers a request for a unit it does not serve, or one that is off line.
public enum AbsentUnitReply: Sendable, Equatable {
    /// Exception 0x0B (gateway target device failed to respond) after the time a gateway would
    /// have waited for the serial device.
    case gatewayException(afterSeconds: Double)
    /// Nothing: the client times out, as with a gateway configured not to answer.
    case noReply
}

/// A Modbus TCP server that dispatches on the MBAP unit id like a gateway (libmodbus's server
/// answers every unit id from one map, see engineering.md). One thread accepts, one thread per
/// client connection reads and answers; none of them runs on Swift's cooperative pool.
/// The threads keep the server alive until `stop()`, which every owner must call.
public final class ModbusTCPServer: Sendable {
    public let host: String
    /// The port actually bound (the ephemeral one when asked for port 0).
    public let port: UInt16
    public let units: [UInt8: ServedUnit]
    public let absentUnitReply: AbsentUnitReply

    private let listener: Int32
    private let stopSignal: StopSignal
    private let acceptor = Mutex<OwnedThread?>(nil)
    private let connections = Mutex<Connections>(Connections())
    private let stopped = Atomic(false)

    private struct Connections {
        var nextID = 0
        var open: [Int: (fd: Int32, thread: OwnedThread?)] = [:]
        var finished: [OwnedThread] = []
    }

    /// Binds and listens at once, so the port is known when this returns, then starts accepting.
    public init(
        host: String, port: UInt16, units: [ServedUnit],
        absentUnitReply: AbsentUnitReply = .gatewayException(afterSeconds: 0.2)
    ) throws(SystemCallError) {
        self.host = host
        self.units = Dictionary(units.map { ($0.unitID, $0) }, uniquingKeysWith: { first, _ in first })
        self.absentUnitReply = absentUnitReply
        let (fd, boundPort) = try Self.openListener(host: host, port: port)
        self.listener = fd
        self.port = boundPort
        do {
            self.stopSignal = try StopSignal()
            let thread = try OwnedThread { [self] in acceptLoop() }
            acceptor.withLock { $0 = thread }
        } catch {
            close(fd)
            throw error
        }
    }

    /// The number of client connections open now.
    public var connectionCount: Int { connections.withLock { $0.open.count } }

    /// Closes every client connection (each client sees the peer hang up); new ones are accepted.
    @discardableResult
    public func dropConnections() -> Int {
        connections.withLock { connections in
            // Only the connection's own thread closes its fd, after removing it under this lock,
            // so a shutdown here can never hit a reused descriptor.
            for connection in connections.open.values { shutdown(connection.fd, Int32(SHUT_RDWR)) }
            return connections.open.count
        }
    }

    /// Stops accepting, closes every connection and joins every thread. Idempotent.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stopSignal.fire()
        acceptor.withLock { $0 }?.join()
        // With the acceptor gone no connection can appear any more, so one pass joins them all.
        dropConnections()
        let threads = connections.withLock { $0.finished + $0.open.values.compactMap(\.thread) }
        threads.forEach { $0.join() }
        close(listener)
    }

    private func acceptLoop() {
        while stopSignal.wait(for: listener, timeoutSeconds: nil) == .readable {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                // Out of descriptors (EMFILE) and the like: back off instead of spinning on poll().
                if errno != EAGAIN, errno != EWOULDBLOCK, errno != EINTR,
                    !stopSignal.sleep(until: monotonicSeconds() + 0.05)
                {
                    return
                }
                continue
            }
            var enable: Int32 = 1
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &enable, socklen_t(MemoryLayout<Int32>.size))
            setNonBlocking(client)
            let (id, reap) = connections.withLock { connections in
                let id = connections.nextID
                connections.nextID += 1
                connections.open[id] = (client, nil)
                defer { connections.finished = [] }
                return (id, connections.finished)
            }
            reap.forEach { $0.join() }
            do {
                let thread = try OwnedThread { [self] in serve(connection: id, fd: client) }
                connections.withLock { connections in
                    // A connection that already ended left no entry: join its thread with the rest.
                    if connections.open[id] != nil {
                        connections.open[id]?.thread = thread
                    } else {
                        connections.finished.append(thread)
                    }
                }
            } catch {
                connections.withLock { _ = $0.open.removeValue(forKey: id) }
                close(client)
            }
        }
    }

    private func serve(connection id: Int, fd: Int32) {
        defer {
            connections.withLock { connections in
                if let thread = connections.open.removeValue(forKey: id)?.thread {
                    connections.finished.append(thread)
                }
            }
            close(fd)
        }
        var buffer: [UInt8] = []
        while stopSignal.wait(for: fd, timeoutSeconds: nil) == .readable {
            guard let bytes = readAvailable(fd) else { return }
            buffer += bytes
            parsing: while true {
                switch MBAPFrame.parse(buffer) {
                case .incomplete:
                    break parsing
                case .invalid:
                    return
                case .frame(let request, let consumed):
                    buffer.removeFirst(consumed)
                    guard answer(request, on: fd) else { return }
                }
            }
        }
    }

    /// Answers one request; false when the connection must close.
    private func answer(_ request: MBAPFrame, on fd: Int32) -> Bool {
        let reply = { (pdu: [UInt8]) in
            writeAll(fd, MBAPFrame(transactionID: request.transactionID, unitID: request.unitID, pdu: pdu).bytes, socket: true)
        }
        let gatewayFailure = ModbusPDUEngine.exception(request.pdu[0], .gatewayTargetFailedToRespond).response
        let disposition = units[request.unitID]?.handle(function: request.pdu[0], data: request.pdu.dropFirst()) ?? .offline
        switch disposition {
        case .offline:
            switch absentUnitReply {
            case .noReply:
                return true
            case .gatewayException(let seconds):
                guard stopSignal.sleep(until: monotonicSeconds() + seconds) else { return false }
                return reply(gatewayFailure)
            }
        case .silent:
            return true
        case .dropConnection:
            return false
        case .reply(let pdu, let distortion, let extraDelaySeconds):
            if extraDelaySeconds > 0, !stopSignal.sleep(until: monotonicSeconds() + extraDelaySeconds) {
                return false
            }
            switch distortion {
            case nil:
                return reply(pdu)
            case .corruptCRC:
                // A gateway discards a serial reply with a bad CRC and reports the target silent.
                return reply(gatewayFailure)
            case .truncated:
                let whole = MBAPFrame(transactionID: request.transactionID, unitID: request.unitID, pdu: pdu).bytes
                return writeAll(fd, Array(whole.prefix(max(1, whole.count / 2))), socket: true)
            }
        }
    }

    static func openListener(host: String, port: UInt16) throws(SystemCallError) -> (Int32, UInt16) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var info: UnsafeMutablePointer<addrinfo>?
        let lookup = getaddrinfo(host, String(port), &hints, &info)
        guard lookup == 0, let address = info else {
            throw SystemCallError("getaddrinfo", code: EINVAL, detail: "\(host): \(String(cString: gai_strerror(lookup)))")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard fd >= 0 else { throw SystemCallError("socket") }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var enable: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &enable, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, address.pointee.ai_addr, address.pointee.ai_addrlen) == 0 else {
            let error = SystemCallError("bind", detail: "\(host):\(port)")
            close(fd)
            throw error
        }
        guard listen(fd, 16) == 0 else {
            let error = SystemCallError("listen")
            close(fd)
            throw error
        }
        setNonBlocking(fd)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            let error = SystemCallError("getsockname")
            close(fd)
            throw error
        }
        let family = Int32(storage.ss_family)
        let boundPort = withUnsafePointer(to: &storage) { pointer -> UInt16 in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        return (fd, boundPort)
    }
}
