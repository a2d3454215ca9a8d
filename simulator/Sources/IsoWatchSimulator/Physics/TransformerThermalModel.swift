import Foundation

/// The winding temperature of a medical isolating transformer as one thermal mass:
/// τ·dθ/dt = Δθ_rated·(I/In)² − (θ − θ_ambient). Copper losses grow with the square of the
/// current; iron losses are folded into the rated rise (they hardly change with load).
///
/// Calibration of the defaults. IEC 61558-2-15 transformers are sold with an overload capability
/// of about 1.6·In for 1 h or 2·In for 30 min. Read as "from a cold transformer at ambient, the
/// winding reaches its limit temperature θ_lim after exactly that time", with r = Δθ_lim/Δθ_rated:
///   1 h at 1.6·In:  τ·ln(2.56/(2.56 − r)) = 3600 s
///   30 min at 2·In: τ·ln(4/(4 − r))       = 1800 s
/// Doubling the second and equating gives 2.56·(4 − r)² = 16·(2.56 − r), whose non-zero root is
/// r = 4.48/2.56 = 1.75, and then τ = 3600 s / ln(2.56/0.81) ≈ 3128 s (52 min), a plausible
/// winding time constant for a 3–10 kVA dry-type transformer. With θ_lim = 120 °C (the service's
/// default over-temperature threshold) and 25 °C ambient, the rated rise is 95/1.75 ≈ 54 K, so a
/// winding at 1.0·In settles near 79 °C, well inside insulation class B.
/// Starting from the hot rated state instead would give r ≈ 1.23 and τ ≈ 6.2 h; we take the cold
/// reading because it gives the conventional rise and time constant.
public struct TransformerThermalModel: Sendable, Equatable {
    public var ambientCelsius: Double
    /// Steady-state winding rise above ambient at rated current.
    public var ratedRiseKelvin: Double
    public var timeConstantSeconds: Double
    public private(set) var windingCelsius: Double

    public init(
        ambientCelsius: Double, ratedRiseKelvin: Double, timeConstantSeconds: Double, windingCelsius: Double? = nil
    ) {
        precondition(ratedRiseKelvin > 0 && timeConstantSeconds > 0)
        self.ambientCelsius = ambientCelsius
        self.ratedRiseKelvin = ratedRiseKelvin
        self.timeConstantSeconds = timeConstantSeconds
        self.windingCelsius = windingCelsius ?? ambientCelsius
    }

    /// Limit rise over rated rise that makes 1.6·In/1 h and 2·In/30 min coincide (see above).
    public static let overloadLimitRiseRatio = 1.75
    public static let overloadTimeConstantSeconds = 3600 / log(2.56 / (2.56 - overloadLimitRiseRatio))

    /// A transformer, cold at `ambientCelsius`, whose winding reaches `limitCelsius` after 1 h at
    /// 1.6·In and after 30 min at 2·In.
    public static func calibratedToOverloadCapability(
        ambientCelsius: Double = 25, limitCelsius: Double = 120
    ) -> TransformerThermalModel {
        precondition(limitCelsius > ambientCelsius)
        return TransformerThermalModel(
            ambientCelsius: ambientCelsius, ratedRiseKelvin: (limitCelsius - ambientCelsius) / overloadLimitRiseRatio,
            timeConstantSeconds: overloadTimeConstantSeconds)
    }

    public func steadyStateCelsius(loadFactor: Double) -> Double {
        ambientCelsius + ratedRiseKelvin * loadFactor * loadFactor
    }

    /// Exact for a load held constant over the step. `loadFactor` is I/In.
    public mutating func advance(bySeconds stepSeconds: Double, loadFactor: Double) {
        guard stepSeconds > 0 else { return }
        let settledCelsius = steadyStateCelsius(loadFactor: loadFactor)
        windingCelsius = settledCelsius + (windingCelsius - settledCelsius) * exp(-stepSeconds / timeConstantSeconds)
    }

    /// How long a constant load takes to bring the winding from its present temperature to
    /// `celsius`: 0 if already there, nil if the load's steady state never gets there.
    public func secondsToReach(celsius: Double, loadFactor: Double) -> Double? {
        if celsius == windingCelsius { return 0 }
        let settledCelsius = steadyStateCelsius(loadFactor: loadFactor)
        let startGap = settledCelsius - windingCelsius
        let endGap = settledCelsius - celsius
        // The target must lie between the present temperature and the steady state, which an
        // exponential approaches but never reaches.
        guard startGap * endGap > 0, abs(endGap) < abs(startGap) else { return nil }
        return timeConstantSeconds * log(startGap / endGap)
    }
}
