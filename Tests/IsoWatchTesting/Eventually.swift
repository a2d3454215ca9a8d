/// Waits until `condition` holds, checking every `poll`, for at most `seconds`; returns whether it
/// held. The deadline is generous on purpose: it bounds a test that would otherwise hang, and a
/// loaded 2-core machine must never turn a slow pass into a failure. What a test asserts is the
/// condition itself (a line's level, an event's order), never how soon it came.
public func eventually(
    within seconds: Double = 60, poll: Duration = .milliseconds(20), _ condition: () -> Bool
) async throws -> Bool {
    let start = ContinuousClock.now
    while start.duration(to: .now) < .seconds(seconds) {
        if condition() { return true }
        try await Task.sleep(for: poll)
    }
    return condition()
}
