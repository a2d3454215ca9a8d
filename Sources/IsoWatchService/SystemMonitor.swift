import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchModbus
import IsoWatchSnapshot
import IsoWatchThreads
import Logging

/// Runs one `SystemSupervisor` per IT system and carries out what they ask: relays, the journal,
/// the history, wake-ups and device self-test commands. The supervisors decide; this actor only
/// delivers their events and their actions, and publishes each system's status.
///
/// Systems can be added, removed and given new settings while the others run (a reloaded
/// configuration): each is one value, and nothing here is shared between two systems except the
/// remote panels, which combine what their members show.
///
/// It runs on a thread of its own (`executor`), not on Swift's cooperative pool: HTTP handlers,
/// reports and JSON encoding share that pool, and a burst of them must not delay a reading, a
/// relay or the heartbeat (issue 13 §3).
actor SystemMonitor: LiveStateProvider {
    /// One system as the monitor runs it: its supervisor and the hardware its actions reach.
    struct Monitored {
        var supervisor: SystemSupervisor
        /// The device's endpoint and unit: an outcome from anywhere else (a poll still under way
        /// when the system moved to another device) is not this system's.
        let endpoint: Transport
        let unit: UInt8
        let driver: OutputDriver?
        let selfTest: DeviceSelfTestLink?
        /// Sleeps until the supervisor's wake-up and then ticks it, so that a response or
        /// release delay ends when it ends and not at the next periodic tick.
        var wakeUpTask: Task<Void, Never>?
    }

    /// The monitor's serial executor; `MonitorService` runs the loops that feed it, tick it and
    /// drive the outputs with it as their task executor, and its timers wake them.
    let executor = OwnedThreadExecutor(name: "isowatch-monitor")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private var monitored: [String: Monitored] = [:]
    /// The systems in the configuration's order (the API lists them so).
    private(set) var order: [String] = []
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant
    private let logger: Logger
    /// Status changes for the live stream; publishing never waits for a client.
    let live = LiveBroadcaster()
    /// The history and the durable journal (nil without a `storage:` section). Handing over never
    /// waits: the store's own thread commits.
    private var persistence: Persistence?
    /// Lamps of the panels that cover several systems.
    private(set) var remotePanels = RemotePanelOutputs()

    init(logger: Logger) {
        origin = clock.now
        self.logger = logger
    }

    /// A monitor with every system of `configuration`, not yet started (`start()`).
    ///
    /// - Parameters:
    ///   - frontEndSystems: systems read through a measuring front-end (estimator values).
    ///   - mappedQuantities: per system, the quantities its device profile publishes; they decide
    ///     which monitoring functions must keep delivering valid values (`sensors:` overrides).
    init(
        configuration: Configuration, drivers: [String: OutputDriver], logger: Logger, frontEndSystems: Set<String> = [],
        mappedQuantities: [String: Set<Quantity>] = [:], selfTests: [String: DeviceSelfTestLink] = [:]
    ) throws {
        origin = clock.now
        self.logger = logger
        let now = AlarmTime(monotonic: .zero, wall: Date())
        var monitored: [String: Monitored] = [:]
        for system in configuration.systems {
            monitored[system.id] = Monitored(
                supervisor: try SystemSupervisor(
                    system, mapped: mappedQuantities[system.id], frontEnd: frontEndSystems.contains(system.id),
                    deviceCanSelfTest: selfTests[system.id] != nil, now: now),
                endpoint: system.device.transport, unit: system.device.unit, driver: drivers[system.id],
                selfTest: selfTests[system.id])
        }
        self.monitored = monitored
        order = configuration.systems.map(\.id)
    }

    func attach(_ persistence: Persistence) {
        self.persistence = persistence
    }

    func attach(remotePanels: RemotePanelOutputs) {
        self.remotePanels = remotePanels
    }

    /// Carries out what each supervisor asks for at start-up: the fail-safe outputs (in alarm
    /// until the first valid measurement), the start-up record and the first wake-up.
    func start() {
        for id in order {
            guard let system = monitored[id] else { continue }
            carryOut(system.supervisor.startActions(), for: id)
            publish(id)
        }
    }

    func currentTime() -> AlarmTime {
        AlarmTime(monotonic: origin.duration(to: clock.now), wall: Date())
    }

    func supervisor(of id: String) -> SystemSupervisor? { monitored[id]?.supervisor }

    // MARK: - Systems coming and going

    /// Starts monitoring a system while the others run: in alarm until its first valid
    /// measurement, as at service start.
    ///
    /// - Parameter start: false while the service assembles (then `start()` starts every system).
    func add(
        _ system: SystemConfiguration, mapped: Set<Quantity>?, frontEnd: Bool, driver: OutputDriver?,
        selfTest: DeviceSelfTestLink?, start: Bool
    ) throws {
        let supervisor = try SystemSupervisor(
            system, mapped: mapped, frontEnd: frontEnd, deviceCanSelfTest: selfTest != nil, now: currentTime())
        monitored[system.id] = Monitored(
            supervisor: supervisor, endpoint: system.device.transport, unit: system.device.unit, driver: driver,
            selfTest: selfTest)
        if !order.contains(system.id) { order.append(system.id) }
        guard start else { return }
        carryOut(supervisor.startActions(), for: system.id)
        publish(system.id)
    }

    /// Stops monitoring a system; returns its output driver, which the caller finishes (its lines
    /// are left in the alarm state and released).
    @discardableResult
    func remove(_ id: String) -> OutputDriver? {
        guard let system = monitored.removeValue(forKey: id) else { return nil }
        system.wakeUpTask?.cancel()
        order.removeAll { $0 == id }
        return system.driver
    }

    /// New thresholds, delays or names for a running system; its alarm state carries over.
    func reconfigure(_ system: SystemConfiguration, mapped: Set<Quantity>?) throws {
        guard var entry = monitored[system.id] else { return }
        let actions = try entry.supervisor.reconfigure(system, mapped: mapped, at: currentTime())
        monitored[system.id] = entry
        carryOut(actions, for: system.id)
        publish(system.id)
    }

    /// The configuration's order of the systems, after a reload.
    func setOrder(_ ids: [String]) {
        order = ids.filter { monitored[$0] != nil }
    }

    /// The remote panels after a reload changed them.
    func replaceRemotePanels(_ panels: RemotePanelOutputs) {
        remotePanels = remotePanels.rebuilt(with: panels)
        for id in order {
            if let outputs = monitored[id]?.supervisor.machine.outputs {
                remotePanels.update(system: id, outputs: outputs)
            }
        }
    }

    // MARK: - Events

    func handle(_ outcome: PollOutcome) {
        // A system has one monitoring device, polled under the system's id.
        let id = outcome.deviceID
        guard let system = monitored[id], system.endpoint == outcome.endpoint, system.unit == outcome.unit else { return }
        switch outcome.result {
        case let .success(reading):
            deliver(.polled(reading, polledAt: outcome.timestamp), to: id)
        case let .failure(failure):
            deliver(.pollFailed(reason: failure.description), to: id)
        }
    }

    /// A press on the system's panel (silence, acknowledge).
    func panelEvent(system id: String, _ request: SystemSupervisor.OperatorRequest) {
        deliver(.operatorAction(request), to: id)
    }

    /// The IMD's alarm contact changed.
    func setContactAlarm(system id: String, active: Bool) {
        deliver(.contactChanged(active: active), to: id)
    }

    /// Time passing: communication loss, the alarm machines' delays, self-test and function-test schedules.
    func tick() {
        for id in order { deliver(.tick, to: id) }
    }

    /// The test button or the API.
    @discardableResult
    func startTest(system id: String, user: String?) -> SystemSupervisor.TestStart? {
        guard var system = monitored[id] else { return nil }
        let (start, actions) = system.supervisor.requestTest(user: user, at: currentTime())
        monitored[id] = system
        carryOut(actions, for: id)
        publish(id)
        return start
    }

    /// The periodic function test, now (the schedule calls it when its interval has passed).
    func runFunctionTest(system id: String) {
        guard var system = monitored[id] else { return }
        let actions = system.supervisor.runFunctionTest(at: currentTime())
        monitored[id] = system
        carryOut(actions, for: id)
        publish(id)
    }

    private func deliver(_ event: SystemSupervisor.Event, to id: String) {
        guard var system = monitored[id] else { return }
        let actions = system.supervisor.handle(event, at: currentTime())
        monitored[id] = system
        carryOut(actions, for: id)
        if case .tick = event, actions.isEmpty { return }
        publish(id)
    }

    // MARK: - Carrying out

    private func carryOut(_ actions: [SystemSupervisor.Action], for id: String) {
        guard let system = monitored[id] else { return }
        for action in actions {
            switch action {
            case let .setOutputs(outputs):
                system.driver?.submit(outputs)
                remotePanels.update(system: id, outputs: outputs)
            case let .record(record):
                // Logged (journald) and journalled: the journal is the durable record.
                logger.notice("\(record.logSummary)", metadata: ["system": "\(id)"])
                persistence?.record(record, system: id)
            case let .wakeUp(at):
                scheduleWakeUp(at, for: id)
            case let .storeReading(reading):
                persistence?.reading(reading, system: id)
            case let .communicationChanged(restored, reason):
                persistence?.communication(restored: restored, system: id, reason: reason)
            case .startDeviceSelfTest:
                sendSelfTestCommand(for: id)
            case let .note(note):
                var metadata: Logger.Metadata = ["system": "\(id)"]
                for (key, value) in note.fields { metadata[key] = "\(value)" }
                switch note.level {
                case .notice: logger.notice("\(note.message)", metadata: metadata)
                case .warning: logger.warning("\(note.message)", metadata: metadata)
                case .error: logger.error("\(note.message)", metadata: metadata)
                }
            }
        }
    }

    /// Each wake-up replaces the one before (the machine's contract).
    private func scheduleWakeUp(_ at: Duration, for id: String) {
        monitored[id]?.wakeUpTask?.cancel()
        let deadline = origin + at
        let executor = self.executor
        monitored[id]?.wakeUpTask = Task(executorPreference: executor) { [weak self] in
            guard (try? await executor.sleep(until: deadline)) != nil else { return }
            await self?.deliver(.tick, to: id)
        }
    }

    private func sendSelfTestCommand(for id: String) {
        guard let link = monitored[id]?.selfTest else {
            deliver(.selfTestCommandFailed(reason: "the device has no self-test command"), to: id)
            return
        }
        Task(executorPreference: executor) { [weak self] in
            do {
                try await link.poller.write(
                    unit: link.unit, table: link.start.table, address: link.start.address, words: link.start.words)
                await self?.deliver(.selfTestCommandAccepted(at: Date()), to: id)
            } catch {
                await self?.deliver(.selfTestCommandFailed(reason: "\(error)"), to: id)
            }
        }
    }

    // MARK: - Reading the state

    private func publish(_ id: String) {
        guard let system = monitored[id] else { return }
        live.publish(status(of: system.supervisor, now: currentTime()))
    }

    nonisolated func statusUpdates() -> AsyncStream<SystemStatus> {
        live.subscribe()
    }

    /// The panel's buttons pressed from the web; the user's name goes into the alarm record.
    func perform(_ action: OperatorAction, system id: String, user: String) -> ActionOutcome {
        guard monitored[id] != nil else { return .noSuchSystem }
        switch action {
        case .silence: panelEvent(system: id, .silence(user: user))
        case .acknowledge: panelEvent(system: id, .acknowledge(user: user))
        case .test:
            if case let .refused(refusal)? = startTest(system: id, user: user) {
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
        return order.compactMap { id in monitored[id].map { status(of: $0.supervisor, now: now) } }
    }

    private func status(of supervisor: SystemSupervisor, now: AlarmTime) -> SystemStatus {
        let machine = supervisor.machine
        let outputs = machine.outputs
        // About the insulation value, the system's value: `stale_data` is raised for a lost load or
        // temperature function too, while the insulation reading is fresh.
        let stale = supervisor.communicationLost || machine.activeConditions.contains(.communication)
            || supervisor.latest == nil || !machine.insulationIsCurrent(at: now)
        let configuration = supervisor.configuration
        return SystemStatus(
            id: configuration.id, name: configuration.name, location: configuration.location,
            device: .init(
                profile: configuration.device.profileID, endpoint: configuration.device.transport.description,
                unit: Int(configuration.device.unit)),
            reading: supervisor.latest.map(ReadingDocument.init),
            stale: stale,
            communication: .init(
                ok: !supervisor.communicationLost && supervisor.lastError == nil, error: supervisor.lastError,
                lastSuccess: supervisor.lastSuccess),
            alarm: SystemStatus.Alarm(machine),
            outputs: .init(green: outputs.green, yellow: outputs.yellow, buzzer: outputs.buzzer, commonAlarm: outputs.commonAlarm),
            thresholds: .init(configuration.thresholds)
        )
    }
}
