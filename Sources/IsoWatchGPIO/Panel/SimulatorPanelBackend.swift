import Glibc
import Synchronization

/// Digital lines that live in a running `isowatch-sim`: its simulated theatre panel, reached
/// over loopback TCP with the simulator's panel protocol (see `PanelServer` in the simulator).
/// A test bench then sees the service's relays and presses its buttons through the simulator's
/// control interface (`isowatch-sim panel`), with no GPIO hardware.
///
/// Semantics are the libgpiod backend's: `active` is logical and `activeLow` maps it to the
/// electrical level the panel stores; inputs are debounced here by the same `Debouncer`, on this
/// process's monotonic clock from the moment an edge arrives; a line is claimed by one consumer
/// at a time. All socket work happens on one thread this backend owns (connect, send, receive,
/// debounce deadlines); async callers only queue a request and wait for its reply. When the
/// connection fails, pending and later operations throw, and every input's `changes` ends, as
/// after a failed GPIO line; the next claim connects anew.
public final class SimulatorPanelBackend: GPIOBackend {
    public let host: String
    public let port: UInt16
    private let link = Mutex<PanelLink?>(nil)

    public init(host: String = "127.0.0.1", port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Lines outlive the backend that claimed them (the service keeps only the lines): the
    /// connection ends once the backend is gone and the last of its lines is released.
    deinit {
        link.withLock { $0 }?.ownerGone()
    }

    /// `host:port` of the panel, as errors name it.
    public var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public func claimOutput(_ configuration: OutputLineConfiguration) async throws(GPIOError) -> any OutputLine {
        let address = configuration.address
        let selector = try Self.selector(address)
        let link = try currentLink()
        let low = configuration.activeLow ? 1 : 0
        let high = configuration.initialActive != configuration.activeLow ? 1 : 0
        let words = try await link.request(
            "OUT \(address.chip) \(selector) \(low) \(high) \(Self.label(configuration.label))", address: address,
            failure: { .chipOpenFailed(chip: address.chip, path: "simulator panel \(self.endpoint)", reason: $0) })
        guard let handle = words.first.flatMap({ Int($0) }) else {
            throw .requestFailed(address, reason: "the simulator panel answered '\(words.joined(separator: " "))'")
        }
        link.claimed()
        return PanelOutputLine(link: link, handle: handle, address: address, activeLow: configuration.activeLow)
    }

    public func claimInput(_ configuration: InputLineConfiguration) async throws(GPIOError) -> any InputLine {
        try configuration.validate()
        let address = configuration.address
        let selector = try Self.selector(address)
        let link = try currentLink()
        // What the bias would make of a line nobody drives; with no bias, inactive, as a
        // correctly wired pull resistor holds it.
        let restingHigh: Bool
        switch configuration.bias {
        case .pullUp: restingHigh = true
        case .pullDown: restingHigh = false
        case .asIs, .disabled: restingHigh = configuration.activeLow
        }
        let words = try await link.request(
            "IN \(address.chip) \(selector) \(configuration.activeLow ? 1 : 0) \(restingHigh ? 1 : 0) \(Self.label(configuration.label))",
            address: address,
            failure: { .chipOpenFailed(chip: address.chip, path: "simulator panel \(self.endpoint)", reason: $0) })
        guard words.count == 2, let handle = Int(words[0]), words[1] == "0" || words[1] == "1" else {
            throw .requestFailed(address, reason: "the simulator panel answered '\(words.joined(separator: " "))'")
        }
        let broadcaster = EdgeBroadcaster()
        link.claimed()
        link.watch(
            handle: handle, activeLow: configuration.activeLow, initialHigh: words[1] == "1",
            debounceSeconds: configuration.debounceSeconds, broadcaster: broadcaster)
        return PanelInputLine(
            link: link, handle: handle, address: address, activeLow: configuration.activeLow, broadcaster: broadcaster)
    }

    /// Closes the connection: every claim is released on the panel, inputs' streams end.
    public func close() {
        link.withLock { link in
            link?.shutdown()
            link = nil
        }
    }

    private func currentLink() throws(GPIOError) -> PanelLink {
        try link.withLock { link throws(GPIOError) -> PanelLink in
            if let existing = link, !existing.isClosed { return existing }
            let fresh = try PanelLink(host: host, port: port)
            link = fresh
            return fresh
        }
    }

    private static func selector(_ address: LineAddress) throws(GPIOError) -> String {
        guard !address.chip.isEmpty, !address.chip.contains(where: \.isWhitespace) else {
            throw .invalidRequest(address, reason: "a simulator panel chip name has no spaces")
        }
        switch address.selector {
        case .offset(let offset): return String(offset)
        case .name(let name):
            guard !name.isEmpty, !name.contains(where: \.isWhitespace) else {
                throw .invalidRequest(address, reason: "a simulator panel line name has no spaces")
            }
            return "=\(name)"
        }
    }

    private static func label(_ text: String) -> String {
        let cleaned = String(text.map { $0.isNewline ? " " : $0 })
        return cleaned.isEmpty ? "isowatch" : cleaned
    }
}

final class PanelOutputLine: OutputLine {
    let link: PanelLink
    let handle: Int
    let address: LineAddress
    let activeLow: Bool

    init(link: PanelLink, handle: Int, address: LineAddress, activeLow: Bool) {
        self.link = link
        self.handle = handle
        self.address = address
        self.activeLow = activeLow
    }

    func set(_ active: Bool) async throws(GPIOError) {
        let address = address
        _ = try await link.request(
            "SET \(handle) \(active != activeLow ? 1 : 0)", address: address,
            failure: { .ioFailed(address, operation: "set", reason: $0) })
    }

    func release() async {
        _ = try? await link.request("REL \(handle)", address: address, failure: { _ in .backendClosed })
        link.released()
    }
}

final class PanelInputLine: InputLine {
    let link: PanelLink
    let handle: Int
    let address: LineAddress
    let activeLow: Bool
    private let broadcaster: EdgeBroadcaster

    init(link: PanelLink, handle: Int, address: LineAddress, activeLow: Bool, broadcaster: EdgeBroadcaster) {
        self.link = link
        self.handle = handle
        self.address = address
        self.activeLow = activeLow
        self.broadcaster = broadcaster
    }

    func read() async throws(GPIOError) -> Bool {
        let address = address
        let words = try await link.request(
            "GET \(handle)", address: address, failure: { .ioFailed(address, operation: "read", reason: $0) })
        guard words == ["0"] || words == ["1"] else {
            throw .ioFailed(address, operation: "read", reason: "the simulator panel answered '\(words.joined(separator: " "))'")
        }
        return (words[0] == "1") != activeLow
    }

    var changes: AsyncStream<Bool> { broadcaster.makeStream() }

    func release() async {
        link.unwatch(handle: handle)
        _ = try? await link.request("REL \(handle)", address: address, failure: { _ in .backendClosed })
        link.released()
    }
}
