import Foundation
import Hummingbird
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchHTTP
import IsoWatchModbus
import IsoWatchSnapshot
import Logging
import ServiceLifecycle

/// The whole service assembled from a configuration: one poller per bus, the monitor with an
/// alarm machine per IT system, the output drivers, and the HTTP server.
public struct IsoWatchRuntime: Sendable {
    public let services: [any Service]
    let monitor: SystemMonitor
    /// Changes of the configuration while the service runs (SIGHUP, `isowatch reload`, the API).
    public let changes: ConfigurationChanges
    let installation: Installation
    /// The add-ons (HTTP server, users file, BMS server) and their health, as `/healthz` shows it.
    public let addOns: AddOnBoard
    let persistence: Persistence?

    /// Everything that can go wrong while the runtime is assembled, with what to do about it.
    public struct StartupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - gpio: the backend for the outputs; nil chooses the one the configuration names.
    ///   - onListening: receives the HTTP port once the server accepts connections.
    ///   - observeOutcome: sees every poll outcome on the poller's thread as it enters the
    ///     service; for the latency benchmark, which must not change the path it measures.
    ///   - addOnBackoff: how an add-on that cannot start is retried (tests shorten it).
    public static func make(
        configuration: Configuration,
        profiles: ProfileLibrary,
        gpio: (any GPIOBackend)? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        observeOutcome: @escaping @Sendable (PollOutcome) -> Void = { _ in },
        addOnBackoff: AddOnBackoff = .standard
    ) async throws -> IsoWatchRuntime {
        let backend = try gpio ?? makeBackend(configuration)
        let monitor = SystemMonitor(logger: logger)
        let metrics = configuration.metrics.enabled ? ServiceMetrics() : nil
        // A history that cannot open (permissions, a full or failed disk) must not keep the alarms
        // from running: the service starts without it, says so loudly, and counts the error.
        let persistence: Persistence? = configuration.storage.flatMap { storage in
            do {
                return try Persistence(settings: storage, metrics: metrics, logger: logger)
            } catch {
                logger.critical(
                    "history and journal unavailable; monitoring without them",
                    metadata: ["path": "\(storage.databaseFile.path)", "error": "\(error)"])
                metrics?.storageErrors.increment()
                return nil
            }
        }
        if let persistence { await monitor.attach(persistence) }

        let (outcomes, continuation) = AsyncStream.makeStream(of: PollOutcome.self, bufferingPolicy: .bufferingNewest(4096))
        let tasks = MonitoringTasks()
        let installation = Installation(
            configuration: configuration, profiles: profiles, monitor: monitor, backend: backend, tasks: tasks, logger: logger
        ) {
            observeOutcome($0)
            metrics?.observe($0)
            continuation.yield($0)
        }
        try await installation.assemble()
        let changes = ConfigurationChanges(
            installation: installation, configuration: configuration, persistence: persistence, logger: logger)
        let heartbeat = Heartbeat()
        let readiness = Readiness(awaiting: [.monitoring, .http])
        let monitorService = MonitorService(
            monitor: monitor, installation: installation, tasks: tasks, outcomes: outcomes,
            outcomesContinuation: continuation, heartbeat: heartbeat, readiness: readiness, logger: logger)
        // Add-ons: the HTTP server, the users file and the BMS server. None of them can stop the
        // monitor: each that cannot start (or fails later) is degraded, shown and retried.
        let addOns = AddOnBoard()
        let journalTransition: @Sendable (AddOnTransition) -> Void = { transition in
            switch transition {
            case .degraded(let name, let reason):
                persistence?.journal(kind: "addon.degraded", detail: ["add_on": .string(name), "reason": .string(reason)])
            case .recovered(let name, let seconds):
                persistence?.journal(
                    kind: "addon.recovered", detail: ["add_on": .string(name), "degraded_seconds": .number(seconds.rounded())])
            }
        }
        func supervised(_ addOn: AddOn, onTransition: @escaping @Sendable (AddOnTransition) -> Void = journalTransition)
            -> AddOnSupervisor<ContinuousClock>
        {
            AddOnSupervisor(
                addOn, backoff: addOnBackoff, clock: ContinuousClock(), board: addOns, logger: logger,
                onTransition: onTransition)
        }
        // The users file is read now, so that sign-in works from the first request; the add-on
        // reads it again at start and, while it cannot be used, on every retry (sign-in answers
        // 503 meanwhile; reading, /healthz and the dashboard's files are served as configured).
        // Once loaded it is watched: changes (API, `isowatch user`, an editor) apply without a restart.
        let users = configuration.http.usersFile.map { file in
            LiveUsers(file: file) { event in
                if case .rejected = event { logger.error("\(event.summary)") } else { logger.notice("\(event.summary)") }
                persistence?.journal(kind: event.journalKind, user: event.user, detail: event.journalDetail)
            }
        } ?? LiveUsers(UserDirectory())
        var usersAddOn: AddOn?
        if configuration.http.usersFile != nil {
            try? await users.load()
            usersAddOn = AddOn(name: "users") { started in
                try await users.load()
                started()
                try await cancelWhenGracefulShutdown { try await users.watch() }
            }
        }
        // Sign-ins and web actions: logged, and journalled durably before the action is answered.
        let access = WebAccess.from(configuration.http, users: users) { kind, user, system, detail in
            logger.notice("\(kind)", metadata: ["user": "\(user)", "system": "\(system ?? "-")", "detail": "\(detail)"])
            try await persistence?.journalDurably(kind: "user.\(kind)", system: system, user: user, text: detail)
        }
        var renderMetrics: (@Sendable () async -> String)?
        if let metrics {
            renderMetrics = { metrics.render(await monitor.systems()) }
        }
        let history = HistoryRoutes(store: persistence?.store, metrics: renderMetrics, siteName: configuration.site.name)
        // Passwords over plain HTTP to the network: said at every start, in the log and the journal.
        if let exposure = configuration.http.plainHTTPExposure {
            logger.warning("\(exposure)")
            persistence?.journal(
                kind: "http.insecure",
                detail: ["listen": .string("\(configuration.http.host):\(configuration.http.port)"), "text": .string(exposure)])
        }
        // Each attempt builds the server anew, so that TLS files fixed since are read again.
        let http = AddOn(name: "http") { started in
            let application = try HTTPServer.makeApplication(
                state: monitor, host: configuration.http.host, port: configuration.http.port, logger: logger,
                access: access, limits: HTTPLimits(configuration.http), history: history, addOns: addOns,
                configuration: changes,
                onListening: { port in
                    started()
                    readiness.markReady(.http)
                    await onListening(port)
                })
            try await application.run()
        }
        // Last, so that on SIGTERM (services stop in reverse order) systemd hears STOPPING=1 first.
        let watchdog = SystemdWatchdogService(
            notifier: SystemdNotifier.fromEnvironment(), heartbeat: heartbeat, readiness: readiness, logger: logger,
            executor: monitor.executor)
        // The watchdog relay's line follows the same heartbeat and maximum age as systemd's watchdog.
        var heartbeatOutput: HeartbeatOutput?
        if let settings = configuration.gpio.heartbeat {
            heartbeatOutput = try await HeartbeatOutput.claim(
                settings, backend: backend, heartbeat: heartbeat, maximumHeartbeatAge: watchdog.maximumHeartbeatAge, logger: logger,
                executor: monitor.executor)
        }
        // The journal first, so that it starts before and stops after the monitoring it records.
        var services: [any Service] = persistence.map { [PersistenceService(persistence: $0, configuration: configuration)] } ?? []
        // Before the monitoring: it stops toggling only once the drivers have shown the alarm.
        if let heartbeatOutput { services.append(HeartbeatOutputService(output: heartbeatOutput)) }
        services.append(monitorService)
        // A server that cannot start still lets systemd hear READY=1: the monitor runs, and
        // waiting for the server would only get the monitor killed at the start timeout.
        services.append(
            supervised(http) { transition in
                if case .degraded = transition { readiness.markReady(.http) }
                journalTransition(transition)
            })
        if let usersAddOn { services.append(supervised(usersAddOn)) }
        if let bms = configuration.bms {
            let systems = configuration.systems.map(\.id)
            services.append(
                supervised(
                    AddOn(name: "bms") { started in
                        let publisher = try BMSPublisher(settings: bms, monitor: monitor, systems: systems, logger: logger)
                        started()
                        try await publisher.run()
                    }))
        }
        services.append(ReloadOnHangUpService(changes: changes, logger: logger))
        services.append(watchdog)
        return IsoWatchRuntime(
            services: services, monitor: monitor, changes: changes, installation: installation, addOns: addOns,
            persistence: persistence)
    }

    /// Journals the hashes of the configuration and users file now in force (`service.configuration`).
    /// The start does this by itself; a reload calls it once the reloaded files are in force.
    public func journalConfigurationInForce(_ configuration: Configuration, reason: String = "reload") {
        persistence?.journalConfigurationInForce(configuration, reason: reason)
    }

    public func systems() async -> [SystemStatus] {
        await monitor.systems()
    }

    static func makeBackend(_ configuration: Configuration) throws -> any GPIOBackend {
        switch configuration.gpio.backend {
        case .libgpiod:
            return try LibgpiodBackend()
        case .simulator:
            let panel = configuration.gpio.panel ?? HostPort(host: "127.0.0.1", port: 8082)
            return SimulatorPanelBackend(host: panel.host, port: UInt16(clamping: panel.port))
        case .simulated:
            // One simulated chip for every chip the configuration names, so every line can be claimed.
            let lines: [OutputLines] = configuration.systems.map(\.outputs) + configuration.panels.map(\.outputs)
            let inputs: [InputLines] = configuration.systems.map(\.inputs) + configuration.panels.map(\.inputs)
            let heartbeatChips = [configuration.gpio.heartbeat?.chip].compactMap { $0 }
            let chips = Set(lines.flatMap { $0.all.map(\.chip) } + inputs.flatMap { $0.all.map(\.chip) } + heartbeatChips)
            return SimulatedGPIOBackend(chips: (chips.isEmpty ? ["gpiochip0"] : chips.sorted()).map { SimulatedChip(name: $0) })
        }
    }
}
