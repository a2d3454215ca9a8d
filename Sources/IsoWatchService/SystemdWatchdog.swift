import CSystemd
import Foundation
import IsoWatchThreads
import Logging
import ServiceLifecycle
import Synchronization

/// The service-manager side of systemd (sd_notify(3)): readiness, the watchdog, stopping.
///
/// Under `Type=notify` with `WatchdogSec=`, systemd restarts a process that stops sending
/// WATCHDOG=1 within the interval. Without NOTIFY_SOCKET (started by hand, in tests) every
/// message is a no-op.
struct SystemdNotifier: Sendable {
    /// NOTIFY_SOCKET was set when the notifier was made.
    let isEnabled: Bool
    /// `WatchdogSec=` as systemd passes it (WATCHDOG_USEC, for this process's WATCHDOG_PID);
    /// nil when no watchdog is configured.
    let watchdogInterval: Duration?

    static func fromEnvironment() -> SystemdNotifier {
        var watchdogMicroseconds: UInt64 = 0
        // unset_environment 0: sd_notify reads NOTIFY_SOCKET again on every call, so it must stay.
        let watchdog = sd_watchdog_enabled(0, &watchdogMicroseconds)
        return SystemdNotifier(
            isEnabled: getenv("NOTIFY_SOCKET") != nil,
            watchdogInterval: watchdog > 0 && watchdogMicroseconds > 0 ? .microseconds(Int64(watchdogMicroseconds)) : nil)
    }

    /// Sends newline-separated assignments such as `READY=1`. A unix datagram send that does
    /// not wait for the receiver; returns whether systemd was told.
    @discardableResult
    func send(_ assignments: String) -> Bool {
        guard isEnabled else { return false }
        return sd_notify(0, assignments) > 0
    }
}

/// The last time the monitor's tick loop came round: the proof of life the watchdog feeds on.
final class Heartbeat: Sendable {
    private let clock = ContinuousClock()
    private let last: Mutex<ContinuousClock.Instant?> = Mutex(nil)

    func beat() {
        let now = clock.now
        last.withLock { $0 = now }
    }

    /// Time since the last beat; nil before the first.
    func age() -> Duration? {
        let now = clock.now
        return last.withLock { $0.map { $0.duration(to: now) } }
    }
}

/// Collects the parts that must run before the service calls itself ready.
final class Readiness: Sendable {
    enum Part: Hashable, Sendable {
        case monitoring, http
    }

    private let pending: Mutex<Set<Part>>
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init(awaiting parts: Set<Part>) {
        pending = Mutex(parts)
        (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        if parts.isEmpty { continuation.finish() }
    }

    var isComplete: Bool { pending.withLock { $0.isEmpty } }

    func markReady(_ part: Part) {
        let complete = pending.withLock { pending in
            pending.remove(part)
            return pending.isEmpty
        }
        if complete { continuation.finish() }
    }

    /// Returns once every part is ready, or on cancellation (check `isComplete`). One waiter only.
    func wait() async {
        for await _ in stream {}
    }
}

/// Tells systemd READY=1 once the pollers and the HTTP server run, WATCHDOG=1 at half the
/// watchdog interval (sd_watchdog_enabled(3) recommends pinging at half) but only while the
/// monitor's heartbeat is fresh, and STOPPING=1 on a graceful shutdown.
///
/// A hung monitor (a deadlocked actor, a tick loop that no longer comes round) therefore stops
/// the pings, and systemd kills and restarts the process; the relays, wired energise-to-normal,
/// show the alarm while it is down.
struct SystemdWatchdogService: Service {
    let notifier: SystemdNotifier
    let heartbeat: Heartbeat
    let readiness: Readiness
    /// A heartbeat older than this means the monitor is hung. Many ticks, so that a busy moment
    /// on two cores is not taken for a hang.
    var maximumHeartbeatAge: Duration = .seconds(2)
    let logger: Logger
    /// The monitor's executor: the pings are timed and sent from the monitor's thread, so a busy
    /// cooperative pool (HTTP load) cannot withhold them and get a healthy monitor restarted.
    var executor: OwnedThreadExecutor? = nil

    func run() async throws {
        guard notifier.isEnabled else {
            try? await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown { [readiness] in await readiness.wait() }
        if readiness.isComplete, !Task.isCancelled {
            notifier.send("READY=1")
            logger.info(
                "told systemd ready",
                metadata: ["watchdog_interval": "\(notifier.watchdogInterval.map { "\($0)" } ?? "none")"])
            if let interval = notifier.watchdogInterval {
                await cancelWhenGracefulShutdown { [self] in await feed(every: interval / 2) }
            } else {
                try? await gracefulShutdown()
            }
        }
        notifier.send("STOPPING=1")
    }

    private func feed(every period: Duration) async {
        await withTaskExecutorPreference(executor) { await feedUntilCancelled(every: period) }
    }

    private func pause(_ period: Duration) async {
        if let executor {
            try? await executor.sleep(for: period)
        } else {
            try? await Task.sleep(for: period)
        }
    }

    private func feedUntilCancelled(every period: Duration) async {
        var withheld = false
        let started = ContinuousClock.now
        while !Task.isCancelled {
            let age = heartbeat.age()
            if age == nil, started.duration(to: .now) <= maximumHeartbeatAge {
                // READY=1 can come before the first tick: not yet a beat is not yet a hang, but
                // it is no sign of life either, so no ping until the first beat.
                await pause(period)
                continue
            }
            if let age, age <= maximumHeartbeatAge {
                if withheld {
                    logger.notice("monitor heartbeat back; feeding the systemd watchdog again")
                    withheld = false
                }
                notifier.send("WATCHDOG=1")
            } else if !withheld {
                withheld = true
                logger.critical(
                    "monitor heartbeat stale; withholding the systemd watchdog so that systemd restarts the service",
                    metadata: ["heartbeat_age": "\(heartbeat.age().map { "\($0)" } ?? "never")"])
            }
            await pause(period)
        }
    }
}
