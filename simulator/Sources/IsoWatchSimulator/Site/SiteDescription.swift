import IsoWatchCore

/// What a simulator serves: endpoints, each a TCP gateway or an RTU bus, each with its units.
/// Built in code by tests, or read from a site file by `SiteFile`.
public struct SiteDescription: Sendable, Equatable {
    public var endpoints: [EndpointDescription]
    /// Seeds everything random in the site's physics (theatre-day load profiles).
    public var seed: UInt64
    /// Where the theatre panel's line protocol listens (port 0: any free port); nil: no panel
    /// server (the panel exists for the control interface all the same).
    public var panelListen: PanelListen?
    /// The panel's watchdog relay, fed by the service's heartbeat line; nil: none.
    public var panelWatchdog: PanelWatchdog?

    public init(
        endpoints: [EndpointDescription], seed: UInt64 = 1, panelListen: PanelListen? = nil, panelWatchdog: PanelWatchdog? = nil
    ) {
        self.endpoints = endpoints
        self.seed = seed
        self.panelListen = panelListen
        self.panelWatchdog = panelWatchdog
    }
}

/// A retriggerable watchdog relay on the theatre panel (hardware/wiring/README.md): its contact
/// supplies the coils of the other output relays, and it holds only while the heartbeat line
/// changed level within `timeoutSeconds`.
public struct PanelWatchdog: Sendable, Equatable, Codable {
    /// The heartbeat line as the panel names lines: `gpiochip0:31` or `gpiochip0:"HEARTBEAT"`.
    public var heartbeat: String
    public var timeoutSeconds: Double

    public static let defaultTimeoutSeconds = 1.5

    public init(heartbeat: String, timeoutSeconds: Double = Self.defaultTimeoutSeconds) {
        self.heartbeat = heartbeat
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey {
        case heartbeat
        case timeoutSeconds = "timeout_seconds"
    }

    /// `gpiochip0:31` (leading zeros dropped) or `gpiochip0:"NAME"`, as `PanelServer` names the
    /// line a claim asks for; nil for anything else.
    public static func lineName(_ text: String) -> String? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let chip = String(text[..<colon])
        let selector = String(text[text.index(after: colon)...])
        guard !chip.isEmpty, !chip.contains(where: \.isWhitespace) else { return nil }
        if selector.count >= 3, selector.hasPrefix("\""), selector.hasSuffix("\"") {
            return PanelServer.lineName(chip: chip, selector: "=" + selector.dropFirst().dropLast())
        }
        guard selector.allSatisfy(\.isASCII), selector.allSatisfy(\.isNumber) else { return nil }
        return PanelServer.lineName(chip: chip, selector: selector)
    }
}

public struct PanelListen: Sendable, Equatable {
    public var host: String
    public var port: UInt16

    public init(host: String = "127.0.0.1", port: UInt16 = 0) {
        self.host = host
        self.port = port
    }
}

public struct EndpointDescription: Sendable, Equatable {
    public enum Transport: Sendable, Equatable {
        /// Port 0 asks for an ephemeral port; `RunningEndpoint` tells which one.
        case tcp(host: String, port: UInt16, absentUnitReply: AbsentUnitReply)
        /// A pty; `linkPath`, when set, gets a symlink to it so configurations can name a stable path.
        case rtu(linkPath: String?, serialLine: SerialLine, turnaroundSeconds: Double)
    }

    /// Names the endpoint in the control interface (`tcp0`, `rtu0`… when the site does not).
    public var id: String
    public var transport: Transport
    public var units: [UnitDescription]

    public init(id: String, transport: Transport, units: [UnitDescription]) {
        self.id = id
        self.transport = transport
        self.units = units
    }

    public static func tcp(
        id: String = "tcp0", host: String = "127.0.0.1", port: UInt16 = 0,
        absentUnitReply: AbsentUnitReply = .gatewayException(afterSeconds: 0.2), units: [UnitDescription]
    ) -> EndpointDescription {
        EndpointDescription(id: id, transport: .tcp(host: host, port: port, absentUnitReply: absentUnitReply), units: units)
    }

    public static func rtu(
        id: String = "rtu0", linkPath: String? = nil, serialLine: SerialLine = SerialLine(),
        turnaroundSeconds: Double = 0.003, units: [UnitDescription]
    ) -> EndpointDescription {
        EndpointDescription(
            id: id, transport: .rtu(linkPath: linkPath, serialLine: serialLine, turnaroundSeconds: turnaroundSeconds),
            units: units)
    }
}

public struct UnitDescription: Sendable, Equatable {
    public var unit: UInt8
    public var profileID: String
    /// The device's initial truth (values, faults, auxiliary fields, parameter settings).
    public var state: DeviceState
    public var online: Bool
    public var wireFault: WireFault?
    public var measurementIntervalSeconds: Double
    /// The IT system whose physics drives what the device publishes; nil: values are set directly.
    public var system: ITSystemModel?

    public init(
        unit: UInt8, profileID: String, state: DeviceState = DeviceState(), online: Bool = true,
        wireFault: WireFault? = nil, measurementIntervalSeconds: Double = 1.0, system: ITSystemModel? = nil
    ) {
        self.system = system
        self.unit = unit
        self.profileID = profileID
        self.state = state
        self.online = online
        self.wireFault = wireFault
        self.measurementIntervalSeconds = measurementIntervalSeconds
    }

    /// A unit whose values are all actual measurements, the common case in tests.
    public init(
        unit: UInt8, profileID: String, values: [Quantity: Double], faults: Set<Fault> = [],
        online: Bool = true, measurementIntervalSeconds: Double = 1.0
    ) {
        self.init(
            unit: unit, profileID: profileID,
            state: DeviceState(values: values.mapValues { MeasuredValue($0) }, faults: faults), online: online,
            measurementIntervalSeconds: measurementIntervalSeconds)
    }
}
