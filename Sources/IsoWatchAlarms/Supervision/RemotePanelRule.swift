/// What a remote panel shows for the systems it covers (a nurses' station watching several
/// theatres): alarm policy, so it lives with the alarm machine rather than with the relays.
extension AlarmOutputs {
    /// Yellow, buzzer and common alarm when any member shows them; green only when every member
    /// is green. A member that has not reported yet counts as in alarm: like a theatre's own
    /// panel, a remote one starts in alarm and never shows green on trust.
    public static func combining(_ members: [AlarmOutputs?]) -> AlarmOutputs {
        let known = members.compactMap { $0 }
        let unknown = known.count < members.count
        let yellow = unknown || known.contains(where: \.yellow)
        return AlarmOutputs(
            green: !unknown && !known.isEmpty && known.allSatisfy(\.green),
            yellow: yellow,
            buzzer: unknown || known.contains(where: \.buzzer),
            commonAlarm: unknown || known.contains(where: \.commonAlarm),
            indicators: known.reduce(into: Set<AlarmCondition>()) { $0.formUnion($1.indicators) },
            oldAlarms: known.reduce(into: Set<AlarmCondition>()) { $0.formUnion($1.oldAlarms) },
            testInProgress: known.contains(where: \.testInProgress))
    }
}
