import IsoWatchAlarms
import IsoWatchGPIO
import Logging

/// The physical outputs of one IT system: lamps, buzzer and common-alarm relay on GPIO lines.
///
/// The alarm machine decides; this only carries out, in order, on a task of its own, so that a
/// slow GPIO write never holds up the readings of other systems. Only the latest wanted state
/// matters: if writes fall behind, intermediate states are skipped, never reordered.
final class OutputDriver: Sendable {
    struct Lines: Sendable {
        var green: (any OutputLine)?
        var yellow: (any OutputLine)?
        var buzzer: (any OutputLine)?
        var commonAlarm: (any OutputLine)?
    }

    private let systemID: String
    private let lines: Lines
    private let wanted: AsyncStream<AlarmOutputs>
    private let continuation: AsyncStream<AlarmOutputs>.Continuation
    private let logger: Logger

    init(systemID: String, lines: Lines, logger: Logger) {
        self.systemID = systemID
        self.lines = lines
        self.logger = logger
        (wanted, continuation) = AsyncStream.makeStream(of: AlarmOutputs.self, bufferingPolicy: .bufferingNewest(1))
    }

    func submit(_ outputs: AlarmOutputs) {
        continuation.yield(outputs)
    }

    /// Applies wanted states until `finish()`; then releases the lines.
    func run() async {
        for await outputs in wanted {
            await write(lines.green, outputs.green, "green")
            await write(lines.yellow, outputs.yellow, "yellow")
            await write(lines.buzzer, outputs.buzzer, "buzzer")
            await write(lines.commonAlarm, outputs.commonAlarm, "common alarm")
        }
        for line in [lines.green, lines.yellow, lines.buzzer, lines.commonAlarm] {
            await line?.release()
        }
    }

    func finish() {
        continuation.finish()
    }

    private func write(_ line: (any OutputLine)?, _ active: Bool, _ role: String) async {
        guard let line else { return }
        do {
            try await line.set(active)
        } catch {
            logger.error(
                "cannot drive output",
                metadata: ["system": "\(systemID)", "output": "\(role)", "line": "\(line.address)", "error": "\(error)"])
        }
    }
}
