import Foundation

/// An instant as the alarm machine sees it.
///
/// Delays are measured on `monotonic` so that a wall-clock step (NTP, daylight saving, an operator
/// setting the date) can neither release an alarm early nor hold it forever; `wall` is only copied
/// into records for people to read.
public struct AlarmTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Time since an arbitrary origin that never jumps (for example `ContinuousClock`).
    public var monotonic: Duration
    /// The calendar time at the same instant.
    public var wall: Date

    public init(monotonic: Duration, wall: Date) {
        self.monotonic = monotonic
        self.wall = wall
    }

    public static func < (lhs: AlarmTime, rhs: AlarmTime) -> Bool {
        (lhs.monotonic, lhs.wall) < (rhs.monotonic, rhs.wall)
    }

    public var description: String { "\(monotonic) (\(wall))" }

    /// The same clock pair at an earlier monotonic instant, for rules that fired between two events.
    func rewound(to instant: Duration) -> AlarmTime {
        AlarmTime(monotonic: instant, wall: wall.addingTimeInterval(-(monotonic - instant).seconds))
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
}
