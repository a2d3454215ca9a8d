#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A pipe that becomes readable, for good, once `fire()` is called, so every thread blocked in
/// `poll()` on it wakes up together: this is how `stop()` interrupts accepts, reads and sleeps.
final class StopSignal: Sendable {
    enum Wake: Equatable {
        case readable
        case stopped
        case timedOut
    }

    private let readEnd: Int32
    private let writeEnd: Int32
    private let fired = Atomic<Bool>(false)

    init() throws(SystemCallError) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SystemCallError("pipe") }
        readEnd = ends[0]
        writeEnd = ends[1]
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    var isFired: Bool { fired.load(ordering: .acquiring) }

    func fire() {
        guard !fired.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Waits until `fd` is readable (or hung up), the signal fires, or the timeout passes.
    /// A nil `fd` just sleeps interruptibly; a nil timeout waits indefinitely.
    func wait(for fd: Int32?, timeoutSeconds: Double?) -> Wake {
        let deadline = timeoutSeconds.map { monotonicSeconds() + max(0, $0) }
        while true {
            if isFired { return .stopped }
            var descriptors = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)]
            if let fd { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            var timeoutMilliseconds: Int32 = -1
            if let deadline {
                let remaining = deadline - monotonicSeconds()
                if remaining <= 0 { return .timedOut }
                timeoutMilliseconds = Int32(min((remaining * 1000).rounded(.up), Double(Int32.max)))
            }
            let result = poll(&descriptors, nfds_t(descriptors.count), timeoutMilliseconds)
            if result < 0 {
                if errno == EINTR { continue }
                // poll() itself failing (EFAULT, ENOMEM) leaves nothing sensible to wait for:
                // ending the caller's loop is safer than spinning.
                return .stopped
            }
            if descriptors[0].revents != 0 { return .stopped }
            if descriptors.count > 1, descriptors[1].revents != 0 { return .readable }
        }
    }

    /// Sleeps until the monotonic `deadline`; false when the signal fired first.
    func sleep(until deadline: Double) -> Bool {
        wait(for: nil, timeoutSeconds: deadline - monotonicSeconds()) == .timedOut
    }
}
