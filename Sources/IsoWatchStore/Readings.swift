import Foundation
import GRDB
import IsoWatchCore

/// Minimum, mean and maximum of one quantity over a bucket (all three equal for a raw reading).
public struct QuantityStatistics: Sendable, Equatable, Codable {
    public var min: Double
    public var mean: Double
    public var max: Double

    public init(min: Double, mean: Double, max: Double) {
        self.min = min
        self.mean = mean
        self.max = max
    }
}

/// One point of a history: a raw reading (`samples` 1) or a bucket of readings.
public struct HistoryPoint: Sendable, Equatable {
    /// The reading's time, or the start of the bucket.
    public var time: Date
    public var samples: Int
    /// Samples in which the device flagged any fault.
    public var faultedSamples: Int
    /// The faults of a raw reading; empty for a bucket (see `faultedSamples`).
    public var faults: Set<Fault>
    public var statistics: [Quantity: QuantityStatistics]

    public init(
        time: Date, samples: Int, faultedSamples: Int, faults: Set<Fault> = [], statistics: [Quantity: QuantityStatistics]
    ) {
        self.time = time
        self.samples = samples
        self.faultedSamples = faultedSamples
        self.faults = faults
        self.statistics = statistics
    }
}

/// What a bucketed history holds; `bucketSeconds` 0 means raw readings.
public struct History: Sendable, Equatable {
    public var system: String
    public var from: Date
    public var to: Date
    public var bucketSeconds: Int
    public var points: [HistoryPoint]
}

extension HistoryStore {
    /// One SQL fragment per kept quantity (`q` is its column name), joined by commas.
    static func perQuantity(_ fragment: (_ q: String) -> String) -> String {
        quantities.map { fragment($0.rawValue) }.joined(separator: ", ")
    }

    // The quantity list is fixed, so these fragments are built once, not per reading, query or fold.
    static let readingColumns = perQuantity { q in q }
    static let readingPlaceholders = perQuantity { _ in "?" }
    static let minuteColumns = perQuantity { q in "\(q)_min, \(q)_max, \(q)_sum, \(q)_count" }
    /// A raw reading as a one-sample bucket, in the shape of `minuteColumns`.
    static let rawAsBucketColumns = perQuantity { q in
        "\(q) AS \(q)_min, \(q) AS \(q)_max, \(q) AS \(q)_sum, (\(q) IS NOT NULL) AS \(q)_count"
    }
    static let combinedBucketColumns = perQuantity { q in
        "min(\(q)_min) AS \(q)_min, max(\(q)_max) AS \(q)_max, sum(\(q)_sum) AS \(q)_sum, sum(\(q)_count) AS \(q)_count"
    }
    static let minuteAggregates = perQuantity { q in "min(\(q)), max(\(q)), sum(\(q)), count(\(q))" }
    /// A late reading can land in a minute already folded: merge rather than replace.
    static let minuteMerges = perQuantity { q in
        """
        \(q)_min = coalesce(min(\(q)_min, excluded.\(q)_min), \(q)_min, excluded.\(q)_min),
        \(q)_max = coalesce(max(\(q)_max, excluded.\(q)_max), \(q)_max, excluded.\(q)_max),
        \(q)_sum = coalesce(\(q)_sum + excluded.\(q)_sum, \(q)_sum, excluded.\(q)_sum),
        \(q)_count = \(q)_count + excluded.\(q)_count
        """
    }

    static func systemID(_ name: String, _ db: Database) throws -> Int64 {
        if let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM system WHERE name = ?"), arguments: [name]) {
            return id
        }
        try db.execute(sql: "INSERT INTO system (name) VALUES (?)", arguments: [name])
        return db.lastInsertedRowID
    }

    static func existingSystemID(_ name: String, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM system WHERE name = ?", arguments: [name])
    }

    /// Stores a decoded reading. Values the device marks invalid are stored as absent: the history,
    /// like the live view, must never show a non-measurement as a value. "< x" and "> x" values are
    /// kept as their bound.
    public func insert(reading: DecodedReading, system: String) throws {
        try pool.write { db in try Self.insert(reading, system: system, db) }
    }

    static func insert(_ reading: DecodedReading, system: String, _ db: Database) throws {
        let id = try systemID(system, db)
        var arguments: StatementArguments = [id, milliseconds(reading.timestamp), faultMask(reading.faults)]
        for quantity in quantities {
            if let value = reading[quantity], value.validity != .invalid, value.value.isFinite {
                arguments += [value.value]
            } else {
                arguments += [nil as Double?]
            }
        }
        let columns = Self.readingColumns
        let marks = Self.readingPlaceholders
        // Cached statements: this runs once per reading of every system.
        try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO reading (system_id, time_ms, faults, \(columns)) VALUES (?, ?, ?, \(marks))"
        ).execute(arguments: arguments)
        // A reading for a minute already folded (a late one) goes into its bucket at once.
        let time = milliseconds(reading.timestamp)
        if time < (try foldedUntil(db)) {
            try fold("system_id = ? AND time_ms = ?", [id, time], db)
        }
    }

    /// Readings of `system` in `from ..< to`: raw when `bucketSeconds` is 0 (only the raw window
    /// has them), otherwise buckets of that many seconds (a multiple of 60 beyond the raw window),
    /// combining raw readings and minute buckets.
    public func history(system: String, from: Date, to: Date, bucketSeconds: Int) throws -> History {
        try pool.read { db in try Self.history(system: system, from: from, to: to, bucketSeconds: bucketSeconds, db) }
    }

    /// `rawLimit` caps the points of a raw (unbucketed) answer, oldest first.
    public func history(system: String, from: Date, to: Date, bucketSeconds: Int, rawLimit: Int? = nil) async throws -> History {
        try await pool.read { db in
            try Self.history(system: system, from: from, to: to, bucketSeconds: bucketSeconds, rawLimit: rawLimit, db)
        }
    }

    static func history(
        system: String, from: Date, to: Date, bucketSeconds: Int, rawLimit: Int? = nil, _ db: Database
    ) throws -> History {
        var history = History(system: system, from: from, to: to, bucketSeconds: bucketSeconds, points: [])
        guard let id = try existingSystemID(system, db) else { return history }
        let range: StatementArguments = [id, milliseconds(from), milliseconds(to)]
        if bucketSeconds <= 0 {
            let rows = try Row.fetchCursor(
                db, sql: "SELECT * FROM reading WHERE system_id = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms LIMIT ?",
                arguments: range + [rawLimit ?? -1])
            while let row = try rows.next() {
                var statistics: [Quantity: QuantityStatistics] = [:]
                for quantity in quantities {
                    if let value: Double = row[quantity.rawValue] {
                        statistics[quantity] = QuantityStatistics(min: value, mean: value, max: value)
                    }
                }
                let mask: Int64 = row["faults"]
                history.points.append(
                    HistoryPoint(
                        time: date(milliseconds: row["time_ms"]), samples: 1, faultedSamples: mask == 0 ? 0 : 1,
                        faults: faults(mask: mask), statistics: statistics))
            }
            return history
        }
        let bucket = Int64(bucketSeconds) * 1000
        let rawColumns = Self.rawAsBucketColumns
        let minuteColumns = Self.minuteColumns
        let combined = Self.combinedBucketColumns
        let folded = try foldedUntil(db)
        let sql = """
            SELECT (time_ms / \(bucket)) * \(bucket) AS bucket, sum(samples) AS samples,
                   sum(faulted_samples) AS faulted_samples, \(combined)
            FROM (
                SELECT time_ms, 1 AS samples, (faults <> 0) AS faulted_samples, \(rawColumns)
                FROM reading WHERE system_id = ?1 AND time_ms >= max(?2, ?4) AND time_ms < ?3
                UNION ALL
                SELECT time_ms, samples, faulted_samples, \(minuteColumns)
                FROM reading_minute WHERE system_id = ?1 AND time_ms >= ?2 AND time_ms < min(?3, ?4))
            GROUP BY bucket ORDER BY bucket
            """
        let rows = try Row.fetchCursor(db, sql: sql, arguments: range + [folded])
        while let row = try rows.next() {
            var statistics: [Quantity: QuantityStatistics] = [:]
            for quantity in quantities {
                let q = quantity.rawValue
                let count: Int = row["\(q)_count"] ?? 0
                if count > 0, let low: Double = row["\(q)_min"], let high: Double = row["\(q)_max"],
                    let sum: Double = row["\(q)_sum"]
                {
                    statistics[quantity] = QuantityStatistics(min: low, mean: sum / Double(count), max: high)
                }
            }
            history.points.append(
                HistoryPoint(
                    time: date(milliseconds: row["bucket"]), samples: row["samples"],
                    faultedSamples: row["faulted_samples"], statistics: statistics))
        }
        return history
    }

    /// Lowest and highest values of each quantity of `system` in a period, from raw readings and
    /// buckets alike.
    public func extremes(system: String, from: Date, to: Date) throws -> [Quantity: QuantityStatistics] {
        Self.extremes(of: try history(system: system, from: from, to: to, bucketSeconds: Self.wholePeriodBucket(from, to)))
    }

    /// The same on GRDB's own queue, for callers on Swift's cooperative pool (HTTP requests).
    public func extremes(system: String, from: Date, to: Date) async throws -> [Quantity: QuantityStatistics] {
        Self.extremes(
            of: try await history(
                system: system, from: from, to: to, bucketSeconds: Self.wholePeriodBucket(from, to), rawLimit: nil))
    }

    /// One bucket that holds the whole period.
    static func wholePeriodBucket(_ from: Date, _ to: Date) -> Int {
        max(60, Int((to.timeIntervalSince(from)).rounded(.up)) + 60) * 2
    }

    static func extremes(of whole: History) -> [Quantity: QuantityStatistics] {
        var result: [Quantity: QuantityStatistics] = [:]
        var weights: [Quantity: Double] = [:]
        for point in whole.points {
            for (quantity, statistics) in point.statistics {
                if var known = result[quantity] {
                    let weight = weights[quantity] ?? 0
                    known.min = Swift.min(known.min, statistics.min)
                    known.max = Swift.max(known.max, statistics.max)
                    known.mean = (known.mean * weight + statistics.mean * Double(point.samples)) / (weight + Double(point.samples))
                    result[quantity] = known
                } else {
                    result[quantity] = statistics
                }
                weights[quantity, default: 0] += Double(point.samples)
            }
        }
        return result
    }

    // MARK: - Downsampling and retention

    /// Folds raw readings older than the raw window into one-minute buckets, drops what is older
    /// than the retention times, then trims the oldest readings while the database is above its
    /// size limit. Returns the rows removed, for logs and tests.
    @discardableResult
    public func maintain(now: Date = Date()) throws -> Int {
        try pool.write { db in try self.maintain(now: now, db) }
    }

    func maintain(now: Date, _ db: Database) throws -> Int {
        var removed = 0
        let minute: Int64 = 60_000
        // Every complete minute is folded as soon as it is over (not when its raw readings expire),
        // so that a bucketed query reads minute rows plus at most the last minutes of raw ones.
        let complete = ((milliseconds(now) - minute) / minute) * minute
        let folded = try Self.foldedUntil(db)
        if complete > folded {
            try Self.fold("time_ms >= ? AND time_ms < ?", [folded, complete], db)
            try db.execute(
                sql: "INSERT OR REPLACE INTO store_state (key, value) VALUES ('folded_until_ms', ?)", arguments: [complete])
        }
        let cutoff = (milliseconds(now.addingTimeInterval(-settings.rawRetentionSeconds)) / minute) * minute
        try db.execute(sql: "DELETE FROM reading WHERE time_ms < ? AND time_ms < ?", arguments: [cutoff, max(folded, complete)])
        removed += db.changesCount
        let aggregateCutoff = milliseconds(now.addingTimeInterval(-settings.aggregateRetentionSeconds))
        try db.execute(sql: "DELETE FROM reading_minute WHERE time_ms < ?", arguments: [aggregateCutoff])
        removed += db.changesCount
        try db.execute(
            sql: "DELETE FROM alarm WHERE raised_ms < ? AND (cleared_ms IS NOT NULL OR interrupted = 1)",
            arguments: [aggregateCutoff])
        let journalCutoff = milliseconds(now.addingTimeInterval(-settings.journalRetentionSeconds))
        removed += try trimJournal(before: journalCutoff, now: now, db)
        removed += try trimToSize(db)
        return removed
    }

    static func foldedUntil(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM store_state WHERE key = 'folded_until_ms'")) ?? 0
    }

    /// Adds the raw readings that match `filter` to their minute buckets.
    static func fold(_ filter: String, _ arguments: StatementArguments, _ db: Database) throws {
        let columns = minuteColumns
        let aggregates = minuteAggregates
        let merges = minuteMerges
        try db.execute(
            sql: """
                INSERT INTO reading_minute (system_id, time_ms, samples, faulted_samples, \(columns))
                SELECT system_id, (time_ms / 60000) * 60000, count(*), sum(faults <> 0), \(aggregates)
                FROM reading WHERE \(filter) GROUP BY system_id, time_ms / 60000
                ON CONFLICT (system_id, time_ms) DO UPDATE SET
                    samples = samples + excluded.samples, faulted_samples = faulted_samples + excluded.faulted_samples,
                    \(merges)
                """, arguments: arguments)
    }

    /// Drops the oldest readings in steps until the live pages fit the readings' limit (the
    /// maximum less the journal's reserve): first minute buckets (the oldest history), then raw
    /// readings. Alarms and the journal stay.
    func trimToSize(_ db: Database) throws -> Int {
        try trimReadings(db, whileAbove: settings.readingsLimitBytes, steps: .max)
    }

    /// At most `steps` deletions of a tenth of a table's span (at least a minute) each, while the
    /// live pages exceed `limit`.
    func trimReadings(_ db: Database, whileAbove limit: Int64, steps: Int) throws -> Int {
        var removed = 0
        var remaining = steps
        for table in ["reading_minute", "reading"] {
            while remaining > 0, try Self.usedBytes(db) > limit {
                guard let oldest = try Int64.fetchOne(db, sql: "SELECT min(time_ms) FROM \(table)"),
                    let newest = try Int64.fetchOne(db, sql: "SELECT max(time_ms) FROM \(table)")
                else { break }
                let step = max((newest - oldest) / 10, 60_000)
                try db.execute(sql: "DELETE FROM \(table) WHERE time_ms < ?", arguments: [oldest + step])
                removed += db.changesCount
                remaining -= 1
                if db.changesCount == 0 { break }
            }
        }
        return removed
    }

    /// Retention of the journal: removes the oldest entries while they are older than the
    /// retention, as one prefix of the chain (never an entry with a newer one before it, so what
    /// remains is one unbroken chain), then appends a `journal.trimmed` entry with the last id and
    /// hash removed, which anchors the oldest remaining entry for `verifyJournal`. The delete
    /// trigger lets rows go only up to the id this transaction names in `store_state`.
    func trimJournal(before cutoff: Int64, now: Date, _ db: Database) throws -> Int {
        guard let oldest = try Int64.fetchOne(db, sql: "SELECT time_ms FROM event ORDER BY id LIMIT 1"), oldest < cutoff
        else { return 0 }
        // The newest entry always stays, even past the retention: it links the chain to what follows.
        let firstKept =
            try Int64.fetchOne(db, sql: "SELECT id FROM event WHERE time_ms >= ? ORDER BY id LIMIT 1", arguments: [cutoff])
            ?? Int64.fetchOne(db, sql: "SELECT max(id) FROM event") ?? 0
        let last = try Row.fetchOne(
            db, sql: "SELECT id, hash FROM event WHERE id < ? ORDER BY id DESC LIMIT 1", arguments: [firstKept])
        guard let last, let throughHash: String = last["hash"] else { return 0 }
        let throughID: Int64 = last["id"]
        try db.execute(
            sql: "INSERT OR REPLACE INTO store_state (key, value) VALUES ('journal_trim_through_id', ?)", arguments: [throughID])
        try db.execute(sql: "DELETE FROM event WHERE id <= ?", arguments: [throughID])
        let removed = db.changesCount
        try db.execute(sql: "DELETE FROM store_state WHERE key = 'journal_trim_through_id'")
        _ = try insert(
            JournalDraft(
                time: now, kind: JournalChain.trimmedKind,
                detail: [
                    "through_id": .number(Double(throughID)), "through_hash": .string(throughHash),
                    "entries": .number(Double(removed)), "before_ms": .number(Double(cutoff)),
                ]), db)
        return removed
    }
}
