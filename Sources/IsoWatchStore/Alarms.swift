import Foundation
import GRDB

/// A change to the alarm episodes table. Episodes are numbered by each system's alarm machine,
/// from 1 at every start of the service.
public enum AlarmUpdate: Sendable, Equatable {
    case raised(system: String, episode: Int, condition: String, onset: Date, raised: Date, worst: JSONValue?, detail: String?)
    case cleared(system: String, episode: Int, cleared: Date, worst: JSONValue?)
    /// Silence applies to every active episode of these conditions not yet silenced.
    case silenced(system: String, conditions: [String], user: String, at: Date)
    case acknowledged(system: String, episodes: [Int], user: String, at: Date)
}

/// One alarm episode: a raised condition from its onset to its acknowledgement.
public struct StoredAlarm: Sendable, Equatable, Codable {
    public var id: Int64
    public var system: String
    public var condition: String
    public var onset: Date
    public var raised: Date
    public var cleared: Date?
    /// Lowest insulation resistance, highest load, …: keyed by quantity.
    public var worst: JSONValue?
    public var detail: String?
    public var silencedBy: String?
    public var silencedAt: Date?
    public var acknowledgedBy: String?
    public var acknowledgedAt: Date?
    /// The service stopped while the episode was active; the next run raised it afresh if the
    /// condition persisted.
    public var interrupted: Bool

    public var isActive: Bool { cleared == nil && !interrupted }

    enum CodingKeys: String, CodingKey {
        case id, system, condition, onset, raised, cleared, worst, detail, interrupted
        case silencedBy = "silenced_by"
        case silencedAt = "silenced_at"
        case acknowledgedBy = "acknowledged_by"
        case acknowledgedAt = "acknowledged_at"
    }
}

public struct AlarmQuery: Sendable, Equatable {
    public var system: String?
    /// true: active only; false: ended only; nil: both.
    public var active: Bool?
    public var from: Date?
    public var to: Date?
    public var limit: Int

    public init(system: String? = nil, active: Bool? = nil, from: Date? = nil, to: Date? = nil, limit: Int = 1000) {
        self.system = system
        self.active = active
        self.from = from
        self.to = to
        self.limit = limit
    }
}

extension HistoryStore {
    public func apply(_ update: AlarmUpdate) throws {
        try pool.write { db in try self.apply(update, db) }
    }

    func apply(_ update: AlarmUpdate, _ db: Database) throws {
        func json(_ value: JSONValue?) throws -> String? {
            try value.map { String(decoding: try JSONEncoder.journal.encode($0), as: UTF8.self) }
        }
        switch update {
        case let .raised(system, episode, condition, onset, raised, worst, detail):
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO alarm (run, episode, system, condition, onset_ms, raised_ms, worst, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [run, episode, system, condition, milliseconds(onset), milliseconds(raised), try json(worst), detail])
        case let .cleared(system, episode, cleared, worst):
            try db.execute(
                sql: "UPDATE alarm SET cleared_ms = ?, worst = coalesce(?, worst) WHERE run = ? AND system = ? AND episode = ?",
                arguments: [milliseconds(cleared), try json(worst), run, system, episode])
        case let .silenced(system, conditions, user, at):
            for condition in conditions {
                try db.execute(
                    sql: """
                        UPDATE alarm SET silenced_by = ?, silenced_ms = ?
                        WHERE run = ? AND system = ? AND condition = ? AND cleared_ms IS NULL AND silenced_by IS NULL
                        """,
                    arguments: [user, milliseconds(at), run, system, condition])
            }
        case let .acknowledged(system, episodes, user, at):
            for episode in episodes {
                try db.execute(
                    sql: """
                        UPDATE alarm SET acknowledged_by = ?, acknowledged_ms = ?
                        WHERE run = ? AND system = ? AND episode = ? AND acknowledged_by IS NULL
                        """,
                    arguments: [user, milliseconds(at), run, system, episode])
            }
        }
    }

    public func alarms(_ query: AlarmQuery) throws -> [StoredAlarm] {
        try pool.read { db in try Self.alarms(query, db) }
    }

    public func alarms(_ query: AlarmQuery) async throws -> [StoredAlarm] {
        try await pool.read { db in try Self.alarms(query, db) }
    }

    static func alarms(_ query: AlarmQuery, _ db: Database) throws -> [StoredAlarm] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let system = query.system {
            conditions.append("system = ?")
            arguments += [system]
        }
        switch query.active {
        case true?: conditions.append("cleared_ms IS NULL AND interrupted = 0")
        case false?: conditions.append("(cleared_ms IS NOT NULL OR interrupted = 1)")
        case nil: break
        }
        // An episode belongs to a period when it overlaps it.
        if let from = query.from {
            conditions.append("(cleared_ms IS NULL OR cleared_ms >= ?)")
            arguments += [milliseconds(from)]
        }
        if let to = query.to {
            conditions.append("raised_ms < ?")
            arguments += [milliseconds(to)]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [query.limit]
        return try Row.fetchAll(db, sql: "SELECT * FROM alarm \(filter) ORDER BY raised_ms DESC, id DESC LIMIT ?", arguments: arguments)
            .map { row in
                let worstText: String? = row["worst"]
                let optionalDate = { (column: String) -> Date? in
                    let value: Int64? = row[column]
                    return value.map { date(milliseconds: $0) }
                }
                return StoredAlarm(
                    id: row["id"], system: row["system"], condition: row["condition"],
                    onset: date(milliseconds: row["onset_ms"]), raised: date(milliseconds: row["raised_ms"]),
                    cleared: optionalDate("cleared_ms"),
                    worst: worstText.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) },
                    detail: row["detail"], silencedBy: row["silenced_by"], silencedAt: optionalDate("silenced_ms"),
                    acknowledgedBy: row["acknowledged_by"], acknowledgedAt: optionalDate("acknowledged_ms"),
                    interrupted: (row["interrupted"] as Int) != 0)
            }
    }
}
