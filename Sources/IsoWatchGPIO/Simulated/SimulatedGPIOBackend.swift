import Synchronization

/// A GPIO chip that exists only in a `SimulatedGPIOBackend`.
public struct SimulatedChip: Sendable, Hashable {
    /// The chip name; a line address may give it as "NAME" or "/dev/NAME".
    public var name: String
    public var lineCount: UInt32
    /// Names for some offsets, as a device tree's `gpio-line-names` would give them.
    public var lineNames: [UInt32: String]

    public init(name: String = "gpiochip0", lineCount: UInt32 = 64, lineNames: [UInt32: String] = [:]) {
        self.name = name
        self.lineCount = lineCount
        self.lineNames = lineNames
    }
}

/// How time passes for the debouncers of simulated inputs.
public enum SimulatedTiming: Sendable, Hashable {
    /// Time moves only through `advanceClock(bySeconds:)`: for tests, with no sleeps.
    case manual
    /// Time follows a monotonic clock and pending debounces settle by themselves (the simulator's
    /// live mode); `advanceClock(bySeconds:)` still jumps it forward.
    case realTime
}

/// One entry of the simulated output history, in the order the outputs changed.
public struct SimulatedOutputChange: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The line was claimed and driven to its initial state.
        case claimed
        /// The line changed state.
        case changed
        /// The line was released; it keeps its last electrical level.
        case released
    }

    /// Strictly increasing from 0 across all outputs of the backend.
    public var index: Int
    /// The address as the claim gave it.
    public var address: LineAddress
    public var consumer: String
    public var kind: Kind
    public var active: Bool
    public var electricalHigh: Bool
    /// The backend's clock when the change happened.
    public var atSeconds: Double
    /// The monotonic instant of the change, whatever the backend's timing: comparable with
    /// instants taken elsewhere in the process (a poll's `receivedAt`), for latency measurements.
    public var instant: ContinuousClock.Instant
}

/// What a simulated line is doing now.
public struct SimulatedLineState: Sendable, Hashable {
    public enum Role: String, Sendable, Hashable {
        case unclaimed, output, input
    }

    public var role: Role
    public var consumer: String?
    public var activeLow: Bool
    /// nil until something drives the line or an input claim lets it rest at its idle level.
    public var electricalHigh: Bool?
    /// The logical state under the current claim; nil when unclaimed or never driven.
    public var active: Bool?
}

/// A GPIO backend with no hardware behind it: tests and the simulator claim lines through the
/// same protocol as the service, read back every output, and drive every input.
///
/// Lines resolve like the kernel's: a name and an offset that denote the same line are the same
/// line, so a second claim through either is busy. Inputs are debounced by the same `Debouncer`
/// as the libgpiod backend, on this backend's clock.
public final class SimulatedGPIOBackend: GPIOBackend {
    struct LineKey: Hashable {
        var chip: String
        var offset: UInt32
    }

    enum ClaimRole {
        case output
        case input(debouncer: Debouncer, broadcaster: EdgeBroadcaster)
    }

    struct Claim {
        var token: UInt64
        var address: LineAddress
        var consumer: String
        var activeLow: Bool
        var role: ClaimRole
    }

    struct Line {
        var electricalHigh: Bool?
        var claim: Claim?
    }

    struct State {
        var lines: [LineKey: Line] = [:]
        var changes: [SimulatedOutputChange] = []
        var nextToken: UInt64 = 0
        var clockOffsetSeconds: Double = 0
        /// Lines whose hardware has failed, with the reason their operations report.
        var failures: [LineKey: String] = [:]
    }

    private let chips: [SimulatedChip]
    private let timing: SimulatedTiming
    private let clockOrigin = ContinuousClock.now
    private let state = Mutex(State())

    public init(chips: [SimulatedChip] = [SimulatedChip()], timing: SimulatedTiming = .manual) {
        self.chips = chips
        self.timing = timing
    }

    // MARK: GPIOBackend

    public func claimOutput(_ configuration: OutputLineConfiguration) async throws(GPIOError) -> any OutputLine {
        let key = try resolve(configuration.address)
        let token = try state.withLock { state throws(GPIOError) -> UInt64 in
            var line = state.lines[key] ?? Line()
            if let claim = line.claim {
                throw .busy(configuration.address, consumer: claim.consumer)
            }
            let token = state.nextToken
            state.nextToken += 1
            let electricalHigh = configuration.initialActive != configuration.activeLow
            line.claim = Claim(
                token: token, address: configuration.address, consumer: configuration.label,
                activeLow: configuration.activeLow, role: .output)
            line.electricalHigh = electricalHigh
            state.lines[key] = line
            record(.claimed, address: configuration.address, consumer: configuration.label,
                   active: configuration.initialActive, electricalHigh: electricalHigh, in: &state)
            return token
        }
        return SimulatedOutputLine(backend: self, key: key, token: token, address: configuration.address)
    }

    public func claimInput(_ configuration: InputLineConfiguration) async throws(GPIOError) -> any InputLine {
        try configuration.validate()
        let key = try resolve(configuration.address)
        let (token, broadcaster) = try state.withLock { state throws(GPIOError) -> (UInt64, EdgeBroadcaster) in
            var line = state.lines[key] ?? Line()
            if let claim = line.claim {
                throw .busy(configuration.address, consumer: claim.consumer)
            }
            let token = state.nextToken
            state.nextToken += 1
            let electricalHigh = line.electricalHigh ?? Self.restingLevel(configuration)
            let broadcaster = EdgeBroadcaster()
            let debouncer = Debouncer(
                initialLevel: electricalHigh != configuration.activeLow,
                debounceSeconds: configuration.debounceSeconds, startSeconds: now(in: state))
            line.electricalHigh = electricalHigh
            line.claim = Claim(
                token: token, address: configuration.address, consumer: configuration.label,
                activeLow: configuration.activeLow, role: .input(debouncer: debouncer, broadcaster: broadcaster))
            state.lines[key] = line
            return (token, broadcaster)
        }
        return SimulatedInputLine(
            backend: self, key: key, token: token, address: configuration.address, broadcaster: broadcaster)
    }

    // MARK: Clock

    /// The backend's clock in seconds since it was created (plus any manual advance).
    public var clockSeconds: Double {
        state.withLock { now(in: $0) }
    }

    /// Moves the clock forward and delivers every debounced change that has become due.
    public func advanceClock(bySeconds seconds: Double) {
        precondition(seconds.isFinite && seconds >= 0, "the clock only moves forward")
        state.withLock { $0.clockOffsetSeconds += seconds }
        settleDebouncers()
    }

    // MARK: Reading outputs

    /// The state of any line of any simulated chip; nil when the address denotes no line.
    public func lineState(_ address: LineAddress) -> SimulatedLineState? {
        guard let key = try? resolve(address) else { return nil }
        return state.withLock { state in
            let line = state.lines[key] ?? Line()
            let role: SimulatedLineState.Role
            switch line.claim?.role {
            case nil: role = .unclaimed
            case .output: role = .output
            case .input: role = .input
            }
            let activeLow = line.claim?.activeLow ?? false
            let active = line.claim == nil ? nil : line.electricalHigh.map { $0 != activeLow }
            return SimulatedLineState(
                role: role, consumer: line.claim?.consumer, activeLow: activeLow,
                electricalHigh: line.electricalHigh, active: active)
        }
    }

    /// The logical state of a claimed line; nil when it is not claimed.
    public func isActive(_ address: LineAddress) -> Bool? {
        lineState(address)?.active
    }

    /// The electrical level of a line; nil when nothing ever drove it.
    public func isElectricallyHigh(_ address: LineAddress) -> Bool? {
        lineState(address)?.electricalHigh
    }

    /// Every claimed line by the address its claim used, for a live view of all relays and inputs.
    public func claimedLines() -> [LineAddress: SimulatedLineState] {
        let addresses = state.withLock { state in state.lines.values.compactMap { $0.claim?.address } }
        var result: [LineAddress: SimulatedLineState] = [:]
        for address in addresses { result[address] = lineState(address) }
        return result
    }

    /// Every output claim, change and release so far, oldest first.
    public var outputChanges: [SimulatedOutputChange] {
        state.withLock { $0.changes }
    }

    // MARK: Driving inputs

    /// Sets the electrical level an external circuit applies to a line; a claimed input sees it
    /// as a raw sample at the current clock time and debounces it.
    public func setInput(_ address: LineAddress, electricalHigh: Bool) throws(GPIOError) {
        let key = try resolve(address)
        let emitted = try state.withLock { state throws(GPIOError) -> (EdgeBroadcaster, Bool)? in
            var line = state.lines[key] ?? Line()
            guard var claim = line.claim else {
                line.electricalHigh = electricalHigh
                state.lines[key] = line
                return nil
            }
            guard case .input(var debouncer, let broadcaster) = claim.role else {
                // An output is driven by its consumer; forcing it would be a short circuit.
                throw .busy(address, consumer: claim.consumer)
            }
            line.electricalHigh = electricalHigh
            let change = debouncer.sample(electricalHigh != claim.activeLow, atSeconds: now(in: state))
            claim.role = .input(debouncer: debouncer, broadcaster: broadcaster)
            line.claim = claim
            state.lines[key] = line
            return change.map { (broadcaster, $0) }
        }
        if let (broadcaster, level) = emitted { broadcaster.yield(level) }
        scheduleSettlingIfRealTime()
    }

    /// Makes a claimed input logically active (a button pressed, a contact signalling).
    public func press(_ address: LineAddress) throws(GPIOError) {
        try setInput(address, electricalHigh: try electricalLevel(forActive: true, of: address))
    }

    /// Makes a claimed input logically inactive (the button let go).
    public func release(_ address: LineAddress) throws(GPIOError) {
        try setInput(address, electricalHigh: try electricalLevel(forActive: false, of: address))
    }

    // MARK: Failing hardware

    /// Makes a line fail as a broken driver or an unplugged expander would: `set` and `read`
    /// throw `ioFailed` with `reason`, and a claimed input's `changes` streams end, as the
    /// libgpiod edge thread ends them when the line's descriptor goes away.
    public func failLine(_ address: LineAddress, reason: String = "Input/output error") throws(GPIOError) {
        let key = try resolve(address)
        let broadcaster = state.withLock { state -> EdgeBroadcaster? in
            state.failures[key] = reason
            guard case .input(_, let broadcaster) = state.lines[key]?.claim?.role else { return nil }
            return broadcaster
        }
        broadcaster?.finish()
    }

    /// Lets a failed line work again. Ended `changes` streams stay ended: like after a real
    /// failure, the input has to be claimed anew to be watched again.
    public func repairLine(_ address: LineAddress) throws(GPIOError) {
        let key = try resolve(address)
        state.withLock { _ = $0.failures.removeValue(forKey: key) }
    }

    // MARK: Internals used by the line handles

    func setOutput(key: LineKey, token: UInt64, address: LineAddress, active: Bool) throws(GPIOError) {
        try state.withLock { state throws(GPIOError) in
            guard var line = state.lines[key], let claim = line.claim, claim.token == token else {
                throw .lineReleased(address)
            }
            if let reason = state.failures[key] { throw .ioFailed(address, operation: "set", reason: reason) }
            let electricalHigh = active != claim.activeLow
            guard line.electricalHigh != electricalHigh else { return }
            line.electricalHigh = electricalHigh
            state.lines[key] = line
            record(.changed, address: claim.address, consumer: claim.consumer, active: active,
                   electricalHigh: electricalHigh, in: &state)
        }
    }

    func readInput(key: LineKey, token: UInt64, address: LineAddress) throws(GPIOError) -> Bool {
        try state.withLock { state throws(GPIOError) -> Bool in
            guard let line = state.lines[key], let claim = line.claim, claim.token == token else {
                throw .lineReleased(address)
            }
            if let reason = state.failures[key] { throw .ioFailed(address, operation: "read", reason: reason) }
            return (line.electricalHigh ?? false) != claim.activeLow
        }
    }

    func releaseLine(key: LineKey, token: UInt64) {
        let broadcaster = state.withLock { state -> EdgeBroadcaster? in
            guard var line = state.lines[key], let claim = line.claim, claim.token == token else { return nil }
            line.claim = nil
            state.lines[key] = line
            switch claim.role {
            case .output:
                let electricalHigh = line.electricalHigh ?? false
                record(.released, address: claim.address, consumer: claim.consumer,
                       active: electricalHigh != claim.activeLow, electricalHigh: electricalHigh, in: &state)
                return nil
            case .input(_, let broadcaster):
                return broadcaster
            }
        }
        broadcaster?.finish()
    }

    // MARK: Private

    private func resolve(_ address: LineAddress) throws(GPIOError) -> LineKey {
        guard let chip = chips.first(where: { $0.name == address.chip || "/dev/\($0.name)" == address.chip }) else {
            let path = address.chip.hasPrefix("/") ? address.chip : "/dev/\(address.chip)"
            throw .chipNotFound(chip: address.chip, path: path, reason: "no such simulated chip")
        }
        switch address.selector {
        case .offset(let offset):
            guard offset < chip.lineCount else {
                throw .lineNotFound(address, reason: "simulated chip '\(chip.name)' has \(chip.lineCount) lines")
            }
            return LineKey(chip: chip.name, offset: offset)
        case .name(let name):
            guard let offset = chip.lineNames.filter({ $0.value == name }).keys.min() else {
                throw .lineNotFound(address, reason: "no line of simulated chip '\(chip.name)' has that name")
            }
            return LineKey(chip: chip.name, offset: offset)
        }
    }

    private func electricalLevel(forActive active: Bool, of address: LineAddress) throws(GPIOError) -> Bool {
        let key = try resolve(address)
        let activeLow = try state.withLock { state throws(GPIOError) -> Bool in
            guard let claim = state.lines[key]?.claim, case .input = claim.role else {
                throw .invalidRequest(
                    address, reason: "is not claimed as an input, so its active level is unknown; use setInput(_:electricalHigh:)")
            }
            return claim.activeLow
        }
        return active != activeLow
    }

    /// An input nobody drives rests where its bias pulls it; with no bias it rests inactive, as a
    /// correctly wired pull resistor would hold it.
    private static func restingLevel(_ configuration: InputLineConfiguration) -> Bool {
        switch configuration.bias {
        case .pullUp: return true
        case .pullDown: return false
        case .asIs, .disabled: return configuration.activeLow
        }
    }

    private func now(in state: State) -> Double {
        switch timing {
        case .manual:
            return state.clockOffsetSeconds
        case .realTime:
            let elapsed = ContinuousClock.now - clockOrigin
            return state.clockOffsetSeconds + Double(elapsed.components.seconds)
                + Double(elapsed.components.attoseconds) * 1e-18
        }
    }

    private func record(
        _ kind: SimulatedOutputChange.Kind, address: LineAddress, consumer: String, active: Bool,
        electricalHigh: Bool, in state: inout State
    ) {
        state.changes.append(
            SimulatedOutputChange(
                index: state.changes.count, address: address, consumer: consumer, kind: kind, active: active,
                electricalHigh: electricalHigh, atSeconds: now(in: state), instant: .now))
    }

    private func settleDebouncers() {
        let emitted = state.withLock { state -> [(EdgeBroadcaster, Bool)] in
            var emitted: [(EdgeBroadcaster, Bool)] = []
            let nowSeconds = now(in: state)
            for (key, line) in state.lines {
                guard var claim = line.claim, case .input(var debouncer, let broadcaster) = claim.role else { continue }
                if let level = debouncer.advance(toSeconds: nowSeconds) { emitted.append((broadcaster, level)) }
                claim.role = .input(debouncer: debouncer, broadcaster: broadcaster)
                state.lines[key]?.claim = claim
            }
            return emitted
        }
        for (broadcaster, level) in emitted { broadcaster.yield(level) }
    }

    private func scheduleSettlingIfRealTime() {
        guard timing == .realTime else { return }
        let now = clockSeconds
        let deadlines = state.withLock { state in
            state.lines.values.compactMap { line -> Double? in
                guard case .input(let debouncer, _) = line.claim?.role else { return nil }
                return debouncer.deadlineSeconds
            }
        }
        guard let next = deadlines.min() else { return }
        Task { [weak self] in
            try? await Task.sleep(for: .seconds(max(0, next - now)))
            self?.settleDebouncers()
        }
    }
}

final class SimulatedOutputLine: OutputLine {
    let backend: SimulatedGPIOBackend
    let key: SimulatedGPIOBackend.LineKey
    let token: UInt64
    let address: LineAddress

    init(backend: SimulatedGPIOBackend, key: SimulatedGPIOBackend.LineKey, token: UInt64, address: LineAddress) {
        self.backend = backend
        self.key = key
        self.token = token
        self.address = address
    }

    func set(_ active: Bool) async throws(GPIOError) {
        try backend.setOutput(key: key, token: token, address: address, active: active)
    }

    func release() async {
        backend.releaseLine(key: key, token: token)
    }
}

final class SimulatedInputLine: InputLine {
    let backend: SimulatedGPIOBackend
    let key: SimulatedGPIOBackend.LineKey
    let token: UInt64
    let address: LineAddress
    private let broadcaster: EdgeBroadcaster

    init(
        backend: SimulatedGPIOBackend, key: SimulatedGPIOBackend.LineKey, token: UInt64, address: LineAddress,
        broadcaster: EdgeBroadcaster
    ) {
        self.backend = backend
        self.key = key
        self.token = token
        self.address = address
        self.broadcaster = broadcaster
    }

    func read() async throws(GPIOError) -> Bool {
        try backend.readInput(key: key, token: token, address: address)
    }

    var changes: AsyncStream<Bool> { broadcaster.makeStream() }

    func release() async {
        backend.releaseLine(key: key, token: token)
    }
}
