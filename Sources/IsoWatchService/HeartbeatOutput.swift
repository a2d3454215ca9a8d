import Dispatch
import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchThreads
import Logging
import ServiceLifecycle
import Synchronization

/// Toggles the heartbeat line of the theatre's watchdog relay (`gpio.heartbeat`) while the
/// monitor's tick loop comes round.
///
/// GPIO drivers keep a released line's last level, so SIGKILL, a crash or a hang would leave an
/// energised yellow or buzzer relay energised: a silent panel until systemd restarts the service.
/// A retriggerable watchdog relay whose contact feeds those coils holds only while this line keeps
/// changing level (hardware/wiring/README.md). The toggling follows the same `Heartbeat` the
/// systemd watchdog feeds on, with the same maximum age: a hung monitor drops the relays just as
/// a dead process does.
///
/// The timing runs on a thread this class owns, so a busy cooperative pool delays no edge; each
/// write goes through the `GPIOBackend` protocol, whose backends do their blocking work on their
/// own threads, in a task on the monitor's executor (not the cooperative pool's).
final class HeartbeatOutput: Sendable {
    private let line: any OutputLine
    private let heartbeat: Heartbeat
    private let period: Duration
    private let maximumHeartbeatAge: Duration
    private let logger: Logger
    /// Where the writes run: the monitor's executor; nil, the cooperative pool.
    private let executor: (any TaskExecutor)?
    private let stopRequested = Mutex(false)
    /// The toggling thread, once started.
    private let thread = Mutex<OwnedThread?>(nil)
    private let wake = DispatchSemaphore(value: 0)

    init(
        line: any OutputLine, heartbeat: Heartbeat, period: Duration, maximumHeartbeatAge: Duration, logger: Logger,
        executor: (any TaskExecutor)? = nil
    ) {
        self.line = line
        self.executor = executor
        self.heartbeat = heartbeat
        self.period = period
        self.maximumHeartbeatAge = maximumHeartbeatAge
        self.logger = logger
    }

    /// Claims the configured line, low (inactive): the relay has seen no edge yet, so it stays
    /// dropped until the monitor has come round once.
    static func claim(
        _ settings: HeartbeatLineSettings, backend: any GPIOBackend, heartbeat: Heartbeat, maximumHeartbeatAge: Duration,
        logger: Logger, executor: (any TaskExecutor)? = nil
    ) async throws -> HeartbeatOutput {
        let address = settings.offset.map { LineAddress(chip: settings.chip, offset: UInt32($0)) }
            ?? LineAddress(chip: settings.chip, name: settings.name ?? "")
        do {
            let line = try await backend.claimOutput(
                OutputLineConfiguration(address: address, label: "isowatch heartbeat", initialActive: false))
            return HeartbeatOutput(
                line: line, heartbeat: heartbeat, period: .milliseconds(Int64((settings.periodSeconds * 1000).rounded())),
                maximumHeartbeatAge: maximumHeartbeatAge, logger: logger, executor: executor)
        } catch {
            throw IsoWatchRuntime.StartupError(description: "heartbeat output \(address): \(error)")
        }
    }

    /// The line this output toggles.
    var address: LineAddress { line.address }

    /// Starts the toggling thread; a second call does nothing.
    func start() {
        thread.withLock { thread in
            guard thread == nil else { return }
            thread = OwnedThread.essential(name: "isowatch-hbeat") { [self] in toggleUntilStopped() }
        }
    }

    /// Stops toggling, waits for the thread to end, and releases the line. What the pin then does
    /// is the driver's choice; the watchdog relay drops either way, as no edge comes any more.
    func stop() async {
        stopRequested.withLock { $0 = true }
        wake.signal()
        await thread.withLock { $0 }?.join()
        await line.release()
    }

    private func toggleUntilStopped() {
        let clock = ContinuousClock()
        var level = false
        var withheld = false
        var writeFailing = false
        var next = clock.now.advanced(by: period)
        while true {
            let remaining = clock.now.duration(to: next)
            if remaining > .zero { _ = wake.wait(timeout: .now() + Self.dispatchInterval(remaining)) }
            if stopRequested.withLock({ $0 }) { return }
            let now = clock.now
            guard now >= next else { continue }
            // After a stall the next edge is one period from now, not a burst of missed ones.
            next = max(next.advanced(by: period), now.advanced(by: period / 2))
            guard let age = heartbeat.age(), age <= maximumHeartbeatAge else {
                if !withheld, heartbeat.age() != nil {
                    withheld = true
                    logger.critical(
                        "monitor heartbeat stale; heartbeat line stopped so that the watchdog relay drops the alarm relays",
                        metadata: ["line": "\(line.address)", "heartbeat_age": "\(heartbeat.age().map { "\($0)" } ?? "never")"])
                }
                continue
            }
            if withheld {
                withheld = false
                logger.notice("monitor heartbeat back; toggling the heartbeat line again", metadata: ["line": "\(line.address)"])
            }
            level.toggle()
            let failure = write(level)
            if let failure, !writeFailing {
                logger.error("cannot drive the heartbeat line", metadata: ["line": "\(line.address)", "error": "\(failure)"])
            } else if failure == nil, writeFailing {
                logger.notice("heartbeat line driven again", metadata: ["line": "\(line.address)"])
            }
            writeFailing = failure != nil
            // A write that failed made no edge: the next one tries the same edge again.
            if failure != nil { level.toggle() }
        }
    }

    /// One write, waited for on this thread; returns why it failed, or nil. A write that hangs (a
    /// backend that stopped answering) is given up after a few periods; the next edge tries again.
    private func write(_ active: Bool) -> String? {
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<GPIOError?>(nil)
        let line = self.line
        Task(executorPreference: executor) {
            do throws(GPIOError) {
                try await line.set(active)
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
        let limit = max(Duration.seconds(1), period * 4)
        if done.wait(timeout: .now() + Self.dispatchInterval(limit)) == .timedOut {
            return "the write did not complete within \(limit)"
        }
        return failure.withLock { $0 }.map { "\($0)" }
    }

    private static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
    }
}

/// Runs `HeartbeatOutput` for the service group. Listed before the monitoring service, so that on
/// a graceful stop (services stop in reverse order) the toggling ends only after the output
/// drivers have driven every relay to its alarm state.
struct HeartbeatOutputService: Service {
    let output: HeartbeatOutput

    func run() async throws {
        output.start()
        // Returns at a graceful shutdown, throws at cancellation: the line stops toggling either way.
        try? await gracefulShutdown()
        await output.stop()
    }
}
