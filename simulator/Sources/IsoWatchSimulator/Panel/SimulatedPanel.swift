import Foundation
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

        enum CodingKeys: String, CodingKey {
            case line, role, consumer, active, changes
            case activeLow = "active_low"
            case electricalHigh = "electrical_high"
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
    }

    struct State {
        var lines: [String: LineState] = [:]
        var handles: [Int: String] = [:]
        var nextHandle = 1
        var history: [OutputChange] = []
        /// Per connection: how to tell it that an input it claimed changed.
        var notifiers: [Int: @Sendable (Int, Bool) -> Void] = [:]

        /// Gives `name` to `claim` (its handle is `nextHandle`) unless someone holds it;
        /// `setLevel` sets the line's level as the claim's direction requires.
        mutating func claim(_ name: String, _ claim: Claim, setLevel: (inout LineState) -> Void) throws(Refusal) -> Int {
            var line = lines[name] ?? LineState()
            if let holder = line.claim { throw .busy(line: name, consumer: holder.consumer) }
            nextHandle += 1
            line.claim = claim
            line.activeLowOfLastClaim = claim.activeLow
            line.consumerOfLastClaim = claim.consumer
            setLevel(&line)
            lines[name] = line
            handles[claim.handle] = name
            return claim.handle
        }
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: For the control interface

    public var lines: [Line] {
        state.withLock { state in
            state.lines.keys.sorted().map { name in
                let line = state.lines[name]!
                let role: Line.Role = line.claim.map { $0.isOutput ? .output : .input } ?? .unclaimed
                let activeLow = line.claim?.activeLow ?? line.activeLowOfLastClaim
                return Line(
                    line: name, role: role, consumer: line.claim?.consumer ?? line.consumerOfLastClaim, activeLow: activeLow,
                    electricalHigh: line.electricalHigh, active: line.electricalHigh.map { $0 != activeLow },
                    changes: line.changes)
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
