import IsoWatchCore

/// The physical truth of a simulated device: what it would measure, flag and hold as settings.
///
/// This is the seam for physics: today the site file and the control interface set it directly;
/// a later RC pulse or thermal model will drive the same struct through `SimulatedDevice.update`,
/// and read the settings a client commanded (the front-end's pulse half-period) from `parameters`.
public struct DeviceState: Sendable, Equatable {
    public var values: [Quantity: MeasuredValue]
    public var faults: Set<Fault>
    /// Profile fields that are not a `Quantity`, by the profile's name, in SI units.
    public var auxiliary: [String: Double]
    /// The profile's writable parameters, in SI units, as last set by the site or a client.
    public var parameters: [String: Double]

    public init(
        values: [Quantity: MeasuredValue] = [:], faults: Set<Fault> = [], auxiliary: [String: Double] = [:],
        parameters: [String: Double] = [:]
    ) {
        self.values = values
        self.faults = faults
        self.auxiliary = auxiliary
        self.parameters = parameters
    }
}

extension DeviceState {
    /// Plausible values of a healthy medical IT system (figures from medical-it.md), restricted
    /// to the quantities `profile` publishes: well above the 50 kΩ response value, a few hundred
    /// nF of leakage capacitance, a partly loaded transformer at a warm but normal temperature.
    public static func healthy(publishedBy profile: DeviceProfile) -> DeviceState {
        let typical: [Quantity: Double] = [
            .insulationResistanceOhms: 650_000,
            .leakageCapacitanceFarads: 0.8e-6,
            .loadCurrentAmperes: 12.5,
            .loadPercent: 35,
            .windingTemperatureCelsius: 42,
            // A cold chain of PTC thermistors (DIN 44081) well under the 1.6 kΩ release value.
            .temperatureSensorOhms: 300,
            .systemVoltageVolts: 230,
        ]
        let values = typical.filter { profile.fields[$0.key] != nil }.mapValues { MeasuredValue($0) }
        return DeviceState(values: values)
    }
}
