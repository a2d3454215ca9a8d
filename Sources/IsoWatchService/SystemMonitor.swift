import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchModbus
import IsoWatchSnapshot
import Logging

/// The live state of every IT system: the latest reading, communication health and the alarm
/// machine, fed by poll outcomes and by the passing of time.
///
/// Data flows one way through here: poll outcome → alarm machine → wanted outputs (handed to the
/// system's `OutputDriver`) and the snapshot that the HTTP layer reads. Nothing here awaits I/O.
///
/// It runs on a thread of its own (`executor`), not on Swift's cooperative pool: HTTP handlers,
/// reports and JSON encoding share that pool, and a burst of them must not delay a reading, a
/// relay or the heartbeat (issue 13 §3).
actor SystemMonitor: LiveStateProvider {
    struct Tracked {
        let configuration: SystemConfiguration
        let endpoint: String
        var machine: AlarmStateMachine
        var latest: DecodedReading?
        var lastSuccess: Date?
        var lastSuccessAt: Duration?
        var lastError: String?
        var communicationLost = false
        var wakeUp: Duration?
        /// Sleeps until `wakeUp` and then runs the machine's due rules, so that a response or
        /// release delay ends when it ends and not at the next periodic tick.
        var wakeUpTask: Task<Void, Never>?
        /// The IMD's own alarm contact signals an insulation fault.
        var contactAlarm = false
        /// For a commercial IMD: freshness, jumps and staleness of what it publishes. A front-end's
        /// values come from the estimator, whose robust filter does this job (nil).
        var filter: CommercialReadingFilter?
        let driver: OutputDriver?
    }

    /// The monitor's serial executor; `MonitorService` runs the loops that feed it, tick it and
    /// drive the outputs with it as their task executor, and its timers wake them.
    let executor = OwnedThreadExecutor(name: "isowatch-monitor")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private var tracked: [String: Tracked] = [:]
    private let order: [String]
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private let logger: Logger
    /// Status changes for the live stream; publishing never waits for a client.
    let live = LiveBroadcaster()
    private let communicationLossAfter: [String: Duration]
    /// The history and the durable journal (nil without a `storage:` section). Handing over never
    /// waits: the store's own thread commits.
    private var persistence: Persistence?

    func attach(_ persistence: Persistence) {
        self.persistence = persistence
    }
    /// Device self-tests, the automatic function test and the IMD contact check (FunctionTest.swift).
    var deviceChecks = DeviceChecks()
    /// Lamps of the panels that cover several systems.
    var remotePanels = RemotePanelOutputs()

    /// - Parameters:
    ///   - frontEndSystems: systems read through a measuring front-end (estimator values).
    ///   - mappedQuantities: per system, the quantities its device profile publishes; they decide
    ///     which monitoring functions must keep delivering valid values (`sensors:` overrides).
    init(
        configuration: Configuration, drivers: [String: OutputDriver], logger: Logger, frontEndSystems: Set<String> = [],
        mappedQuantities: [String: Set<Quantity>] = [:]
    ) throws {
        origin = clock.now
        self.logger = logger
        order = configuration.systems.map(\.id)
        let now = AlarmTime(monotonic: .zero, wall: Date())
        var lossAfter: [String: Duration] = [:]
        for system in configuration.systems {
            let settings = AlarmSettings(system, mapped: mappedQuantities[system.id])
            let machine = try AlarmStateMachine(settings: settings, now: now)
            tracked[system.id] = Tracked(
                configuration: system, endpoint: system.device.transport.description, machine: machine,
                filter: frontEndSystems.contains(system.id) ? nil : CommercialReadingFilter(system.thresholds),
                driver: drivers[system.id])
            lossAfter[system.id] = .seconds(system.thresholds.staleAfterSeconds)
        }
        communicationLossAfter = lossAfter
        deviceChecks = DeviceChecks(configuration)
    }

    /// Carries out what each machine asks for at start-up: the fail-safe outputs (in alarm until
    /// the first valid measurement), the start-up record and the first wake-up.
    func start() {
        for id in order {
            guard var system = tracked[id] else { continue }
            apply(system.machine.initialActions, to: &system)
            tracked[id] = system
            publish(system)
        }
    }

    func machine(of id: String) -> AlarmStateMachine? { tracked[id]?.machine }

    func currentTime() -> AlarmTime {
        AlarmTime(monotonic: origin.duration(to: clock.now), wall: Date())
    }

    func handle(_ outcome: PollOutcome) {
        let now = currentTime()
        // A system has one monitoring device, polled under the system's id.
        let id = outcome.deviceID
        guard var system = tracked[id] else { return }
        switch outcome.result {
        case let .success(decoded):
            var reading = decoded
            if var filter = system.filter {
                let seconds = Double(now.monotonic.components.seconds) + Double(now.monotonic.components.attoseconds) / 1e18
                let (filtered, verdict) = filter.filter(decoded, nowSeconds: seconds)
                system.filter = filter
                reading = filtered
                if case let .held(ohms) = verdict {
                    logger.notice(
                        "implausible insulation jump held until confirmed",
                        metadata: ["system": "\(id)", "insulation_resistance_ohms": "\(ohms)"])
                }
            }
            system.latest = reading
            persistence?.reading(reading, system: id)
            system.lastSuccess = outcome.timestamp
            system.lastSuccessAt = now.monotonic
            system.lastError = nil
            if system.communicationLost {
                system.communicationLost = false
                logger.notice("communication restored", metadata: ["system": "\(id)"])
                persistence?.communication(restored: true, system: id, reason: nil)
                apply(system.machine.handle(.communicationRestored, at: now), to: &system)
            }
            var judged = reading
            if system.contactAlarm {
                // The IMD's relay is a second opinion that needs no Modbus: while it signals, the
                // reading counts as device-flagged. It only ever adds the flag, so the contact can
                // raise or hold an insulation alarm but never clear one the measured value raises.
                judged.faults.insert(.insulation)
            }
            judged = checkContact(system: id, measured: reading, judged: judged, contactActive: system.contactAlarm)
            apply(system.machine.handle(.reading(judged), at: now), to: &system)
            tracked[id] = system
            followSelfTest(system: id, reading: reading, polledAt: outcome.timestamp)
            system = tracked[id] ?? system
        case let .failure(failure):
            if system.lastError != failure.description {
                logger.warning("poll failed", metadata: ["system": "\(id)", "error": "\(failure)"])
            }
            system.lastError = failure.description
            checkCommunication(&system, id: id, now: now)
        }
        tracked[id] = system
        publish(system)
    }

    /// A press on the system's panel (mute, acknowledge, test).
    func panelEvent(system id: String, _ event: AlarmEvent) {
        guard var system = tracked[id] else { return }
        apply(system.machine.handle(event, at: currentTime()), to: &system)
        tracked[id] = system
        publish(system)
    }

    /// The IMD's alarm contact changed. It takes effect with the next reading: the alarm machine
    /// judges insulation per reading, and with no readings at all the communication alarm is
    /// already raised.
    func setContactAlarm(system id: String, active: Bool) {
        guard tracked[id] != nil, tracked[id]?.contactAlarm != active else { return }
        tracked[id]?.contactAlarm = active
        if active {
            logger.warning("IMD alarm contact signals an insulation fault", metadata: ["system": "\(id)"])
        } else {
            logger.notice("IMD alarm contact released", metadata: ["system": "\(id)"])
        }
    }

    /// Time passing: communication loss, and the alarm machine's delays.
    func tick() {
        let now = currentTime()
        for id in order {
            guard var system = tracked[id] else { continue }
            checkCommunication(&system, id: id, now: now)
            runDueRules(&system, now: now)
            tracked[id] = system
            publish(system)
        }
        runDeviceChecks()
    }

    /// The machine asked to be woken now (or earlier: a late timer is harmless, the machine
    /// applies what is due in order).
    private func wake(_ id: String) {
        guard var system = tracked[id] else { return }
        runDueRules(&system, now: currentTime())
        tracked[id] = system
        publish(system)
    }

    private func runDueRules(_ system: inout Tracked, now: AlarmTime) {
        if let wakeUp = system.wakeUp, wakeUp <= now.monotonic {
            system.wakeUp = nil
            apply(system.machine.handle(.tick, at: now), to: &system)
        }
    }

    private func checkCommunication(_ system: inout Tracked, id: String, now: AlarmTime) {
        guard !system.communicationLost, let limit = communicationLossAfter[id] else { return }
        let since = system.lastSuccessAt ?? .zero
        if now.monotonic - since >= limit {
            system.communicationLost = true
            let reason = system.lastError ?? "no reply"
            logger.error("communication lost", metadata: ["system": "\(id)", "reason": "\(reason)"])
            persistence?.communication(restored: false, system: id, reason: reason)
            apply(system.machine.handle(.communicationLost(reason: reason), at: now), to: &system)
        }
    }

    private func apply(_ actions: [AlarmAction], to system: inout Tracked) {
        for action in actions {
            switch action {
            case let .setOutputs(outputs):
                system.driver?.submit(outputs)
                remotePanels.update(system: system.configuration.id, outputs: outputs)
            case let .record(record):
                // Logged (journald) and journalled: the journal is the durable record.
                logger.notice("\(record.logSummary)", metadata: ["system": "\(system.configuration.id)"])
                persistence?.record(record, system: system.configuration.id)
            case let .wakeUp(at):
                // Each wake-up replaces the one before (the machine's contract).
                system.wakeUp = at
                system.wakeUpTask?.cancel()
                let id = system.configuration.id
                let deadline = origin + at
                let executor = self.executor
                system.wakeUpTask = Task(executorPreference: executor) { [weak self] in
                    guard (try? await executor.sleep(until: deadline)) != nil else { return }
                    await self?.wake(id)
                }
            }
        }
    }

    // MARK: - Reading the state

    private func publish(_ system: Tracked) {
        live.publish(status(of: system, now: currentTime()))
    }

    nonisolated func statusUpdates() -> AsyncStream<SystemStatus> {
        live.subscribe()
    }

    /// The panel's buttons pressed from the web; the user's name goes into the alarm record.
    func perform(_ action: OperatorAction, system id: String, user: String) -> ActionOutcome {
        guard tracked[id] != nil else { return .noSuchSystem }
        switch action {
        case .silence: panelEvent(system: id, .silence(user: user))
        case .acknowledge: panelEvent(system: id, .acknowledge(user: user))
        case .test:
            if case let .refused(refusal) = startTest(system: id, user: user) {
                let retry = max(0, (refusal.retryAt - currentTime().monotonic).components.seconds + 1)
                let reason =
                    switch refusal {
                    case .running: "a test is running; a request during it does not extend it"
                    case .deviceTestRunning: "the device is testing itself"
                    case .tooSoon: "the last test ended less than the rest interval ago"
                    }
                return .refused(reason: reason, retryAfterSeconds: Int(retry))
            }
        }
        return .done
    }

    func systems() -> [SystemStatus] {
        let now = currentTime()
        return order.compactMap { id in tracked[id].map { status(of: $0, now: now) } }
    }

    private func status(of system: Tracked, now: AlarmTime) -> SystemStatus {
        let outputs = system.machine.outputs
        // About the insulation value, the system's value: `stale_data` is raised for a lost load or
        // temperature function too, while the insulation reading is fresh.
        let stale = system.communicationLost || system.machine.activeConditions.contains(.communication)
            || system.latest == nil || !system.machine.insulationIsCurrent(at: now)
        let configuration = system.configuration
        return SystemStatus(
            id: configuration.id, name: configuration.name, location: configuration.location,
            device: .init(
                profile: configuration.device.profileID, endpoint: system.endpoint, unit: Int(configuration.device.unit)),
            reading: system.latest.map(ReadingDocument.init),
            stale: stale,
            communication: .init(ok: !system.communicationLost && system.lastError == nil, error: system.lastError,
                lastSuccess: system.lastSuccess),
            alarm: SystemStatus.Alarm(system.machine),
            outputs: .init(green: outputs.green, yellow: outputs.yellow, buzzer: outputs.buzzer, commonAlarm: outputs.commonAlarm),
            thresholds: .init(configuration.thresholds)
        )
    }
}
