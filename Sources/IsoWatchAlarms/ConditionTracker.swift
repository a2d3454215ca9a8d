import IsoWatchCore

/// The response and release delays of one condition.
///
/// A condition changes state only after the evidence has pointed the other way for the whole delay
/// without contradiction. This is what keeps a value hovering around a threshold from flickering
/// the lamps, and why every change is at least one delay away from the previous one.
struct ConditionTracker: Sendable {
    private(set) var isActive = false
    /// Since when the evidence has pointed away from the current state.
    private(set) var pendingSince: Duration?
    /// When a pending raise began, for the episode's onset.
    private(set) var onset: AlarmTime?
    /// Values seen while the raise was pending; they belong to the episode that follows.
    private(set) var worstWhilePending: [Quantity: MeasuredValue] = [:]
    /// The first explanation given while the raise was pending (why communication was lost).
    private(set) var detail: String?

    var isPendingRaise: Bool { !isActive && pendingSince != nil }

    func deadline(_ delays: ConditionDelays) -> Duration? {
        pendingSince.map { $0 + (isActive ? delays.releaseDelay : delays.responseDelay) }
    }

    mutating func observe(
        _ evidence: Evidence, values: [Quantity: MeasuredValue], detail: String?, at time: AlarmTime
    ) {
        if isActive {
            switch evidence {
            case .released:
                if pendingSince == nil { pendingSince = time.monotonic }
            case .violating, .withinHysteresis, .uncertain:
                pendingSince = nil
            }
            return
        }
        switch evidence {
        case .violating:
            if pendingSince == nil {
                pendingSince = time.monotonic
                onset = time
                worstWhilePending = [:]
                self.detail = nil
            }
        case .withinHysteresis, .released:
            pendingSince = nil
            onset = nil
            worstWhilePending = [:]
            self.detail = nil
        case .uncertain:
            break
        }
        if pendingSince != nil {
            worstWhilePending.keepWorst(of: values)
            if self.detail == nil { self.detail = detail }
        }
    }

    mutating func becomeActive() {
        isActive = true
        pendingSince = nil
        onset = nil
        worstWhilePending = [:]
        detail = nil
    }

    mutating func becomeInactive() {
        isActive = false
        pendingSince = nil
    }
}
