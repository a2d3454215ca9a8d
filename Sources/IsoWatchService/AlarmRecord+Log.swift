import IsoWatchAlarms
import IsoWatchCore

extension AlarmRecord {
    /// One line for the log (journald), e.g. `raised insulation (worst insulation_resistance_ohms=30000)`.
    var logSummary: String {
        switch kind {
        case let .raised(episode):
            return "raised \(episode.condition.rawValue)\(Self.details(episode))"
        case let .cleared(episode):
            return "cleared \(episode.condition.rawValue)\(Self.details(episode))"
        case let .silenced(user, conditions):
            return "silenced by \(user): \(conditions.map(\.rawValue).joined(separator: ", "))"
        case let .acknowledged(user, episodes):
            return "acknowledged by \(user): \(episodes.map(\.condition.rawValue).joined(separator: ", "))"
        case let .resounded(.newCondition(condition)):
            return "buzzer re-sounded: new condition \(condition.rawValue)"
        case .resounded(.reAlarmIntervalElapsed):
            return "buzzer re-sounded: re-alarm time elapsed"
        case let .testStarted(user):
            return "test started" + (user.map { " by \($0)" } ?? "")
        case let .testEnded(user):
            return "test ended" + (user.map { " (started by \($0))" } ?? "")
        case let .selfTestResult(passed):
            return "device self-test \(passed ? "passed" : "FAILED")"
        }
    }

    private static func details(_ episode: AlarmEpisode) -> String {
        var parts = episode.worstValues.sorted { $0.key < $1.key }.map { "worst \($0.key.rawValue)=\($0.value.value)" }
        if let detail = episode.detail { parts.append(detail) }
        return parts.isEmpty ? "" : " (\(parts.joined(separator: "; ")))"
    }
}
