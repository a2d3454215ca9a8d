import Foundation
import IsoWatchCore
import IsoWatchStore
import IsoWatchTesting
import Synchronization
import Testing

/// Issue 13 §2: the journal has a storage budget of its own. Real SQLite files with a tiny
/// maximum size (1 MiB; SQLite's hard page cap is a quarter above it).
@Suite struct JournalBudgetTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let maximum: Int64 = 1 << 20

    func store() throws -> HistoryStore {
        try HistoryStore(
            settings: StoreSettings(databaseFile: temporaryDatabase(), rawRetentionSeconds: 365 * 86400, maximumSizeBytes: maximum))
    }

    func reading(_ second: Int) -> DecodedReading {
        DecodedReading(
            timestamp: start + Double(second),
            values: [.insulationResistanceOhms: MeasuredValue(1e6), .loadPercent: MeasuredValue(40)], faults: [])
    }

    /// Readings written by SQLite itself (the sqlite3 tool, with the store's hard page cap) until
    /// not one more row fits, and no maintenance ran to trim them: alarm entries are still
    /// written, through the monitor's writer and directly, and read back.
    @Test func test_readingsFilledToTheCapLeaveRoomForAlarmEntries() throws {
        let store = try store()
        try store.insert(reading: reading(0), system: "or-1")
        // The store's hard cap: a quarter above the maximum, in 4 KiB pages.
        let pageCap = (maximum + maximum / 4) / 4096
        var rows = 4096
        var written = 1
        while rows >= 1 {
            let result = try ExternalPeer.run(
                "/usr/bin/sqlite3",
                [
                    "-cmd", ".timeout 10000", store.settings.databaseFile.path,
                    """
                    PRAGMA max_page_count = \(pageCap);
                    INSERT INTO reading (system_id, time_ms, faults, insulation_resistance_ohms, load_percent)
                    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < \(rows))
                    SELECT 1, \(Int64(start.timeIntervalSince1970) * 1000) + (\(written) + i) * 1000, 0, 1e6, 40 FROM n;
                    """,
                ])
            if result.status == 0 {
                written += rows
            } else {
                #expect(result.output.contains("full"), "\(result.output)")
                rows /= 2
            }
        }
        #expect(try store.usedBytes() > maximum, "the readings filled the database past its maximum")
        let outcomes = Mutex<[Result<Int64, any Error>]>([])
        let writer = StoreWriter(store: store, maintenanceInterval: 3600)
        for index in 0..<100 {
            writer.journal(
                JournalDraft(
                    kind: "alarm.raised", system: "or-1",
                    detail: ["condition": "insulation", "episode": .number(Double(index)), "worst": ["insulation_resistance_ohms": 30_000]])
            ) { result in
                outcomes.withLock { $0.append(result) }
            }
        }
        writer.close()
        let stored = outcomes.withLock { $0 }.compactMap { try? $0.get() }
        #expect(stored.count == 100)
        let direct = try store.append(kind: "alarm.cleared", system: "or-1")
        let entries = try store.events(JournalQuery(kindPrefix: "alarm.", newestFirst: false))
        #expect(entries.map(\.id) == stored + [direct])
        #expect(entries.first?.detail?["worst"]?["insulation_resistance_ohms"]?.numberValue == 30_000)
        #expect(try HistoryStore.verifyJournal(databaseFile: store.settings.databaseFile).intact)
        // The room came from the oldest readings; the newest are still there.
        let end = start + Double(written)
        let newest = try store.history(system: "or-1", from: end - 60, to: end, bucketSeconds: 0)
        #expect(newest.points.count == 60)
    }

    /// Maintenance keeps readings below the maximum less the journal's reserve.
    @Test func test_readingsAreTrimmedBelowTheJournalsReserve() throws {
        let store = try store()
        let writer = StoreWriter(store: store, maintenanceInterval: 3600)
        for second in 0..<30_000 {
            writer.reading(reading(second), system: "or-\(second % 4)")
            if second % 2000 == 1999 { writer.flush() }
        }
        writer.close()
        try store.maintain(now: start + 30_000)
        #expect(try store.usedBytes() <= store.settings.readingsLimitBytes)
        #expect(store.settings.readingsLimitBytes == maximum - maximum / 8)
    }

    /// A flood of access entries stops at the maximum size; an alarm entry is still written.
    @Test func test_nonAlarmEntriesCannotCrowdOutAnAlarmEntry() throws {
        let store = try store()
        let writer = StoreWriter(store: store, maintenanceInterval: 3600)
        let refused = Mutex(0)
        let accepted = Mutex(0)
        let padding = String(repeating: "x", count: 1500)
        var rounds = 0
        while refused.withLock({ $0 }) == 0 && rounds < 100 {
            for index in 0..<100 {
                writer.journal(
                    JournalDraft(
                        kind: index % 2 == 0 ? "user.login_refused" : "http.request", user: "mallory",
                        detail: ["text": .string(padding)])
                ) { result in
                    switch result {
                    case .success: accepted.withLock { $0 += 1 }
                    case let .failure(error):
                        #expect(error is HistoryStore.AccessEntriesOverBudget, "\(error)")
                        refused.withLock { $0 += 1 }
                    }
                }
            }
            writer.flush()
            rounds += 1
        }
        #expect(refused.withLock { $0 } > 0, "the flood must reach the access entries' budget")
        #expect(accepted.withLock { $0 } > 100)
        #expect(try store.usedBytes() >= maximum - 4096)
        let alarm = Mutex<Result<Int64, any Error>?>(nil)
        writer.journal(JournalDraft(kind: "alarm.raised", system: "or-1")) { result in alarm.withLock { $0 = result } }
        writer.close()
        let id = try #require(try alarm.withLock { $0 }?.get())
        #expect(try store.events(JournalQuery(kindPrefix: "alarm.")).map(\.id) == [id])
        #expect(throws: HistoryStore.AccessEntriesOverBudget.self) {
            try store.append(kind: "user.action", user: "mallory", detail: ["text": .string(padding)])
        }
        #expect(try store.append(kind: "alarm.cleared", system: "or-1") > id)
        #expect(try HistoryStore.verifyJournal(databaseFile: store.settings.databaseFile).intact)
    }
}
