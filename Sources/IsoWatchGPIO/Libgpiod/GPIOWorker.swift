import Dispatch
import IsoWatchThreads
import Synchronization

/// One owned thread that runs every libgpiod call of a backend, one job at a time.
///
/// libgpiod v1 handles are not thread-safe, and its calls are ioctls that may sleep in a driver
/// (I2C expanders), so they stay on this thread; Swift callers await a continuation. The C
/// handles live in a `LibgpiodContext` that only this thread ever touches.
final class GPIOWorker: Sendable {
    typealias Job = @Sendable (LibgpiodContext) -> Void

    private final class Queue: Sendable {
        struct Pending {
            var jobs: [Job] = []
            var stopping = false
        }

        let pending = Mutex(Pending())
        let wake = DispatchSemaphore(value: 0)

        func enqueue(_ job: @escaping Job) -> Bool {
            let accepted = pending.withLock { pending in
                guard !pending.stopping else { return false }
                pending.jobs.append(job)
                return true
            }
            if accepted { wake.signal() }
            return accepted
        }

        /// Accepts no more jobs; the thread runs the ones already queued, then exits.
        func stop() {
            pending.withLock { $0.stopping = true }
            wake.signal()
        }

        func run() {
            let context = LibgpiodContext()
            while true {
                wake.wait()
                let next: (job: Job?, done: Bool) = pending.withLock { pending in
                    if !pending.jobs.isEmpty { return (pending.jobs.removeFirst(), false) }
                    return (nil, pending.stopping)
                }
                if let job = next.job { job(context) }
                if next.done { break }
            }
            context.closeAll()
        }
    }

    private let queue = Queue()

    /// The thread ends by itself once stopped and its queue is drained; nobody waits for it.
    init(name: String) throws(GPIOError) {
        let queue = self.queue
        _ = try startThread(name: name) { queue.run() }
    }

    deinit {
        queue.stop()
    }

    /// Runs `body` on the worker thread and returns its result.
    func perform<T: Sendable>(
        _ body: @escaping @Sendable (LibgpiodContext) throws(GPIOError) -> T
    ) async throws(GPIOError) -> T {
        let result: Result<T, GPIOError> = await withCheckedContinuation { continuation in
            let accepted = queue.enqueue { context in
                continuation.resume(returning: Result { () throws(GPIOError) -> T in try body(context) })
            }
            if !accepted { continuation.resume(returning: .failure(.backendClosed)) }
        }
        return try result.get()
    }

    /// Runs the jobs already queued, releases every line, closes every chip and ends the thread.
    /// Claims and operations after this fail with `backendClosed`.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = queue.enqueue { context in
                context.closeAll()
                continuation.resume()
            }
            queue.stop()
            if !accepted { continuation.resume() }
        }
    }
}
