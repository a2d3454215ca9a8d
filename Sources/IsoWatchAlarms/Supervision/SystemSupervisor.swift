import Foundation
import IsoWatchCore

/// Everything about one IT system between its device and its relays, as a value: the reading
/// filter, the alarm machine, the communication and contact timing, the device self-test and the
/// periodic function test. It takes events and returns actions, like `AlarmStateMachine`; the
/// monitor only carries the actions out. One clock: every instant is an `AlarmTime` the caller
/// passes in, so the supervisor runs the same under a test's clock as under the service's.
///
/// Because a system is one value, the monitor can add one, remove one or give one new settings
/// while every other system runs on untouched (a reloaded configuration).
public struct SystemSupervisor: Sendable {
    public enum Event: Sendable {
        /// The device answered; `polledAt` is the poll's wall time.
        case polled(DecodedReading, polledAt: Date)
        /// The device did not answer, or its reply could not be decoded.
        case pollFailed(reason: String)
        /// The IMD's own alarm contact changed (a GPIO input).
        case contactChanged(active: Bool)
        /// Silence or acknowledge, from the panel or the web.
        case operatorAction(OperatorRequest)
        /// The device accepted the self-test command.
        case selfTestCommandAccepted(at: Date)
        /// The device refused the self-test command (or the bus could not deliver it).
        case selfTestCommandFailed(reason: String)
        /// Time passes: communication loss, the machine's delays, self-test and function-test schedules.
        case tick
    }

    /// A person's request on the system's alarm.
    public enum OperatorRequest: Sendable, Equatable {
        case silence(user: String)
        case acknowledge(user: String)
    }

    public enum Action: Sendable, Equatable {
        /// Drive the system's lamps and relays (and the remote panels it belongs to).
        case setOutputs(AlarmOutputs)
        /// Log and journal a record of the alarm machine.
        case record(AlarmRecord)
        /// Tick this system at this instant (replaces the wake-up before).
        case wakeUp(at: Duration)
        /// Keep the (filtered) reading in the history.
        case storeReading(DecodedReading)
        /// Communication with the device was lost or restored: journal it.
        case communicationChanged(restored: Bool, reason: String?)
        /// Send the device's self-test command.
        case startDeviceSelfTest
        /// Something an engineer reads in the log.
        case note(Note)
    }

    /// A log line the supervisor asks for; the monitor maps the level to its logger.
    public struct Note: Sendable, Equatable {
        public enum Level: Sendable, Equatable { case notice, warning, error }
        public var level: Level
        public var message: String
        public var fields: [String: String]

        public init(_ level: Level, _ message: String, _ fields: [String: String] = [:]) {
            self.level = level
            self.message = message
            self.fields = fields
        }
    }

    public enum TestStart: Sendable, Equatable {
        case started
        case refused(TestRefusal)
    }

    /// A device self-test under way (from the test button or the periodic function test).
    struct SelfTestRun: Sendable {
        var user: String?
        var automatic: Bool
        /// When the device acknowledged the start command; states polled before it are old.
        var commandAcceptedAt: Date?
        var sawRunning = false
    }

    public private(set) var configuration: SystemConfiguration
    public private(set) var machine: AlarmStateMachine
    /// For a commercial IMD: freshness, jumps and staleness of what it publishes. A front-end's
    /// values come from the estimator, whose robust filter does this job (nil).
    public private(set) var filter: CommercialReadingFilter?
    /// Whether the device can be told to test itself (its profile has the self-test parameter).
    public let deviceCanSelfTest: Bool
    public private(set) var latest: DecodedReading?
    public private(set) var lastSuccess: Date?
    public private(set) var lastError: String?
    public private(set) var communicationLost = false
    /// The IMD's alarm contact signals an insulation fault.
    public private(set) var contactActive = false
    private var lastSuccessAt: Duration
    private var disagreeingSince: Duration?
    private var disagreementRaised = false
    private var selfTest: SelfTestRun?
    private var nextFunctionTest: Duration?
    private var wakeUp: Duration?
    private var initialActions: [Action]

    /// - Parameters:
    ///   - mapped: the quantities the device profile publishes (nil: unknown).
    ///   - frontEnd: read through a measuring front-end (the estimator filters its values).
    ///   - now: when the system starts being monitored; it is in alarm until its first valid measurement.
    public init(
        _ configuration: SystemConfiguration, mapped: Set<Quantity>?, frontEnd: Bool, deviceCanSelfTest: Bool, now: AlarmTime
    ) throws(InvalidAlarmSettings) {
        self.configuration = configuration
        machine = try AlarmStateMachine(settings: AlarmSettings(configuration, mapped: mapped), now: now)
        filter = frontEnd ? nil : CommercialReadingFilter(configuration.thresholds)
        self.deviceCanSelfTest = deviceCanSelfTest
        lastSuccessAt = now.monotonic
        nextFunctionTest = configuration.alarms.functionTestIntervalHours.map { now.monotonic + .seconds($0 * 3600) }
        initialActions = []
        initialActions = track(machine.initialActions)
    }

    /// What the monitor carries out once when the system starts: the fail-safe outputs (in alarm
    /// until the first valid measurement), the start-up record and the first wake-up.
    public func startActions() -> [Action] { initialActions }

    /// The instant the system wants to be ticked next, if any.
    public var nextWakeUp: Duration? { wakeUp }

    /// The self-test run the device reports progress of, if one is under way.
    public var deviceSelfTestRunning: Bool { selfTest != nil }

    // MARK: - Events

    public mutating func handle(_ event: Event, at now: AlarmTime) -> [Action] {
        var actions: [Action] = []
        switch event {
        case let .polled(decoded, polledAt):
            actions += polled(decoded, polledAt: polledAt, now: now)
        case let .pollFailed(reason):
            if lastError != reason {
                actions.append(.note(Note(.warning, "poll failed", ["error": reason])))
            }
            lastError = reason
            actions += checkCommunication(now: now)
        case let .contactChanged(active):
            // It takes effect with the next reading: the machine judges insulation per reading,
            // and with no readings at all the communication alarm is already raised.
            guard active != contactActive else { return [] }
            contactActive = active
            actions.append(
                .note(
                    active
                        ? Note(.warning, "IMD alarm contact signals an insulation fault")
                        : Note(.notice, "IMD alarm contact released")))
        case let .operatorAction(request):
            switch request {
            case let .silence(user): actions += feed(.silence(user: user), now: now)
            case let .acknowledge(user): actions += feed(.acknowledge(user: user), now: now)
            }
        case let .selfTestCommandAccepted(at):
            selfTest?.commandAcceptedAt = at
        case let .selfTestCommandFailed(reason):
            actions += finishSelfTest(passed: false, reason: "the device refused the self-test command: \(reason)", now: now)
        case .tick:
            actions += checkCommunication(now: now)
            if let due = wakeUp, due <= now.monotonic {
                wakeUp = nil
                actions += feed(.tick, now: now)
            }
            if let due = nextFunctionTest, due <= now.monotonic {
                actions += runFunctionTest(at: now)
            }
        }
        return actions
    }

    /// The test button or the API: lights the yellow lamp and sounds the buzzer for the test
    /// duration (the whole chain) and, where the device supports it, starts its self-test. A
    /// request while a test runs, or within the rest interval after one, starts nothing.
    public mutating func requestTest(user: String?, at now: AlarmTime) -> (TestStart, [Action]) {
        if let refusal = machine.testRefusal(at: now) {
            return (
                .refused(refusal),
                [.note(Note(.notice, "test request refused", ["user": user ?? "panel", "refusal": "\(refusal)"]))]
            )
        }
        var actions = feed(.testStarted(user: user), now: now)
        if deviceCanSelfTest {
            actions += beginSelfTest(user: user, automatic: false, now: now)
        } else {
            actions.append(.note(Note(.notice, "test of the alarm chain only: the device has no remote self-test (see its profile)")))
        }
        return (.started, actions)
    }

    /// New settings for the running system (a reloaded configuration with the same device and
    /// lines): thresholds, delays, names. The alarm state carries over; see
    /// `AlarmStateMachine.reconfigure`.
    public mutating func reconfigure(_ newConfiguration: SystemConfiguration, mapped: Set<Quantity>?, at now: AlarmTime)
        throws(InvalidAlarmSettings) -> [Action]
    {
        let machineActions = try machine.reconfigure(AlarmSettings(newConfiguration, mapped: mapped), at: now)
        if var filter {
            filter.settings = CommercialReadingFilter(newConfiguration.thresholds).settings
            self.filter = filter
        }
        if newConfiguration.alarms.functionTestIntervalHours != configuration.alarms.functionTestIntervalHours {
            nextFunctionTest = newConfiguration.alarms.functionTestIntervalHours.map { now.monotonic + .seconds($0 * 3600) }
        }
        configuration = newConfiguration
        return track(machineActions)
    }

    // MARK: - Readings

    private mutating func polled(_ decoded: DecodedReading, polledAt: Date, now: AlarmTime) -> [Action] {
        var actions: [Action] = []
        var reading = decoded
        if var filter {
            let (filtered, verdict) = filter.filter(decoded, nowSeconds: Self.seconds(now.monotonic))
            self.filter = filter
            reading = filtered
            if case let .held(ohms) = verdict {
                actions.append(
                    .note(Note(.notice, "implausible insulation jump held until confirmed", ["insulation_resistance_ohms": "\(ohms)"])))
            }
        }
        latest = reading
        actions.append(.storeReading(reading))
        lastSuccess = polledAt
        lastSuccessAt = now.monotonic
        lastError = nil
        if communicationLost {
            communicationLost = false
            actions.append(.note(Note(.notice, "communication restored")))
            actions.append(.communicationChanged(restored: true, reason: nil))
            actions += feed(.communicationRestored, now: now)
        }
        var judged = reading
        if contactActive {
            // The IMD's relay is a second opinion that needs no Modbus: while it signals, the
            // reading counts as device-flagged. It only ever adds the flag, so the contact can
            // raise or hold an insulation alarm but never clear one the measured value raises.
            judged.faults.insert(.insulation)
        }
        judged = checkContact(measured: reading, judged: judged, now: now, actions: &actions)
        actions += feed(.reading(judged), now: now)
        actions += followSelfTest(reading, polledAt: polledAt, now: now)
        return actions
    }

    private mutating func checkCommunication(now: AlarmTime) -> [Action] {
        guard !communicationLost, now.monotonic - lastSuccessAt >= .seconds(configuration.thresholds.staleAfterSeconds) else {
            return []
        }
        communicationLost = true
        let reason = lastError ?? "no reply"
        return [
            .note(Note(.error, "communication lost", ["reason": reason])),
            .communicationChanged(restored: false, reason: reason),
        ] + feed(.communicationLost(reason: reason), now: now)
    }

    /// The IMD contact's second opinion. A disagreement that lasts is a fault of the monitoring
    /// chain (a broken wire, a stuck relay, a device answering Modbus with a frozen value), raised
    /// as a device fault rather than left as a flag nobody reads.
    private mutating func checkContact(
        measured: DecodedReading, judged reading: DecodedReading, now: AlarmTime, actions: inout [Action]
    ) -> DecodedReading {
        guard configuration.inputs.imdAlarmContact != nil, selfTest == nil else { return reading }
        let disagreement = Self.contactDisagrees(
            contactActive: contactActive, reading: measured, insulation: machine.settings.insulation)
        switch disagreement {
        case true?:
            let since = disagreeingSince ?? now.monotonic
            disagreeingSince = since
            if now.monotonic - since >= .seconds(configuration.alarms.imdContactDisagreementSeconds), !disagreementRaised {
                disagreementRaised = true
                actions.append(
                    .note(
                        Note(
                            .error, "the IMD's alarm contact disagrees with its Modbus reading; raised as a device fault",
                            ["contact": contactActive ? "alarm" : "healthy"])))
            }
        case false?:
            disagreeingSince = nil
            if disagreementRaised {
                disagreementRaised = false
                actions.append(.note(Note(.notice, "the IMD's alarm contact agrees with its Modbus reading again")))
            }
        case nil:
            break
        }
        guard disagreementRaised else { return reading }
        var flagged = reading
        flagged.faults.insert(.device)
        return flagged
    }

    /// The contact and Modbus disagree: the contact signals while the measured value is past the
    /// release value without a device flag, or Modbus shows an alarm while the contact is quiet.
    /// Inside the hysteresis, or without an insulation value, there is nothing to compare.
    public static func contactDisagrees(contactActive: Bool, reading: DecodedReading, insulation: InsulationLevel) -> Bool? {
        let flagged = reading.faults.contains(.insulation)
        guard let value = reading[.insulationResistanceOhms], value.validity != .invalid else {
            return flagged ? !contactActive : nil
        }
        let modbusAlarm = flagged || value.value <= insulation.responseOhms
        let modbusHealthy = !flagged && value.value >= insulation.releaseOhms && value.validity != .belowRange
        if contactActive { return modbusHealthy }
        return modbusAlarm
    }

    // MARK: - Device self-test and function test

    /// The periodic function test. It runs the device's self-test without lamps or buzzer: a test
    /// nobody announced must not sound in a theatre at night; the lamps and buzzer are tested by
    /// the button, with someone watching. A failure raises `self_test_failed`.
    public mutating func runFunctionTest(at now: AlarmTime) -> [Action] {
        nextFunctionTest = configuration.alarms.functionTestIntervalHours.map { now.monotonic + .seconds($0 * 3600) }
        guard deviceCanSelfTest else {
            return [
                .note(Note(.notice, "automatic function test: the device has no remote self-test (see its profile); nothing to test"))
            ]
        }
        return beginSelfTest(user: nil, automatic: true, now: now)
    }

    private mutating func beginSelfTest(user: String?, automatic: Bool, now: AlarmTime) -> [Action] {
        // A second press while the device is testing lights the lamps again but starts nothing.
        guard selfTest == nil else { return [] }
        selfTest = SelfTestRun(user: user, automatic: automatic)
        var actions = feed(.deviceTestStarted, now: now)
        actions.append(
            .note(Note(.notice, automatic ? "automatic function test: device self-test started" : "device self-test started")))
        actions.append(.startDeviceSelfTest)
        return actions
    }

    /// The device's self-test progress, from a successful reading polled after it took the command.
    private mutating func followSelfTest(_ reading: DecodedReading, polledAt: Date, now: AlarmTime) -> [Action] {
        guard let run = selfTest, let accepted = run.commandAcceptedAt, polledAt > accepted,
            let raw = reading.auxiliary[DeviceSelfTestState.fieldName]
        else { return [] }
        switch DeviceSelfTestState(rawValue: Int(raw)) {
        case .running:
            selfTest?.sawRunning = true
            return []
        case .passed:
            return finishSelfTest(passed: true, reason: "the device reports passed", now: now)
        case .failed:
            return finishSelfTest(passed: false, reason: "the device reports failed", now: now)
        case .idle:
            // Back to idle after running without a verdict: no result is a failed test.
            return run.sawRunning ? finishSelfTest(passed: false, reason: "the device ended its self-test without a result", now: now) : []
        case nil:
            return finishSelfTest(passed: false, reason: "the device reports an unknown self-test state \(raw)", now: now)
        }
    }

    private mutating func finishSelfTest(passed: Bool, reason: String, now: AlarmTime) -> [Action] {
        guard let run = selfTest else { return [] }
        selfTest = nil
        var actions = [Action.note(Self.selfTestNote(run, passed: passed, reason: reason))]
        actions += feed(.testFinished(passed: passed), now: now)
        return actions
    }

    private static func selfTestNote(_ run: SelfTestRun, passed: Bool, reason: String) -> Note {
        var fields = ["result": passed ? "passed" : "failed", "detail": reason]
        if let user = run.user { fields["user"] = user }
        let what = run.automatic ? "automatic function test" : "device self-test"
        return Note(passed ? .notice : .error, "\(what) \(passed ? "passed" : "failed")", fields)
    }

    // MARK: - The alarm machine

    private mutating func feed(_ event: AlarmEvent, now: AlarmTime) -> [Action] {
        track(machine.handle(event, at: now))
    }

    /// Translates the machine's actions, remembers its wake-up, and notices when the machine ended
    /// a device self-test by its own timeout (the one clock that times it).
    private mutating func track(_ machineActions: [AlarmAction]) -> [Action] {
        var actions: [Action] = machineActions.map { action in
            switch action {
            case let .setOutputs(outputs): return .setOutputs(outputs)
            case let .record(record): return .record(record)
            case let .wakeUp(at):
                wakeUp = at
                return .wakeUp(at: at)
            }
        }
        if let run = selfTest, !machine.deviceTestInProgress {
            selfTest = nil
            let timeout = Int(machine.settings.deviceTestTimeout.components.seconds)
            actions.append(.note(Self.selfTestNote(run, passed: false, reason: "no result within \(timeout) s")))
        }
        return actions
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// The progress a device reports in its profile's `self_test_state` field (0 idle, 1 running,
/// 2 passed, 3 failed); the command is the profile's `self_test` parameter (write 1).
public enum DeviceSelfTestState: Int, Sendable {
    case idle = 0, running, passed, failed

    public static let fieldName = "self_test_state"
    public static let commandParameter = "self_test"
}
