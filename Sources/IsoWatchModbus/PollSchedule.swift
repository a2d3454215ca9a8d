/// When one unit is next asked. A plain value with no clock of its own: the bus thread passes
/// the time of every outcome, so the rules (keep the phase, patience, then backoff) are testable
/// with instants a test makes up.
struct PollSchedule: Sendable, Equatable {
    var nextDue: ContinuousClock.Instant
    private(set) var consecutiveFailures = 0
    /// When the current run of failures began.
    private(set) var failingSince: ContinuousClock.Instant?
    /// Failures since the unit's patience ran out: these set the backoff.
    private(set) var failuresBeyondPatience = 0

    init(firstDue: ContinuousClock.Instant) {
        nextDue = firstDue
    }

    var isFailing: Bool { consecutiveFailures > 0 }

    mutating func recordSuccess(at now: ContinuousClock.Instant, intervalSeconds: Double) {
        consecutiveFailures = 0
        failingSince = nil
        failuresBeyondPatience = 0
        let interval = Duration.seconds(intervalSeconds)
        guard interval > .zero else {
            // Back to back (a throughput run); the configuration refuses intervals below 0.1 s.
            nextDue = now
            return
        }
        // Keep the phase; skip the slots that a slow poll has already missed, counted rather
        // than stepped through one by one (a poll of 20 ms at a 1 µs interval is 20 000 slots).
        let late = nextDue.duration(to: now)
        let missed = late >= .zero ? Int((late / interval).rounded(.down)) : 0
        nextDue += interval * (missed + 1)
        while nextDue <= now { nextDue += interval }
    }

    /// A failing unit is asked at its interval until it has failed for `patienceSeconds`, then
    /// with backoff (see `PolledDevice.patienceSeconds` for why not sooner).
    mutating func recordFailure(
        at now: ContinuousClock.Instant, intervalSeconds: Double, patienceSeconds: Double, backoff: BackoffPolicy
    ) {
        consecutiveFailures += 1
        let since = failingSince ?? now
        failingSince = since
        let delay: Double
        if since.duration(to: now) < .seconds(patienceSeconds) {
            delay = intervalSeconds
        } else {
            failuresBeyondPatience += 1
            delay = backoff.unitDelay(interval: intervalSeconds, afterFailures: failuresBeyondPatience)
        }
        nextDue = now + .seconds(delay)
    }

    /// The link came back after failing: a unit it left backing off is asked now.
    mutating func askNowIfFailing(_ now: ContinuousClock.Instant) {
        if isFailing { nextDue = min(nextDue, now) }
    }
}
