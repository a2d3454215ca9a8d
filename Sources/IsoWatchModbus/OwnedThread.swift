import Foundation

/// Runs blocking work (libmodbus calls) on a thread created for it, never on Swift's cooperative
/// pool, whose two threads on this kind of machine would otherwise stall every task.
public enum OwnedThread {
    public static func run<T: Sendable>(
        name: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }
}
