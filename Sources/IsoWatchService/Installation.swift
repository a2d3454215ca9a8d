import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchModbus
import Logging

/// The configuration in force as running hardware: a poller per bus, an output driver and panel
/// inputs per system, the remote panels, and the monitor's supervisors. A reloaded configuration
/// changes it in place, system by system (issue 14 §2):
///
/// - an unchanged system is not touched: its relays do not move, its alarm episodes go on, its
///   device stays on its poller with its schedule;
/// - changed thresholds, delays or names are given to its supervisor; the alarm state carries over;
/// - a changed device or lines restart that system alone, from alarm, as at service start;
/// - a new system starts from alarm until its first valid measurement;
/// - a removed system's lines are left in their alarm state and released.
///
/// New lines are claimed before anything else changes, so a line that cannot be claimed rejects
/// the whole change and leaves the running configuration as it was.
actor Installation {
    /// What one system holds besides its supervisor.
    struct SystemParts {
        var driver: OutputDriver
        var inputs: PanelInputs?
        var pipeline: FrontEndPipeline?
    }

    struct RemotePanelParts {
        var configuration: PanelConfiguration
        var driver: OutputDriver
        var inputs: PanelInputs?
    }

    /// Something went wrong applying a validated configuration (a line that cannot be claimed).
    struct ApplyError: Error, CustomStringConvertible {
        var description: String
    }

    private(set) var configuration: Configuration
    private(set) var profiles: ProfileLibrary
    let monitor: SystemMonitor
    let backend: any GPIOBackend
    let logger: Logger
    private var pollers: [Transport: BusPoller] = [:]
    private var parts: [String: SystemParts] = [:]
    private var remotePanels: [String: RemotePanelParts] = [:]
    private let tasks: MonitoringTasks
    private let onOutcome: @Sendable (PollOutcome) -> Void
    private var started = false

    init(
        configuration: Configuration, profiles: ProfileLibrary, monitor: SystemMonitor, backend: any GPIOBackend,
        tasks: MonitoringTasks, logger: Logger, onOutcome: @escaping @Sendable (PollOutcome) -> Void
    ) {
        self.configuration = configuration
        self.profiles = profiles
        self.monitor = monitor
        self.backend = backend
        self.tasks = tasks
        self.logger = logger
        self.onOutcome = onOutcome
    }

    // MARK: - Start and stop

    /// Claims every line and builds the pollers; the monitor's supervisors are added too, not yet
    /// started (`MonitorService` starts them, then the pollers).
    func assemble() async throws {
        for system in configuration.systems {
            parts[system.id] = try await claim(system)
        }
        for panel in configuration.panels {
            remotePanels[panel.id] = try await claim(panel)
        }
        for (endpoint, devices) in try polledDevices(configuration) {
            pollers[endpoint] = BusPoller(endpoint: endpoint, devices: devices, onOutcome: onOutcome)
        }
        for (id, pipeline) in parts.compactMapValues(\.pipeline) {
            guard let system = configuration.systems.first(where: { $0.id == id }) else { continue }
            pollers[system.device.transport].map { pipeline.attach($0) }
        }
        for system in configuration.systems {
            try await monitor.add(
                system, mapped: mapped(system), frontEnd: parts[system.id]?.pipeline != nil, driver: parts[system.id]?.driver,
                selfTest: selfTestLink(system), start: false)
        }
        await monitor.attach(remotePanels: remotePanelOutputs(keeping: nil))
    }

    /// Starts the drivers, the panel inputs and the pollers.
    func start() {
        guard !started else { return }
        started = true
        for part in parts.values { run(part) }
        for panel in remotePanels.values { run(panel) }
        for poller in pollers.values { poller.start() }
    }

    var busCount: Int { pollers.count }

    /// Each bus's counters (connects, per-device polls and errors).
    func busStatistics() -> [Transport: BusStatistics] {
        pollers.mapValues(\.statistics)
    }

    /// Stops polling and gives the input lines back; the drivers are finished by `finishDrivers()`
    /// once the monitoring tasks have stopped, so that the last thing the relays show is an alarm.
    func stopMonitoring() async {
        for poller in pollers.values { await poller.stop() }
        for part in parts.values { await part.inputs?.release() }
        for panel in remotePanels.values { await panel.inputs?.release() }
    }

    func finishDrivers() {
        for part in parts.values { part.driver.finish() }
        for panel in remotePanels.values { panel.driver.finish() }
    }

    // MARK: - A new configuration

    /// Applies `new` (already validated) system by system, after `diff` says what changed. Throws
    /// without changing anything when a new line cannot be claimed.
    func apply(_ new: Configuration, profiles newProfiles: ProfileLibrary, diff: ConfigurationDiff) async throws {
        let systems = Dictionary(uniqueKeysWithValues: new.systems.map { ($0.id, $0) })
        let old = Dictionary(uniqueKeysWithValues: configuration.systems.map { ($0.id, $0) })
        let changes = Dictionary(uniqueKeysWithValues: diff.systems.map { ($0.id, $0.change) })
        let oldProfiles = profiles

        // 1. Claim what is new before anything changes. Lines that move between systems in one
        //    change are claimed after their old holder let go (step 3): those cannot be checked first.
        var claimed: [String: SystemParts] = [:]
        var moving: [String] = []
        do {
            for system in new.systems {
                switch changes[system.id] {
                case .added?:
                    if linesHeld(by: system) {
                        moving.append(system.id)
                    } else {
                        profiles = newProfiles
                        claimed[system.id] = try await claim(system)
                    }
                case .restarted? where old[system.id].map({ $0.outputs != system.outputs || $0.inputs != system.inputs }) == true:
                    moving.append(system.id)
                default:
                    break
                }
            }
        } catch {
            profiles = oldProfiles
            for part in claimed.values { await release(part) }
            throw ApplyError(description: "\(error)")
        }
        profiles = newProfiles

        // 2. Removed and restarted systems leave their bus first, so that no outcome of theirs is
        //    delivered to what replaces them; unchanged systems keep their place and schedule.
        for change in diff.systems where change.change == .removed || change.change == .restarted {
            await monitor.remove(change.id)
        }
        let carried = parts
        var released: [String] = []
        for change in diff.systems where change.change == .removed || (change.change == .restarted && moving.contains(change.id)) {
            if let part = parts.removeValue(forKey: change.id) {
                await release(part)
                released.append(change.id)
            }
        }
        for change in diff.systems where change.change == .removed {
            logger.notice("system removed; its lines are left in the alarm state and released", metadata: ["system": "\(change.id)"])
        }

        // 3. Lines of systems that moved or restarted on other lines.
        var failures: [String] = []
        for id in moving {
            guard let system = systems[id] else { continue }
            do {
                claimed[id] = try await claim(system)
            } catch {
                failures.append("system '\(id)': \(error)")
            }
        }
        for (id, part) in claimed {
            parts[id] = part
            if started { run(part) }
        }
        // A restarted system on the same lines keeps its driver and inputs; a new pipeline for a front-end.
        for change in diff.systems where change.change == .restarted && claimed[change.id] == nil {
            guard let system = systems[change.id], var part = carried[change.id], !released.contains(change.id) else { continue }
            part.pipeline = frontEndPipeline(system)
            parts[change.id] = part
        }

        // 4. The buses: every endpoint gets its new device list; a device that stays keeps its schedule.
        configuration = new
        let devices = try polledDevices(new)
        for (endpoint, list) in devices {
            if let poller = pollers[endpoint] {
                // A new or restarted system is in the monitor before its device is polled.
                for device in list where changes[device.id] == .added || changes[device.id] == .restarted {
                    if let system = systems[device.id] { try await addToMonitor(system, pollerFor: poller) }
                }
                poller.replaceDevices(list)
            } else {
                let poller = BusPoller(endpoint: endpoint, devices: list, onOutcome: onOutcome)
                pollers[endpoint] = poller
                for device in list where changes[device.id] != .unchanged && changes[device.id] != .updated {
                    if let system = systems[device.id] { try await addToMonitor(system, pollerFor: poller) }
                }
                if started { poller.start() }
            }
        }
        for (endpoint, poller) in pollers where devices[endpoint] == nil {
            pollers[endpoint] = nil
            await poller.stop()
        }

        // 5. Settings in place.
        for change in diff.systems where change.change == .updated {
            guard let system = systems[change.id] else { continue }
            try await monitor.reconfigure(system, mapped: mapped(system))
        }

        // 6. Remote panels that changed are claimed anew; the others keep their driver.
        var keptPanels: Set<String> = []
        for change in diff.panels {
            switch change.change {
            case .unchanged, .updated:
                keptPanels.insert(change.id)
            case .removed, .restarted:
                if let panel = remotePanels.removeValue(forKey: change.id) {
                    await panel.inputs?.release()
                    await panel.driver.finishAndWaitForRelease()
                }
            case .added:
                break
            }
        }
        for panel in new.panels where remotePanels[panel.id] == nil {
            do {
                let parts = try await claim(panel)
                remotePanels[panel.id] = parts
                if started { run(parts) }
            } catch {
                failures.append("panel '\(panel.id)': \(error)")
            }
        }
        for panel in new.panels where keptPanels.contains(panel.id) {
            remotePanels[panel.id]?.configuration = panel
        }
        await monitor.replaceRemotePanels(remotePanelOutputs(keeping: keptPanels))
        await monitor.setOrder(new.systems.map(\.id))

        if !failures.isEmpty {
            throw ApplyError(description: failures.joined(separator: "; "))
        }
    }

    // MARK: - Parts

    private func addToMonitor(_ system: SystemConfiguration, pollerFor poller: BusPoller) async throws {
        parts[system.id]?.pipeline?.attach(poller)
        try await monitor.add(
            system, mapped: mapped(system), frontEnd: parts[system.id]?.pipeline != nil, driver: parts[system.id]?.driver,
            selfTest: profiles[system.device.profileID].flatMap {
                DeviceSelfTestLink(profile: $0, unit: system.device.unit, poller: poller)
            },
            start: true)
    }

    private func claim(_ system: SystemConfiguration) async throws -> SystemParts {
        let driver = try await OutputDriver.claim(system, backend: backend, logger: logger)
        do {
            let inputs = system.inputs.all.isEmpty ? nil : try await PanelInputs.claim(system, backend: backend, logger: logger)
            return SystemParts(driver: driver, inputs: inputs, pipeline: frontEndPipeline(system))
        } catch {
            await driver.finishAndWaitForRelease()
            throw error
        }
    }

    private func claim(_ panel: PanelConfiguration) async throws -> RemotePanelParts {
        let driver = try await OutputDriver.claim(id: panel.id, kind: "panel", outputs: panel.outputs, backend: backend, logger: logger)
        do {
            let inputs = panel.inputs.all.isEmpty ? nil : try await PanelInputs.claim(panel, backend: backend, logger: logger)
            return RemotePanelParts(configuration: panel, driver: driver, inputs: inputs)
        } catch {
            await driver.finishAndWaitForRelease()
            throw error
        }
    }

    /// Leaves the relays in the alarm state and gives every line back.
    private func release(_ part: SystemParts) async {
        await part.inputs?.release()
        if !started { part.driver.finish() }
        await part.driver.finishAndWaitForRelease()
    }

    private func run(_ part: SystemParts) {
        let monitor = self.monitor
        tasks.drive { await part.driver.run() }
        if let inputs = part.inputs { tasks.monitor { await inputs.run(monitor: monitor) } }
    }

    private func run(_ panel: RemotePanelParts) {
        let monitor = self.monitor
        tasks.drive { await panel.driver.run() }
        if let inputs = panel.inputs { tasks.monitor { await inputs.run(monitor: monitor) } }
    }

    /// Whether a line `system` names is held now by another system (it moves in this change).
    private func linesHeld(by system: SystemConfiguration) -> Bool {
        let held = Set(
            configuration.systems.flatMap { $0.outputs.all.map { "\($0.chip):\($0.offset.map(String.init) ?? $0.name ?? "")" } }
                + configuration.systems.flatMap { $0.inputs.all.map { "\($0.chip):\($0.offset.map(String.init) ?? $0.name ?? "")" } })
        let wanted =
            system.outputs.all.map { "\($0.chip):\($0.offset.map(String.init) ?? $0.name ?? "")" }
            + system.inputs.all.map { "\($0.chip):\($0.offset.map(String.init) ?? $0.name ?? "")" }
        return wanted.contains { held.contains($0) }
    }

    private func remotePanelOutputs(keeping kept: Set<String>?) -> RemotePanelOutputs {
        RemotePanelOutputs(
            panels: configuration.panels.compactMap { panel in
                remotePanels[panel.id].map { RemotePanelOutputs.Panel(id: panel.id, members: panel.systems, driver: $0.driver) }
            })
    }

    private func mapped(_ system: SystemConfiguration) -> Set<Quantity>? {
        profiles[system.device.profileID].map { Set($0.fields.keys) }
    }

    private func selfTestLink(_ system: SystemConfiguration) -> DeviceSelfTestLink? {
        guard let profile = profiles[system.device.profileID], let poller = pollers[system.device.transport] else { return nil }
        return DeviceSelfTestLink(profile: profile, unit: system.device.unit, poller: poller)
    }

    /// Front-ends (a profile with a sample ring) are measured by the estimator, not read.
    private func frontEndPipeline(_ system: SystemConfiguration) -> FrontEndPipeline? {
        guard let profile = profiles[system.device.profileID], profile.sampleWindow != nil else { return nil }
        return FrontEndPipeline(system: system, profile: profile, logger: logger)
    }

    /// The devices of every endpoint, in the configuration's order.
    private func polledDevices(_ configuration: Configuration) throws -> [Transport: [PolledDevice]] {
        var result: [Transport: [PolledDevice]] = [:]
        for system in configuration.systems {
            guard let profile = profiles[system.device.profileID] else {
                throw IsoWatchRuntime.StartupError(
                    description: "system '\(system.id)': no device profile '\(system.device.profileID)'")
            }
            var decode: @Sendable (RegisterImage, Date) throws -> DecodedReading = { image, time in
                try profile.decode(image, at: time)
            }
            if let pipeline = parts[system.id]?.pipeline {
                decode = { image, time in try pipeline.decode(image, at: time) }
            }
            result[system.device.transport, default: []].append(
                PolledDevice(
                    id: system.id, unit: system.device.unit, blocks: profile.readBlocks(),
                    pollIntervalSeconds: system.device.pollIntervalSeconds, timeoutSeconds: system.device.timeoutSeconds,
                    retries: system.device.retries, patienceSeconds: system.thresholds.staleAfterSeconds,
                    decode: decode))
        }
        return result
    }
}

/// Starts the tasks of hardware that comes and goes while the service runs, in the monitoring
/// service's task groups: output drivers in the group that outlives the monitoring (each drives
/// its relays to the alarm state when finished), panel inputs in the monitoring group.
final class MonitoringTasks: Sendable {
    typealias Work = @Sendable () async -> Void
    let driving: AsyncStream<Work>
    let monitoring: AsyncStream<Work>
    private let drivingContinuation: AsyncStream<Work>.Continuation
    private let monitoringContinuation: AsyncStream<Work>.Continuation

    init() {
        (driving, drivingContinuation) = AsyncStream.makeStream(of: Work.self)
        (monitoring, monitoringContinuation) = AsyncStream.makeStream(of: Work.self)
    }

    func drive(_ work: @escaping Work) { drivingContinuation.yield(work) }
    func monitor(_ work: @escaping Work) { monitoringContinuation.yield(work) }

    func finishMonitoring() { monitoringContinuation.finish() }
    func finishDriving() { drivingContinuation.finish() }
}
