import Foundation
import IsoWatchSnapshot
import Logging
import ServiceLifecycle
import Synchronization

/// How long an add-on waits before its next attempt: `initial` after the first failure, doubling
/// after each further one, never more than `maximum`.
public struct AddOnBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration

    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = max(initial, maximum)
    }

    /// 5 s, 10 s, 20 s … 5 min: a port freed or a file fixed is noticed soon, and an add-on that
    /// stays broken costs one log line every five minutes.
    public static let standard = AddOnBackoff(initial: .seconds(5), maximum: .seconds(300))

    /// The wait after `failures` failures in a row (1 or more).
    public func delay(afterFailures failures: Int) -> Duration {
        var delay = initial
        for _ in 1..<max(1, failures) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }
}

/// A part of the service the monitoring does not depend on. `run` starts it and runs it until a
/// graceful shutdown; it calls `started` once it works (bound, loaded, listening). Throwing,
/// before or after `started`, is a failure that the supervisor logs and retries.
public struct AddOn: Sendable {
    public let name: String
    public let run: @Sendable (_ started: @escaping @Sendable () -> Void) async throws -> Void

    public init(name: String, run: @escaping @Sendable (_ started: @escaping @Sendable () -> Void) async throws -> Void) {
        self.name = name
        self.run = run
    }
}

/// A change of an add-on's health, for the journal: one entry when it goes degraded, one when it
/// works again; the failed retries in between are only logged.
public enum AddOnTransition: Sendable, Equatable {
    case degraded(addOn: String, reason: String)
    case recovered(addOn: String, degradedSeconds: Double)
}

/// Runs one add-on so that it can never stop the monitor: a failure to start (a BMS port taken,
/// an unreadable users file, broken TLS files) or a failure later is logged, posted to the board
/// (`/healthz`, the dashboard), reported once as a transition, and retried with backoff until it
/// works, when it goes back to `ok` by itself. `run` never throws, so the service group never
/// ends for an add-on.
public struct AddOnSupervisor<C: Clock>: Service where C.Duration == Duration {
    let addOn: AddOn
    let backoff: AddOnBackoff
    let clock: C
    let board: AddOnBoard
    let logger: Logger
    let onTransition: @Sendable (AddOnTransition) -> Void

    public init(
        _ addOn: AddOn, backoff: AddOnBackoff, clock: C, board: AddOnBoard, logger: Logger,
        onTransition: @escaping @Sendable (AddOnTransition) -> Void = { _ in }
    ) {
        self.addOn = addOn
        self.backoff = backoff
        self.clock = clock
        self.board = board
        self.logger = logger
        self.onTransition = onTransition
        board.post(AddOnState(name: addOn.name, status: .starting, since: Date()))
    }

    /// What the supervisor knows between attempts; `started` is called from the add-on's context.
    private struct Progress {
        var degradedSince: Date?
        var startedThisAttempt = false
    }

    private final class SharedProgress: Sendable {
        let state = Mutex(Progress())
        func withLock<T: Sendable>(_ body: (inout Progress) -> T) -> T { state.withLock { body(&$0) } }
    }

    public func run() async {
        let progress = SharedProgress()
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            progress.withLock { $0.startedThisAttempt = false }
            let reason: String
            do {
                try await addOn.run { [addOn, board, logger, onTransition] in
                    let degradedSince = progress.withLock { progress in
                        defer {
                            progress.degradedSince = nil
                            progress.startedThisAttempt = true
                        }
                        return progress.startedThisAttempt ? nil : progress.degradedSince
                    }
                    board.post(AddOnState(name: addOn.name, status: .ok, since: Date()))
                    if let degradedSince {
                        let seconds = Date().timeIntervalSince(degradedSince)
                        logger.notice(
                            "add-on works again", metadata: ["add_on": "\(addOn.name)", "degraded_seconds": "\(Int(seconds))"])
                        onTransition(.recovered(addOn: addOn.name, degradedSeconds: seconds))
                    }
                }
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                reason = "stopped by itself"
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                reason = Self.describe(error)
            }
            let (wasDegraded, hadStarted) = progress.withLock { progress in
                let state = (progress.degradedSince != nil, progress.startedThisAttempt)
                if progress.degradedSince == nil { progress.degradedSince = Date() }
                return state
            }
            // A failure after the add-on had worked starts the backoff again from its first step.
            failures = hadStarted ? 1 : failures + 1
            let delay = backoff.delay(afterFailures: failures)
            let now = Date()
            board.post(
                AddOnState(
                    name: addOn.name, status: .degraded, reason: reason,
                    since: wasDegraded ? board.state(of: addOn.name)?.since ?? now : now,
                    nextAttempt: now.addingTimeInterval(delay.seconds)))
            let metadata: Logger.Metadata = [
                "add_on": "\(addOn.name)", "reason": "\(reason)", "attempt": "\(failures)", "next_attempt_in": "\(delay)",
            ]
            if wasDegraded {
                logger.warning("add-on still unavailable; monitoring continues without it", metadata: metadata)
            } else {
                logger.error("add-on unavailable; monitoring continues without it", metadata: metadata)
                onTransition(.degraded(addOn: addOn.name, reason: reason))
            }
            // A graceful shutdown ends the wait at once (the sleep is cancelled).
            try? await cancelWhenGracefulShutdown { [clock] in try await clock.sleep(for: delay) }
        }
    }

    /// One line: the reason goes into `/healthz`, the journal and the log.
    static func describe(_ error: any Error) -> String {
        let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
