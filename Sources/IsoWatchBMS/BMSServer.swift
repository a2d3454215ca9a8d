import CModbus
import Foundation
import Synchronization

/// A Modbus TCP server (libmodbus) that publishes a register image as input registers
/// (function code 4) to any number of clients. Everything else is refused with a Modbus
/// exception: there are no holding registers or coils, so no write can reach isowatch.
///
/// libmodbus's server serves one connection per `modbus_t`; a poll(2) loop over the listening
/// socket and every client socket, on a thread this server owns, serves several BMS clients and
/// never touches Swift's cooperative pool. libmodbus answers every unit id from the one map.
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
    private let done = DispatchSemaphore(value: 0)

    /// Binds at once (so a taken port fails the start-up loudly) and serves on its own thread.
    public init(host: String, port: Int, registerCount: Int) throws {
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
        let thread = Thread { [self] in
            self.serve(owned)
            self.done.signal()
        }
        thread.name = "isowatch-bms"
        thread.start()
    }

    /// Replaces the published image; clients see it from their next request on.
    public func publish(_ registers: [UInt16]) {
        shared.withLock { state in
            let count = min(registers.count, state.registers.count)
            state.registers.replaceSubrange(0..<count, with: registers[0..<count])
        }
    }

    /// Closes every connection and the listening socket; blocks until the thread has ended.
    public func stop() {
        shared.withLock { $0.stopping = true }
        done.wait()
    }

    /// The libmodbus objects, used only on the server's thread.
    private struct ServerResources: @unchecked Sendable {
        let context: OpaquePointer
        let mapping: UnsafeMutablePointer<modbus_mapping_t>
        let listener: Int32
    }

    private func serve(_ resources: ServerResources) {
        let context = resources.context
        var clients: [Int32] = []
        var query = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))
        defer {
            for client in clients { close(client) }
            close(resources.listener)
            modbus_mapping_free(resources.mapping)
            modbus_free(context)
        }
        while !shared.withLock({ $0.stopping }) {
            var descriptors = [pollfd(fd: resources.listener, events: Int16(POLLIN), revents: 0)]
            descriptors += clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            // A short timeout: how soon `stop` is noticed.
            let ready = poll(&descriptors, nfds_t(descriptors.count), 200)
            guard ready > 0 else { continue }
            if descriptors[0].revents & Int16(POLLIN) != 0 {
                var listener = resources.listener
                let client = modbus_tcp_accept(context, &listener)
                if client >= 0 { clients.append(client) }
            }
            var closed: Set<Int32> = []
            for descriptor in descriptors.dropFirst() where descriptor.revents != 0 {
                modbus_set_socket(context, descriptor.fd)
                let length = modbus_receive(context, &query)
                if length > 0 {
                    shared.withLock { state in
                        let table = resources.mapping.pointee.tab_input_registers!
                        for (index, value) in state.registers.enumerated() { table[index] = value }
                    }
                    _ = modbus_reply(context, query, length, resources.mapping)
                } else if length < 0 {
                    // The client closed the connection, or sent something that is not Modbus.
                    close(descriptor.fd)
                    closed.insert(descriptor.fd)
                }
            }
            clients.removeAll { closed.contains($0) }
        }
    }
}
