/// The service's live state as its readers (HTTP, metrics, BMS) see it. Data flows one way: a
/// reader asks for a snapshot and never reaches into the pollers or the alarm machines.
public protocol LiveStateProvider: Sendable {
    func systems() async -> [SystemStatus]
    /// Every status change from now on (a new reading, an alarm change, data going stale), for
    /// the live stream. The stream ends if its reader falls too far behind.
    func statusUpdates() -> AsyncStream<SystemStatus>
    /// What a signed-in user asks of one system's alarm.
    func perform(_ action: OperatorAction, system: String, user: String) async -> ActionOutcome
}

/// The answer to an operator action.
public enum ActionOutcome: Sendable, Equatable {
    case done
    case noSuchSystem
    /// Not carried out (a test while one runs, or too soon after the last): nothing changed.
    case refused(reason: String, retryAfterSeconds: Int)
}

/// The panel's buttons, pressed from the dashboard or the API by a signed-in user.
public enum OperatorAction: String, Sendable, CaseIterable {
    /// Mutes the buzzer only; the yellow lamp stays.
    case silence
    /// Mutes the buzzer and clears alarms that have already gone.
    case acknowledge
    /// Tests the monitoring device and the alarm chain (lamps and buzzer).
    case test
}
