#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import IsoWatchThreads
import Synchronization

/// A listening TCP socket with one thread that accepts and one thread per connection, shared by
/// the simulator's servers (Modbus TCP gateway, GPIO panel). No thread runs on Swift's
/// cooperative pool; the threads keep their server alive until `stop()`, which every owner must call.
final class TCPListener: Sendable {
    /// The port actually bound (the ephemeral one when asked for port 0).
    let port: UInt16
    /// Fired by `stop()`; connection threads wait and sleep on it so they end promptly.
    let stopSignal: StopSignal

    private let listener: Int32
    private let acceptor = Mutex<OwnedThread?>(nil)
    private let connections: Mutex<Connections>
    private let stopped = Atomic(false)

    private struct Connections {
        var nextID: Int
        var open: [Int: (fd: Int32, thread: OwnedThread?)] = [:]
        var finished: [OwnedThread] = []
    }

    /// Binds and listens at once, so the port is known when this returns; `start` accepts.
    init(host: String, port: UInt16, firstConnectionID: Int) throws(SystemCallError) {
        let (fd, boundPort) = try Self.openListener(host: host, port: port)
        do {
            stopSignal = try StopSignal()
        } catch {
            close(fd)
            throw error
        }
        listener = fd
        self.port = boundPort
        connections = Mutex(Connections(nextID: firstConnectionID))
    }

    /// Starts the accepting thread; `serve` runs on each connection's own thread with its id and
    /// (non-blocking) descriptor, which this closes once `serve` returns. On failure the listener is closed.
    func start(serving serve: @escaping @Sendable (_ connection: Int, _ fd: Int32) -> Void) throws(SystemCallError) {
        do {
            let thread = try startThread(name: "sim-accept") { [self] in acceptLoop(serve) }
            acceptor.withLock { $0 = thread }
        } catch {
            stopped.store(true, ordering: .releasing)
            close(listener)
            throw error
        }
    }

    /// The number of connections open now.
    var connectionCount: Int { connections.withLock { $0.open.count } }

    /// Shuts every open connection down (each client sees the peer hang up); new ones are accepted.
    @discardableResult
    func dropConnections() -> Int {
        connections.withLock { connections in
            // Only the connection's own thread closes its fd, after removing it under this lock,
            // so a shutdown here can never hit a reused descriptor.
            for connection in connections.open.values { shutdown(connection.fd, Int32(SHUT_RDWR)) }
            return connections.open.count
        }
    }

    /// Stops accepting, closes every connection and joins every thread. Idempotent.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        stopSignal.fire()
        acceptor.withLock { $0 }?.join()
        // With the acceptor gone no connection can appear any more, so one pass joins them all.
        dropConnections()
        let threads = connections.withLock { $0.finished + $0.open.values.compactMap(\.thread) }
        threads.forEach { $0.join() }
        close(listener)
    }

    private func acceptLoop(_ serve: @escaping @Sendable (Int, Int32) -> Void) {
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
                let thread = try startThread(name: "sim-conn-\(id)") { [self] in
                    serve(id, client)
                    connectionEnded(id, fd: client)
                }
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

    private func connectionEnded(_ id: Int, fd: Int32) {
        connections.withLock { connections in
            if let thread = connections.open.removeValue(forKey: id)?.thread {
                connections.finished.append(thread)
            }
        }
        close(fd)
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
