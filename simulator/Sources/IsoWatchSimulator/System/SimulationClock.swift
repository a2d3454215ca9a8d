import Foundation
import Synchronization

/// Physics time for a running simulator. Thermal models, load profiles and device response times
/// advance on it; wire timing (baud rate, turnaround, gateway timeouts) stays on the wall clock,
/// so an accelerated simulator still talks Modbus at real speed.
///
/// - `.accelerated(factor)`: physics seconds = factor × wall seconds since the start (1 = real time);
///   `isowatch-sim serve --time-factor 60` runs an hour of winding temperature in a minute.
/// - `.manual`: physics time moves only by `advance(bySeconds:)`, for tests that must not depend
///   on how fast the machine is.
public final class SimulationClock: Sendable {
    public enum Mode: Sendable, Equatable {
        case accelerated(factor: Double)
        case manual
    }

    public let mode: Mode
    private let wallOrigin: Double
    private let manualSeconds = Mutex(0.0)

    public init(_ mode: Mode = .accelerated(factor: 1)) {
        if case .accelerated(let factor) = mode { precondition(factor > 0 && factor.isFinite) }
        self.mode = mode
        self.wallOrigin = monotonicSeconds()
    }

    public var timeFactor: Double {
        if case .accelerated(let factor) = mode { factor } else { 0 }
    }

    public var physicsSeconds: Double {
        switch mode {
        case .accelerated(let factor): return factor * (monotonicSeconds() - wallOrigin)
        case .manual: return manualSeconds.withLock { $0 }
        }
    }

    /// The monotonic wall instant (`monotonicSeconds()`) at which physics time reaches `seconds`;
    /// nil for a manual clock.
    func wallSeconds(atPhysicsSeconds seconds: Double) -> Double? {
        if case .accelerated(let factor) = mode { wallOrigin + seconds / factor } else { nil }
    }

    /// Moves a manual clock forward; returns the new physics time.
    @discardableResult
    func advanceManual(bySeconds seconds: Double) -> Double {
        precondition(mode == .manual, "only a manual clock is advanced by hand")
        precondition(seconds >= 0 && seconds.isFinite)
        return manualSeconds.withLock { value in
            value += seconds
            return value
        }
    }
}
