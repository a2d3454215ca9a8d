import Foundation

/// The winding temperature sensor an IMD or transformer monitor reads.
public enum WindingSensor: Sendable, Equatable {
    case pt100(PlatinumResistanceThermometer)
    case ptcChain(PTCThermistorChain)

    public var wiring: SensorWiring {
        get {
            switch self {
            case .pt100(let sensor): sensor.wiring
            case .ptcChain(let chain): chain.wiring
            }
        }
        set {
            switch self {
            case .pt100(var sensor):
                sensor.wiring = newValue
                self = .pt100(sensor)
            case .ptcChain(var chain):
                chain.wiring = newValue
                self = .ptcChain(chain)
            }
        }
    }

    public func resistanceOhms(atCelsius celsius: Double) -> Double {
        switch self {
        case .pt100(let sensor): sensor.resistanceOhms(atCelsius: celsius)
        case .ptcChain(let chain): chain.resistanceOhms(atCelsius: celsius)
        }
    }
}

/// The physical truth of one medical IT system (IEC 60364-7-710): an isolating transformer
/// (IEC 61558-2-15, 0.5…10 kVA, 230 V secondary) with its load and winding temperature, the
/// insulation of each conductor to earth, a DC fault source, and the IMD's earth (PE) and line
/// leads. It is advanced in physics time; what a device publishes is derived from it.
public struct ITSystemModel: Sendable, Equatable {
    public static let ratingRangeVoltAmperes = 500.0...10_000.0

    public var ratingVoltAmperes: Double
    public var secondaryVoltageVolts: Double
    public var frequencyHz: Double
    public var loadProfile: LoadProfile
    public var thermal: TransformerThermalModel
    public var sensor: WindingSensor
    public var line1: ConductorInsulation
    public var line2: ConductorInsulation
    /// A DC source in series with the fault (a fault behind a rectifier of a consumer).
    public var dcOffsetVolts: Double
    /// The IMD's KE/PE lead to the earth bar; open, it measures nothing (IEC 61557-8 requires
    /// the device to detect and signal that).
    public var earthConnected: Bool
    /// The IMD's L1/L2 leads to the system.
    public var lineConnected: Bool
    /// Physics time since the model was built.
    public private(set) var elapsedSeconds: Double

    public init(
        ratingVoltAmperes: Double = 5_000, secondaryVoltageVolts: Double = 230, frequencyHz: Double = 50,
        loadProfile: LoadProfile = .constant(amperes: 7), ambientCelsius: Double = 25,
        sensor: WindingSensor = .pt100(.pt100),
        line1: ConductorInsulation = ConductorInsulation(insulationResistanceOhms: 2_000_000, leakageCapacitanceFarads: 0.4e-6),
        line2: ConductorInsulation = ConductorInsulation(insulationResistanceOhms: 2_000_000, leakageCapacitanceFarads: 0.4e-6),
        dcOffsetVolts: Double = 0, earthConnected: Bool = true, lineConnected: Bool = true
    ) {
        precondition(Self.ratingRangeVoltAmperes.contains(ratingVoltAmperes) && secondaryVoltageVolts > 0)
        self.ratingVoltAmperes = ratingVoltAmperes
        self.secondaryVoltageVolts = secondaryVoltageVolts
        self.frequencyHz = frequencyHz
        self.loadProfile = loadProfile
        self.thermal = .calibratedToOverloadCapability(ambientCelsius: ambientCelsius)
        self.sensor = sensor
        self.line1 = line1
        self.line2 = line2
        self.dcOffsetVolts = dcOffsetVolts
        self.earthConnected = earthConnected
        self.lineConnected = lineConnected
        self.elapsedSeconds = 0
        // A transformer that has run at its initial load long enough to be in thermal equilibrium:
        // a simulation should not start with a warm-up nobody asked for.
        let settled = thermal.steadyStateCelsius(loadFactor: loadFactor)
        thermal = TransformerThermalModel(
            ambientCelsius: thermal.ambientCelsius, ratedRiseKelvin: thermal.ratedRiseKelvin,
            timeConstantSeconds: thermal.timeConstantSeconds, windingCelsius: settled)
    }

    public var ratedCurrentAmperes: Double { ratingVoltAmperes / secondaryVoltageVolts }

    public var loadCurrentAmperes: Double { loadProfile.amperes(atSeconds: elapsedSeconds) }

    /// I/In.
    public var loadFactor: Double { loadCurrentAmperes / ratedCurrentAmperes }

    public var loadPercent: Double { 100 * loadFactor }

    public var windingCelsius: Double { thermal.windingCelsius }

    public var sensorOhms: Double { sensor.resistanceOhms(atCelsius: thermal.windingCelsius) }

    /// Re as an IMD between the joined L1/L2 leads and earth sees it: both conductors in parallel.
    public var insulationResistanceOhms: Double {
        let r1 = line1.insulationResistanceOhms
        let r2 = line2.insulationResistanceOhms
        return r1 * r2 / (r1 + r2)
    }

    public var leakageCapacitanceFarads: Double {
        line1.leakageCapacitanceFarads + line2.leakageCapacitanceFarads
    }

    /// Sets the lumped Re keeping the split between L1 and L2 (an even split if both are equal):
    /// a control client that only knows "the insulation resistance" means the whole system.
    public mutating func setInsulationResistance(ohms: Double) {
        precondition(ohms > 0 && ohms.isFinite)
        let g1 = 1 / line1.insulationResistanceOhms
        let g2 = 1 / line2.insulationResistanceOhms
        let share1 = g1 / (g1 + g2)
        line1.insulationResistanceOhms = ohms / share1
        line2.insulationResistanceOhms = ohms / (1 - share1)
    }

    /// Sets the lumped Ce keeping the split between L1 and L2.
    public mutating func setLeakageCapacitance(farads: Double) {
        precondition(farads >= 0 && farads.isFinite)
        let total = leakageCapacitanceFarads
        let share1 = total > 0 ? line1.leakageCapacitanceFarads / total : 0.5
        line1.leakageCapacitanceFarads = farads * share1
        line2.leakageCapacitanceFarads = farads * (1 - share1)
    }

    /// The longest step over which the load is taken as constant: the thermal update is exact
    /// for a constant load, and a theatre's load changes every few minutes at most.
    public static let maximumStepSeconds = 60.0

    public mutating func advance(bySeconds seconds: Double) {
        precondition(seconds >= 0 && seconds.isFinite)
        var remaining = seconds
        while remaining > 0 {
            let step = min(remaining, Self.maximumStepSeconds)
            // The load at the middle of the step: the profile's steps fall on 5-minute slots,
            // and a step never spans more than one slot boundary.
            let midLoad = loadProfile.amperes(atSeconds: elapsedSeconds + step / 2) / ratedCurrentAmperes
            thermal.advance(bySeconds: step, loadFactor: midLoad)
            elapsedSeconds += step
            remaining -= step
        }
    }
}
