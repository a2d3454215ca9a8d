import Synchronization

/// Hands each debounced change of one input line to every current `changes` stream.
final class EdgeBroadcaster: Sendable {
    private struct Subscribers {
        var nextID = 0
        var continuations: [Int: AsyncStream<Bool>.Continuation] = [:]
        var finished = false
    }

    private let subscribers = Mutex(Subscribers())

    func makeStream() -> AsyncStream<Bool> {
        // Keeping the newest changes means a slow reader may miss an intermediate bounce-free
        // edge but always ends on the current level, which is what an alarm decision needs.
        let (stream, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(64))
        let id: Int? = subscribers.withLock { state in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.continuations[id] = continuation
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                self?.subscribers.withLock { _ = $0.continuations.removeValue(forKey: id) }
            }
        } else {
            continuation.finish()
        }
        return stream
    }

    func yield(_ level: Bool) {
        let continuations = subscribers.withLock { Array($0.continuations.values) }
        for continuation in continuations { continuation.yield(level) }
    }

    /// Finishes every stream; later streams finish at once.
    func finish() {
        // finish() runs onTermination synchronously, which takes the lock: call it outside.
        let continuations = subscribers.withLock { state in
            state.finished = true
            defer { state.continuations.removeAll() }
            return Array(state.continuations.values)
        }
        for continuation in continuations { continuation.finish() }
    }
}
