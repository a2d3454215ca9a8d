import Foundation
import GRDB
import IsoWatchCore

/// Where the history lives and how much of it to keep.
public struct StoreSettings: Sendable, Equatable {
    public var databaseFile: URL
    /// Readings are kept at full rate this long, then folded into one-minute min/mean/max buckets.
    public var rawRetentionSeconds: Double
    /// One-minute buckets and closed alarm episodes are kept this long.
    public var aggregateRetentionSeconds: Double
    /// Journal entries are kept this long. The journal is the record of who did what to a life
    /// support installation, so the default is long (ten years).
    public var journalRetentionSeconds: Double
    /// The database's size budget. Readings are trimmed (oldest first) to
    /// `maximumSizeBytes - journalReserveBytes`, so the journal always has that much room that
    /// readings cannot take; access entries (`user.*`, `http.*`) may fill the database up to
    /// `maximumSizeBytes`; the quarter above it, up to SQLite's hard page cap, is kept for alarm
    /// and other installation entries. The journal is never trimmed for size, only by retention.
    public var maximumSizeBytes: Int64

    /// The share of the maximum that readings can never take: an eighth.
    public var journalReserveBytes: Int64 { maximumSizeBytes / 8 }

    /// Readings (raw and one-minute buckets) are trimmed while the database is above this.
    public var readingsLimitBytes: Int64 { maximumSizeBytes - journalReserveBytes }

    public init(
        databaseFile: URL, rawRetentionSeconds: Double = 24 * 3600, aggregateRetentionSeconds: Double = 365 * 86400,
        journalRetentionSeconds: Double = 3650 * 86400, maximumSizeBytes: Int64 = 1 << 30
    ) {
        self.databaseFile = databaseFile
        self.rawRetentionSeconds = rawRetentionSeconds
        self.aggregateRetentionSeconds = aggregateRetentionSeconds
        self.journalRetentionSeconds = journalRetentionSeconds
        self.maximumSizeBytes = maximumSizeBytes
    }
}

/// The SQLite database of one isowatch instance: the append-only event journal, readings (raw
/// and downsampled), alarm episodes and the configuration versions (`ConfigurationHistory`).
///
/// Every method is synchronous and blocks on disk I/O (each commit is fsynced: synchronous =
/// FULL in WAL mode), so call it from a thread you own, or use the `async` variants, which run on
/// GRDB's own queue and never block Swift's cooperative pool.
public final class HistoryStore: Sendable {
    public let settings: StoreSettings
    let pool: DatabasePool
    /// Identifies this process's alarm episodes: the alarm machines number episodes from 1 at
    /// every start.
    let run: Int64

    /// The quantities kept in the history, each a column named by its JSON key.
    public static let quantities: [Quantity] = [
        .insulationResistanceOhms, .leakageCapacitanceFarads, .loadCurrentAmperes, .loadPercent,
        .windingTemperatureCelsius,
    ]

    public init(settings: StoreSettings) throws {
        self.settings = settings
        try FileManager.default.createDirectory(
            at: settings.databaseFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = GRDB.Configuration()
        // A hard cap a little above the trimming limit: even if trimming cannot keep up, SQLite
        // answers SQLITE_FULL rather than filling the disk that the rest of the system needs.
        let pageCap = max(settings.maximumSizeBytes + settings.maximumSizeBytes / 4, 1 << 20) / 4096
        configuration.prepareDatabase { db in
            // FULL: a commit is on disk (the WAL fsynced) before it returns. That is the meaning of
            // "stored" for the journal; NORMAL could lose the last commits on power loss.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA max_page_count = \(pageCap)")
        }
        configuration.busyMode = .timeout(10)
        pool = try DatabasePool(path: settings.databaseFile.path, configuration: configuration)
        try Self.migrator.migrate(pool)
        run = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        try pool.write { db in
            // Episodes that a previous run left open ended when that run did; this run's machines
            // start afresh (in alarm until the first valid measurement) and raise them again.
            try db.execute(sql: "UPDATE alarm SET interrupted = 1 WHERE cleared_ms IS NULL AND run <> ?", arguments: [run])
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE system (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                    CREATE TABLE event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        time_ms INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        system TEXT,
                        user TEXT,
                        detail TEXT);
                    CREATE INDEX event_by_time ON event(time_ms);
                    CREATE INDEX event_by_system ON event(system, time_ms);
                    CREATE TRIGGER event_is_append_only BEFORE UPDATE ON event
                        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
                    CREATE TABLE alarm (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        run INTEGER NOT NULL,
                        episode INTEGER NOT NULL,
                        system TEXT NOT NULL,
                        condition TEXT NOT NULL,
                        onset_ms INTEGER NOT NULL,
                        raised_ms INTEGER NOT NULL,
                        cleared_ms INTEGER,
                        worst TEXT,
                        detail TEXT,
                        silenced_by TEXT,
                        silenced_ms INTEGER,
                        acknowledged_by TEXT,
                        acknowledged_ms INTEGER,
                        interrupted INTEGER NOT NULL DEFAULT 0,
                        UNIQUE (run, system, episode));
                    CREATE INDEX alarm_by_system ON alarm(system, raised_ms);
                    """)
            let raw = perQuantity { q in "\(q) REAL" }
            try db.execute(
                sql: """
                    CREATE TABLE reading (
                        system_id INTEGER NOT NULL, time_ms INTEGER NOT NULL, faults INTEGER NOT NULL, \(raw),
                        PRIMARY KEY (system_id, time_ms)) WITHOUT ROWID
                    """)
            let stats = perQuantity { q in "\(q)_min REAL, \(q)_max REAL, \(q)_sum REAL, \(q)_count INTEGER NOT NULL" }
            try db.execute(
                sql: """
                    CREATE TABLE reading_minute (
                        system_id INTEGER NOT NULL, time_ms INTEGER NOT NULL, samples INTEGER NOT NULL,
                        faulted_samples INTEGER NOT NULL, \(stats),
                        PRIMARY KEY (system_id, time_ms)) WITHOUT ROWID
                    """)
        }
        migrator.registerMigration("v2: minutes folded as they complete") { db in
            try db.execute(sql: "CREATE TABLE store_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        }
        migrator.registerMigration("v3: journal hash chain, no deletion but retention") { db in
            // The entries already held are chained in id order from the genesis value (see
            // JournalChain for the encoding); from now on every entry is chained as it is inserted.
            try db.execute(
                sql: """
                    ALTER TABLE event ADD COLUMN previous_hash TEXT;
                    ALTER TABLE event ADD COLUMN hash TEXT;
                    DROP TRIGGER event_is_append_only;
                    """)
            try JournalChain.chainUnchainedEntries(db)
            try db.execute(
                sql: """
                    CREATE TRIGGER event_is_append_only BEFORE UPDATE ON event
                        BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
                    CREATE TRIGGER event_is_not_deleted BEFORE DELETE ON event
                        WHEN NOT EXISTS (
                            SELECT 1 FROM store_state WHERE key = 'journal_trim_through_id' AND OLD.id <= value)
                        BEGIN SELECT RAISE(ABORT, 'the journal is append-only: entries leave only by retention'); END;
                    CREATE TRIGGER event_is_chained BEFORE INSERT ON event
                        WHEN NEW.hash IS NULL OR NEW.previous_hash IS NULL
                        BEGIN SELECT RAISE(ABORT, 'journal entries must be hash-chained'); END;
                    CREATE UNIQUE INDEX event_chain ON event(previous_hash);
                    """)
        }
        migrator.registerMigration("v4: configuration versions", migrate: ConfigurationHistory.createTable)
        return migrator
    }

    /// Runs a write that appends journal entries; if SQLite answers SQLITE_FULL (the hard page
    /// cap, or a full disk), frees reading pages and tries once more, so that an alarm entry is
    /// written at the cost of the oldest readings.
    func writeMakingRoom<T>(_ updates: (Database) throws -> T) throws -> T {
        do {
            return try pool.write(updates)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            _ = try pool.write { db in try freeReadingSpace(db) }
            return try pool.write(updates)
        }
    }

    /// Deletes readings until the database is within the readings' limit, and at least the
    /// oldest tenth of them if it already was (the write that met SQLITE_FULL needs more room).
    /// Returns the rows removed.
    func freeReadingSpace(_ db: Database) throws -> Int {
        let removed = try trimToSize(db)
        if removed > 0 { return removed }
        return try trimReadings(db, whileAbove: 0, steps: 1)
    }

    /// Bytes the database occupies with its live pages (freed pages are reused before the file grows).
    public func usedBytes() throws -> Int64 {
        try pool.read { db in try Self.usedBytes(db) }
    }

    static func usedBytes(_ db: Database) throws -> Int64 {
        let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
        let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
        return (pages - free) * size
    }

    /// Bytes on disk: the database file and its write-ahead log.
    public func fileBytes() -> Int64 {
        let paths = [settings.databaseFile.path, settings.databaseFile.path + "-wal"]
        return paths.reduce(0) { total, path in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            return total + ((attributes?[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }
}

/// Saturates instead of trapping: a caller's out-of-range instant must never stop the service.
func milliseconds(_ date: Date) -> Int64 {
    let value = (date.timeIntervalSince1970 * 1000).rounded()
    guard value.isFinite else { return value > 0 ? .max : .min }
    if value >= 9.2e18 { return .max }
    if value <= -9.2e18 { return .min }
    return Int64(value)
}

func date(milliseconds: Int64) -> Date {
    Date(timeIntervalSince1970: Double(milliseconds) / 1000)
}

/// A fault set as a bit mask in `Fault.allCases` order.
func faultMask(_ faults: Set<Fault>) -> Int64 {
    Fault.allCases.enumerated().reduce(0) { mask, item in faults.contains(item.element) ? mask | (1 << item.offset) : mask }
}

func faults(mask: Int64) -> Set<Fault> {
    Set(Fault.allCases.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
}
