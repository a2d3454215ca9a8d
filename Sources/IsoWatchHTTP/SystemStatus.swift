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
        /// `normal` (green), `alarm` (yellow), or `test`.
        public var state: String
        public var conditions: [String]
        public var silenced: Bool
        public var unacknowledged: [String]

        public init(state: String, conditions: [String], silenced: Bool, unacknowledged: [String] = []) {
            self.state = state
            self.conditions = conditions
            self.silenced = silenced
            self.unacknowledged = unacknowledged
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

    public var id: String
    public var name: String
    public var location: String
    public var device: Device
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
        communication: Communication, alarm: Alarm, outputs: Outputs
    ) {
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
}
