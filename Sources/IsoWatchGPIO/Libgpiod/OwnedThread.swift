import Glibc

/// A POSIX thread this module creates and joins itself, so that blocking libgpiod calls and
/// `poll` never run on Swift's cooperative pool (two threads on this hardware).
final class OwnedThread: Sendable {
    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    private let thread: pthread_t
    let name: String

    let isDetached: Bool

    /// - Parameters:
    ///   - name: at most 15 bytes are kept (the kernel's limit), shown by `top -H`.
    ///   - detached: a detached thread frees its stack when it ends and cannot be joined.
    init(name: String, detached: Bool = false, body: @escaping @Sendable () -> Void) throws(GPIOError) {
        let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let start = Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue()
            OwnedThread.setCurrentName(start.name)
            start.body()
            return nil
        }, start)
        guard result == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw .threadStartFailed(reason: errnoText(result))
        }
        self.thread = thread
        self.name = name
        self.isDetached = detached
        if detached { _ = pthread_detach(self.thread) }
    }

    /// Blocks until the thread's body has returned. Call it from another owned thread, never
    /// from a Swift task.
    func join() {
        precondition(!isDetached, "a detached thread cannot be joined")
        _ = pthread_join(thread, nil)
    }

    // pthread_setname_np is a GNU extension the Glibc module does not import; the kernel's
    // per-thread comm file is the same setting.
    private static func setCurrentName(_ name: String) {
        let truncated = Array(name.utf8.prefix(15))
        let descriptor = open("/proc/thread-self/comm", O_WRONLY)
        guard descriptor >= 0 else { return }
        _ = truncated.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        _ = close(descriptor)
    }

    /// The name of the calling thread, as the kernel knows it; empty if it cannot be read.
    static var currentName: String {
        let descriptor = open("/proc/thread-self/comm", O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { _ = close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return "" }
        return String(decoding: buffer.prefix(count), as: UTF8.self).trimmingSuffixNewline()
    }
}

extension String {
    fileprivate func trimmingSuffixNewline() -> String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
