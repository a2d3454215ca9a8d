/// Turns raw samples of a bouncing contact into stable logical changes.
///
/// Pure logic: the caller supplies the time of every sample (seconds on any monotonic scale) and
/// calls `advance(toSeconds:)` when `deadlineSeconds` has passed without a new sample. A new raw
/// level becomes the stable level once it has held, with no other level seen, for
/// `debounceSeconds`; a shorter excursion is a bounce and is forgotten. Both the libgpiod edge
/// thread and the simulated backend use this one type, so simulated buttons bounce like real ones.
public struct Debouncer: Sendable, Equatable {
    public let debounceSeconds: Double
    /// The debounced level: what the rest of the system is told.
    public private(set) var stableLevel: Bool
    /// The last level sampled, which may still be bouncing.
    public private(set) var rawLevel: Bool
    /// When `rawLevel` was first seen, if it differs from `stableLevel`.
    private var rawLevelSinceSeconds: Double?
    /// The latest time seen; earlier timestamps are treated as this one so that a clock step
    /// backwards can never shorten the debounce time.
    private var latestSeconds: Double

    /// - Precondition: `debounceSeconds` is finite and not negative.
    public init(initialLevel: Bool, debounceSeconds: Double, startSeconds: Double = 0) {
        precondition(debounceSeconds.isFinite && debounceSeconds >= 0, "debounce time must be finite and non-negative")
        self.debounceSeconds = debounceSeconds
        self.stableLevel = initialLevel
        self.rawLevel = initialLevel
        self.rawLevelSinceSeconds = nil
        self.latestSeconds = startSeconds
    }

    /// The time at which the pending level becomes stable if no other sample arrives first;
    /// nil when nothing is pending.
    public var deadlineSeconds: Double? {
        rawLevelSinceSeconds.map { $0 + debounceSeconds }
    }

    /// Feeds the level seen at `seconds`. Returns the new stable level when this sample (or the
    /// time it carries) completes a change, nil otherwise. At most one change results, because a
    /// change pending before this sample settles first and a new one needs time to hold.
    public mutating func sample(_ level: Bool, atSeconds seconds: Double) -> Bool? {
        let settled = advance(toSeconds: seconds)
        if level != rawLevel {
            rawLevel = level
            rawLevelSinceSeconds = level == stableLevel ? nil : latestSeconds
        }
        return advance(toSeconds: latestSeconds) ?? settled
    }

    /// Lets time pass without a new sample. Returns the new stable level if the pending level
    /// has now held for the debounce time.
    public mutating func advance(toSeconds seconds: Double) -> Bool? {
        latestSeconds = max(latestSeconds, seconds)
        guard let deadline = deadlineSeconds, latestSeconds >= deadline else { return nil }
        stableLevel = rawLevel
        rawLevelSinceSeconds = nil
        return stableLevel
    }
}
