import CGPIOD
import IsoWatchThreads
import Synchronization

import Glibc

/// The owned thread that waits for edge events of one input line and debounces them.
///
/// It polls the line's event descriptor with a short timeout, both to notice a stop request
/// and to settle a pending debounce when the contact stops bouncing and no further edge comes.
final class EdgeWatcher: Sendable {
    private final class StopFlag: Sendable {
        let requested = Atomic<Bool>(false)
    }

    /// The longest a poll waits, and so the longest `stopAndJoin` waits.
    static let pollIntervalMilliseconds: Int32 = 100

    private let stopFlag = StopFlag()
    private let thread: OwnedThread

    init(
        eventDescriptor: Int32, initialLevel: Bool, debounceSeconds: Double, broadcaster: EdgeBroadcaster,
        threadName: String
    ) throws(GPIOError) {
        let stopFlag = self.stopFlag
        thread = try startThread(name: threadName) {
            Self.watch(
                eventDescriptor: eventDescriptor, initialLevel: initialLevel, debounceSeconds: debounceSeconds,
                broadcaster: broadcaster, stopFlag: stopFlag)
        }
    }

    /// Blocks until the thread has ended; the caller is the backend's worker thread.
    func stopAndJoin() {
        stopFlag.requested.store(true, ordering: .releasing)
        thread.join()
    }

    private static func watch(
        eventDescriptor: Int32, initialLevel: Bool, debounceSeconds: Double, broadcaster: EdgeBroadcaster,
        stopFlag: StopFlag
    ) {
        var debouncer = Debouncer(initialLevel: initialLevel, debounceSeconds: debounceSeconds, startSeconds: monotonicSeconds())
        watching: while !stopFlag.requested.load(ordering: .acquiring) {
            var timeoutMilliseconds = pollIntervalMilliseconds
            if let deadline = debouncer.deadlineSeconds {
                let untilDeadline = (deadline - monotonicSeconds()) * 1000
                timeoutMilliseconds = Int32(max(0, min(Double(pollIntervalMilliseconds), untilDeadline.rounded(.up))))
            }
            var descriptor = pollfd(fd: eventDescriptor, events: Int16(POLLIN | POLLPRI), revents: 0)
            let ready = poll(&descriptor, 1, timeoutMilliseconds)
            let code = isowatch_gpiod_errno()
            if ready < 0 && code != EINTR { break }
            if ready > 0 {
                if descriptor.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 && descriptor.revents & Int16(POLLIN) == 0 {
                    break
                }
                // Every edge already queued gets one timestamp: a burst that piled up while this
                // thread waited for the CPU is one bounce, not a series of levels that held.
                let receivedAtSeconds = monotonicSeconds()
                var moreQueued = true
                while moreQueued {
                    var event = gpiod_line_event()
                    guard gpiod_line_event_read_fd(eventDescriptor, &event) == 0 else {
                        let readCode = isowatch_gpiod_errno()
                        if readCode == EINTR || readCode == EAGAIN { break }
                        break watching
                    }
                    // For both-edge requests the v1 kernel reports the logical level after the
                    // edge (it reads the line with ACTIVE_LOW applied), so rising means active.
                    let level = event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE)
                    if let change = debouncer.sample(level, atSeconds: receivedAtSeconds) {
                        broadcaster.yield(change)
                    }
                    var probe = pollfd(fd: eventDescriptor, events: Int16(POLLIN | POLLPRI), revents: 0)
                    moreQueued = poll(&probe, 1, 0) > 0 && probe.revents & Int16(POLLIN) != 0
                }
            }
            if let change = debouncer.advance(toSeconds: monotonicSeconds()) {
                broadcaster.yield(change)
            }
        }
        // Ending the streams is how a vanished line (an unplugged expander) reaches the
        // service: a contact that can no longer be watched must not look quiet.
        broadcaster.finish()
    }

    private static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }
}
