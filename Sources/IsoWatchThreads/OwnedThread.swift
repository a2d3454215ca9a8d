import Dispatch
import Glibc
import Synchronization

/// A named POSIX thread that isowatch creates for blocking work (libmodbus and libgpiod calls,
/// sockets, ptys, SQLite, bcrypt), so that none of it runs on Swift's cooperative pool: two
/// threads on the controllers isowatch runs on, and one blocked call takes half of it.
///
/// The thread runs its body once and ends. `join` waits for that end: the blocking form for code
/// that is itself on a thread that may block, the `async` form for tasks (it suspends, and the
/// ending thread resumes it). Nobody has to join: the system frees the thread when it ends, and
/// the thread keeps running if this handle goes away first.
public final class OwnedThread: Sendable {
    /// The system refused a thread (pthread_create: too many threads, too little memory).
    public struct StartError: Error, CustomStringConvertible, Sendable {
        public let threadName: String
        /// The errno value pthread_create returned.
        public let code: Int32

        public var description: String {
            var buffer = [CChar](repeating: 0, count: 256)
            let reason = strerror_r(code, &buffer, buffer.count) == 0
                ? String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                : "error \(code)"
            return "cannot start the thread '\(threadName)': \(reason)"
        }
    }

    /// As given; the kernel keeps the first 15 bytes, which `top -H` and `ps -L` show.
    public let name: String
    private let end = End()
    private let handle: pthread_t

    /// Starts the thread at once.
    public init(name: String, _ body: @escaping @Sendable () -> Void) throws(StartError) {
        let start = Unmanaged.passRetained(Start(name: name, body: body, end: end)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        // Detached: its end is announced through `end`, never through pthread_join.
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            OwnedThread.nameCallingThread(start.name)
            start.body()
            start.end.announce()
            return nil
        }, start)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw StartError(threadName: name, code: result)
        }
        self.name = name
        handle = thread
    }

    /// Starts a thread the process cannot work without (the monitor's executor, a bus, the
    /// history writer). If the system refuses it, the process ends with the reason rather than
    /// run on without it; systemd then restarts the service.
    @discardableResult
    public static func essential(name: String, _ body: @escaping @Sendable () -> Void) -> OwnedThread {
        do {
            return try OwnedThread(name: name, body)
        } catch {
            fatalError("\(error)")
        }
    }

    /// Runs `body` on a thread of its own and returns its result or throws its error (or the
    /// `StartError` when no thread could be made). The calling task is suspended meanwhile, so a
    /// blocking call holds no thread of the cooperative pool.
    public static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            do {
                _ = try OwnedThread(name: name) { continuation.resume(with: Result { try body() }) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    /// Blocks the calling thread until the body has returned. For code on a thread that may
    /// block (another owned thread); a task awaits the `async` form. Never from the thread itself.
    public func join() {
        _ = join(deadline: .distantFuture)
    }

    /// Blocks until the body has returned or `timeoutSeconds` have passed; true if it returned.
    @discardableResult
    public func join(timeoutSeconds: Double) -> Bool {
        join(deadline: .now() + timeoutSeconds)
    }

    /// Suspends the calling task until the body has returned; no thread waits meanwhile.
    public func join() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !end.whenEnded({ continuation.resume() }) { continuation.resume() }
        }
    }

    private func join(deadline: DispatchTime) -> Bool {
        let ended = DispatchSemaphore(value: 0)
        guard end.whenEnded({ ended.signal() }) else { return true }
        // Only while it runs is the handle sure to be this thread's (a detached thread's id is
        // reused once it has ended).
        precondition(pthread_equal(handle, pthread_self()) == 0, "the thread '\(name)' cannot wait for its own end")
        return ended.wait(timeout: deadline) == .success
    }

    /// The name of the calling thread as the kernel has it; empty if it cannot be read.
    public static var currentName: String {
        let descriptor = open("/proc/thread-self/comm", O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { _ = close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return "" }
        let name = buffer.prefix(count)
        return String(decoding: name.last == UInt8(ascii: "\n") ? name.dropLast() : name, as: UTF8.self)
    }

    // pthread_setname_np is a GNU extension the Glibc module does not import; the kernel's
    // per-thread comm file is the same setting. Unlike pthread_setname_np, a longer name is cut
    // to the kernel's 15 bytes instead of being refused.
    private static func nameCallingThread(_ name: String) {
        let truncated = Array(name.utf8.prefix(15))
        let descriptor = open("/proc/thread-self/comm", O_WRONLY)
        guard descriptor >= 0 else { return }
        _ = truncated.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        _ = close(descriptor)
    }

    /// What the new thread is handed: released by the thread once it has taken it.
    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        let end: End

        init(name: String, body: @escaping @Sendable () -> Void, end: End) {
            self.name = name
            self.body = body
            self.end = end
        }
    }

    /// Whether the body has returned, and who waits for it to.
    private final class End: Sendable {
        private struct State {
            var ended = false
            var waiters: [@Sendable () -> Void] = []
        }

        private let state = Mutex(State())

        /// Called by the thread once its body has returned: wakes every waiter.
        func announce() {
            let waiters = state.withLock { state in
                state.ended = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter() }
        }

        /// Keeps `waiter` for the end and returns true; false (and `waiter` is dropped) if the
        /// body has already returned.
        func whenEnded(_ waiter: @escaping @Sendable () -> Void) -> Bool {
            state.withLock { state in
                guard !state.ended else { return false }
                state.waiters.append(waiter)
                return true
            }
        }
    }
}
