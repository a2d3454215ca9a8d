import IsoWatchCore

/// Why the yellow lamp of one medical IT system is lit. The raw values are the JSON strings used by
/// the API, the journal and the live view.
///
/// The order of the cases is the order a panel lists them in: the monitoring itself first (without
/// it nothing else is trustworthy), then the IT system's own faults, then the monitoring chain.
public enum AlarmCondition: String, Sendable, CaseIterable, Codable, Comparable {
    /// The service has just started and has not yet seen a fresh valid insulation value. Starting in
    /// alarm is the fail-safe choice: a restart must never show green on trust.
    case awaitingFirstMeasurement = "awaiting_first_measurement"
    /// Insulation resistance at or below the response value (IEC 60364-7-710: at the latest 50 kΩ).
    case insulation
    /// Insulation resistance at or below an optional, higher, earlier level.
    case insulationPrewarning = "insulation_prewarning"
    /// Load above the response value; the transformer may not be tripped on overload
    /// (IEC 60364-7-710 clause 710.53.1), so it must be signalled.
    case overload
    /// Winding temperature (or PTC chain resistance) above the response value.
    case overtemperature
    /// The IMD lost its connection to protective earth (PE/KE).
    case earthConnection = "earth_connection"
    /// The IMD lost its connection to the IT system's line conductors.
    case lineConnection = "line_connection"
    /// The winding temperature sensor is open or shorted.
    case temperatureSensor = "temperature_sensor"
    /// The device reports an internal error or a failed self-test in its status word.
    case device
    /// The last test requested through the test button or the API reported a failure.
    case selfTestFailed = "self_test_failed"
    /// The caller could not poll the device for its configured time.
    case communication
    /// No fresh valid insulation value for the stale time, although the device may still answer.
    case staleData = "stale_data"

    public static func < (lhs: AlarmCondition, rhs: AlarmCondition) -> Bool {
        lhs.order < rhs.order
    }

    private var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    /// The condition a device-flagged fault raises. The IMD's own verdict on insulation, overload
    /// and over-temperature is a second opinion on the condition isowatch derives from the value.
    public init(_ fault: Fault) {
        switch fault {
        case .insulation: self = .insulation
        case .overload: self = .overload
        case .overtemperature: self = .overtemperature
        case .earthConnection: self = .earthConnection
        case .lineConnection: self = .lineConnection
        case .temperatureSensor: self = .temperatureSensor
        case .device: self = .device
        }
    }
}
