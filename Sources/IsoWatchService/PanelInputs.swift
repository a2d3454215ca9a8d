import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import Logging
import Synchronization

/// The input lines of one IT system's theatre panel: the mute, test and acknowledge buttons and
/// the IMD's own alarm contact, turned into events for the system's alarm machine.
///
/// Each line is debounced by the GPIO backend; only its debounced edges reach here. A button
/// acts on its press (the edge to active), so a button held down acts once and a button stuck
/// down at start-up acts never.
final class PanelInputs: Sendable {
    enum Role: String, Sendable, CaseIterable {
        case mute, test, acknowledge
        case imdAlarmContact = "imd-alarm-contact"
    }

    struct Watched: Sendable {
        let role: Role
        let line: any InputLine
        /// Subscribed at the claim, so that no edge between the claim and `run()` is lost.
        let changes: AsyncStream<Bool>
    }

    /// The system, or the remote panel, whose lines these are.
    let systemID: String
    /// The systems a press acts on: the system itself, or a remote panel's members.
    let targets: [String]
    /// Who the journal names for a press: the panel of the system's location.
    let panelUser: String
    private let watched: [Watched]
    /// The IMD contact's level when it was claimed: an IMD already in alarm at start-up must count.
    private let contactActiveAtClaim: Bool
    private let logger: Logger
    /// Set before the lines are released on shutdown, when their ending streams are expected.
    private let releasing = Mutex(false)

    private init(
        systemID: String, targets: [String], panelUser: String, watched: [Watched], contactActiveAtClaim: Bool,
        logger: Logger
    ) {
        self.systemID = systemID
        self.targets = targets
        self.panelUser = panelUser
        self.watched = watched
        self.contactActiveAtClaim = contactActiveAtClaim
        self.logger = logger
    }

    /// Claims the system's configured input lines; on a failure releases those already claimed.
    static func claim(
        _ system: SystemConfiguration, backend: any GPIOBackend, logger: Logger
    ) async throws -> PanelInputs {
        let place = system.location.isEmpty ? system.id : system.location
        return try await claim(
            id: system.id, kind: "system", inputs: system.inputs, targets: [system.id], user: "panel \(place)",
            backend: backend, logger: logger)
    }

    /// The mute and acknowledge buttons of a remote panel: a press acts on every member system.
    static func claim(
        _ panel: PanelConfiguration, backend: any GPIOBackend, logger: Logger
    ) async throws -> PanelInputs {
        try await claim(
            id: panel.id, kind: "panel", inputs: panel.inputs, targets: panel.systems, user: "panel \(panel.name)",
            backend: backend, logger: logger)
    }

    private static func claim(
        id: String, kind: String, inputs: InputLines, targets: [String], user: String, backend: any GPIOBackend,
        logger: Logger
    ) async throws -> PanelInputs {
        let configured: [(Role, InputLineReference?)] = [
            (.mute, inputs.mute), (.test, inputs.test), (.acknowledge, inputs.acknowledge),
            (.imdAlarmContact, inputs.imdAlarmContact),
        ]
        var watched: [Watched] = []
        var contactActive = false
        for case let (role, reference?) in configured {
            let address = reference.offset.map { LineAddress(chip: reference.chip, offset: UInt32($0)) }
                ?? LineAddress(chip: reference.chip, name: reference.name ?? "")
            do {
                let line = try await backend.claimInput(
                    InputLineConfiguration(
                        address: address, activeLow: reference.activeLow, debounceSeconds: reference.debounceSeconds,
                        label: "isowatch \(id) \(role.rawValue)"))
                watched.append(Watched(role: role, line: line, changes: line.changes))
                if role == .imdAlarmContact {
                    contactActive = try await line.read()
                }
            } catch {
                for entry in watched { await entry.line.release() }
                throw IsoWatchRuntime.StartupError(description: "\(kind) '\(id)' \(role.rawValue) input: \(error)")
            }
        }
        return PanelInputs(
            systemID: id, targets: targets, panelUser: user, watched: watched, contactActiveAtClaim: contactActive,
            logger: logger)
    }

    /// Hands every debounced change to the monitor until the lines are released or the task is
    /// cancelled.
    func run(monitor: SystemMonitor) async {
        if contactActiveAtClaim {
            await monitor.setContactAlarm(system: systemID, active: true)
        }
        await withTaskGroup(of: Void.self) { group in
            for entry in watched {
                group.addTask { [self] in
                    for await active in entry.changes {
                        await deliver(active, from: entry.role, to: monitor)
                    }
                    if !Task.isCancelled, !releasing.withLock({ $0 }) {
                        // A line whose edges stop (a failed expander, a vanished chip) no longer
                        // reaches the alarm machine; the operator must know the panel is deaf.
                        logger.error(
                            "panel input no longer watched",
                            metadata: ["system": "\(systemID)", "input": "\(entry.role.rawValue)", "line": "\(entry.line.address)"])
                    }
                }
            }
        }
    }

    private func deliver(_ active: Bool, from role: Role, to monitor: SystemMonitor) async {
        switch role {
        case .mute:
            guard active else { return }
            for target in targets { await monitor.panelEvent(system: target, .silence(user: panelUser)) }
        case .acknowledge:
            guard active else { return }
            for target in targets { await monitor.panelEvent(system: target, .acknowledge(user: panelUser)) }
        case .test:
            // The IMD's self-test through its profile, and the lamps and buzzer of the chain.
            if active { await monitor.startTest(system: systemID, user: panelUser) }
        case .imdAlarmContact:
            await monitor.setContactAlarm(system: systemID, active: active)
        }
    }

    /// Gives the lines back, which also ends `run()`.
    func release() async {
        releasing.withLock { $0 = true }
        for entry in watched { await entry.line.release() }
    }
}
