import IsoWatchCore

/// Something the caller tells the alarm machine of one IT system.
public enum AlarmEvent: Sendable, Equatable {
    /// One successful poll of the IT system's monitor. The machine judges freshness itself: a value
    /// counts as new only if the reading's update counter moved (or the device has none).
    case reading(DecodedReading)
    /// The caller had no successful poll for its configured time.
    case communicationLost(reason: String)
    /// Polls succeed again. A `.reading` says the same thing.
    case communicationRestored
    /// Time passed; send it at (or after) the instant of the last `.wakeUp`. Extra ticks are harmless.
    case tick
    /// Someone pressed mute. Only the buzzer stops; the yellow lamp cannot be cancelled.
    case silence(user: String)
    /// Someone confirmed they have seen the alarms: mutes the buzzer and clears old alarms.
    case acknowledge(user: String)
    /// The test button (or the API) started a test of the IMD and the alarm chain.
    case testStarted(user: String?)
    /// The IMD's own self-test was started through its profile (by the test button, the API or
    /// the automatic function test). Until `.testFinished` its insulation verdicts are the fault
    /// the test simulates, and the stale timer waits: the device is checking its measuring circuit.
    /// It lights nothing by itself; the caller bounds it with a timeout that ends in a failure.
    case deviceTestStarted
    /// The device reported the outcome of its self-test.
    case testFinished(passed: Bool)
}

/// What the outputs of one IT system should show.
public struct AlarmOutputs: Sendable, Equatable, Codable {
    /// Normal operation: no active condition, fresh valid data, no test running.
    public var green: Bool
    /// Any active condition, or a test. Silence never turns it off.
    public var yellow: Bool
    public var buzzer: Bool
    /// For the building management system; follows the yellow lamp, test included, so that a test
    /// also proves the wiring to the BMS.
    public var commonAlarm: Bool
    /// The conditions active now.
    public var indicators: Set<AlarmCondition>
    /// Conditions that cleared before anyone acknowledged them. They light nothing by themselves
    /// (the yellow lamp means a fault is present *now*, and green means the system is safe now);
    /// a panel shows them as a message until acknowledged.
    public var oldAlarms: Set<AlarmCondition>
    /// The yellow lamp and buzzer are on because of a test, not (only) because of a fault.
    public var testInProgress: Bool

    public init(
        green: Bool, yellow: Bool, buzzer: Bool, commonAlarm: Bool,
        indicators: Set<AlarmCondition>, oldAlarms: Set<AlarmCondition> = [], testInProgress: Bool = false
    ) {
        self.green = green
        self.yellow = yellow
        self.buzzer = buzzer
        self.commonAlarm = commonAlarm
        self.indicators = indicators
        self.oldAlarms = oldAlarms
        self.testInProgress = testInProgress
    }

    private enum CodingKeys: String, CodingKey {
        case green, yellow, buzzer, indicators
        case commonAlarm = "common_alarm"
        case oldAlarms = "old_alarms"
        case testInProgress = "test_in_progress"
    }
}

/// One raised condition from its onset to its acknowledgement.
public struct AlarmEpisode: Sendable, Equatable, Identifiable {
    /// Increasing per machine, so a journal can match `raised`, `cleared` and `acknowledged`.
    public var id: Int
    public var condition: AlarmCondition
    /// When the condition was first observed, before the response delay ran.
    public var onset: AlarmTime
    /// When the machine raised it (the lamps changed).
    public var raised: AlarmTime
    public var cleared: AlarmTime?
    /// Worst value seen from onset to clearing: lowest insulation resistance, highest load,
    /// highest temperature or PTC resistance. A "< x" value is kept as such.
    public var worstValues: [Quantity: MeasuredValue]
    /// Free text from the source, for example why communication was lost.
    public var detail: String?
    public var silencedBy: String?
    public var silencedAt: AlarmTime?
    public var acknowledgedBy: String?
    public var acknowledgedAt: AlarmTime?

    public var isActive: Bool { cleared == nil }
    public var isOldAlarm: Bool { cleared != nil && acknowledgedBy == nil }
}

/// Why a silenced buzzer sounds again.
public enum ResoundCause: Sendable, Equatable {
    case newCondition(AlarmCondition)
    case reAlarmIntervalElapsed
}

/// A fact for the journal and the event history.
public struct AlarmRecord: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case raised(AlarmEpisode)
        case cleared(AlarmEpisode)
        case silenced(user: String, conditions: [AlarmCondition])
        case acknowledged(user: String, episodes: [AlarmEpisode])
        case resounded(ResoundCause)
        /// A test is never an episode: it has records of its own and raises no condition.
        case testStarted(user: String?)
        case testEnded(user: String?)
        case selfTestResult(passed: Bool)
    }

    public var time: AlarmTime
    public var kind: Kind

    public init(time: AlarmTime, kind: Kind) {
        self.time = time
        self.kind = kind
    }

    public var isTest: Bool {
        switch kind {
        case .testStarted, .testEnded, .selfTestResult: true
        case .raised, .cleared, .silenced, .acknowledged, .resounded: false
        }
    }
}

/// What the caller must do after handing the machine an event.
public enum AlarmAction: Sendable, Equatable {
    /// Drive the lamps, buzzer and relays to this state. Emitted only when something changed.
    case setOutputs(AlarmOutputs)
    /// Write this to the journal.
    case record(AlarmRecord)
    /// Send `.tick` at this monotonic instant (or later). It replaces any earlier wake-up; the
    /// answer to a `.tick` always carries the next one, and none when nothing is due.
    case wakeUp(at: Duration)
}
