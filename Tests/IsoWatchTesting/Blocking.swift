import IsoWatchThreads

/// Runs a blocking call on a thread of its own and awaits it, so tests that talk to sockets and
/// ptys never block Swift's cooperative pool (two threads on the CI machines).
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await OwnedThread.run(name: "test-blocking", body)
}
