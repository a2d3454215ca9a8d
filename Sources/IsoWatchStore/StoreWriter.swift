import Foundation
import GRDB
import IsoWatchCore
import IsoWatchThreads
import Synchronization

/// Writes to the history on a thread of its own, so that the monitor hands over readings and
/// journal entries without ever waiting for a disk.
///
/// Whatever is queued when the thread comes round goes into one transaction, in the order it
/// was submitted. A journal entry counts as stored only when its `stored` callback runs: after
/// the commit is on disk. If a commit fails (a full disk, an I/O error) the readings of the batch
/// are dropped, the journal entries and alarm updates are kept and retried, and `onError` hears
/// of it; nothing here throws at the monitor or blocks it.
public final class StoreWriter: Sendable {
    public typealias Stored = @Sendable (Result<Int64, any Error>) -> Void

    enum Item: Sendable {
        case journal(JournalDraft, Stored?)
        case reading(String, DecodedReading)
        case alarm(AlarmUpdate)
        /// Runs once everything submitted before it is committed (or given up).
        case barrier(@Sendable () -> Void)

        var isReading: Bool {
            if case .reading = self { return true }
            return false
        }

        var isBarrier: Bool {
            if case .barrier = self { return true }
            return false
        }
    }

    struct State {
        var queue: [Item] = []
        var stopping = false
        var stopped = false
    }

    public let store: HistoryStore
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// Set once in `init`, when the thread's body may capture `self`.
    private let thread = Mutex<OwnedThread?>(nil)
    private let maintenanceInterval: Double
    private let onError: @Sendable (any Error) -> Void
    private let onJournalStored: @Sendable (Int) -> Void
    /// Journal entries and alarm updates waiting for a failed disk to recover are kept up to
    /// this many; beyond it the oldest are given up (and reported as failed).
    static let retainedLimit = 100_000

    /// - Parameters:
    ///   - maintenanceInterval: how often raw readings are downsampled and retention applied.
    ///   - onError: a commit or the maintenance failed (log it, count it).
    ///   - onJournalStored: this many journal entries were committed.
    public init(
        store: HistoryStore, maintenanceInterval: Double = 60, onError: @escaping @Sendable (any Error) -> Void = { _ in },
        onJournalStored: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.store = store
        self.maintenanceInterval = maintenanceInterval
        self.onError = onError
        self.onJournalStored = onJournalStored
        let thread = OwnedThread.essential(name: "isowatch-store") { [self] in self.loop() }
        self.thread.withLock { $0 = thread }
    }

    public func journal(_ draft: JournalDraft, stored: Stored? = nil) {
        submit(.journal(draft, stored))
    }

    public func reading(_ reading: DecodedReading, system: String) {
        submit(.reading(system, reading))
    }

    public func alarm(_ update: AlarmUpdate) {
        submit(.alarm(update))
    }

    /// Blocks until everything submitted before the call is committed (or reported failed).
    public func flush() {
        let done = DispatchSemaphore(value: 0)
        submit(.barrier { done.signal() })
        done.wait()
    }

    private func submit(_ item: Item) {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.queue.append(item)
            return true
        }
        if accepted {
            wake.signal()
        } else if case let .journal(_, stored) = item {
            stored?(.failure(StoreClosed()))
        } else if case let .barrier(done) = item {
            done()
        }
    }

    /// Writes what is queued (one more attempt for anything retained after a failure) and stops
    /// the thread. Blocks until then: call it from a thread that may block, or `finish()`.
    public func close() {
        stop()?.join()
    }

    /// `close` for async code.
    public func finish() async {
        await stop()?.join()
    }

    /// Asks the thread to write what is queued and end; returns it, to wait for.
    private func stop() -> OwnedThread? {
        state.withLock { $0.stopping = true }
        wake.signal()
        return thread.withLock { $0 }
    }

    public struct StoreClosed: Error, CustomStringConvertible {
        public var description: String { "the history store is closed" }
    }

    private func loop() {
        var retained: [Item] = []
        // At once: after a restart the raw window may have passed long ago.
        var nextMaintenance = Date()
        while true {
            let wait = retained.isEmpty ? max(0, nextMaintenance.timeIntervalSinceNow) : min(1, max(0, nextMaintenance.timeIntervalSinceNow))
            _ = wake.wait(timeout: .now() + wait)
            let (fresh, stopping) = state.withLock { state -> ([Item], Bool) in
                let taken = state.queue
                state.queue.removeAll(keepingCapacity: true)
                return (taken, state.stopping)
            }
            let batch = retained + fresh
            retained = []
            if !batch.isEmpty {
                retained = write(batch)
            }
            if Date() >= nextMaintenance {
                do {
                    try store.maintain()
                } catch {
                    onError(error)
                }
                nextMaintenance = Date().addingTimeInterval(maintenanceInterval)
            }
            if stopping {
                let late = state.withLock { state -> [Item] in
                    let taken = state.queue
                    state.queue.removeAll()
                    return taken
                }
                if !late.isEmpty || !retained.isEmpty {
                    retained = write(retained + late)
                }
                for case let .journal(_, stored) in retained {
                    stored?(.failure(StoreClosed()))
                }
                return
            }
        }
    }

    /// Commits a batch; returns what must be tried again. If the database is full, the oldest
    /// readings make room and the journal entries and alarm updates are tried again at once
    /// (without the batch's readings), so an alarm entry is not held back by readings.
    private func write(_ batch: [Item]) -> [Item] {
        do {
            try commit(batch)
            return []
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            onError(error)
            do {
                _ = try store.pool.write { db in try store.freeReadingSpace(db) }
                try commit(batch.filter { !$0.isReading })
                return []
            } catch {
                return failed(batch, error)
            }
        } catch {
            return failed(batch, error)
        }
    }

    private func commit(_ batch: [Item]) throws {
        let results = try store.pool.write { db -> [Result<Int64, any Error>] in
            var results: [Result<Int64, any Error>] = []
            for item in batch {
                switch item {
                case let .journal(draft, _):
                    do {
                        results.append(.success(try store.insert(draft, db)))
                    } catch let refused as HistoryStore.AccessEntriesOverBudget {
                        // Refused before anything was written: the rest of the batch goes on.
                        results.append(.failure(refused))
                    }
                case let .reading(system, reading):
                    try HistoryStore.insert(reading, system: system, db)
                case let .alarm(update):
                    try store.apply(update, db)
                case .barrier:
                    break
                }
            }
            return results
        }
        var index = 0
        for case let .journal(_, stored) in batch {
            stored?(results[index])
            index += 1
        }
        let storedCount = results.filter { if case .success = $0 { true } else { false } }.count
        if storedCount > 0 { onJournalStored(storedCount) }
        if storedCount < results.count { onError(HistoryStore.AccessEntriesOverBudget(kind: "user.*/http.*")) }
        for case let .barrier(done) in batch { done() }
    }

    private func failed(_ batch: [Item], _ error: any Error) -> [Item] {
        onError(error)
        for case let .barrier(done) in batch { done() }
        var kept = batch.filter { !$0.isReading && !$0.isBarrier }
        if kept.count > Self.retainedLimit {
            let dropped = kept.prefix(kept.count - Self.retainedLimit)
            for case let .journal(_, stored) in dropped {
                stored?(.failure(error))
            }
            kept.removeFirst(dropped.count)
        }
        return kept
    }
}
