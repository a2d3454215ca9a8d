import Foundation
import Synchronization

/// The state of one add-on: a part of the service that the monitoring does not depend on (the BMS
/// server, the users file, the HTTP server itself). An add-on that cannot start or stops working
/// is `degraded` and retried; the alarms, relays and heartbeat run regardless.
public struct AddOnState: Sendable, Equatable, Encodable {
    public enum Status: String, Sendable, Encodable {
        /// Its first attempt has not ended yet.
        case starting
        case ok
        /// It failed and is retried at `nextAttempt`.
        case degraded
    }

    public var name: String
    public var status: Status
    /// Why it is degraded (nil otherwise).
    public var reason: String?
    /// When it entered this status.
    public var since: Date
    public var nextAttempt: Date?

    public init(name: String, status: Status, reason: String? = nil, since: Date, nextAttempt: Date? = nil) {
        self.name = name
        self.status = status
        self.reason = reason
        self.since = since
        self.nextAttempt = nextAttempt
    }

    enum CodingKeys: String, CodingKey {
        case name, status, reason, since
        case nextAttempt = "next_attempt"
    }
}

/// Where the add-ons' supervisors post their state, and `/healthz` and the dashboard read it.
public final class AddOnBoard: Sendable {
    private let states: Mutex<[AddOnState]>

    public init() {
        states = Mutex([])
    }

    /// Replaces the state of the add-on with that name (or adds it, in the order first seen).
    public func post(_ state: AddOnState) {
        states.withLock { states in
            if let index = states.firstIndex(where: { $0.name == state.name }) {
                states[index] = state
            } else {
                states.append(state)
            }
        }
    }

    public var all: [AddOnState] {
        states.withLock { $0 }
    }

    public func state(of name: String) -> AddOnState? {
        all.first { $0.name == name }
    }
}
