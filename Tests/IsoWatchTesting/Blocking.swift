import IsoWatchSimulator

/// Runs a blocking call on a thread of its own and awaits it, so tests that talk to sockets and
/// ptys never block Swift's cooperative pool (two threads on the CI machines).
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        do {
            // The thread is detached when `OwnedThread` goes away; its body resumes the caller.
            _ = try OwnedThread { continuation.resume(with: Result { try body() }) }
        } catch {
            continuation.resume(throwing: error)
        }
    }
}
