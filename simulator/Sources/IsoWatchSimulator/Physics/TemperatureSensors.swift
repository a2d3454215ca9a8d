import Foundation

/// The state of a sensor's leads: IMDs with a temperature input report a broken or shorted
/// sensor as its own fault (Acrel bit5 "temperature-sensor disconnection"), never as a reading.
public enum SensorWiring: Sendable, Equatable {
    case intact
    /// An open circuit: the input sees an infinite resistance.
    case broken
    case shorted
}

/// A platinum resistance thermometer per IEC 60751 (PT100 with 100 Ω, PT1000 with 1000 Ω at 0 °C).
public struct PlatinumResistanceThermometer: Sendable, Equatable {
    public var resistanceAtZeroCelsiusOhms: Double
    public var wiring: SensorWiring

    public static let pt100 = PlatinumResistanceThermometer(resistanceAtZeroCelsiusOhms: 100)
    public static let pt1000 = PlatinumResistanceThermometer(resistanceAtZeroCelsiusOhms: 1000)

    public init(resistanceAtZeroCelsiusOhms: Double, wiring: SensorWiring = .intact) {
        self.resistanceAtZeroCelsiusOhms = resistanceAtZeroCelsiusOhms
        self.wiring = wiring
    }

    // Callendar–Van Dusen coefficients of IEC 60751 (α = 0.00385 /K).
    static let coefficientA = 3.9083e-3
    static let coefficientB = -5.775e-7
    static let coefficientC = -4.183e-12

    /// R(T) = R0·(1 + A·T + B·T²) for T ≥ 0 °C; below 0 °C IEC 60751 adds C·(T − 100)·T³.
    public func resistanceOhms(atCelsius celsius: Double) -> Double {
        switch wiring {
        case .broken: return .infinity
        case .shorted: return 0
        case .intact: break
        }
        var ratio = 1 + Self.coefficientA * celsius + Self.coefficientB * celsius * celsius
        if celsius < 0 { ratio += Self.coefficientC * (celsius - 100) * celsius * celsius * celsius }
        return resistanceAtZeroCelsiusOhms * ratio
    }

    /// The inverse for R ≥ R0 (T ≥ 0 °C), the closed-form root of the quadratic; what a monitor
    /// computes from a measured resistance. nil below R0, where the quartic branch applies.
    public func temperatureCelsius(resistanceOhms: Double) -> Double? {
        guard resistanceOhms >= resistanceAtZeroCelsiusOhms, resistanceOhms.isFinite else { return nil }
        let a = Self.coefficientA
        let b = Self.coefficientB
        let discriminant = a * a - 4 * b * (1 - resistanceOhms / resistanceAtZeroCelsiusOhms)
        return (-a + discriminant.squareRoot()) / (2 * b)
    }
}

/// A chain of PTC thermistors in series (DIN 44081 / DIN VDE V 0898-1-401 style), as buried in
/// transformer windings. Each one stays low-ohmic well below its nominal response temperature
/// (NAT) and rises steeply around it; a monitor compares the chain's resistance with fixed
/// thresholds (response 4 kΩ, release 1.6 kΩ on the IMDs in medical-it.md).
public struct PTCThermistorChain: Sendable, Equatable {
    public var thermistorCount: Int
    public var nominalResponseCelsius: Double
    public var wiring: SensorWiring

    public init(thermistorCount: Int = 3, nominalResponseCelsius: Double = 120, wiring: SensorWiring = .intact) {
        // DIN 44081 monitors accept up to six in series: six cold ones stay under 1.6 kΩ.
        precondition((1...6).contains(thermistorCount))
        self.thermistorCount = thermistorCount
        self.nominalResponseCelsius = nominalResponseCelsius
        self.wiring = wiring
    }

    /// One thermistor's characteristic relative to NAT, through the DIN 44081 limit points
    /// (≤ 250 Ω at NAT − 20 K, ≤ 550 Ω at NAT − 5 K, ≥ 1330 Ω at NAT + 5 K, ≥ 4 kΩ at NAT + 15 K)
    /// with typical values inside those limits; log-linear between points, flat outside.
    static let characteristic: [(kelvinFromResponse: Double, ohms: Double)] = [
        (-20, 100), (-5, 250), (0, 600), (5, 2_000), (15, 10_000), (25, 50_000),
    ]

    public static func thermistorOhms(kelvinFromResponse: Double) -> Double {
        let points = characteristic
        if kelvinFromResponse <= points[0].kelvinFromResponse { return points[0].ohms }
        for (lower, upper) in zip(points, points.dropFirst()) where kelvinFromResponse <= upper.kelvinFromResponse {
            let fraction = (kelvinFromResponse - lower.kelvinFromResponse)
                / (upper.kelvinFromResponse - lower.kelvinFromResponse)
            // Clamped so rounding at a table point cannot make the curve step backwards.
            return min(max(lower.ohms * pow(upper.ohms / lower.ohms, fraction), lower.ohms), upper.ohms)
        }
        return points[points.count - 1].ohms
    }

    /// All thermistors sit in the same winding, so they share one temperature.
    public func resistanceOhms(atCelsius celsius: Double) -> Double {
        switch wiring {
        case .broken: return .infinity
        case .shorted: return 0
        case .intact:
            return Double(thermistorCount) * Self.thermistorOhms(kelvinFromResponse: celsius - nominalResponseCelsius)
        }
    }
}
