import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import Logging

/// One relay of an IT system's alarm indicator: its line and how it is wired.
struct OutputRelay: Sendable {
    enum Role: String, Sendable, CaseIterable {
        case green, yellow, buzzer
        case commonAlarm = "common alarm"

        /// Whether the lamp, buzzer or contact is on while the system is in alarm. IEC 60364-7-710:
        /// green signals normal operation; yellow, the audible alarm and the common alarm signal
        /// the fault.
        var isOnInAlarm: Bool { self != .green }

        func isOn(in outputs: AlarmOutputs) -> Bool {
            switch self {
            case .green: outputs.green
            case .yellow: outputs.yellow
            case .buzzer: outputs.buzzer
            case .commonAlarm: outputs.commonAlarm
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

    init(systemID: String, relays: [OutputRelay], logger: Logger) {
        self.systemID = systemID
        self.relays = relays
        self.logger = logger
        (wanted, continuation) = AsyncStream.makeStream(of: AlarmOutputs.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Claims the system's configured lines, each driven to its alarm state in the claim itself:
    /// the service starts in alarm until the first valid measurement (IEC 60364-7-710 asks for
    /// a fault to be signalled, and an unmeasured system is not known to be free of one).
    static func claim(
        _ system: SystemConfiguration, backend: any GPIOBackend, logger: Logger
    ) async throws -> OutputDriver {
        let configured: [(OutputRelay.Role, LineReference?)] = [
            (.green, system.outputs.green), (.yellow, system.outputs.yellow), (.buzzer, system.outputs.buzzer),
            (.commonAlarm, system.outputs.commonAlarm),
        ]
        var relays: [OutputRelay] = []
        for case let (role, reference?) in configured {
            let address = reference.offset.map { LineAddress(chip: reference.chip, offset: UInt32($0)) }
                ?? LineAddress(chip: reference.chip, name: reference.name ?? "")
            let label = "isowatch \(system.id) \(role.rawValue.replacingOccurrences(of: " ", with: "-"))"
            do {
                let line = try await backend.claimOutput(
                    OutputLineConfiguration(
                        address: address, activeLow: reference.activeLow, label: label,
                        initialActive: OutputRelay.alarmState(energise: reference.energise)))
                relays.append(OutputRelay(role: role, line: line, energise: reference.energise))
            } catch {
                for relay in relays { await relay.line.release() }
                throw IsoWatchRuntime.StartupError(description: "system '\(system.id)' \(role.rawValue) output: \(error)")
            }
        }
        return OutputDriver(systemID: system.id, relays: relays, logger: logger)
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
                    "system": "\(systemID)", "output": "\(relay.role.rawValue)", "line": "\(relay.line.address)",
                    "error": "\(error)",
                ])
        }
    }
}
