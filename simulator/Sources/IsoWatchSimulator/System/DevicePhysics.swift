import IsoWatchCore

/// A commercial IMD's self-test, as the profile's `self_test` parameter (write 1) starts it and
/// its `self_test_state` auxiliary field reports it: 0 idle, 1 running, 2 passed, 3 failed (the
/// codes isowatch-frontend defines). While it runs the device switches its own insulation alarm
/// on, as IEC 61557-8 devices do to prove their relays, and shows no measured value.
public struct SelfTestRun: Sendable, Equatable {
    public enum Phase: Int, Sendable, Equatable, CaseIterable {
        case idle = 0, running = 1, passed = 2, failed = 3
    }

    public static let parameterName = "self_test"
    public static let stateFieldName = "self_test_state"
    /// Bender and Trafox devices take a few seconds for the test; 5 s of physics time.
    public static let durationSeconds = 5.0

    public private(set) var phase: Phase = .idle
    public private(set) var remainingSeconds = 0.0
    /// Set through the control interface: the next test (and one running now) ends in `failed`.
    public var resultFails = false

    public init() {}

    public mutating func start() {
        phase = .running
        remainingSeconds = Self.durationSeconds
    }

    public mutating func advance(bySeconds seconds: Double) {
        guard phase == .running else { return }
        remainingSeconds -= seconds
        if remainingSeconds <= 1e-9 {
            remainingSeconds = 0
            phase = resultFails ? .failed : .passed
        }
    }

    /// What the test adds to what the device publishes.
    func overlay(_ state: inout DeviceState, profile: DeviceProfile) {
        if profile.auxiliary[Self.stateFieldName] != nil {
            state.auxiliary[Self.stateFieldName] = Double(phase.rawValue)
        }
        switch phase {
        case .running:
            state.faults.insert(.insulation)
            if var value = state.values[.insulationResistanceOhms] {
                value.validity = .invalid
                state.values[.insulationResistanceOhms] = value
            }
        case .failed:
            state.faults.insert(.device)
        case .idle, .passed:
            break
        }
    }
}

/// A device driven by an IT system's physics: the true system, how the device's own measurement
/// follows it, and the device's own alarm decisions. Produces the `DeviceState` the profile
/// encodes.
public struct DevicePhysics: Sendable, Equatable {
    public var system: ITSystemModel
    public var response: IMDResponse
    /// Faults the control interface forces on top of what the physics gives (a device error).
    public var forcedFaults: Set<Fault> = []
    /// The device's own insulation response value when the profile has no writable one (the
    /// IEC 60364-7-710 minimum, which medical IMDs ship with).
    public var defaultInsulationResponseOhms = 50_000.0
    /// Over-temperature: a PT100 input compares with this; a PTC chain input with the DIN 44081
    /// response (4 kΩ) and release (1.6 kΩ) resistances.
    public var overtemperatureCelsius = 120.0
    public private(set) var ptcTripped = false

    public init(system: ITSystemModel, couplingResistanceOhms: Double = 120_000) {
        self.system = system
        self.response = IMDResponse(
            insulationResistanceOhms: system.insulationResistanceOhms,
            leakageCapacitanceFarads: system.leakageCapacitanceFarads, couplingResistanceOhms: couplingResistanceOhms)
    }

    public var measuring: Bool { system.earthConnected && system.lineConnected }

    public mutating func advance(bySeconds seconds: Double) {
        system.advance(bySeconds: seconds)
        // With a lead open the device measures nothing, and its last value stays where it was.
        if measuring {
            response.advance(
                bySeconds: seconds, insulationResistanceOhms: system.insulationResistanceOhms,
                leakageCapacitanceFarads: system.leakageCapacitanceFarads)
        }
        let chainOhms = system.sensorOhms
        if case .ptcChain = system.sensor, system.sensor.wiring == .intact {
            if chainOhms >= 4_000 { ptcTripped = true } else if chainOhms <= 1_600 { ptcTripped = false }
        }
    }

    /// The values, validities and fault bits the device shows now, for the quantities `profile`
    /// publishes. `parameters` are the device's settings (a writable response value).
    public func publish(profile: DeviceProfile, parameters: [String: Double]) -> (values: [Quantity: MeasuredValue], faults: Set<Fault>) {
        var values: [Quantity: MeasuredValue] = [:]
        var faults = forcedFaults
        let publishedOhms = response.publishedResistanceOhms
        let insulationValidity: Validity = measuring ? .actual : .invalid
        values[.insulationResistanceOhms] = MeasuredValue(publishedOhms, validity: insulationValidity)
        values[.leakageCapacitanceFarads] = MeasuredValue(response.publishedCapacitanceFarads, validity: insulationValidity)
        values[.loadCurrentAmperes] = MeasuredValue(system.loadCurrentAmperes)
        values[.loadPercent] = MeasuredValue(system.loadPercent)
        values[.systemVoltageVolts] = MeasuredValue(
            system.lineConnected ? system.secondaryVoltageVolts : 0, validity: system.lineConnected ? .actual : .invalid)
        let sensorOhms = system.sensorOhms
        let sensorIntact = system.sensor.wiring == .intact
        values[.temperatureSensorOhms] = MeasuredValue(sensorIntact ? sensorOhms : 0, validity: sensorIntact ? .actual : .invalid)
        switch system.sensor {
        case .pt100(let thermometer):
            if sensorIntact, let celsius = thermometer.temperatureCelsius(resistanceOhms: sensorOhms) {
                values[.windingTemperatureCelsius] = MeasuredValue(celsius)
                if celsius >= overtemperatureCelsius { faults.insert(.overtemperature) }
            } else {
                values[.windingTemperatureCelsius] = MeasuredValue(0, validity: .invalid)
            }
        case .ptcChain:
            // A PTC chain only says "hot" or "not hot": no temperature to publish.
            values[.windingTemperatureCelsius] = MeasuredValue(0, validity: .invalid)
            if ptcTripped { faults.insert(.overtemperature) }
        }
        if !sensorIntact { faults.insert(.temperatureSensor) }
        if !system.earthConnected { faults.insert(.earthConnection) }
        if !system.lineConnected { faults.insert(.lineConnection) }
        let responseOhms = parameters["insulation_response_ohms"] ?? defaultInsulationResponseOhms
        if measuring, publishedOhms <= responseOhms { faults.insert(.insulation) }
        let loadLimitPercent = parameters["load_response_percent"] ?? 100
        if system.loadPercent > loadLimitPercent { faults.insert(.overload) }
        return (values.filter { profile.fields[$0.key] != nil }, faults)
    }
}
