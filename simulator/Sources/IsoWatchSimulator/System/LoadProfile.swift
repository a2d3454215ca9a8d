import Foundation

/// The secondary current a medical IT system's consumers draw over time.
///
/// `theatreDay` follows a working day in an operating theatre: a small night base (monitors,
/// anaesthesia machine on standby), a morning ramp, surgery blocks with equipment switched on and
/// off (electrosurgery, warming, lights), a turnover pause at noon and an evening taper. The
/// step heights of the surgery blocks come from the seed: one hashed draw per 5-minute slot, so
/// the load at any instant is a pure function of (seed, time) and does not depend on how often
/// anyone asks.
public enum LoadProfile: Sendable, Equatable {
    case constant(amperes: Double)
    /// `peakAmperes` is the busiest moment; `startSecondsOfDay` is the wall-clock time of day at
    /// physics time 0 (for a scenario that starts at 07:00, 25 200).
    case theatreDay(peakAmperes: Double, seed: UInt64, startSecondsOfDay: Double)

    public static let slotSeconds = 300.0

    public func amperes(atSeconds seconds: Double) -> Double {
        switch self {
        case .constant(let amperes):
            return amperes
        case .theatreDay(let peak, let seed, let start):
            let secondsOfDay = (start + seconds).truncatingRemainder(dividingBy: 86_400)
            let hour = (secondsOfDay < 0 ? secondsOfDay + 86_400 : secondsOfDay) / 3600
            let slot = UInt64(max(0, (start + seconds) / Self.slotSeconds))
            let draw = SplitMix64.unitInterval(SplitMix64.mix(seed ^ (slot &* 0x9E37_79B9_7F4A_7C15)))
            return peak * Self.fraction(hour: hour, draw: draw)
        }
    }

    /// Fraction of the peak at `hour` (0..<24); `draw` in [0, 1) varies the surgery blocks.
    static func fraction(hour: Double, draw: Double) -> Double {
        let night = 0.08
        switch hour {
        case ..<6.5: return night
        case ..<8: return night + (0.35 - night) * (hour - 6.5) / 1.5
        case ..<12, 13..<16.5: return 0.45 + 0.55 * draw
        case ..<13: return 0.30
        case ..<19: return 0.35 - (0.35 - night) * (hour - 16.5) / 2.5
        default: return night
        }
    }
}
