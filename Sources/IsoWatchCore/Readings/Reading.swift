import Foundation

/// A physical quantity that an insulation monitor or transformer monitor publishes.
///
/// Every case is in SI units (or per cent, or degrees Celsius) and its raw value is the JSON key
/// used everywhere: API, CLI `--json`, profiles, history.
public enum Quantity: String, CaseIterable, Sendable, Codable, Comparable {
    case insulationResistanceOhms = "insulation_resistance_ohms"
    case leakageCapacitanceFarads = "leakage_capacitance_farads"
    case loadCurrentAmperes = "load_current_amperes"
    case loadPercent = "load_percent"
    case windingTemperatureCelsius = "winding_temperature_celsius"
    /// Resistance of a PTC thermistor chain in the winding (DIN 44081), for devices that report it.
    case temperatureSensorOhms = "temperature_sensor_ohms"
    case systemVoltageVolts = "system_voltage_volts"

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A fault that a device flags itself (status bits), as opposed to one isowatch derives from a
/// threshold. The raw values are the strings of the `faults` list in JSON.
public enum Fault: String, CaseIterable, Sendable, Codable, Comparable {
    case insulation
    case overload
    case overtemperature
    case earthConnection = "earth_connection"
    case lineConnection = "line_connection"
    case temperatureSensor = "temperature_sensor"
    /// The device reports an internal error or a failed self-test.
    case device

    public static func < (lhs: Fault, rhs: Fault) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// How far a device vouches for a value it publishes (Bender's unit-and-validity byte, or a
/// profile's validity bits). Anything but `.actual` must never be shown or alarmed as a good value.
public enum Validity: String, Sendable, Codable, Equatable, CaseIterable {
    /// A real measured value.
    case actual
    /// The true value is below the published one (display shows "< x").
    case belowRange = "below_range"
    /// The true value is above the published one (display shows "> x").
    case aboveRange = "above_range"
    /// The device says the value is not a measurement (measuring, disturbed, not available).
    case invalid
}

/// One decoded value with the validity the device gave it.
public struct MeasuredValue: Sendable, Equatable, Codable {
    public var value: Double
    public var validity: Validity

    public init(_ value: Double, validity: Validity = .actual) {
        self.value = value
        self.validity = validity
    }
}

/// A Modbus data table.
public enum RegisterTable: String, CaseIterable, Sendable, Codable, Hashable {
    /// Read/write 16-bit registers (function codes 3, 6, 16).
    case holding
    /// Read-only 16-bit registers (function code 4).
    case input
    /// Read/write bits (function codes 1, 5, 15).
    case coil
    /// Read-only bits (function code 2).
    case discrete

    public var isBitTable: Bool { self == .coil || self == .discrete }
}

/// What one poll of one device yields after register decoding: values in SI units, the faults
/// the device flags, and its measurement counter when the profile names one.
public struct DecodedReading: Sendable, Equatable {
    public var timestamp: Date
    public var values: [Quantity: MeasuredValue]
    public var faults: Set<Fault>
    /// Increments each time the device finishes a measurement; a value whose counter did not
    /// move since the last poll is not a fresh measurement.
    public var updateCounter: UInt32?
    /// Profile-specific raw fields that are not a `Quantity` (for example the front-end's sample
    /// sequence number), keyed by the profile's field name.
    public var auxiliary: [String: Double]

    public init(
        timestamp: Date,
        values: [Quantity: MeasuredValue] = [:],
        faults: Set<Fault> = [],
        updateCounter: UInt32? = nil,
        auxiliary: [String: Double] = [:]
    ) {
        self.timestamp = timestamp
        self.values = values
        self.faults = faults
        self.updateCounter = updateCounter
        self.auxiliary = auxiliary
    }

    public subscript(_ quantity: Quantity) -> MeasuredValue? {
        get { values[quantity] }
        set { values[quantity] = newValue }
    }
}
