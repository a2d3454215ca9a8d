import Foundation
import IsoWatchAlarms
import IsoWatchCore

/// The alarm state of one IT system as every surface reports it: the API and live stream (the raw
/// values are the JSON strings), the metrics and the BMS registers (their own codes).
public enum AlarmState: String, Sendable, Equatable, Codable, CaseIterable {
    /// Green: no condition, no test.
    case normal
    /// Yellow: a condition is active (whether or not a test runs), or the yellow lamp is lit for
    /// one that has not been released yet.
    case alarm
    /// A lamp test and nothing else.
    case test

    /// A condition outranks the test: "alarm, test running" is `alarm` with `test_in_progress`,
    /// so a test can never make a fault look like a test.
    public init(conditionActive: Bool, testInProgress: Bool, yellowLit: Bool) {
        if conditionActive {
            self = .alarm
        } else if testInProgress {
            self = .test
        } else if yellowLit {
            self = .alarm
        } else {
            self = .normal
        }
    }
}

/// What the operator's surfaces (API, live stream, dashboard, metrics, BMS) show of one IT system
/// at one moment. The monitor builds it; nothing that reads it reaches back into the monitor.
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
        public var state: AlarmState
        /// Active conditions, in the order a panel lists them (`AlarmCondition`'s order).
        public var conditions: [AlarmCondition]
        public var silenced: Bool
        /// Conditions that have cleared but were not acknowledged (old alarms), in the same order.
        public var unacknowledged: [AlarmCondition]
        /// Who silenced or acknowledged the sounding alarm, when someone did.
        public var silencedBy: String?
        /// A lamp test is lighting the lamps now; with state `alarm` the lamps also mean a fault.
        public var testInProgress: Bool

        public init(
            state: AlarmState, conditions: [AlarmCondition], silenced: Bool, unacknowledged: [AlarmCondition] = [],
            silencedBy: String? = nil, testInProgress: Bool = false
        ) {
            self.testInProgress = testInProgress
            self.state = state
            self.conditions = conditions
            self.silenced = silenced
            self.unacknowledged = unacknowledged
            self.silencedBy = silencedBy
        }

        /// What `machine` shows now.
        public init(_ machine: AlarmStateMachine) {
            let outputs = machine.outputs
            let conditions = machine.activeConditions.sorted()
            self.init(
                state: AlarmState(
                    conditionActive: !conditions.isEmpty, testInProgress: machine.testInProgress, yellowLit: outputs.yellow),
                conditions: conditions, silenced: outputs.yellow && !outputs.buzzer,
                unacknowledged: outputs.oldAlarms.sorted(),
                silencedBy: machine.activeEpisodes.compactMap { $0.silencedBy ?? $0.acknowledgedBy }.last,
                testInProgress: machine.testInProgress)
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
