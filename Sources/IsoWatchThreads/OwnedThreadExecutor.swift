import Dispatch
import Synchronization

/// A serial executor on one thread it owns, with its own timers: the executor of the alarm
/// monitor (`unownedExecutor` of its actor, and the task executor preference of its loops).
///
/// HTTP handlers, report generation and JSON encoding run on Swift's cooperative pool (one thread
/// per core). A burst of CPU-heavy requests, or a blocking call by mistake, occupies every thread
/// of it; work on this executor does not wait for them. Its timers matter as much as its thread:
/// `Task.sleep` is woken through Dispatch's worker threads, which are not added while the pool's
/// threads are busy computing, so a sleep on the pool can oversleep for as long as the burst
/// lasts. `sleep(until:)` is woken by this executor's own thread instead.
///
/// Jobs run in the order they were enqueued (priorities are not reordered). The thread ends once
/// the executor is gone; nothing can enqueue on it then, as every actor and task that uses it
/// holds it.
public final class OwnedThreadExecutor: SerialExecutor, TaskExecutor {
    private final class Queue: Sendable {
        enum Timer {
            /// Being set up; a cancellation now marks it `cancelled`.
            case pending
            case cancelled
            case waiting(deadline: ContinuousClock.Instant, continuation: CheckedContinuation<Void, any Error>)
        }

        struct State {
            var jobs: [UnownedJob] = []
            /// Removed when they fire or are cancelled.
            var timers: [UInt64: Timer] = [:]
            var nextTimerID: UInt64 = 0
            var stopping = false
        }

        let state = Mutex(State())
        /// Signalled for every job, timer and stop; extra signals only cost a loop round.
        let wake = DispatchSemaphore(value: 0)

        func run(serial: UnownedSerialExecutor, task: UnownedTaskExecutor) {
            let clock = ContinuousClock()
            while true {
                let now = clock.now
                let (jobs, due, stopping, next) = state.withLock { state in
                    let jobs = state.jobs
                    state.jobs.removeAll(keepingCapacity: true)
                    var due: [CheckedContinuation<Void, any Error>] = []
                    var next: ContinuousClock.Instant?
                    for (id, timer) in state.timers {
                        guard case let .waiting(deadline, continuation) = timer else { continue }
                        if deadline <= now || state.stopping {
                            due.append(continuation)
                            state.timers[id] = nil
                        } else {
                            next = min(next ?? deadline, deadline)
                        }
                    }
                    return (jobs, due, state.stopping, next)
                }
                for continuation in due {
                    if stopping { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
                for job in jobs {
                    job.runSynchronously(isolatedTo: serial, taskExecutor: task)
                }
                if stopping && jobs.isEmpty { return }
                guard jobs.isEmpty, due.isEmpty else { continue }
                if let next {
                    let remaining = clock.now.duration(to: next)
                    if remaining > .zero { _ = wake.wait(timeout: .now() + Self.dispatchInterval(remaining)) }
                } else {
                    wake.wait()
                }
            }
        }

        private static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
            let (seconds, attoseconds) = duration.components
            // Rounded up: waking a little late is harmless, waking early only costs a loop round.
            return .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000) + 1)
        }
    }

    private let queue = Queue()

    /// - Parameter name: the thread's name, as `top -H` shows it.
    public init(name: String) {
        let queue = self.queue
        let serial = asUnownedSerialExecutor()
        let task = asUnownedTaskExecutor()
        OwnedThread.essential(name: name) { queue.run(serial: serial, task: task) }
    }

    deinit {
        queue.state.withLock { $0.stopping = true }
        queue.wake.signal()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.state.withLock { $0.jobs.append(job) }
        queue.wake.signal()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Suspends the calling task until `deadline`, woken by this executor's thread; throws
    /// `CancellationError` if the task is cancelled first. The task then resumes where it runs:
    /// on this executor when it is isolated to an actor of it or prefers it as task executor.
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        let id = queue.state.withLock { state in
            defer { state.nextTimerID += 1 }
            state.timers[state.nextTimerID] = .pending
            return state.nextTimerID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelled = queue.state.withLock { state in
                    if case .cancelled? = state.timers[id] {
                        state.timers[id] = nil
                        return true
                    }
                    state.timers[id] = .waiting(deadline: deadline, continuation: continuation)
                    return false
                }
                if cancelled {
                    continuation.resume(throwing: CancellationError())
                } else {
                    queue.wake.signal()
                }
            }
        } onCancel: {
            let continuation = queue.state.withLock { state -> CheckedContinuation<Void, any Error>? in
                switch state.timers[id] {
                case .pending?:
                    state.timers[id] = .cancelled
                    return nil
                case let .waiting(_, continuation)?:
                    state.timers[id] = nil
                    return continuation
                case .cancelled?, nil:
                    // Already fired (or already cancelled): nothing to do.
                    return nil
                }
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    public func sleep(for duration: Duration) async throws {
        try await sleep(until: ContinuousClock.now.advanced(by: duration))
    }
}
