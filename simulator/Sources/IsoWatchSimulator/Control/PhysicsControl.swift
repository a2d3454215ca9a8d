import IsoWatchCore

/// The true physical state behind one physics-driven unit, as `GET …/units/{unit}/physics` shows
/// it, beside what the device publishes. SI units throughout.
public struct PhysicsView: Codable, Sendable, Equatable {
    public var endpoint: String
    public var unit: UInt8
    public var physicsSeconds: Double
    public var ratingVoltAmperes: Double
    public var secondaryVoltageVolts: Double
    public var frequencyHz: Double
    public var ratedCurrentAmperes: Double
    public var loadCurrentAmperes: Double
    public var loadPercent: Double
    public var ambientCelsius: Double
    public var windingTemperatureCelsius: Double
    /// `pt100` or `ptc_chain`.
    public var sensor: String
    /// `intact`, `broken` or `shorted`.
    public var sensorWiring: String
    public var sensorOhms: Double?
    public var insulationL1Ohms: Double
    public var insulationL2Ohms: Double
    public var insulationResistanceOhms: Double
    public var capacitanceL1Farads: Double
    public var capacitanceL2Farads: Double
    public var leakageCapacitanceFarads: Double
    public var dcOffsetVolts: Double
    public var earthConnected: Bool
    public var lineConnected: Bool
    /// The device's own measurement and how fast it follows (see `IMDResponse`).
    public var deviceInsulationResistanceOhms: Double
    public var deviceLeakageCapacitanceFarads: Double
    public var deviceResponseTimeSeconds: Double
    public var forcedFaults: [String]
    /// `idle`, `running`, `passed`, `failed`.
    public var selfTest: String
    public var selfTestResult: String
    /// What the registers say now, decoded.
    public var published: UnitView

    enum CodingKeys: String, CodingKey {
        case endpoint, unit, sensor, published
        case physicsSeconds = "physics_seconds"
        case ratingVoltAmperes = "rating_volt_amperes"
        case secondaryVoltageVolts = "secondary_voltage_volts"
        case frequencyHz = "frequency_hz"
        case ratedCurrentAmperes = "rated_current_amperes"
        case loadCurrentAmperes = "load_current_amperes"
        case loadPercent = "load_percent"
        case ambientCelsius = "ambient_celsius"
        case windingTemperatureCelsius = "winding_temperature_celsius"
        case sensorWiring = "sensor_wiring"
        case sensorOhms = "sensor_ohms"
        case insulationL1Ohms = "insulation_l1_ohms"
        case insulationL2Ohms = "insulation_l2_ohms"
        case insulationResistanceOhms = "insulation_resistance_ohms"
        case capacitanceL1Farads = "capacitance_l1_farads"
        case capacitanceL2Farads = "capacitance_l2_farads"
        case leakageCapacitanceFarads = "leakage_capacitance_farads"
        case dcOffsetVolts = "dc_offset_volts"
        case earthConnected = "earth_connected"
        case lineConnected = "line_connected"
        case deviceInsulationResistanceOhms = "device_insulation_resistance_ohms"
        case deviceLeakageCapacitanceFarads = "device_leakage_capacitance_farads"
        case deviceResponseTimeSeconds = "device_response_time_seconds"
        case forcedFaults = "forced_faults"
        case selfTest = "self_test"
        case selfTestResult = "self_test_result"
    }

    init?(endpoint: RunningEndpoint, device: SimulatedDevice, physicsSeconds: Double) {
        guard let physics = device.physics else { return nil }
        let system = physics.system
        self.endpoint = endpoint.id
        self.unit = device.unitID
        self.physicsSeconds = physicsSeconds
        ratingVoltAmperes = system.ratingVoltAmperes
        secondaryVoltageVolts = system.secondaryVoltageVolts
        frequencyHz = system.frequencyHz
        ratedCurrentAmperes = system.ratedCurrentAmperes
        loadCurrentAmperes = system.loadCurrentAmperes
        loadPercent = system.loadPercent
        ambientCelsius = system.thermal.ambientCelsius
        windingTemperatureCelsius = system.windingCelsius
        if case .pt100 = system.sensor { sensor = "pt100" } else { sensor = "ptc_chain" }
        sensorWiring = system.sensor.wiring.name
        sensorOhms = system.sensorOhms.isFinite ? system.sensorOhms : nil
        insulationL1Ohms = system.line1.insulationResistanceOhms
        insulationL2Ohms = system.line2.insulationResistanceOhms
        insulationResistanceOhms = system.insulationResistanceOhms
        capacitanceL1Farads = system.line1.leakageCapacitanceFarads
        capacitanceL2Farads = system.line2.leakageCapacitanceFarads
        leakageCapacitanceFarads = system.leakageCapacitanceFarads
        dcOffsetVolts = system.dcOffsetVolts
        earthConnected = system.earthConnected
        lineConnected = system.lineConnected
        deviceInsulationResistanceOhms = physics.response.publishedResistanceOhms
        deviceLeakageCapacitanceFarads = physics.response.publishedCapacitanceFarads
        deviceResponseTimeSeconds = physics.response.responseTimeSeconds(
            insulationResistanceOhms: system.insulationResistanceOhms,
            leakageCapacitanceFarads: system.leakageCapacitanceFarads)
        forcedFaults = physics.forcedFaults.sorted().map(\.rawValue)
        let run = device.selfTest
        selfTest = ["idle", "running", "passed", "failed"][run.phase.rawValue]
        selfTestResult = run.resultFails ? "fail" : "pass"
        published = UnitView(endpoint: endpoint, device: device)
    }
}

extension SensorWiring {
    var name: String {
        switch self {
        case .intact: "intact"
        case .broken: "broken"
        case .shorted: "shorted"
        }
    }

    init?(name: String) {
        switch name {
        case "intact": self = .intact
        case "broken": self = .broken
        case "shorted": self = .shorted
        default: return nil
        }
    }
}

/// The body of `PATCH …/units/{unit}/physics`: any subset of the true quantities. Unknown keys
/// are refused. `insulation_resistance_ohms` and `leakage_capacitance_farads` set the lumped
/// value and keep the L1/L2 split; the per-line keys set one conductor. `load_amperes` or
/// `load_percent` replaces the load profile by a constant load. `self_test_result` (`pass` or
/// `fail`) decides how the device's next self-test ends; `forced_faults` (e.g. `["device"]`)
/// adds fault bits the physics does not give.
public struct PhysicsPatch: Codable, Sendable, Equatable {
    public var insulationResistanceOhms: Double?
    public var insulationL1Ohms: Double?
    public var insulationL2Ohms: Double?
    public var leakageCapacitanceFarads: Double?
    public var capacitanceL1Farads: Double?
    public var capacitanceL2Farads: Double?
    public var dcOffsetVolts: Double?
    public var loadAmperes: Double?
    public var loadPercent: Double?
    public var ambientCelsius: Double?
    public var sensorWiring: String?
    public var earthConnected: Bool?
    public var lineConnected: Bool?
    public var selfTestResult: String?
    public var forcedFaults: [String]?

    public init(
        insulationResistanceOhms: Double? = nil, insulationL1Ohms: Double? = nil, insulationL2Ohms: Double? = nil,
        leakageCapacitanceFarads: Double? = nil, capacitanceL1Farads: Double? = nil, capacitanceL2Farads: Double? = nil,
        dcOffsetVolts: Double? = nil, loadAmperes: Double? = nil, loadPercent: Double? = nil,
        ambientCelsius: Double? = nil, sensorWiring: String? = nil, earthConnected: Bool? = nil,
        lineConnected: Bool? = nil, selfTestResult: String? = nil, forcedFaults: [String]? = nil
    ) {
        self.insulationResistanceOhms = insulationResistanceOhms
        self.insulationL1Ohms = insulationL1Ohms
        self.insulationL2Ohms = insulationL2Ohms
        self.leakageCapacitanceFarads = leakageCapacitanceFarads
        self.capacitanceL1Farads = capacitanceL1Farads
        self.capacitanceL2Farads = capacitanceL2Farads
        self.dcOffsetVolts = dcOffsetVolts
        self.loadAmperes = loadAmperes
        self.loadPercent = loadPercent
        self.ambientCelsius = ambientCelsius
        self.sensorWiring = sensorWiring
        self.earthConnected = earthConnected
        self.lineConnected = lineConnected
        self.selfTestResult = selfTestResult
        self.forcedFaults = forcedFaults
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case insulationResistanceOhms = "insulation_resistance_ohms"
        case insulationL1Ohms = "insulation_l1_ohms"
        case insulationL2Ohms = "insulation_l2_ohms"
        case leakageCapacitanceFarads = "leakage_capacitance_farads"
        case capacitanceL1Farads = "capacitance_l1_farads"
        case capacitanceL2Farads = "capacitance_l2_farads"
        case dcOffsetVolts = "dc_offset_volts"
        case loadAmperes = "load_amperes"
        case loadPercent = "load_percent"
        case ambientCelsius = "ambient_celsius"
        case sensorWiring = "sensor_wiring"
        case earthConnected = "earth_connected"
        case lineConnected = "line_connected"
        case selfTestResult = "self_test_result"
        case forcedFaults = "forced_faults"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        insulationResistanceOhms = try container.decodeIfPresent(Double.self, forKey: .insulationResistanceOhms)
        insulationL1Ohms = try container.decodeIfPresent(Double.self, forKey: .insulationL1Ohms)
        insulationL2Ohms = try container.decodeIfPresent(Double.self, forKey: .insulationL2Ohms)
        leakageCapacitanceFarads = try container.decodeIfPresent(Double.self, forKey: .leakageCapacitanceFarads)
        capacitanceL1Farads = try container.decodeIfPresent(Double.self, forKey: .capacitanceL1Farads)
        capacitanceL2Farads = try container.decodeIfPresent(Double.self, forKey: .capacitanceL2Farads)
        dcOffsetVolts = try container.decodeIfPresent(Double.self, forKey: .dcOffsetVolts)
        loadAmperes = try container.decodeIfPresent(Double.self, forKey: .loadAmperes)
        loadPercent = try container.decodeIfPresent(Double.self, forKey: .loadPercent)
        ambientCelsius = try container.decodeIfPresent(Double.self, forKey: .ambientCelsius)
        sensorWiring = try container.decodeIfPresent(String.self, forKey: .sensorWiring)
        earthConnected = try container.decodeIfPresent(Bool.self, forKey: .earthConnected)
        lineConnected = try container.decodeIfPresent(Bool.self, forKey: .lineConnected)
        selfTestResult = try container.decodeIfPresent(String.self, forKey: .selfTestResult)
        forcedFaults = try container.decodeIfPresent([String].self, forKey: .forcedFaults)
    }

    /// Applies the patch, all or nothing; the reason is for the client when refused.
    public func apply(to device: SimulatedDevice) throws(PatchRefusal) {
        guard device.physics != nil else {
            throw PatchRefusal(
                "unit \(device.unitID) has no physics (its site entry has no 'system'); set its values with PATCH …/units/\(device.unitID)")
        }
        func positive(_ value: Double?, _ key: CodingKeys) throws(PatchRefusal) {
            if let value, !(value > 0 && value.isFinite) { throw PatchRefusal("\(key.rawValue): must be a finite number above 0") }
        }
        func nonNegative(_ value: Double?, _ key: CodingKeys) throws(PatchRefusal) {
            if let value, !(value >= 0 && value.isFinite) { throw PatchRefusal("\(key.rawValue): must be a finite number, 0 or more") }
        }
        try positive(insulationResistanceOhms, .insulationResistanceOhms)
        try positive(insulationL1Ohms, .insulationL1Ohms)
        try positive(insulationL2Ohms, .insulationL2Ohms)
        try nonNegative(leakageCapacitanceFarads, .leakageCapacitanceFarads)
        try nonNegative(capacitanceL1Farads, .capacitanceL1Farads)
        try nonNegative(capacitanceL2Farads, .capacitanceL2Farads)
        try nonNegative(loadAmperes, .loadAmperes)
        try nonNegative(loadPercent, .loadPercent)
        if let dcOffsetVolts, !dcOffsetVolts.isFinite { throw PatchRefusal("dc_offset_volts: must be a finite number") }
        if let ambientCelsius, !(-50...100).contains(ambientCelsius) {
            throw PatchRefusal("ambient_celsius: must be -50...100")
        }
        if insulationResistanceOhms != nil, insulationL1Ohms != nil || insulationL2Ohms != nil {
            throw PatchRefusal("insulation_resistance_ohms: give the lumped value or per-line values, not both")
        }
        if leakageCapacitanceFarads != nil, capacitanceL1Farads != nil || capacitanceL2Farads != nil {
            throw PatchRefusal("leakage_capacitance_farads: give the lumped value or per-line values, not both")
        }
        if loadAmperes != nil, loadPercent != nil { throw PatchRefusal("load_amperes and load_percent: give one") }
        let wiring = try sensorWiring.map { text throws(PatchRefusal) in
            guard let wiring = SensorWiring(name: text) else {
                throw PatchRefusal("sensor_wiring: expected intact, broken or shorted, got '\(text)'")
            }
            return wiring
        }
        var fails: Bool?
        switch selfTestResult {
        case nil: break
        case "pass": fails = false
        case "fail": fails = true
        case let other?: throw PatchRefusal("self_test_result: expected pass or fail, got '\(other)'")
        }
        let forced = try forcedFaults.map { names throws(PatchRefusal) in try faultSet(names, field: "forced_faults") }
        device.updatePhysics { physics in
            if let insulationResistanceOhms { physics.system.setInsulationResistance(ohms: insulationResistanceOhms) }
            if let insulationL1Ohms { physics.system.line1.insulationResistanceOhms = insulationL1Ohms }
            if let insulationL2Ohms { physics.system.line2.insulationResistanceOhms = insulationL2Ohms }
            if let leakageCapacitanceFarads { physics.system.setLeakageCapacitance(farads: leakageCapacitanceFarads) }
            if let capacitanceL1Farads { physics.system.line1.leakageCapacitanceFarads = capacitanceL1Farads }
            if let capacitanceL2Farads { physics.system.line2.leakageCapacitanceFarads = capacitanceL2Farads }
            if let dcOffsetVolts { physics.system.dcOffsetVolts = dcOffsetVolts }
            if let loadAmperes { physics.system.loadProfile = .constant(amperes: loadAmperes) }
            if let loadPercent {
                physics.system.loadProfile = .constant(amperes: physics.system.ratedCurrentAmperes * loadPercent / 100)
            }
            if let ambientCelsius { physics.system.thermal.ambientCelsius = ambientCelsius }
            if let wiring { physics.system.sensor.wiring = wiring }
            if let earthConnected { physics.system.earthConnected = earthConnected }
            if let lineConnected { physics.system.lineConnected = lineConnected }
            if let forced { physics.forcedFaults = forced }
        }
        if let fails { device.setSelfTestFails(fails) }
    }
}
