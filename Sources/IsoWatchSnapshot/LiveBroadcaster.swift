import Foundation
import Synchronization

/// Fans the monitor's status changes out to every live client (the SSE stream).
///
/// The monitor publishes from inside its actor after each handled reading, alarm change or tick;
/// publishing never waits. Each subscriber has a bounded buffer, and one that falls that far
/// behind (a stalled browser, a dead connection not yet noticed) is dropped: its stream ends and
/// the client reconnects for a fresh snapshot. A slow client can never hold up the alarm path.
public final class LiveBroadcaster: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<SystemStatus>.Continuation] = [:]
        var nextID: UInt64 = 0
        /// What each system last looked like, so that ticks which change nothing send nothing.
        var last: [String: SystemStatus] = [:]
        var finished = false
    }

    private let state = Mutex(State())
    /// Statuses a subscriber may lag behind before it is dropped.
    public let bufferPerSubscriber: Int

    public init(bufferPerSubscriber: Int = 256) {
        self.bufferPerSubscriber = max(1, bufferPerSubscriber)
    }

    /// Hands `status` to every subscriber unless it equals what was last published for its system.
    public func publish(_ status: SystemStatus) {
        var dropped: [AsyncStream<SystemStatus>.Continuation] = []
        state.withLock { state in
            guard !state.finished, state.last[status.id] != status else { return }
            state.last[status.id] = status
            for (id, continuation) in state.subscribers {
                switch continuation.yield(status) {
                case .enqueued:
                    break
                case .dropped, .terminated:
                    state.subscribers[id] = nil
                    dropped.append(continuation)
                @unknown default:
                    break
                }
            }
        }
        // Outside the lock: finishing runs the stream's termination handler, which takes it.
        for continuation in dropped { continuation.finish() }
    }

    /// A stream of every status published from now on. It ends when the subscriber lags
    /// `bufferPerSubscriber` statuses behind, or when the broadcaster is finished.
    public func subscribe() -> AsyncStream<SystemStatus> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: SystemStatus.self, bufferingPolicy: .bufferingOldest(bufferPerSubscriber))
        let id: UInt64? = state.withLock { state in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public var subscriberCount: Int {
        state.withLock { $0.subscribers.count }
    }

    /// Ends every stream (service shutdown); later subscriptions end at once.
    public func finish() {
        let all = state.withLock { state in
            state.finished = true
            defer { state.subscribers = [:] }
            return Array(state.subscribers.values)
        }
        for continuation in all { continuation.finish() }
    }
}
