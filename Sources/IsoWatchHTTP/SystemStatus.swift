import Foundation
import IsoWatchCore

/// What the operator's surfaces show of one IT system at one moment.
public struct SystemStatus: Sendable, Equatable, Encodable {
    public struct Communication: Sendable, Equatable, Encodable {
        public var ok: Bool
        public var error: String?
        /// The last poll that brought a reading, good or not.
        public var lastSuccess: Date?

        public init(ok: Bool, error: String? = nil, lastSuccess: Date? = nil) {
            self.ok = ok
            self.error = error
            self.lastSuccess = lastSuccess
        }

        enum CodingKeys: String, CodingKey {
            case ok, error
            case lastSuccess = "last_success"
        }
    }

    public struct Alarm: Sendable, Equatable, Encodable {
        /// `normal` (green), `alarm` (yellow: a condition is active, whether or not a test runs),
        /// or `test` (a lamp test and nothing else).
        public var state: String
        public var conditions: [String]
        public var silenced: Bool
        public var unacknowledged: [String]
        /// Who silenced or acknowledged the sounding alarm, when someone did.
        public var silencedBy: String?
        /// A lamp test is lighting the lamps now; with state `alarm` the lamps also mean a fault.
        public var testInProgress: Bool

        public init(
            state: String, conditions: [String], silenced: Bool, unacknowledged: [String] = [], silencedBy: String? = nil,
            testInProgress: Bool = false
        ) {
            self.testInProgress = testInProgress
            self.state = state
            self.conditions = conditions
            self.silenced = silenced
            self.unacknowledged = unacknowledged
            self.silencedBy = silencedBy
        }

        enum CodingKeys: String, CodingKey {
            case state, conditions, silenced, unacknowledged
            case silencedBy = "silenced_by"
            case testInProgress = "test_in_progress"
        }
    }

    public struct Outputs: Sendable, Equatable, Encodable {
        public var green: Bool
        public var yellow: Bool
        public var buzzer: Bool
        public var commonAlarm: Bool

        public init(green: Bool, yellow: Bool, buzzer: Bool, commonAlarm: Bool) {
            self.green = green
            self.yellow = yellow
            self.buzzer = buzzer
            self.commonAlarm = commonAlarm
        }

        enum CodingKeys: String, CodingKey {
            case green, yellow, buzzer
            case commonAlarm = "common_alarm"
        }
    }

    public struct Device: Sendable, Equatable, Encodable {
        public var profile: String
        public var endpoint: String
        public var unit: Int

        public init(profile: String, endpoint: String, unit: Int) {
            self.profile = profile
            self.endpoint = endpoint
            self.unit = unit
        }
    }

    /// The configured alarm thresholds, drawn into the dashboard's trend charts.
    public struct Thresholds: Sendable, Equatable, Encodable {
        public var insulationResponseOhms: Double
        public var insulationPrewarningOhms: Double?
        public var loadPercent: Double
        public var windingTemperatureCelsius: Double

        public init(
            insulationResponseOhms: Double, insulationPrewarningOhms: Double?, loadPercent: Double,
            windingTemperatureCelsius: Double
        ) {
            self.insulationResponseOhms = insulationResponseOhms
            self.insulationPrewarningOhms = insulationPrewarningOhms
            self.loadPercent = loadPercent
            self.windingTemperatureCelsius = windingTemperatureCelsius
        }

        public init(_ thresholds: IsoWatchCore.Thresholds) {
            self.init(
                insulationResponseOhms: thresholds.insulationResponseOhms,
                insulationPrewarningOhms: thresholds.insulationPrewarningOhms, loadPercent: thresholds.loadPercent,
                windingTemperatureCelsius: thresholds.windingTemperatureCelsius)
        }

        enum CodingKeys: String, CodingKey {
            case insulationResponseOhms = "insulation_response_ohms"
            case insulationPrewarningOhms = "insulation_prewarning_ohms"
            case loadPercent = "load_percent"
            case windingTemperatureCelsius = "winding_temperature_celsius"
        }
    }

    public var id: String
    public var name: String
    public var location: String
    public var device: Device
    public var thresholds: Thresholds?
    /// The latest reading the device delivered, whatever its age; `stale` says whether it is current.
    public var reading: ReadingDocument?
    /// True when there is no fresh, valid reading within the configured stale time: the values
    /// shown are history, never a live measurement.
    public var stale: Bool
    public var communication: Communication
    public var alarm: Alarm
    public var outputs: Outputs

    public init(
        id: String, name: String, location: String, device: Device, reading: ReadingDocument?, stale: Bool,
        communication: Communication, alarm: Alarm, outputs: Outputs, thresholds: Thresholds? = nil
    ) {
        self.thresholds = thresholds
        self.id = id
        self.name = name
        self.location = location
        self.device = device
        self.reading = reading
        self.stale = stale
        self.communication = communication
        self.alarm = alarm
        self.outputs = outputs
    }
}

/// The service's live state as the HTTP layer reads it. Data flows one way: the HTTP layer asks
/// for a snapshot and never reaches into the pollers or the alarm machines.
public protocol LiveStateProvider: Sendable {
    func systems() async -> [SystemStatus]
    /// Every status change from now on (a new reading, an alarm change, data going stale), for
    /// the live stream. The stream ends if its reader falls too far behind.
    func statusUpdates() -> AsyncStream<SystemStatus>
    /// What a signed-in user asks of one system's alarm.
    func perform(_ action: OperatorAction, system: String, user: String) async -> ActionOutcome
}

/// The answer to an operator action.
public enum ActionOutcome: Sendable, Equatable {
    case done
    case noSuchSystem
    /// Not carried out (a test while one runs, or too soon after the last): nothing changed.
    case refused(reason: String, retryAfterSeconds: Int)
}

/// The panel's buttons, pressed from the dashboard or the API by a signed-in user.
public enum OperatorAction: String, Sendable, CaseIterable {
    /// Mutes the buzzer only; the yellow lamp stays.
    case silence
    /// Mutes the buzzer and clears alarms that have already gone.
    case acknowledge
    /// Tests the monitoring device and the alarm chain (lamps and buzzer).
    case test
}
