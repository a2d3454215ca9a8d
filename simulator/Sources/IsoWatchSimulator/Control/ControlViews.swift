import IsoWatchCore

/// One unit as `GET /api/v1/units` shows it. Values in SI units keyed by `Quantity` raw names;
/// `validity` lists only values that are not actual measurements.
public struct UnitView: Codable, Sendable, Equatable {
    public var endpoint: String
    public var transport: String
    public var unit: UInt8
    public var profile: String
    public var values: [String: Double]
    public var validity: [String: String]
    public var faults: [String]
    public var auxiliary: [String: Double]
    public var parameters: [String: Double]
    public var online: Bool
    public var wireFault: WireFault?
    public var updateCounter: UInt32

    enum CodingKeys: String, CodingKey {
        case endpoint, transport, unit, profile, values, validity, faults, auxiliary, parameters, online
        case wireFault = "wire_fault"
        case updateCounter = "update_counter"
    }

    init(endpoint: RunningEndpoint, device: SimulatedDevice) {
        let state = device.state
        self.endpoint = endpoint.id
        self.transport = endpoint.tcpPort == nil ? "rtu" : "tcp"
        self.unit = device.unitID
        self.profile = device.profile.id
        self.values = Dictionary(uniqueKeysWithValues: state.values.map { ($0.key.rawValue, $0.value.value) })
        self.validity = Dictionary(
            uniqueKeysWithValues: state.values.filter { $0.value.validity != .actual }.map {
                ($0.key.rawValue, $0.value.validity.rawValue)
            })
        self.faults = state.faults.sorted().map(\.rawValue)
        self.auxiliary = state.auxiliary
        self.parameters = state.parameters
        self.online = device.unit.isOnline
        self.wireFault = device.unit.wireFault
        self.updateCounter = device.updateCounter
    }
}

public struct UnitsView: Codable, Sendable, Equatable {
    public var units: [UnitView]
}

/// One endpoint as `GET /api/v1/endpoints` shows it: where a client finds it.
public struct EndpointView: Codable, Sendable, Equatable {
    public var id: String
    public var transport: String
    /// HOST:PORT for TCP, the pty path for RTU.
    public var address: String
    public var link: String?
    /// "19200 8E1", for RTU.
    public var serial: String?
    public var units: [UInt8]
    /// Open client connections, for TCP.
    public var connections: Int?

    init(_ endpoint: RunningEndpoint) {
        id = endpoint.id
        units = endpoint.devices.map(\.unitID)
        switch endpoint.server {
        case .tcp(let server):
            transport = "tcp"
            address = server.host.contains(":") ? "[\(server.host)]:\(server.port)" : "\(server.host):\(server.port)"
            connections = server.connectionCount
        case .rtu(let server):
            transport = "rtu"
            address = server.slavePath
            link = server.linkPath
            serial = "\(server.serialLine.baud) \(server.serialLine.notation)"
        }
    }
}

public struct EndpointsView: Codable, Sendable, Equatable {
    public var endpoints: [EndpointView]
}

public struct DropView: Codable, Sendable, Equatable {
    public var endpoint: String
    public var dropped: Int
}

/// The body of `PATCH /api/v1/endpoints/{endpoint}/units/{unit}`: any subset of
/// `{"values": {...}, "validity": {...}, "faults": [...], "auxiliary": {...}, "online": bool,
/// "wire_fault": {...} | null}`. Unknown keys are refused, so a typo never passes silently.
public struct UnitPatch: Codable, Sendable, Equatable {
    public var values: [String: Double]?
    public var validity: [String: String]?
    public var faults: [String]?
    public var auxiliary: [String: Double]?
    public var online: Bool?
    /// nil: leave as is; .some(nil): clear; .some(fault): inject.
    public var wireFault: WireFault??

    public init(
        values: [String: Double]? = nil, validity: [String: String]? = nil, faults: [String]? = nil,
        auxiliary: [String: Double]? = nil, online: Bool? = nil, wireFault: WireFault?? = nil
    ) {
        self.values = values
        self.validity = validity
        self.faults = faults
        self.auxiliary = auxiliary
        self.online = online
        self.wireFault = wireFault
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case values, validity, faults, auxiliary, online
        case wireFault = "wire_fault"
    }

    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        values = try container.decodeIfPresent([String: Double].self, forKey: .values)
        validity = try container.decodeIfPresent([String: String].self, forKey: .validity)
        faults = try container.decodeIfPresent([String].self, forKey: .faults)
        auxiliary = try container.decodeIfPresent([String: Double].self, forKey: .auxiliary)
        online = try container.decodeIfPresent(Bool.self, forKey: .online)
        if container.contains(.wireFault) {
            wireFault = .some(try container.decodeNil(forKey: .wireFault) ? nil : try container.decode(WireFault.self, forKey: .wireFault))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(values, forKey: .values)
        try container.encodeIfPresent(validity, forKey: .validity)
        try container.encodeIfPresent(faults, forKey: .faults)
        try container.encodeIfPresent(auxiliary, forKey: .auxiliary)
        try container.encodeIfPresent(online, forKey: .online)
        if let wireFault {
            if let fault = wireFault { try container.encode(fault, forKey: .wireFault) } else { try container.encodeNil(forKey: .wireFault) }
        }
    }

    /// Applies the patch to a device, all or nothing; the reason is for the client when refused.
    public func apply(to device: SimulatedDevice) throws(PatchRefusal) {
        var quantities: [Quantity: Double] = [:]
        for (name, value) in values ?? [:] {
            let quantity = try Self.quantity(name, in: device.profile, key: "values")
            guard value.isFinite else { throw PatchRefusal("values.\(name): must be a finite number") }
            quantities[quantity] = value
        }
        var validities: [Quantity: Validity] = [:]
        for (name, text) in validity ?? [:] {
            let quantity = try Self.quantity(name, in: device.profile, key: "validity")
            guard let parsed = Validity(rawValue: text) else {
                throw PatchRefusal("validity.\(name): expected actual, below_range, above_range or invalid, got '\(text)'")
            }
            validities[quantity] = parsed
        }
        let newFaults = try faults.map { names throws(PatchRefusal) in try faultSet(names, field: "faults") }
        for (name, value) in auxiliary ?? [:] {
            guard device.profile.auxiliary[name] != nil else {
                let known = device.profile.auxiliary.keys.sorted().joined(separator: ", ")
                throw PatchRefusal("auxiliary.\(name): profile '\(device.profile.id)' has no such field (it has: \(known))")
            }
            guard value.isFinite else { throw PatchRefusal("auxiliary.\(name): must be a finite number") }
        }
        if device.physics != nil {
            try Self.applyToPhysics(device, quantities: quantities, validities: validities, faults: newFaults)
            if let auxiliary { device.update { state in for (name, value) in auxiliary { state.auxiliary[name] = value } } }
        } else if quantities.isEmpty == false || validities.isEmpty == false || newFaults != nil || auxiliary != nil {
            device.update { state in
                for (quantity, value) in quantities {
                    state.values[quantity] = MeasuredValue(value, validity: validities[quantity] ?? .actual)
                }
                for (quantity, validity) in validities where quantities[quantity] == nil {
                    state.values[quantity, default: MeasuredValue(0)].validity = validity
                }
                if let newFaults { state.faults = newFaults }
                for (name, value) in auxiliary ?? [:] { state.auxiliary[name] = value }
            }
        }
        if let online { device.unit.isOnline = online }
        if let wireFault { device.unit.wireFault = wireFault }
    }

    /// On a physics-driven unit the published values follow the true system, so a value set
    /// here sets the truth behind it, and the device shows it after its response time.
    private static func applyToPhysics(
        _ device: SimulatedDevice, quantities: [Quantity: Double], validities: [Quantity: Validity], faults: Set<Fault>?
    ) throws(PatchRefusal) {
        if let quantity = validities.keys.sorted().first {
            throw PatchRefusal("validity.\(quantity.rawValue): a physics-driven unit decides its validities itself")
        }
        for (quantity, value) in quantities {
            switch quantity {
            case .insulationResistanceOhms, .systemVoltageVolts:
                guard value > 0 else { throw PatchRefusal("values.\(quantity.rawValue): must be above 0") }
            case .leakageCapacitanceFarads, .loadCurrentAmperes, .loadPercent:
                guard value >= 0 else { throw PatchRefusal("values.\(quantity.rawValue): must be 0 or more") }
            case .windingTemperatureCelsius, .temperatureSensorOhms:
                throw PatchRefusal(
                    "values.\(quantity.rawValue): follows the thermal model on a physics-driven unit; set load_amperes or ambient_celsius through …/physics")
            }
        }
        let settable: Set<Fault> = [.earthConnection, .lineConnection, .temperatureSensor, .device]
        if let faults, let other = faults.subtracting(settable).sorted().first {
            throw PatchRefusal(
                "faults: '\(other.rawValue)' follows the physics on this unit; set the quantity behind it (insulation, load) instead")
        }
        device.updatePhysics { physics in
            for (quantity, value) in quantities {
                switch quantity {
                case .insulationResistanceOhms: physics.system.setInsulationResistance(ohms: value)
                case .leakageCapacitanceFarads: physics.system.setLeakageCapacitance(farads: value)
                case .loadCurrentAmperes: physics.system.loadProfile = .constant(amperes: value)
                case .loadPercent:
                    physics.system.loadProfile = .constant(amperes: physics.system.ratedCurrentAmperes * value / 100)
                case .systemVoltageVolts: physics.system.secondaryVoltageVolts = value
                case .windingTemperatureCelsius, .temperatureSensorOhms: break
                }
            }
            if let faults {
                physics.system.earthConnected = !faults.contains(.earthConnection)
                physics.system.lineConnected = !faults.contains(.lineConnection)
                physics.system.sensor.wiring = faults.contains(.temperatureSensor) ? .broken : .intact
                physics.forcedFaults = faults.intersection([.device])
            }
        }
    }

    private static func quantity(_ name: String, in profile: DeviceProfile, key: String) throws(PatchRefusal) -> Quantity {
        let published = profile.fields.keys.sorted().map(\.rawValue).joined(separator: ", ")
        // A front-end (sample ring) publishes no Re or Ce: setting them sets the truth it measures.
        let truths: Set<Quantity> = profile.sampleWindow == nil ? [] : [.insulationResistanceOhms, .leakageCapacitanceFarads]
        guard let quantity = Quantity(rawValue: name), profile.fields[quantity] != nil || truths.contains(quantity) else {
            throw PatchRefusal("\(key).\(name): profile '\(profile.id)' publishes no such quantity (it has: \(published))")
        }
        return quantity
    }
}

public struct PatchRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Control requests are strict: a misspelt key is an error, never a silently ignored field.
func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(in decoder: any Decoder, known: Keys.Type) throws {
    let known = Set(Keys.allCases.map(\.stringValue))
    let all = try decoder.container(keyedBy: AnyCodingKey.self)
    if let unknown = all.allKeys.first(where: { !known.contains($0.stringValue) }) {
        throw DecodingError.dataCorruptedError(
            forKey: unknown, in: all,
            debugDescription: "unknown key '\(unknown.stringValue)'; expected \(known.sorted().joined(separator: ", "))")
    }
}

private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A control-interface change to one simulated unit (`UnitPatch`, `PhysicsPatch`).
protocol DevicePatch: Decodable {
    func apply(to device: SimulatedDevice) throws(PatchRefusal)
}

extension UnitPatch: DevicePatch {}
extension PhysicsPatch: DevicePatch {}

/// Fault names from a control request; an unknown one is refused with the list of known ones.
func faultSet(_ names: [String], field: String) throws(PatchRefusal) -> Set<Fault> {
    var set: Set<Fault> = []
    for name in names {
        guard let fault = Fault(rawValue: name) else {
            throw PatchRefusal(
                "\(field): unknown fault '\(name)'; expected \(Fault.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        set.insert(fault)
    }
    return set
}
