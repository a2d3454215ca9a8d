import IsoWatchCore

/// The IEC 60364-7-710 alarm logic of one medical IT system, as a plain value.
///
/// Every input is an event with the time it happened; every effect is an action returned to the
/// caller, who drives the lamps and relays, writes the journal and runs the one timer. Nothing in
/// here reads a clock or touches I/O, so each rule of the standard is a test of this type.
///
/// Decisions the standard leaves open:
/// - The machine starts in alarm (`awaitingFirstMeasurement`: yellow and buzzer) and hands over to
///   the real conditions at the first fresh, conclusive insulation value, once no other condition
///   is waiting out its response delay, so a start-up with a fault never blinks green.
/// - A missing, invalid or repeated insulation value never counts as "insulation ok". "< x" with
///   x ≤ response value is a valid alarm indication, and "> x" with x ≥ response value a valid
///   healthy one; any other range value is doubt, and doubt neither raises nor releases.
/// - Silence stops the buzzer for the conditions it could be heard for; a condition raised later
///   sounds again, as does everything silenced once the re-alarm time has run.
/// - A cleared, unacknowledged episode stays as an old alarm: shown in `outputs.oldAlarms`, but it
///   lights no lamp and does not hold green off. The start-up condition is journaled only.
/// - A test lights yellow, sounds the buzzer and drives the common alarm for its duration but
///   raises no condition and no episode. It changes nothing in the measurement, so readings are
///   judged during it as at any other time: a real fault raises its condition while the test
///   runs. Only the device's own self-test (which simulates an insulation fault) gates that
///   device's insulation verdicts, and only until its result or its timeout.
/// - A test request while a test runs, or sooner than `testRestInterval` after the last one
///   ended, is refused (`testRefusal(at:)`): repeated presses can neither extend a test nor keep
///   the system in one.
/// - Every quantity in `settings.monitored` must have a valid value at least every `staleAfter`:
///   a winding-temperature sensor that reads open or shorted raises `temperature_sensor`, any
///   other gap `stale_data`, whose detail names the quantity.
public struct AlarmStateMachine: Sendable {
    public private(set) var settings: AlarmSettings
    /// What the caller performs once, right after `init`: the start-up outputs (in alarm), the
    /// start-up record and the first wake-up.
    public private(set) var initialActions: [AlarmAction] = []
    /// The last instant the machine was told about.
    public private(set) var now: AlarmTime
    /// Cleared episodes nobody has acknowledged yet, oldest first.
    public private(set) var oldAlarms: [AlarmEpisode] = []
    /// Active conditions whose buzzer is currently silenced.
    public private(set) var silencedConditions: Set<AlarmCondition> = []

    private var trackers: [AlarmCondition: ConditionTracker]
    private var active: [AlarmCondition: AlarmEpisode] = [:]
    private var silencedSince: Duration?
    private var test: TestRun?
    /// The device's own self-test is running (`.deviceTestStarted` until `.testFinished`), and
    /// when it times out.
    private var deviceTestEndsAt: Duration?
    private var deviceTesting: Bool { deviceTestEndsAt != nil }
    /// Only the device's self-test makes its insulation verdicts meaningless (it simulates a
    /// fault); the lamp test lights lamps and changes nothing in what the device measures.
    private var insulationUnderTest: Bool { deviceTesting }
    /// When the last lamp test or device self-test ended, for the rest interval between tests.
    private var lastTestEnded: Duration?
    /// The last instant each monitored quantity other than insulation had a valid value.
    private var lastValid: [MonitoredQuantity: Duration] = [:]
    /// The monitored quantities whose latest reading carried them as invalid: a sensor the
    /// device reports but cannot read (open or shorted), as opposed to no value at all.
    private var readsInvalid: Set<MonitoredQuantity> = []
    private var lastFreshInsulation: Duration
    private var hasSeenFreshInsulation = false
    private var lastUpdateCounter: UInt32?
    private var judgedByValue: Set<AlarmCondition> = []
    private var nextEpisodeID = 1
    /// What the caller has been told: silence applies to what people could hear, and actions
    /// are only emitted when they change something.
    private var announced: AlarmOutputs
    private var announcedWakeUp: Duration?

    private struct TestRun: Sendable {
        var user: String?
        var endsAt: Duration
        var buzzerSilenced: Bool
    }

    public init(settings: AlarmSettings, now: AlarmTime) throws(InvalidAlarmSettings) {
        let problems = settings.validate()
        guard problems.isEmpty else { throw InvalidAlarmSettings(problems: problems) }
        self.settings = settings
        self.now = now
        self.lastFreshInsulation = now.monotonic
        self.lastValid = Dictionary(uniqueKeysWithValues: settings.monitored.map { ($0, now.monotonic) })
        self.trackers = Dictionary(uniqueKeysWithValues: AlarmCondition.allCases.map { ($0, ConditionTracker()) })
        self.announced = AlarmOutputs(green: false, yellow: false, buzzer: false, commonAlarm: false, indicators: [])

        var records: [AlarmRecord] = []
        raise(.awaitingFirstMeasurement, stamp: now, records: &records)
        announced = outputs
        announcedWakeUp = nextDeadline
        initialActions = [.setOutputs(announced)] + records.map(AlarmAction.record)
        if let announcedWakeUp { initialActions.append(.wakeUp(at: announcedWakeUp)) }
    }

    // MARK: - State

    public var outputs: AlarmOutputs {
        let conditions = activeConditions
        let testing = test != nil
        let yellow = !conditions.isEmpty || testing
        let conditionsAudible = !conditions.subtracting(silencedConditions).isEmpty
        let testAudible = test.map { !$0.buzzerSilenced } ?? false
        return AlarmOutputs(
            green: !yellow,
            yellow: yellow,
            buzzer: conditionsAudible || testAudible,
            commonAlarm: yellow,
            indicators: conditions,
            oldAlarms: Set(oldAlarms.map(\.condition)),
            testInProgress: testing)
    }

    public var activeConditions: Set<AlarmCondition> { Set(active.keys) }

    /// Episodes in progress, in panel order.
    public var activeEpisodes: [AlarmEpisode] { active.values.sorted { $0.condition < $1.condition } }

    /// Every episode the machine still holds: the active ones, then the old alarms.
    public var episodes: [AlarmEpisode] { activeEpisodes + oldAlarms }

    public var testInProgress: Bool { test != nil }

    /// Why a test may not start at `time`, or nil when it may.
    public func testRefusal(at time: AlarmTime) -> TestRefusal? {
        if let test { return .running(until: test.endsAt) }
        if let deviceTestEndsAt { return .deviceTestRunning(until: deviceTestEndsAt) }
        if let lastTestEnded, time.monotonic < lastTestEnded + settings.testRestInterval {
            return .tooSoon(allowedFrom: lastTestEnded + settings.testRestInterval)
        }
        return nil
    }

    /// Monitored quantities with no valid value for the stale time as of `instant`.
    private func lostQuantities(at instant: Duration) -> Set<MonitoredQuantity> {
        Set(lastValid.filter { instant - $0.value >= settings.staleAfter }.keys)
    }

    /// What the lost quantities say about `temperature_sensor` (a sensor that reads but is open
    /// or shorted) and `stale_data` (no value at all), with a detail naming them.
    private func lostFunctionEvidence(at instant: Duration) -> (sensor: Bool, stale: [MonitoredQuantity]) {
        let lost = lostQuantities(at: instant)
        let sensor = lost.contains(.windingTemperature) && readsInvalid.contains(.windingTemperature)
        let stale = lost.filter { !($0 == .windingTemperature && sensor) }.sorted { $0.rawValue < $1.rawValue }
        return (sensor, stale)
    }

    /// The device is testing itself: its insulation verdicts are ignored and the stale timer waits.
    public var deviceTestInProgress: Bool { deviceTesting }

    /// Whether the insulation value (the one shown as the system's value) is current at `time`:
    /// a fresh, conclusive insulation measurement came within the stale time. By the same rule
    /// that raises `stale_data` for insulation; a lost load or temperature function does not
    /// touch it (that shows as its own condition).
    public func insulationIsCurrent(at time: AlarmTime) -> Bool {
        hasSeenFreshInsulation && (insulationUnderTest || time.monotonic - lastFreshInsulation < settings.staleAfter)
    }

    /// The next instant at which time alone changes something, if any.
    public var nextDeadline: Duration? {
        var candidates: [Duration] = []
        for (condition, tracker) in trackers {
            if let deadline = tracker.deadline(settings.delays(for: condition)) { candidates.append(deadline) }
        }
        if !insulationUnderTest, let stale = trackers[.staleData], !stale.isActive, stale.pendingSince == nil {
            candidates.append(lastFreshInsulation + settings.staleAfter)
        }
        for (quantity, since) in lastValid where !lostQuantities(at: now.monotonic).contains(quantity) {
            candidates.append(since + settings.staleAfter)
        }
        if let test { candidates.append(test.endsAt) }
        if let deviceTestEndsAt { candidates.append(deviceTestEndsAt) }
        if !silencedConditions.isEmpty, let silencedSince, let interval = settings.reAlarmInterval {
            candidates.append(silencedSince + interval)
        }
        return candidates.min()
    }

    // MARK: - Events

    /// Feeds one event that happened at `time` and returns what the caller must do, in order.
    public mutating func handle(_ event: AlarmEvent, at time: AlarmTime) -> [AlarmAction] {
        // A clock that seems to run backwards must not shorten a delay: hold the last instant.
        let stamp = time.monotonic < now.monotonic ? AlarmTime(monotonic: now.monotonic, wall: time.wall) : time
        now = stamp
        var records: [AlarmRecord] = []
        catchUp(to: stamp, records: &records)
        apply(event, stamp: stamp, records: &records)
        settle(at: stamp.monotonic, stamp: stamp, records: &records)
        // A tick is the caller's timer firing: its timer is spent, so the next one is restated
        // even when it did not change.
        if case .tick = event { announcedWakeUp = nil }
        return announce(records)
    }

    /// New settings for a running system (a reloaded configuration): the state carries over. What
    /// came due under the old settings is applied first; from then on every rule uses the new
    /// ones, so a pending delay ends at its start plus the new delay, and a value is judged against
    /// the new thresholds from the next reading on, with the delays and hysteresis of any reading.
    /// A function that becomes monitored is given the stale time from now to deliver a value.
    public mutating func reconfigure(_ newSettings: AlarmSettings, at time: AlarmTime) throws(InvalidAlarmSettings)
        -> [AlarmAction]
    {
        let problems = newSettings.validate()
        guard problems.isEmpty else { throw InvalidAlarmSettings(problems: problems) }
        let stamp = time.monotonic < now.monotonic ? AlarmTime(monotonic: now.monotonic, wall: time.wall) : time
        now = stamp
        var records: [AlarmRecord] = []
        catchUp(to: stamp, records: &records)
        settings = newSettings
        for quantity in newSettings.monitored where lastValid[quantity] == nil {
            lastValid[quantity] = stamp.monotonic
        }
        for quantity in Array(lastValid.keys) where !newSettings.monitored.contains(quantity) {
            lastValid[quantity] = nil
            readsInvalid.remove(quantity)
        }
        settle(at: stamp.monotonic, stamp: stamp, records: &records)
        // The next deadline may have moved either way: restate it.
        announcedWakeUp = nil
        return announce(records)
    }

    /// Applies every rule that came due since the last event, in the order it came due, so a late
    /// tick ends in the same state as a punctual one.
    private mutating func catchUp(to stamp: AlarmTime, records: inout [AlarmRecord]) {
        while let due = nextDeadline, due <= stamp.monotonic {
            settle(at: due, stamp: stamp, records: &records)
            if let next = nextDeadline, next <= due {
                assertionFailure("alarm deadline \(next) did not advance past \(due)")
                return
            }
        }
    }

    private mutating func apply(_ event: AlarmEvent, stamp: AlarmTime, records: inout [AlarmRecord]) {
        switch event {
        case .reading(let reading):
            let isNew = reading.updateCounter == nil || reading.updateCounter != lastUpdateCounter
            lastUpdateCounter = reading.updateCounter
            let assessment = settings.assess(
                reading, isNewMeasurement: isNew, insulationUnderTest: insulationUnderTest,
                judgedByValueBefore: judgedByValue)
            judgedByValue.formUnion(assessment.judgedByValue)
            for quantity in settings.monitored {
                switch settings.validity(of: quantity, in: reading) {
                case .valid:
                    lastValid[quantity] = stamp.monotonic
                    readsInvalid.remove(quantity)
                case .invalid: readsInvalid.insert(quantity)
                case .absent: readsInvalid.remove(quantity)
                }
            }
            var observations = assessment.observations
            // The device's flag and a sensor that has read open or shorted for the stale time
            // speak to the same condition; either one holds it.
            if lostFunctionEvidence(at: stamp.monotonic).sensor {
                observations[.temperatureSensor] = ConditionObservation(evidence: .violating, values: [:])
            }
            for (condition, observation) in observations.sorted(by: { $0.key < $1.key }) {
                observe(condition, observation.evidence, values: observation.values, at: stamp)
            }
            if assessment.hasFreshConclusiveInsulation {
                lastFreshInsulation = stamp.monotonic
                hasSeenFreshInsulation = true
            }
            observe(.communication, .released, at: stamp)
        case .communicationLost(let reason):
            observe(.communication, .violating, detail: reason, at: stamp)
        case .communicationRestored:
            observe(.communication, .released, at: stamp)
        case .tick:
            break
        case .silence(let user):
            silence(by: user, stamp: stamp, records: &records)
        case .acknowledge(let user):
            silence(by: user, stamp: stamp, records: &records)
            acknowledge(by: user, stamp: stamp, records: &records)
        case .testStarted(let user):
            // A press during a test or within the rest interval changes nothing: a test that could
            // be extended or chained would keep the system looking tested instead of monitored.
            guard testRefusal(at: stamp) == nil else { return }
            test = TestRun(user: user, endsAt: stamp.monotonic + settings.testDuration, buzzerSilenced: false)
            records.append(AlarmRecord(time: stamp, kind: .testStarted(user: user)))
        case .deviceTestStarted:
            if deviceTestEndsAt == nil { deviceTestEndsAt = stamp.monotonic + settings.deviceTestTimeout }
        case .testFinished(let passed):
            if deviceTesting {
                deviceTestEndsAt = nil
                lastTestEnded = max(lastTestEnded ?? stamp.monotonic, stamp.monotonic)
                // The stale time starts again: during the test no value could be fresh.
                lastFreshInsulation = max(lastFreshInsulation, stamp.monotonic)
            }
            records.append(AlarmRecord(time: stamp, kind: .selfTestResult(passed: passed)))
            observe(.selfTestFailed, passed ? .released : .violating, at: stamp)
        }
    }

    /// Applies the rules that depend on time alone, as of `instant`; records carry `stamp`, the
    /// moment the outputs actually change.
    private mutating func settle(at instant: Duration, stamp: AlarmTime, records: inout [AlarmRecord]) {
        let asOf = stamp.rewound(to: instant)
        if let ends = deviceTestEndsAt, ends <= instant {
            // No result in time: a device that cannot finish its self-test has failed it.
            deviceTestEndsAt = nil
            lastTestEnded = max(lastTestEnded ?? ends, ends)
            lastFreshInsulation = max(lastFreshInsulation, ends)
            records.append(AlarmRecord(time: stamp, kind: .selfTestResult(passed: false)))
            observe(.selfTestFailed, .violating, at: asOf)
        }
        if let run = test, run.endsAt <= instant {
            test = nil
            lastTestEnded = max(lastTestEnded ?? run.endsAt, run.endsAt)
            records.append(AlarmRecord(time: stamp, kind: .testEnded(user: run.user)))
        }
        let lost = lostFunctionEvidence(at: instant)
        let insulationStale = !insulationUnderTest && instant - lastFreshInsulation >= settings.staleAfter
        if insulationStale || !lost.stale.isEmpty {
            let names = (insulationStale ? ["insulation_resistance_ohms"] : []) + lost.stale.map(\.quantityName)
            observe(.staleData, .violating, detail: "no valid value for " + names.joined(separator: ", "), at: asOf)
        } else if !insulationUnderTest {
            observe(.staleData, .released, at: asOf)
        }
        if lost.sensor {
            observe(
                .temperatureSensor, .violating, detail: "the winding temperature sensor reads open or shorted", at: asOf)
        }

        for condition in AlarmCondition.allCases {
            guard let tracker = trackers[condition],
                let deadline = tracker.deadline(settings.delays(for: condition)), deadline <= instant
            else { continue }
            if tracker.isActive {
                clear(condition, stamp: stamp, records: &records)
            } else {
                raise(condition, stamp: stamp, records: &records)
            }
        }

        if !silencedConditions.isEmpty, let silencedSince, let interval = settings.reAlarmInterval,
            silencedSince + interval <= instant
        {
            let wasSilent = isSilencedByStaff
            silencedConditions = []
            self.silencedSince = nil
            if wasSilent { records.append(AlarmRecord(time: stamp, kind: .resounded(.reAlarmIntervalElapsed))) }
        }

        if trackers[.awaitingFirstMeasurement]?.isActive == true, hasSeenFreshInsulation,
            !trackers.values.contains(where: \.isPendingRaise)
        {
            clear(.awaitingFirstMeasurement, stamp: stamp, records: &records)
        }
    }

    /// Conditions are active and every one of them was silenced: the buzzer is off only by choice.
    private var isSilencedByStaff: Bool {
        !active.isEmpty && activeConditions.isSubset(of: silencedConditions)
    }

    private mutating func observe(
        _ condition: AlarmCondition, _ evidence: Evidence, values: [Quantity: MeasuredValue] = [:],
        detail: String? = nil, at time: AlarmTime
    ) {
        guard var tracker = trackers[condition] else { return }
        tracker.observe(evidence, values: values, detail: detail, at: time)
        trackers[condition] = tracker
        if tracker.isActive { active[condition]?.worstValues.keepWorst(of: values) }
    }

    private mutating func raise(_ condition: AlarmCondition, stamp: AlarmTime, records: inout [AlarmRecord]) {
        guard var tracker = trackers[condition], !tracker.isActive else { return }
        let wasSilent = isSilencedByStaff
        let episode = AlarmEpisode(
            id: nextEpisodeID, condition: condition, onset: tracker.onset ?? stamp, raised: stamp,
            worstValues: tracker.worstWhilePending, detail: tracker.detail)
        nextEpisodeID += 1
        tracker.becomeActive()
        trackers[condition] = tracker
        active[condition] = episode
        records.append(AlarmRecord(time: stamp, kind: .raised(episode)))
        if wasSilent { records.append(AlarmRecord(time: stamp, kind: .resounded(.newCondition(condition)))) }
    }

    private mutating func clear(_ condition: AlarmCondition, stamp: AlarmTime, records: inout [AlarmRecord]) {
        trackers[condition]?.becomeInactive()
        guard var episode = active.removeValue(forKey: condition) else { return }
        episode.cleared = stamp
        // The same condition coming back is a new episode and must be heard again.
        silencedConditions.remove(condition)
        if silencedConditions.isEmpty { silencedSince = nil }
        records.append(AlarmRecord(time: stamp, kind: .cleared(episode)))
        // A restart is not a fault of the IT system: journaled, but nobody is asked to acknowledge it.
        if episode.acknowledgedBy == nil, condition != .awaitingFirstMeasurement {
            oldAlarms.append(episode)
            if oldAlarms.count > settings.maximumOldAlarms {
                oldAlarms.removeFirst(oldAlarms.count - settings.maximumOldAlarms)
            }
        }
    }

    private mutating func silence(by user: String, stamp: AlarmTime, records: inout [AlarmRecord]) {
        // Only what could be heard when the button was pressed: a condition raised in the same
        // instant has not sounded yet and must.
        let audible = announced.indicators.intersection(activeConditions).subtracting(silencedConditions)
        let testAudible = test.map { !$0.buzzerSilenced } ?? false
        guard !audible.isEmpty || testAudible else { return }
        if !audible.isEmpty {
            silencedConditions.formUnion(audible)
            silencedSince = stamp.monotonic
            for condition in audible where active[condition]?.silencedBy == nil {
                active[condition]?.silencedBy = user
                active[condition]?.silencedAt = stamp
            }
        }
        test?.buzzerSilenced = true
        records.append(AlarmRecord(time: stamp, kind: .silenced(user: user, conditions: audible.sorted())))
    }

    private mutating func acknowledge(by user: String, stamp: AlarmTime, records: inout [AlarmRecord]) {
        var acknowledged: [AlarmEpisode] = []
        for condition in announced.indicators.sorted() {
            guard var episode = active[condition], episode.acknowledgedBy == nil else { continue }
            episode.acknowledgedBy = user
            episode.acknowledgedAt = stamp
            active[condition] = episode
            acknowledged.append(episode)
        }
        for var episode in oldAlarms {
            episode.acknowledgedBy = user
            episode.acknowledgedAt = stamp
            acknowledged.append(episode)
        }
        oldAlarms = []
        guard !acknowledged.isEmpty else { return }
        records.append(
            AlarmRecord(time: stamp, kind: .acknowledged(user: user, episodes: acknowledged.sorted { $0.id < $1.id })))
    }

    private mutating func announce(_ records: [AlarmRecord]) -> [AlarmAction] {
        var actions: [AlarmAction] = []
        let current = outputs
        if current != announced {
            actions.append(.setOutputs(current))
            announced = current
        }
        actions += records.map(AlarmAction.record)
        let deadline = nextDeadline
        if deadline != announcedWakeUp {
            announcedWakeUp = deadline
            if let deadline { actions.append(.wakeUp(at: deadline)) }
        }
        return actions
    }
}
