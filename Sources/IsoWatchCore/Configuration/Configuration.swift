import Foundation

/// A validated isowatch configuration: one site, its HTTP endpoint, its GPIO backend and the
/// medical IT systems it monitors. Built by `ConfigurationLoader`, which documents the file format.
public struct Configuration: Sendable, Equatable {
    public var site: Site
    public var http: HTTPSettings
    public var gpio: GPIOSettings
    /// Absolute; relative paths in the file are resolved against the file's directory.
    public var profilesDirectory: URL
    public var systems: [SystemConfiguration]
    /// Remote panels that cover several systems.
    public var panels: [PanelConfiguration]
    /// The history and journal database; nil keeps neither (the log is then the only record).
    public var storage: StorageConfiguration? = nil
    public var metrics = MetricsSettings()
    /// The Modbus TCP server for the building management system; nil runs none.
    public var bms: BMSSettings? = nil
    /// The text this configuration was parsed from, for the journal's record of what is in force.
    public var source: ConfigurationSource? = nil

    public init(
        site: Site, http: HTTPSettings, gpio: GPIOSettings, profilesDirectory: URL, systems: [SystemConfiguration],
        panels: [PanelConfiguration] = []
    ) {
        self.panels = panels
        self.site = site
        self.http = http
        self.gpio = gpio
        self.profilesDirectory = profilesDirectory
        self.systems = systems
    }
}

/// Where a configuration came from: the file's path (or the name given to `parse`) and the exact
/// bytes that were parsed.
public struct ConfigurationSource: Sendable, Equatable {
    public var path: String
    public var contents: Data
    /// Where relative paths in it start (the file's folder): a new version is read from there too.
    public var directory: URL?
    /// Whether `path` is a file on disk (not text parsed under a name), which a change rewrites.
    public var isFile: Bool

    public init(path: String, contents: Data, directory: URL? = nil, isFile: Bool = false) {
        self.path = path
        self.contents = contents
        self.directory = directory
        self.isFile = isFile
    }
}

public struct Site: Sendable, Equatable {
    public var name: String

    public init(name: String) {
        self.name = name
    }
}

public struct HTTPSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// PEM files; when set the server speaks only HTTPS and session cookies are `Secure`.
    public var tls: TLSFiles?
    /// Reading (the dashboard's data, the API's GETs, the live stream) without signing in. Actions
    /// always need a signed-in user. Unset: open only when there is no users file (nobody could
    /// sign in to read).
    public var openRead: Bool?
    /// The users file (`isowatch user add`); absolute. Without one nobody can sign in.
    public var usersFile: URL?
    /// The absolute lifetime of a session, however active it is.
    public var sessionLifetimeSeconds: Double
    /// A session unused this long ends (`http.session_idle_minutes`): on a shared theatre PC the
    /// previous operator does not stay signed in.
    public var sessionIdleMinutes: Double
    /// Who may read `/metrics`. Unset: the same as the API (open exactly when reading is open), so
    /// that a server that asks for a sign-in to read does not hand its state to anyone who asks.
    public var metrics: MetricsAccess?
    /// A connection that sends nothing for this long while no response is being written (between
    /// requests, or in the middle of a request's headers or body) is closed.
    public var idleTimeoutSeconds: Double
    /// Open connections at most; a connection beyond it is closed at once.
    public var maximumConnections: Int
    /// Open connections from one client address at most, so that one host (a slowloris, a stuck
    /// script) cannot hold every place; a connection beyond it is closed at once.
    public var maximumConnectionsPerClient: Int
    /// Live-stream (server-sent events) clients at most; beyond it the stream is answered 503.
    public var maximumStreamClients: Int

    public init(
        host: String = "127.0.0.1", port: Int = 8080, tls: TLSFiles? = nil, openRead: Bool? = nil,
        usersFile: URL? = nil, sessionLifetimeSeconds: Double = 8 * 3600, sessionIdleMinutes: Double = 30,
        metrics: MetricsAccess? = nil, idleTimeoutSeconds: Double = 30, maximumConnections: Int = 256,
        maximumConnectionsPerClient: Int = 64, maximumStreamClients: Int = 64
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.openRead = openRead
        self.usersFile = usersFile
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.sessionIdleMinutes = sessionIdleMinutes
        self.metrics = metrics
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerClient = maximumConnectionsPerClient
        self.maximumStreamClients = maximumStreamClients
    }

    /// Whether `host` reaches only this machine: a loopback address or `localhost`.
    public static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased()
        if name == "localhost" || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Why this server hands passwords and session cookies to the network in the clear, or nil:
    /// a users file (people sign in) served over plain HTTP on an address other machines reach.
    /// Loopback (behind a local TLS proxy) or TLS: nil.
    public var plainHTTPExposure: String? {
        guard tls == nil, usersFile != nil, !Self.isLoopback(host) else { return nil }
        return "sign-in is served over plain HTTP on \(host):\(port), off loopback: passwords and session "
            + "cookies cross the network in the clear; configure http.tls or listen on 127.0.0.1 behind a TLS proxy"
    }
}

/// `http.metrics`: whether a Prometheus scraper (which cannot sign in) may read `/metrics`.
public enum MetricsAccess: String, CaseIterable, Sendable, Equatable {
    case open
    case signedIn = "signed_in"
}

public struct TLSFiles: Sendable, Equatable {
    public var certificateChain: URL
    public var privateKey: URL

    public init(certificateChain: URL, privateKey: URL) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }
}

public enum GPIOBackendKind: String, CaseIterable, Sendable, Equatable {
    /// Real lines through libgpiod (v1 API).
    case libgpiod
    /// In-process lines for tests, the simulator and demonstrations; drives no hardware.
    case simulated
    /// The theatre panel of a running isowatch-sim, over loopback (`panel: HOST:PORT`).
    case simulator
}

public struct GPIOSettings: Sendable, Equatable {
    public var backend: GPIOBackendKind
    /// Where isowatch-sim's panel listens; set exactly when `backend` is `simulator`.
    public var panel: HostPort?
    /// The line toggled for a watchdog relay while the monitor is alive; nil: none.
    public var heartbeat: HeartbeatLineSettings?

    public init(backend: GPIOBackendKind, panel: HostPort? = nil, heartbeat: HeartbeatLineSettings? = nil) {
        self.backend = backend
        self.panel = panel
        self.heartbeat = heartbeat
    }
}

/// One medical IT system: an isolating transformer, the device that monitors it, the alarm
/// thresholds and the lines of its alarm indicator.
public struct SystemConfiguration: Sendable, Equatable {
    /// `[a-z0-9-]+`, unique within the file; used in URLs, logs and the history.
    public var id: String
    public var name: String
    public var location: String
    public var transformer: TransformerRating
    public var device: DeviceConfiguration
    public var thresholds: Thresholds
    public var outputs: OutputLines
    public var inputs: InputLines
    /// Delays, hysteresis, re-alarm, tests (`alarms:` in the file).
    public var alarms: AlarmTiming
    /// Which monitoring functions besides insulation the system has (`sensors:` in the file).
    public var sensors: SystemSensors

    public init(
        id: String, name: String, location: String, transformer: TransformerRating, device: DeviceConfiguration,
        thresholds: Thresholds = Thresholds(), outputs: OutputLines = OutputLines(), inputs: InputLines = InputLines(),
        alarms: AlarmTiming = AlarmTiming(), sensors: SystemSensors = SystemSensors()
    ) {
        self.sensors = sensors
        self.alarms = alarms
        self.id = id
        self.name = name
        self.location = location
        self.transformer = transformer
        self.device = device
        self.thresholds = thresholds
        self.outputs = outputs
        self.inputs = inputs
    }
}

/// The medical isolating transformer (IEC 61558-2-15: single-phase, 0.5 to 10 kVA, secondary at
/// most 250 V AC).
public struct TransformerRating: Sendable, Equatable {
    public var ratingKVA: Double
    public var secondaryVoltageVolts: Double
    /// Given in the file, or the rating divided by the secondary voltage.
    public var ratedCurrentAmperes: Double

    public init(ratingKVA: Double, secondaryVoltageVolts: Double, ratedCurrentAmperes: Double? = nil) {
        self.ratingKVA = ratingKVA
        self.secondaryVoltageVolts = secondaryVoltageVolts
        self.ratedCurrentAmperes = ratedCurrentAmperes ?? ratingKVA * 1000 / secondaryVoltageVolts
    }
}

public struct DeviceConfiguration: Sendable, Equatable {
    public var profileID: String
    public var transport: Transport
    /// Modbus unit id (slave address), 1...247.
    public var unit: UInt8
    public var pollIntervalSeconds: Double
    /// Per request; shorter than the poll interval.
    public var timeoutSeconds: Double
    /// Further attempts after a failed request before the poll counts as failed.
    public var retries: Int

    public init(
        profileID: String, transport: Transport, unit: UInt8, pollIntervalSeconds: Double = 1,
        timeoutSeconds: Double = 0.5, retries: Int = 2
    ) {
        self.profileID = profileID
        self.transport = transport
        self.unit = unit
        self.pollIntervalSeconds = pollIntervalSeconds
        self.timeoutSeconds = timeoutSeconds
        self.retries = retries
    }
}

/// How to reach a device: Modbus TCP (a device or a gateway), or Modbus RTU on a serial line.
public enum Transport: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case rtu(SerialSettings)

    public var description: String {
        switch self {
        case .tcp(let host, let port):
            return host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        case .rtu(let serial):
            return "rtu://\(serial.device)@\(serial.baud)/\(serial.dataBits)\(serial.parity.rawValue)\(serial.stopBits)"
        }
    }
}

public struct SerialSettings: Sendable, Hashable {
    /// The serial device, e.g. `/dev/ttyUSB0` (or a stable symlink to it).
    public var device: String
    public var baud: Int
    public var parity: Parity
    public var dataBits: Int
    public var stopBits: Int

    public init(device: String, baud: Int = 19200, parity: Parity = .even, dataBits: Int = 8, stopBits: Int = 1) {
        self.device = device
        self.baud = baud
        self.parity = parity
        self.dataBits = dataBits
        self.stopBits = stopBits
    }
}

/// Alarm thresholds of one IT system. The defaults are the ones the whole service uses (the alarm
/// machine's own defaults are these): each is defined here and nowhere else.
public struct Thresholds: Sendable, Equatable {
    /// IEC 60364-7-710: the insulation monitor of a medical IT system must indicate at the latest
    /// when the insulation resistance has fallen to 50 kΩ. The response value may be set higher,
    /// never lower.
    public static let minimumInsulationResponseOhms = 50_000.0

    /// Insulation alarm at or below this resistance; never below `minimumInsulationResponseOhms`.
    public var insulationResponseOhms: Double
    /// Optional earlier warning, at or above the response value.
    public var insulationPrewarningOhms: Double?
    /// Overload in per cent of the transformer's rated current.
    public var loadPercent: Double
    public var windingTemperatureCelsius: Double
    /// Without a fresh valid reading for this long the system is stale (a communication alarm).
    public var staleAfterSeconds: Double
    /// Over-temperature releases at or below this; nil: 10 °C below the response value.
    public var windingTemperatureReleaseCelsius: Double?
    /// The over-temperature release in force: the configured one, or 10 °C below the response value.
    public var windingTemperatureReleaseCelsiusInForce: Double {
        windingTemperatureReleaseCelsius ?? windingTemperatureCelsius - 10
    }
    /// A PTC thermistor chain (DIN 44081) in the winding: alarm at or above, release at or below.
    public var ptcResponseOhms: Double
    public var ptcReleaseOhms: Double

    public init(
        insulationResponseOhms: Double = Thresholds.minimumInsulationResponseOhms, insulationPrewarningOhms: Double? = nil, loadPercent: Double = 100,
        windingTemperatureCelsius: Double = 120, staleAfterSeconds: Double = 5,
        windingTemperatureReleaseCelsius: Double? = nil, ptcResponseOhms: Double = 4_000, ptcReleaseOhms: Double = 1_600
    ) {
        self.insulationResponseOhms = insulationResponseOhms
        self.insulationPrewarningOhms = insulationPrewarningOhms
        self.loadPercent = loadPercent
        self.windingTemperatureCelsius = windingTemperatureCelsius
        self.staleAfterSeconds = staleAfterSeconds
        self.windingTemperatureReleaseCelsius = windingTemperatureReleaseCelsius
        self.ptcResponseOhms = ptcResponseOhms
        self.ptcReleaseOhms = ptcReleaseOhms
    }
}

/// The digital outputs of one system's alarm indicator; any may be absent.
public struct OutputLines: Sendable, Equatable {
    public var green: LineReference?
    public var yellow: LineReference?
    public var buzzer: LineReference?
    /// Common alarm contact for the building management system.
    public var commonAlarm: LineReference?
    /// One lamp per condition, keyed by the condition's name (`indicatorConditionNames`): lit
    /// while that condition is active.
    public var indicators: [String: LineReference]

    public init(
        green: LineReference? = nil, yellow: LineReference? = nil, buzzer: LineReference? = nil,
        commonAlarm: LineReference? = nil, indicators: [String: LineReference] = [:]
    ) {
        self.green = green
        self.yellow = yellow
        self.buzzer = buzzer
        self.commonAlarm = commonAlarm
        self.indicators = indicators
    }

    /// The configured lines, in the order green, yellow, buzzer, common alarm, then the
    /// indicators by condition name.
    public var all: [LineReference] {
        [green, yellow, buzzer, commonAlarm].compactMap { $0 } + indicators.sorted { $0.key < $1.key }.map(\.value)
    }
}

/// A GPIO line: by offset on a chip, or by the line name the device tree gives it.
public struct LineReference: Sendable, Hashable {
    /// `gpiochip0`, or a path such as `/dev/gpiochip0`.
    public var chip: String
    /// Exactly one of `offset` and `name` is set.
    public var offset: Int?
    public var name: String?
    /// The line is electrically low when logically active.
    public var activeLow: Bool
    /// In which state of the output the relay on this line is energised.
    public var energise: RelayEnergise

    public init(
        chip: String, offset: Int? = nil, name: String? = nil, activeLow: Bool = false,
        energise: RelayEnergise = .normal
    ) {
        self.chip = chip
        self.offset = offset
        self.name = name
        self.activeLow = activeLow
        self.energise = energise
    }
}

/// When the relay on an output line is energised (the line logically active).
///
/// `normal` is the fail-safe wiring: the relay holds only while all is well, so a crash, a hang,
/// a stopped service or a power loss drops it and its rest contacts show the alarm (yellow lamp
/// lit, buzzer sounding, common alarm signalled, green dark). GPIO drivers keep the last level
/// when a line is released, so only this wiring, not releasing the line, makes a dead service
/// look like an alarm.
public enum RelayEnergise: String, CaseIterable, Sendable, Hashable {
    /// Energised while the output shows the normal state (energise-to-normal, fail-safe).
    case normal
    /// Energised while the output shows the alarm state (energise-to-alarm).
    case alarm
}

/// The digital inputs of one system's theatre panel; any may be absent.
public struct InputLines: Sendable, Equatable {
    /// Silences the buzzer; the yellow lamp stays (IEC 60364-7-710).
    public var mute: InputLineReference?
    /// Starts a test of the whole alarm chain.
    public var test: InputLineReference?
    /// Confirms the alarms were seen: silences and clears old alarms.
    public var acknowledge: InputLineReference?
    /// The IMD's own alarm relay, a second opinion on insulation that needs no Modbus. Active
    /// means the contact signals an insulation alarm.
    public var imdAlarmContact: InputLineReference?

    public init(
        mute: InputLineReference? = nil, test: InputLineReference? = nil, acknowledge: InputLineReference? = nil,
        imdAlarmContact: InputLineReference? = nil
    ) {
        self.mute = mute
        self.test = test
        self.acknowledge = acknowledge
        self.imdAlarmContact = imdAlarmContact
    }

    /// The configured lines, in the order mute, test, acknowledge, IMD alarm contact.
    public var all: [InputLineReference] {
        [mute, test, acknowledge, imdAlarmContact].compactMap { $0 }
    }
}

/// A GPIO input line: a panel button or a potential-free contact.
public struct InputLineReference: Sendable, Hashable {
    /// `gpiochip0`, or a path such as `/dev/gpiochip0`.
    public var chip: String
    /// Exactly one of `offset` and `name` is set.
    public var offset: Int?
    public var name: String?
    /// A low electrical level means active (pressed, or the contact signalling).
    public var activeLow: Bool
    /// How long a new level must hold before it counts.
    public var debounceSeconds: Double

    public init(chip: String, offset: Int? = nil, name: String? = nil, activeLow: Bool = false, debounceSeconds: Double = 0.05) {
        self.chip = chip
        self.offset = offset
        self.name = name
        self.activeLow = activeLow
        self.debounceSeconds = debounceSeconds
    }
}
