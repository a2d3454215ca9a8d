#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX thread the simulator owns, so blocking reads, writes and sleeps never run on Swift's
/// cooperative pool, and `join()` lets `stop()` return only when the thread is really gone.
public final class OwnedThread: @unchecked Sendable {
    // Written once in init before the thread can be joined; joined at most once under `joinLock`.
    private var handle: pthread_t
    private var joined = false
    private let joinLock = PThreadMutex()

    private final class Body {
        let run: @Sendable () -> Void
        init(run: @escaping @Sendable () -> Void) { self.run = run }
    }

    public init(_ run: @escaping @Sendable () -> Void) throws(SystemCallError) {
        let body = Unmanaged.passRetained(Body(run: run)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let result = pthread_create(
            &thread, nil,
            { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, body)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(body).release()
            throw SystemCallError("pthread_create", code: result)
        }
        #if canImport(Glibc)
        handle = thread
        #else
        handle = thread!
        #endif
    }

    /// Waits until the thread's body has returned. Safe to call more than once and from several
    /// threads, never from the thread itself.
    public func join() {
        joinLock.withLock {
            guard !joined else { return }
            pthread_join(handle, nil)
            joined = true
        }
    }

    deinit {
        if !joined { pthread_detach(handle) }
    }
}

/// A plain pthread mutex for the few places that must hold a lock across a blocking call
/// (`Mutex` from Synchronization is not meant for that).
final class PThreadMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
