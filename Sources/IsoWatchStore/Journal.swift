import Foundation
import GRDB

/// One entry of the append-only event journal. `kind` is a dotted name (`alarm.raised`,
/// `communication.lost`, `user.login`, …) and `detail` free JSON, so that a new kind of event
/// needs no schema change.
public struct JournalEntry: Sendable, Equatable, Codable {
    public var id: Int64
    public var time: Date
    public var kind: String
    public var system: String?
    public var user: String?
    public var detail: JSONValue?

    public init(id: Int64, time: Date, kind: String, system: String?, user: String?, detail: JSONValue?) {
        self.id = id
        self.time = time
        self.kind = kind
        self.system = system
        self.user = user
        self.detail = detail
    }
}

/// An entry before the journal numbered it.
public struct JournalDraft: Sendable, Equatable {
    public var time: Date
    public var kind: String
    public var system: String?
    public var user: String?
    public var detail: JSONValue?

    public init(time: Date = Date(), kind: String, system: String? = nil, user: String? = nil, detail: JSONValue? = nil) {
        self.time = time
        self.kind = kind
        self.system = system
        self.user = user
        self.detail = detail
    }
}

/// Which journal entries to read.
public struct JournalQuery: Sendable, Equatable {
    public var system: String?
    public var from: Date?
    public var to: Date?
    /// Entries whose kind starts with this (e.g. `alarm.` or `test.`).
    public var kindPrefix: String?
    public var limit: Int
    public var newestFirst: Bool
    /// Only entries past this id in the query's order (smaller ids when newest first): the cursor
    /// of the next page is the last id of this one.
    public var afterID: Int64?

    public init(
        system: String? = nil, from: Date? = nil, to: Date? = nil, kindPrefix: String? = nil, limit: Int = 1000,
        newestFirst: Bool = true, afterID: Int64? = nil
    ) {
        self.afterID = afterID
        self.system = system
        self.from = from
        self.to = to
        self.kindPrefix = kindPrefix
        self.limit = limit
        self.newestFirst = newestFirst
    }
}

extension HistoryStore {
    /// Appends one entry and returns its id once the commit is on disk. Blocks the calling
    /// thread for the fsync: from async code use `appendDurably`.
    @discardableResult
    public func append(kind: String, system: String? = nil, user: String? = nil, detail: JSONValue? = nil, time: Date = Date())
        throws -> Int64
    {
        let draft = JournalDraft(time: time, kind: kind, system: system, user: user, detail: detail)
        return try writeMakingRoom { db in try self.insert(draft, db) }
    }

    /// `append` for async code: the write runs on GRDB's writer queue, not on the caller's thread,
    /// and the id comes back only after the commit is on disk.
    @discardableResult
    public func appendDurably(
        kind: String, system: String? = nil, user: String? = nil, detail: JSONValue? = nil, time: Date = Date()
    ) async throws -> Int64 {
        let draft = JournalDraft(time: time, kind: kind, system: system, user: user, detail: detail)
        do {
            return try await pool.write { db in try self.insert(draft, db) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            _ = try await pool.write { db in try self.freeReadingSpace(db) }
            return try await pool.write { db in try self.insert(draft, db) }
        }
    }

    /// Kinds of entry that record access (sign-ins, web requests) rather than the installation.
    /// They may fill the database up to its maximum size, never the space above it: that is kept
    /// for alarm, test, communication and service entries, so that no flood of requests can keep
    /// an alarm off the record.
    public static let accessKindPrefixes = ["user.", "http."]

    public static func isAccessKind(_ kind: String) -> Bool {
        accessKindPrefixes.contains { kind.hasPrefix($0) }
    }

    /// An access entry (`user.*`, `http.*`) refused because the database is at its maximum size
    /// with the readings already trimmed: the rest is kept for alarm entries.
    public struct AccessEntriesOverBudget: Error, CustomStringConvertible {
        public var kind: String
        public var description: String {
            "journal entry '\(kind)' refused: the database is at its maximum size and the rest is kept for alarm entries"
        }
    }

    /// Inserts one entry, chained to the newest one. Must run inside the write transaction that
    /// commits it: SQLite's write lock then makes the newest entry read here the one this entry
    /// follows, whichever connection or process appends.
    func insert(_ draft: JournalDraft, _ db: Database) throws -> Int64 {
        if Self.isAccessKind(draft.kind), try Self.usedBytes(db) >= settings.maximumSizeBytes {
            // Readings go first; only if the journal itself fills the maximum is the entry refused.
            _ = try trimToSize(db)
            if try Self.usedBytes(db) >= settings.maximumSizeBytes { throw AccessEntriesOverBudget(kind: draft.kind) }
        }
        let detail = try draft.detail.map { String(decoding: try JSONEncoder.journal.encode($0), as: UTF8.self) }
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, hash FROM event ORDER BY id DESC LIMIT 1"))
        // The id AUTOINCREMENT would give, taken here because it is part of the hashed encoding.
        let sequence = try Int64.fetchOne(db.cachedStatement(sql: "SELECT seq FROM sqlite_sequence WHERE name = 'event'")) ?? 0
        let id = max(sequence, head?["id"] ?? 0) + 1
        let previousHash: String = head?["hash"] ?? JournalChain.genesis
        let time = milliseconds(draft.time)
        let hash = JournalChain.hash(
            id: id, timeMilliseconds: time, kind: draft.kind, system: draft.system, user: draft.user, detail: detail,
            previousHash: previousHash)
        try db.cachedStatement(
            sql: """
                INSERT INTO event (id, time_ms, kind, system, user, detail, previous_hash, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [id, time, draft.kind, draft.system, draft.user, detail, previousHash, hash])
        return id
    }

    public func events(_ query: JournalQuery) throws -> [JournalEntry] {
        try pool.read { db in try Self.events(query, db) }
    }

    public func events(_ query: JournalQuery) async throws -> [JournalEntry] {
        try await pool.read { db in try Self.events(query, db) }
    }

    static func events(_ query: JournalQuery, _ db: Database) throws -> [JournalEntry] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let system = query.system {
            conditions.append("system = ?")
            arguments += [system]
        }
        if let from = query.from {
            conditions.append("time_ms >= ?")
            arguments += [milliseconds(from)]
        }
        if let to = query.to {
            conditions.append("time_ms < ?")
            arguments += [milliseconds(to)]
        }
        if let prefix = query.kindPrefix {
            conditions.append("substr(kind, 1, ?) = ?")
            arguments += [prefix.count, prefix]
        }
        if let afterID = query.afterID {
            conditions.append(query.newestFirst ? "id < ?" : "id > ?")
            arguments += [afterID]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let order = query.newestFirst ? "DESC" : "ASC"
        arguments += [query.limit]
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM event \(filter) ORDER BY id \(order) LIMIT ?", arguments: arguments)
        return rows.map { row in
            let detailText: String? = row["detail"]
            let detail = detailText.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
            return JournalEntry(
                id: row["id"], time: date(milliseconds: row["time_ms"]), kind: row["kind"], system: row["system"],
                user: row["user"], detail: detail)
        }
    }

    /// The number of journal entries, and the highest id.
    public func journalCount() throws -> (count: Int, lastID: Int64?) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*) AS n, max(id) AS last FROM event")
            return (row?["n"] ?? 0, row?["last"])
        }
    }
}

extension JSONEncoder {
    static var journal: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
