import Foundation

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose whole state is one word, so a
/// simulated waveform is reproduced bit for bit from its seed on every platform. Benchmarks of
/// the estimator are compared across runs by seed, which system randomness cannot give.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The SplitMix64 finaliser on its own: a stateless hash, used where a disturbance must be a
    /// pure function of (seed, time slot) rather than of how many samples came before.
    public static func mix(_ word: UInt64) -> UInt64 {
        var z = word
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1) from the top 53 bits (the mantissa width of a Double).
    public mutating func nextUnitInterval() -> Double {
        Self.unitInterval(next())
    }

    public static func unitInterval(_ word: UInt64) -> Double {
        Double(word >> 11) * 0x1.0p-53
    }

    /// A standard normal value by Box–Muller; one draw per call keeps the state a single word.
    public mutating func nextStandardNormal() -> Double {
        // 1 − u lies in (0, 1], so the logarithm is finite.
        let u1 = 1 - nextUnitInterval()
        let u2 = nextUnitInterval()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
