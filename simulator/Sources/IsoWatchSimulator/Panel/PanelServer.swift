#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Serves a `SimulatedPanel` over TCP on loopback with a line protocol small enough to speak
/// from a blocking socket on a thread (isowatch's `SimulatorPanelBackend` does):
///
/// ```
/// client → panel, one request a line:
///   <id> OUT <chip> <selector> <active_low 0|1> <initial_high 0|1> <label…>   claim an output
///   <id> IN <chip> <selector> <active_low 0|1> <resting_high 0|1> <label…>    claim an input
///   <id> SET <handle> <high 0|1>                                              drive an output
///   <id> GET <handle>                                                         sample a line
///   <id> REL <handle>                                                         release a claim
///   selector: a decimal offset, or =NAME
/// panel → client:
///   <id> OK [<handle>] [<high 0|1>]
///   <id> ERR <busy|released|invalid> <reason…>
///   EDGE <handle> <high 0|1>          an input the client claimed changed level
/// ```
///
/// Levels are electrical; the client maps them through its own `active_low`. A connection that
/// closes releases its claims. One thread accepts, one thread per connection serves it.
public final class PanelServer: Sendable {
    public let host: String
    public let port: UInt16
    public let panel: SimulatedPanel

    private let listener: TCPListener

    public init(host: String, port: UInt16, panel: SimulatedPanel) throws(SystemCallError) {
        self.host = host
        self.panel = panel
        listener = try TCPListener(host: host, port: port, firstConnectionID: 1)
        self.port = listener.port
        try listener.start { [self] id, fd in serve(connection: id, fd: fd) }
    }

    /// The number of client connections open now.
    public var connectionCount: Int { listener.connectionCount }

    /// Closes every connection (the client sees its panel go away) and joins every thread.
    public func stop() { listener.stop() }

    /// Events for one connection, queued by whoever drives an input (the control interface
    /// runs on Swift's pool and must not write to a socket) and sent by the connection's thread.
    private final class Outbox: Sendable {
        let wakeRead: Int32
        let wakeWrite: Int32
        let lines = Mutex<[String]>([])

        init?() {
            var ends: [Int32] = [0, 0]
            guard pipe(&ends) == 0 else { return nil }
            wakeRead = ends[0]
            wakeWrite = ends[1]
            setNonBlocking(wakeRead)
            setNonBlocking(wakeWrite)
        }

        deinit {
            close(wakeRead)
            close(wakeWrite)
        }

        func post(_ line: String) {
            lines.withLock { $0.append(line) }
            var byte: UInt8 = 1
            // A full pipe already holds a wake-up; a lost byte loses nothing.
            _ = write(wakeWrite, &byte, 1)
        }

        func take() -> [String] {
            _ = readAvailable(wakeRead)
            return lines.withLock { lines in
                defer { lines.removeAll() }
                return lines
            }
        }
    }

    private func serve(connection id: Int, fd: Int32) {
        guard let outbox = Outbox() else { return }
        panel.register(connection: id) { handle, high in outbox.post("EDGE \(handle) \(high ? 1 : 0)") }
        defer { panel.unregister(connection: id) }
        var buffer: [UInt8] = []
        while true {
            var descriptors = [
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: outbox.wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let result = poll(&descriptors, 2, -1)
            if result < 0 {
                if errno == EINTR { continue }
                return
            }
            if descriptors[1].revents != 0 {
                let events = outbox.take()
                if !events.isEmpty, !writeAll(fd, Array(events.map { $0 + "\n" }.joined().utf8), socket: true) { return }
            }
            guard descriptors[0].revents != 0 else { continue }
            guard let bytes = readAvailable(fd), !(bytes.isEmpty && descriptors[0].revents & Int16(POLLHUP) != 0) else { return }
            buffer += bytes
            var replies = ""
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                replies += answer(line, connection: id) + "\n"
            }
            // A client that never ends a line is not a panel client.
            if buffer.count > 4096 { return }
            if !replies.isEmpty, !writeAll(fd, Array(replies.utf8), socket: true) { return }
        }
    }

    /// The reply to one request line.
    func answer(_ line: String, connection: Int) -> String {
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard words.count >= 2, let requestID = Int(words[0]) else { return "0 ERR invalid expected '<id> <verb> …'" }
        func flag(_ index: Int) -> Bool? {
            guard index < words.count else { return nil }
            return words[index] == "1" ? true : words[index] == "0" ? false : nil
        }
        func refused(_ refusal: SimulatedPanel.Refusal) -> String {
            switch refusal {
            case .busy: "\(requestID) ERR busy \(refusal)"
            case .released: "\(requestID) ERR released \(refusal)"
            case .notAnInput, .unknownLine: "\(requestID) ERR invalid \(refusal)"
            }
        }
        do throws(SimulatedPanel.Refusal) {
            switch words[1] {
            case "OUT", "IN":
                guard words.count >= 7, let activeLow = flag(4), let level = flag(5) else {
                    return "\(requestID) ERR invalid expected '<id> \(words[1]) <chip> <selector> <0|1> <0|1> <label>'"
                }
                guard let name = Self.lineName(chip: words[2], selector: words[3]) else {
                    return "\(requestID) ERR invalid bad line selector '\(words[3])'"
                }
                let label = words[6...].joined(separator: " ")
                if words[1] == "OUT" {
                    let handle = try panel.claimOutput(
                        name, connection: connection, activeLow: activeLow, initialHigh: level, consumer: label)
                    return "\(requestID) OK \(handle)"
                }
                let (handle, high) = try panel.claimInput(
                    name, connection: connection, activeLow: activeLow, restingHigh: level, consumer: label)
                return "\(requestID) OK \(handle) \(high ? 1 : 0)"
            case "SET":
                guard words.count == 4, let handle = Int(words[2]), let high = flag(3) else {
                    return "\(requestID) ERR invalid expected '<id> SET <handle> <0|1>'"
                }
                try panel.set(handle: handle, connection: connection, electricalHigh: high)
                return "\(requestID) OK"
            case "GET":
                guard words.count == 3, let handle = Int(words[2]) else { return "\(requestID) ERR invalid expected '<id> GET <handle>'" }
                return "\(requestID) OK \(try panel.read(handle: handle, connection: connection) ? 1 : 0)"
            case "REL":
                guard words.count == 3, let handle = Int(words[2]) else { return "\(requestID) ERR invalid expected '<id> REL <handle>'" }
                panel.release(handle: handle, connection: connection)
                return "\(requestID) OK"
            default:
                return "\(requestID) ERR invalid unknown verb '\(words[1])'"
            }
        } catch {
            return refused(error)
        }
    }

    /// `gpiochip0:17` or `gpiochip0:"NAME"`, the way isowatch prints a line address.
    static func lineName(chip: String, selector: String) -> String? {
        if selector.hasPrefix("=") {
            let name = selector.dropFirst()
            return name.isEmpty ? nil : "\(chip):\"\(name)\""
        }
        return UInt32(selector).map { "\(chip):\($0)" }
    }
}
