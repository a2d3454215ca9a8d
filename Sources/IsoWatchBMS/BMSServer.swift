import CModbus
import Foundation
import IsoWatchThreads
import Synchronization

/// A Modbus TCP server (libmodbus) that publishes a register image as input registers
/// (function code 4) to a bounded number of clients. Everything else is refused with a Modbus
/// exception: there are no holding registers or coils, so no write can reach isowatch.
///
/// A poll(2) loop over the listening socket and every client socket, on a thread this server
/// owns, serves several BMS clients and never touches Swift's cooperative pool. No client can hold
/// that thread (security review H3): client sockets are non-blocking, each request is collected
/// here until its MBAP frame is complete and only then handed to libmodbus's `modbus_reply`
/// (whose own `modbus_receive` would wait for a slow sender); a reply that cannot be sent at once
/// (a client that never reads) drops that client; a client with no complete request for
/// `idleTimeoutSeconds` is closed; beyond `maxClients` a new connection is closed at once.
/// libmodbus answers every unit id from the one map.
public final class BMSServer: Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    private struct Shared {
        var registers: [UInt16]
        var stopping = false
    }

    /// The port it listens on (the one the kernel chose when asked for 0).
    public let port: Int
    private let shared: Mutex<Shared>
    /// Set once in `init`, when the thread's body may capture `self`.
    private let thread = Mutex<OwnedThread?>(nil)

    /// Binds at once (so a taken port fails the start-up loudly) and serves on its own thread.
    public init(
        host: String, port: Int, registerCount: Int, maxClients: Int = 16, idleTimeoutSeconds: Double = 60
    ) throws {
        let registers = [UInt16](repeating: 0, count: registerCount)
        shared = Mutex(Shared(registers: registers))
        guard let context = modbus_new_tcp(host == "0.0.0.0" ? nil : host, Int32(port)) else {
            throw StartError(description: "BMS server: cannot create a Modbus TCP context for \(host):\(port)")
        }
        let listener = modbus_tcp_listen(context, 16)
        guard listener >= 0 else {
            let error = String(cString: strerror(isowatch_errno()))
            modbus_free(context)
            throw StartError(description: "BMS server: cannot listen on \(host):\(port): \(error)")
        }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        guard let mapping = modbus_mapping_new_start_address(0, 0, 0, 0, 0, 0, 0, UInt32(registerCount)) else {
            close(listener)
            modbus_free(context)
            throw StartError(description: "BMS server: cannot allocate \(registerCount) input registers")
        }
        let owned = ServerResources(context: context, mapping: mapping, listener: listener)
        let limits = Limits(maxClients: max(1, maxClients), idleTimeout: .milliseconds(Int64(idleTimeoutSeconds * 1000)))
        let thread: OwnedThread
        do {
            thread = try OwnedThread(name: "isowatch-bms") { [self] in self.serve(owned, limits) }
        } catch {
            close(listener)
            modbus_mapping_free(mapping)
            modbus_free(context)
            throw StartError(description: "BMS server: \(error)")
        }
        self.thread.withLock { $0 = thread }
    }

    /// Replaces the published image; clients see it from their next request on.
    public func publish(_ registers: [UInt16]) {
        shared.withLock { state in
            let count = min(registers.count, state.registers.count)
            state.registers.replaceSubrange(0..<count, with: registers[0..<count])
        }
    }

    /// Closes every connection and the listening socket. Returns once the thread has ended, or
    /// after `timeoutSeconds` at most (the thread then still closes everything when it ends; no
    /// client can keep it, so that is a bound, not an expected wait).
    @discardableResult
    public func stop(timeoutSeconds: Double = 2) -> Bool {
        shared.withLock { $0.stopping = true }
        return thread.withLock { $0 }?.join(timeoutSeconds: timeoutSeconds) ?? true
    }

    /// The libmodbus objects, used only on the server's thread.
    private struct ServerResources: @unchecked Sendable {
        let context: OpaquePointer
        let mapping: UnsafeMutablePointer<modbus_mapping_t>
        let listener: Int32
    }

    private struct Limits: Sendable {
        let maxClients: Int
        let idleTimeout: Duration
    }

    private struct Client {
        let fd: Int32
        /// Bytes of the request not yet complete.
        var pending: [UInt8] = []
        var lastRequest: ContinuousClock.Instant
    }

    private func serve(_ resources: ServerResources, _ limits: Limits) {
        let context = resources.context
        let clock = ContinuousClock()
        var clients: [Client] = []
        defer {
            for client in clients { close(client.fd) }
            close(resources.listener)
            modbus_mapping_free(resources.mapping)
            modbus_free(context)
        }
        while !shared.withLock({ $0.stopping }) {
            var descriptors = [pollfd(fd: resources.listener, events: Int16(POLLIN), revents: 0)]
            descriptors += clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            // A short timeout: how soon `stop` and idle clients are noticed.
            let ready = poll(&descriptors, nfds_t(descriptors.count), 200)
            let now = clock.now
            var closed: Set<Int32> = []
            if ready > 0 {
                for (index, descriptor) in descriptors.dropFirst().enumerated() where descriptor.revents != 0 {
                    if !receive(&clients[index], resources, now: now) { closed.insert(descriptor.fd) }
                }
                if descriptors[0].revents & Int16(POLLIN) != 0 {
                    var listener = resources.listener
                    let client = modbus_tcp_accept(context, &listener)
                    if client >= 0 {
                        if clients.count - closed.count >= limits.maxClients {
                            close(client)
                        } else {
                            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
                            clients.append(Client(fd: client, lastRequest: now))
                        }
                    }
                }
            }
            for client in clients where !closed.contains(client.fd) && now - client.lastRequest > limits.idleTimeout {
                closed.insert(client.fd)
            }
            for fd in closed { close(fd) }
            clients.removeAll { closed.contains($0.fd) }
        }
    }

    /// Reads what the client sent and answers every complete request; false when the client is
    /// to be closed (it closed, it sent something that is not Modbus TCP, or a reply could not be
    /// sent at once).
    private func receive(_ client: inout Client, _ resources: ServerResources, now: ContinuousClock.Instant) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 1024)
        let count = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
        if count == 0 { return false }
        if count < 0 {
            let error = isowatch_errno()
            return error == EAGAIN || error == EWOULDBLOCK || error == EINTR
        }
        client.pending += chunk[0..<count]
        // MBAP: transaction (2), protocol (2), length (2) of what follows: the unit and the PDU.
        while client.pending.count >= 7 {
            let length = Int(client.pending[4]) << 8 | Int(client.pending[5])
            let frameLength = 6 + length
            guard length >= 2, frameLength <= Int(MODBUS_TCP_MAX_ADU_LENGTH) else { return false }
            guard client.pending.count >= frameLength else { break }
            // Padded to the largest frame: `modbus_reply` reads a function's fields where they
            // would be, trusting `modbus_receive` to have checked the length, which it did not here.
            var request = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))
            request.replaceSubrange(0..<frameLength, with: client.pending[0..<frameLength])
            client.pending.removeFirst(frameLength)
            client.lastRequest = now
            shared.withLock { state in
                let table = resources.mapping.pointee.tab_input_registers!
                for (index, value) in state.registers.enumerated() { table[index] = value }
            }
            modbus_set_socket(resources.context, client.fd)
            // The socket is non-blocking: a reply the client's window cannot take fails here.
            guard modbus_reply(resources.context, request, Int32(frameLength), resources.mapping) >= 0 else { return false }
        }
        return true
    }
}
