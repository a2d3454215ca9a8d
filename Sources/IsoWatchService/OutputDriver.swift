import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import Logging

/// One relay of an IT system's alarm indicator: its line and how it is wired.
struct OutputRelay: Sendable {
    enum Role: Sendable, Hashable {
        case green, yellow, buzzer, commonAlarm
        /// A lamp of its own for one condition (commercial panels: insulation, overload,
        /// over-temperature, device lost), lit while that condition is active.
        case indicator(AlarmCondition)

        /// For logs and line labels.
        var name: String {
            switch self {
            case .green: "green"
            case .yellow: "yellow"
            case .buzzer: "buzzer"
            case .commonAlarm: "common alarm"
            case .indicator(let condition): "\(condition.rawValue) indicator"
            }
        }

        /// Whether the lamp, buzzer or contact is on while the system is in alarm. IEC 60364-7-710:
        /// green signals normal operation; yellow, the audible alarm, the common alarm and an
        /// indicator signal the fault, so a dead service lights every indicator: it cannot tell
        /// which condition is present, and a lit lamp sends someone to look.
        var isOnInAlarm: Bool { self != .green }

        func isOn(in outputs: AlarmOutputs) -> Bool {
            switch self {
            case .green: outputs.green
            case .yellow: outputs.yellow
            case .buzzer: outputs.buzzer
            case .commonAlarm: outputs.commonAlarm
            case .indicator(let condition): outputs.indicators.contains(condition)
            }
        }
    }

    let role: Role
    let line: any OutputLine
    let energise: RelayEnergise

    /// Whether the relay is energised (the line logically active) while its lamp, buzzer or
    /// contact is `on`.
    static func isEnergised(role: Role, on: Bool, energise: RelayEnergise) -> Bool {
        let showsAlarm = on == role.isOnInAlarm
        switch energise {
        case .normal: return !showsAlarm
        case .alarm: return showsAlarm
        }
    }

    /// The line state that shows an alarm whatever the lamp states: the state of a dead service.
    static func alarmState(energise: RelayEnergise) -> Bool {
        energise == .alarm
    }
}

/// The physical outputs of one IT system: lamps, buzzer and common-alarm relay on GPIO lines.
///
/// The alarm machine decides the lamp states; this maps them to line states through each relay's
/// wiring and carries them out, in order, on a task of its own, so that a slow GPIO write never
/// holds up the readings of other systems. Only the latest wanted state matters: if writes fall
/// behind, intermediate states are skipped, never reordered.
final class OutputDriver: Sendable {
    private let systemID: String
    private let relays: [OutputRelay]
    private let wanted: AsyncStream<AlarmOutputs>
    private let continuation: AsyncStream<AlarmOutputs>.Continuation
    private let logger: Logger
    /// Ends when `run()` has left the relays in the alarm state and released the lines.
    private let released: AsyncStream<Void>
    private let releasedContinuation: AsyncStream<Void>.Continuation

    init(systemID: String, relays: [OutputRelay], logger: Logger) {
        self.systemID = systemID
        self.relays = relays
        self.logger = logger
        (wanted, continuation) = AsyncStream.makeStream(of: AlarmOutputs.self, bufferingPolicy: .bufferingNewest(1))
        (released, releasedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// The lines this driver holds.
    var lines: [LineAddress] { relays.map(\.line.address) }

    /// Claims the system's configured lines, each driven to its alarm state in the claim itself:
    /// the service starts in alarm until the first valid measurement (IEC 60364-7-710 asks for
    /// a fault to be signalled, and an unmeasured system is not known to be free of one).
    static func claim(
        _ system: SystemConfiguration, backend: any GPIOBackend, logger: Logger
    ) async throws -> OutputDriver {
        try await claim(id: system.id, kind: "system", outputs: system.outputs, backend: backend, logger: logger)
    }

    /// Claims the lines of a system (`kind` "system") or of a remote panel ("panel").
    static func claim(
        id: String, kind: String, outputs: OutputLines, backend: any GPIOBackend, logger: Logger
    ) async throws -> OutputDriver {
        var configured: [(OutputRelay.Role, LineReference?)] = [
            (.green, outputs.green), (.yellow, outputs.yellow), (.buzzer, outputs.buzzer),
            (.commonAlarm, outputs.commonAlarm),
        ]
        for (name, reference) in outputs.indicators.sorted(by: { $0.key < $1.key }) {
            guard let condition = AlarmCondition(rawValue: name) else {
                throw IsoWatchRuntime.StartupError(description: "\(kind) '\(id)': no alarm condition '\(name)' for an indicator")
            }
            configured.append((.indicator(condition), reference))
        }
        var relays: [OutputRelay] = []
        for case let (role, reference?) in configured {
            let address = reference.offset.map { LineAddress(chip: reference.chip, offset: UInt32($0)) }
                ?? LineAddress(chip: reference.chip, name: reference.name ?? "")
            let label = "isowatch \(id) \(role.name.replacingOccurrences(of: " ", with: "-"))"
            do {
                let line = try await backend.claimOutput(
                    OutputLineConfiguration(
                        address: address, activeLow: reference.activeLow, label: label,
                        initialActive: OutputRelay.alarmState(energise: reference.energise)))
                relays.append(OutputRelay(role: role, line: line, energise: reference.energise))
            } catch {
                for relay in relays { await relay.line.release() }
                throw IsoWatchRuntime.StartupError(description: "\(kind) '\(id)' \(role.name) output: \(error)")
            }
        }
        return OutputDriver(systemID: id, relays: relays, logger: logger)
    }

    func submit(_ outputs: AlarmOutputs) {
        continuation.yield(outputs)
    }

    /// Applies wanted states until `finish()`; then drives every relay to its alarm state and
    /// releases the lines. A stopped service must look like an alarm; most GPIO drivers keep the
    /// last level after a release, so the alarm state is written first, not left to the release.
    func run() async {
        for await outputs in wanted {
            for relay in Self.makeBeforeBreak(relays, on: { $0.isOn(in: outputs) }) {
                await write(relay, OutputRelay.isEnergised(role: relay.role, on: relay.role.isOn(in: outputs), energise: relay.energise))
            }
        }
        for relay in Self.makeBeforeBreak(relays, on: \.isOnInAlarm) {
            await write(relay, OutputRelay.alarmState(energise: relay.energise))
            await relay.line.release()
        }
        releasedContinuation.finish()
    }

    /// Finishes the driver and waits until its lines show the alarm state and are released (a
    /// system removed or moved to other lines by a reload).
    func finishAndWaitForRelease() async {
        finish()
        for await _ in released {}
    }

    /// The order of the writes of one change: every lamp, buzzer or contact that comes on before
    /// any that goes off. The panel is written one relay at a time, so between two writes it shows
    /// a mix of the old and the new state. Make-before-break keeps that mix an alarm indication:
    /// on a fault, yellow, buzzer and common alarm come on while green is still lit (green and
    /// yellow together read as an alarm), and only then green goes out; on clearing, green comes
    /// on before yellow goes out. Break-before-make would show a dark panel for a moment, neither
    /// normal nor alarm, which is what a dead supply looks like (IEC 60364-7-710 asks for the
    /// fault to be signalled, never for a gap in the signal).
    static func makeBeforeBreak(_ relays: [OutputRelay], on: (OutputRelay.Role) -> Bool) -> [OutputRelay] {
        relays.filter { on($0.role) } + relays.filter { !on($0.role) }
    }

    func finish() {
        continuation.finish()
    }

    private func write(_ relay: OutputRelay, _ energised: Bool) async {
        do {
            try await relay.line.set(energised)
        } catch {
            logger.error(
                "cannot drive output",
                metadata: [
                    "system": "\(systemID)", "output": "\(relay.role.name)", "line": "\(relay.line.address)",
                    "error": "\(error)",
                ])
        }
    }
}

/// The outputs of the remote panels, each covering several systems (for example a nurses'
/// station that watches several theatres): the same lamps and relays as a theatre's, showing
/// what its members show together.
struct RemotePanelOutputs: Sendable {
    struct Panel: Sendable {
        let id: String
        let members: [String]
        let driver: OutputDriver
        var submitted: AlarmOutputs?
    }

    private var panels: [Panel] = []
    private var latest: [String: AlarmOutputs] = [:]

    init(panels: [Panel] = []) {
        self.panels = panels
    }

    /// The panels of a reloaded configuration: a panel that stays (same id, same driver) keeps what
    /// it was last driven to, so that recombining its members moves none of its relays.
    func rebuilt(with new: RemotePanelOutputs) -> RemotePanelOutputs {
        var result = new
        result.latest = latest
        for index in result.panels.indices {
            if let old = panels.first(where: { $0.id == result.panels[index].id && $0.driver === result.panels[index].driver }) {
                result.panels[index].submitted = old.submitted
            }
        }
        return result
    }

    /// A member system's outputs changed; every panel it belongs to is driven to the new combination.
    mutating func update(system id: String, outputs: AlarmOutputs) {
        latest[id] = outputs
        for index in panels.indices where panels[index].members.contains(id) {
            let combined = AlarmOutputs.combining(panels[index].members.map { latest[$0] })
            if combined != panels[index].submitted {
                panels[index].submitted = combined
                panels[index].driver.submit(combined)
            }
        }
    }
}
