import Foundation
import IsoWatchThreads
import Synchronization

/// The theatre panel of a simulated site: the digital lines a service drives (green and yellow
/// lamps, buzzer, common-alarm contact) and watches (test, mute and acknowledge buttons, the
/// IMD's alarm contact). The service claims them over the panel protocol (`PanelServer`, used by
/// isowatch's `SimulatorPanelBackend`); a test bench reads the outputs and drives the inputs
/// through the control interface.
///
/// A line is named as the service's configuration names it (`gpiochip0:17`, or
/// `gpiochip0:"OR3_ACK"` for a named line); the panel has no chip layout, so a name and an
/// offset are different lines. Levels are electrical; `activeLow` comes with the claim.
///
/// With a `PanelWatchdog` the panel also models a retriggerable watchdog relay whose contact
/// supplies every other output relay's coil: while the heartbeat line has not changed level
/// within the timeout (never yet, or stopped), every output except the heartbeat reads as
/// de-energised (`effectivelyEnergised`), whatever level its line keeps. Time is this process's
/// monotonic clock, not physics time: the relay is hardware on the wall's time.
public final class SimulatedPanel: Sendable {
    public struct Line: Sendable, Equatable, Codable {
        public enum Role: String, Sendable, Codable { case unclaimed, output, input }

        public var line: String
        public var role: Role
        public var consumer: String?
        public var activeLow: Bool
        /// nil until someone drives the line.
        public var electricalHigh: Bool?
        /// The logical state under the present claim (relay energised, button pressed).
        public var active: Bool?
        /// How often an output changed level since it was first claimed.
        public var changes: Int
        /// For a line last claimed as an output: whether its relay's coil actually carries current,
        /// that is `active` while the watchdog relay holds, false while it is tripped. The
        /// heartbeat line itself, and every output of a panel without a watchdog, read as `active`.
        /// nil for inputs and lines never claimed as an output.
        public var effectivelyEnergised: Bool?

        enum CodingKeys: String, CodingKey {
            case line, role, consumer, active, changes
            case activeLow = "active_low"
            case electricalHigh = "electrical_high"
            case effectivelyEnergised = "effectively_energised"
        }
    }

    /// The watchdog relay dropping (`tripped`) or pulling in again, for a bench that wants to see
    /// it between the output changes.
    public struct WatchdogEvent: Sendable, Equatable, Codable {
        public var index: Int
        public var tripped: Bool
        /// `clockSeconds` at the event: for a trip, the moment the timeout ran out after the last
        /// heartbeat edge (not when a check noticed it); for a recovery, the edge that ended it.
        public var atSeconds: Double
        /// How many entries `outputHistory` had then: the event comes after those.
        public var outputChangesBefore: Int

        enum CodingKeys: String, CodingKey {
            case index, tripped
            case atSeconds = "at_seconds"
            case outputChangesBefore = "output_changes_before"
        }
    }

    /// The watchdog relay now.
    public struct WatchdogStatus: Sendable, Equatable, Codable {
        public var heartbeat: String
        public var timeoutSeconds: Double
        /// The relay has dropped: no heartbeat edge within the timeout, or none yet.
        public var tripped: Bool
        /// Seconds since the heartbeat line last changed level; nil before the first edge.
        public var lastToggleAgeSeconds: Double?
        /// Heartbeat edges seen so far.
        public var toggles: Int

        enum CodingKeys: String, CodingKey {
            case heartbeat, tripped, toggles
            case timeoutSeconds = "timeout_seconds"
            case lastToggleAgeSeconds = "last_toggle_age_seconds"
        }
    }

    /// One output level change, for a bench that wants the sequence rather than the state.
    public struct OutputChange: Sendable, Equatable, Codable {
        public var index: Int
        public var line: String
        public var consumer: String
        public var active: Bool
        public var electricalHigh: Bool

        enum CodingKeys: String, CodingKey {
            case index, line, consumer, active
            case electricalHigh = "electrical_high"
        }
    }

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case busy(line: String, consumer: String)
        case released
        case notAnInput(line: String)
        case unknownLine(String)

        public var description: String {
            switch self {
            case .busy(let line, let consumer): "line \(line) is claimed by '\(consumer)'"
            case .released: "the claim was released"
            case .notAnInput(let line): "line \(line) is driven by its consumer (an output); only inputs can be driven"
            case .unknownLine(let line): "no line \(line) on the panel"
            }
        }
    }

    struct Claim {
        var handle: Int
        var connection: Int
        var consumer: String
        var activeLow: Bool
        var isOutput: Bool
    }

    struct LineState {
        var electricalHigh: Bool?
        var claim: Claim?
        var changes = 0
        var activeLowOfLastClaim = false
        var consumerOfLastClaim: String?
        var lastClaimWasOutput = false
    }

    struct WatchdogState {
        let settings: PanelWatchdog
        /// The panel's name of the heartbeat line.
        let line: String
        var lastToggle: ContinuousClock.Instant?
        var tripped = true
        var toggles = 0
        var history: [WatchdogEvent] = []
    }

    struct State {
        var lines: [String: LineState] = [:]
        var handles: [Int: String] = [:]
        var nextHandle = 1
        var history: [OutputChange] = []
        /// Per connection: how to tell it that an input it claimed changed.
        var notifiers: [Int: @Sendable (Int, Bool) -> Void] = [:]
        var watchdog: WatchdogState?
        let start: ContinuousClock.Instant

        func seconds(at instant: ContinuousClock.Instant) -> Double {
            let (whole, fraction) = start.duration(to: instant).components
            return Double(whole) + Double(fraction) * 1e-18
        }

        /// Drops the watchdog relay if the timeout after the last edge has run out by `now`.
        mutating func checkWatchdog(now: ContinuousClock.Instant) {
            guard var watchdog, !watchdog.tripped, let last = watchdog.lastToggle else { return }
            let deadline = last.advanced(by: .milliseconds(Int64((watchdog.settings.timeoutSeconds * 1000).rounded())))
            guard now >= deadline else { return }
            watchdog.tripped = true
            watchdog.history.append(
                WatchdogEvent(index: watchdog.history.count, tripped: true, atSeconds: seconds(at: deadline), outputChangesBefore: history.count))
            self.watchdog = watchdog
        }

        /// An output line changed level at `now`. A trip that fell due before goes into the
        /// watchdog's history first, even when the checking thread has not come round yet. On the
        /// heartbeat line the change is an edge the watchdog relay counts; true then, as it is not
        /// an output change to record (the toggling would flood `history`).
        mutating func outputChanged(_ name: String, now: ContinuousClock.Instant) -> Bool {
            checkWatchdog(now: now)
            guard var watchdog, watchdog.line == name else { return false }
            watchdog.lastToggle = now
            watchdog.toggles += 1
            if watchdog.tripped {
                watchdog.tripped = false
                watchdog.history.append(
                    WatchdogEvent(index: watchdog.history.count, tripped: false, atSeconds: seconds(at: now), outputChangesBefore: history.count))
            }
            self.watchdog = watchdog
            return true
        }

        /// Gives `name` to `claim` (its handle is `nextHandle`) unless someone holds it;
        /// `setLevel` sets the line's level as the claim's direction requires.
        mutating func claim(_ name: String, _ claim: Claim, setLevel: (inout LineState) -> Void) throws(Refusal) -> Int {
            var line = lines[name] ?? LineState()
            if let holder = line.claim { throw .busy(line: name, consumer: holder.consumer) }
            nextHandle += 1
            line.claim = claim
            line.activeLowOfLastClaim = claim.activeLow
            line.consumerOfLastClaim = claim.consumer
            line.lastClaimWasOutput = claim.isOutput
            setLevel(&line)
            lines[name] = line
            handles[claim.handle] = name
            return claim.handle
        }
    }

    private let state: Mutex<State>
    /// The watchdog relay's settings; nil: the panel has none.
    public let watchdog: PanelWatchdog?

    /// - Parameter watchdog: its `heartbeat` must be a line name `PanelWatchdog.lineName` accepts.
    public init(watchdog: PanelWatchdog? = nil) {
        self.watchdog = watchdog
        var initial = State(start: ContinuousClock.now)
        if let watchdog {
            initial.watchdog = WatchdogState(settings: watchdog, line: PanelWatchdog.lineName(watchdog.heartbeat) ?? watchdog.heartbeat)
        }
        state = Mutex(initial)
        guard let watchdog else { return }
        // The trip must enter the history when it happens, not when someone next reads the panel:
        // a thread checks a few times per timeout. It holds the panel weakly and ends with it (or
        // at `stopWatchdog()`).
        let interval = max(0.005, min(0.05, watchdog.timeoutSeconds / 20))
        OwnedThread.essential(name: "sim-panel-wdog") { [weak self] in
            while let panel = self, !panel.watchdogStopped.withLock({ $0 }) {
                panel.state.withLock { $0.checkWatchdog(now: .now) }
                Thread.sleep(forTimeInterval: interval)
            }
        }
    }

    private let watchdogStopped = Mutex(false)

    /// Ends the watchdog's checking thread (the simulator calls it when it stops); reads still
    /// evaluate the timeout.
    public func stopWatchdog() {
        watchdogStopped.withLock { $0 = true }
    }

    /// Seconds on the panel's monotonic clock since it was made: the time base of `WatchdogEvent`.
    public var clockSeconds: Double {
        state.withLock { $0.seconds(at: .now) }
    }

    /// Whether the watchdog relay has dropped (no heartbeat edge within its timeout, or none yet);
    /// false for a panel without a watchdog.
    public var watchdogTripped: Bool {
        watchdogStatus?.tripped ?? false
    }

    /// The watchdog relay now; nil for a panel without one.
    public var watchdogStatus: WatchdogStatus? {
        state.withLock { state in
            let now = ContinuousClock.now
            state.checkWatchdog(now: now)
            return state.watchdog.map { watchdog in
                WatchdogStatus(
                    heartbeat: watchdog.line, timeoutSeconds: watchdog.settings.timeoutSeconds, tripped: watchdog.tripped,
                    lastToggleAgeSeconds: watchdog.lastToggle.map { state.seconds(at: now) - state.seconds(at: $0) },
                    toggles: watchdog.toggles)
            }
        }
    }

    /// Every trip and recovery of the watchdog relay so far, oldest first.
    public var watchdogHistory: [WatchdogEvent] {
        state.withLock { state in
            state.checkWatchdog(now: .now)
            return state.watchdog?.history ?? []
        }
    }

    /// Whether the relay on an output line actually carries current (see `Line.effectivelyEnergised`).
    public func effectivelyEnergised(_ name: String) -> Bool? { line(name)?.effectivelyEnergised }

    // MARK: For the control interface

    public var lines: [Line] {
        state.withLock { state in
            state.checkWatchdog(now: .now)
            let dropped = state.watchdog?.tripped ?? false
            return state.lines.keys.sorted().map { name in
                let line = state.lines[name]!
                let role: Line.Role = line.claim.map { $0.isOutput ? .output : .input } ?? .unclaimed
                let activeLow = line.claim?.activeLow ?? line.activeLowOfLastClaim
                let active = line.electricalHigh.map { $0 != activeLow }
                var effective: Bool?
                if line.lastClaimWasOutput {
                    effective = state.watchdog?.line == name ? active : active.map { $0 && !dropped }
                }
                return Line(
                    line: name, role: role, consumer: line.claim?.consumer ?? line.consumerOfLastClaim, activeLow: activeLow,
                    electricalHigh: line.electricalHigh, active: active, changes: line.changes, effectivelyEnergised: effective)
            }
        }
    }

    public func line(_ name: String) -> Line? { lines.first { $0.line == name } }

    /// Every output claim and change so far, oldest first.
    public var outputHistory: [OutputChange] { state.withLock { $0.history } }

    /// Applies an electrical level to a line from outside (a button, the IMD's contact). A line
    /// nobody claimed yet keeps it: the service sees it when it claims the line.
    public func drive(_ name: String, electricalHigh: Bool) throws(Refusal) {
        let notify = try state.withLock { state throws(Refusal) -> (@Sendable (Int, Bool) -> Void, Int)? in
            var line = state.lines[name] ?? LineState()
            if let claim = line.claim, claim.isOutput { throw .notAnInput(line: name) }
            let changed = line.electricalHigh != electricalHigh
            line.electricalHigh = electricalHigh
            state.lines[name] = line
            guard changed, let claim = line.claim, let notifier = state.notifiers[claim.connection] else { return nil }
            return (notifier, claim.handle)
        }
        if let (notifier, handle) = notify { notifier(handle, electricalHigh) }
    }

    /// Makes an input logically active or inactive under its claim's `active_low`.
    public func drive(_ name: String, active: Bool) throws(Refusal) {
        let activeLow = try state.withLock { state throws(Refusal) -> Bool in
            guard let line = state.lines[name] else { throw .unknownLine(name) }
            if let claim = line.claim, claim.isOutput { throw .notAnInput(line: name) }
            return line.claim?.activeLow ?? line.activeLowOfLastClaim
        }
        try drive(name, electricalHigh: active != activeLow)
    }

    // MARK: For the panel server

    func register(connection: Int, notifier: @escaping @Sendable (Int, Bool) -> Void) {
        state.withLock { $0.notifiers[connection] = notifier }
    }

    /// Releases every claim of a connection that went away; outputs keep their last level, as a
    /// GPIO chip keeps a released line's.
    func unregister(connection: Int) {
        state.withLock { state in
            state.notifiers.removeValue(forKey: connection)
            for (handle, name) in state.handles where state.lines[name]?.claim?.connection == connection {
                state.lines[name]?.claim = nil
                state.handles.removeValue(forKey: handle)
            }
        }
    }

    func claimOutput(_ name: String, connection: Int, activeLow: Bool, initialHigh: Bool, consumer: String) throws(Refusal)
        -> Int
    {
        try state.withLock { state throws(Refusal) -> Int in
            let handle = try state.claim(
                name, Claim(handle: state.nextHandle, connection: connection, consumer: consumer, activeLow: activeLow, isOutput: true)
            ) { line in
                if line.electricalHigh != initialHigh { line.changes += 1 }
                line.electricalHigh = initialHigh
            }
            guard state.watchdog?.line != name else { return handle }
            state.checkWatchdog(now: .now)
            state.history.append(
                OutputChange(
                    index: state.history.count, line: name, consumer: consumer, active: initialHigh != activeLow,
                    electricalHigh: initialHigh))
            return handle
        }
    }

    /// Returns the handle and the level the input sees now.
    func claimInput(_ name: String, connection: Int, activeLow: Bool, restingHigh: Bool, consumer: String) throws(Refusal)
        -> (Int, Bool)
    {
        try state.withLock { state throws(Refusal) -> (Int, Bool) in
            var level = restingHigh
            let handle = try state.claim(
                name, Claim(handle: state.nextHandle, connection: connection, consumer: consumer, activeLow: activeLow, isOutput: false)
            ) { line in
                // A level driven before the claim (a button already pressed) wins over the resting level.
                level = line.electricalHigh ?? restingHigh
                line.electricalHigh = level
            }
            return (handle, level)
        }
    }

    func set(handle: Int, connection: Int, electricalHigh: Bool) throws(Refusal) {
        try state.withLock { state throws(Refusal) in
            guard let name = state.handles[handle], var line = state.lines[name], let claim = line.claim,
                claim.connection == connection, claim.isOutput
            else { throw .released }
            guard line.electricalHigh != electricalHigh else { return }
            line.electricalHigh = electricalHigh
            line.changes += 1
            state.lines[name] = line
            if state.outputChanged(name, now: .now) { return }
            state.history.append(
                OutputChange(
                    index: state.history.count, line: name, consumer: claim.consumer, active: electricalHigh != claim.activeLow,
                    electricalHigh: electricalHigh))
        }
    }

    func read(handle: Int, connection: Int) throws(Refusal) -> Bool {
        try state.withLock { state throws(Refusal) -> Bool in
            guard let name = state.handles[handle], let line = state.lines[name], let claim = line.claim,
                claim.connection == connection
            else { throw .released }
            return line.electricalHigh ?? false
        }
    }

    func release(handle: Int, connection: Int) {
        state.withLock { state in
            guard let name = state.handles[handle], state.lines[name]?.claim?.connection == connection else { return }
            state.lines[name]?.claim = nil
            state.handles.removeValue(forKey: handle)
        }
    }
}
