import Foundation
import GRDB
import IsoWatchCore

/// Every configuration that was applied, in the history database: its exact bytes, their
/// SHA-256, who applied it (or `ConfigurationVersionDocument.editedOnDisk`), how, when, why, and
/// its diff against the version before (issue 14 §4). Versions are never changed or removed:
/// a rollback is a new version.
///
/// Each version is recorded together with a journal entry `configuration.applied` in one
/// transaction, so the journal's hash chain covers every change and no version exists without it.
/// Every method is async and runs on GRDB's writer or reader queue, never blocking the caller's
/// thread (the cooperative pool included); a version counts as recorded once `record` returns.
public struct ConfigurationHistory: Sendable {
    public let store: HistoryStore

    public init(store: HistoryStore) {
        self.store = store
    }

    /// The journal kind of the entry written with every version.
    public static let journalKind = "configuration.applied"

    /// A configuration about to be recorded.
    public struct Draft: Sendable, Equatable {
        public var appliedAt: Date
        /// The file's bytes as read or uploaded; their hash is what `sha256sum` prints.
        public var content: Data
        public var author: String
        public var origin: ConfigurationOrigin
        public var comment: String?
        /// Against the version in force before; nil when there was none.
        public var diff: ConfigurationDiff?

        public init(
            appliedAt: Date = Date(), content: Data, author: String, origin: ConfigurationOrigin, comment: String? = nil,
            diff: ConfigurationDiff? = nil
        ) {
            self.appliedAt = appliedAt
            self.content = content
            self.author = author
            self.origin = origin
            self.comment = comment
            self.diff = diff
        }
    }

    /// Records `draft` and its journal entry; returns the new version's id once both are on disk.
    @discardableResult
    public func record(_ draft: Draft) async throws -> Int64 {
        let diffText = try draft.diff.map { String(decoding: try JSONEncoder.journal.encode($0), as: UTF8.self) }
        let sha256 = JournalChain.sha256Hex(draft.content)
        let store = self.store
        let write: @Sendable (Database) throws -> Int64 = { db in
            try db.execute(
                sql: """
                    INSERT INTO configuration_version (applied_at_ms, sha256, author, origin, comment, content, diff)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    milliseconds(draft.appliedAt), sha256, draft.author, draft.origin.rawValue, draft.comment, draft.content,
                    diffText,
                ])
            let id = db.lastInsertedRowID
            _ = try store.insert(Self.journalDraft(draft, id: id, sha256: sha256), db)
            return id
        }
        do {
            return try await store.pool.write(write)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            // As for any journal entry: the oldest readings make room.
            _ = try await store.pool.write { db in try store.freeReadingSpace(db) }
            return try await store.pool.write(write)
        }
    }

    /// The version recorded last, with its content: the one in force, unless the file on disk
    /// changed since (compare `sha256`).
    public func latest() async throws -> ConfigurationVersionDocument? {
        try await store.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM configuration_version ORDER BY id DESC LIMIT 1").map {
                try Self.version($0, content: true)
            }
        }
    }

    /// The newest `limit` versions, newest first, without their content.
    public func versions(limit: Int) async throws -> [ConfigurationVersionDocument] {
        try await store.pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, applied_at_ms, sha256, author, origin, comment, diff
                    FROM configuration_version ORDER BY id DESC LIMIT ?
                    """,
                arguments: [max(0, limit)]
            ).map { try Self.version($0, content: false) }
        }
    }

    /// One version with its content; nil for an unknown id.
    public func version(id: Int64) async throws -> ConfigurationVersionDocument? {
        try await store.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM configuration_version WHERE id = ?", arguments: [id]).map {
                try Self.version($0, content: true)
            }
        }
    }

    /// A stored row that does not read back (an origin this build does not know, a diff that does
    /// not decode): someone wrote to the database behind isowatch's back, or a newer isowatch did.
    public struct UnreadableVersion: Error, CustomStringConvertible {
        public var id: Int64
        public var reason: String
        public var description: String { "configuration version \(id) cannot be read: \(reason)" }
    }

    static func version(_ row: Row, content: Bool) throws -> ConfigurationVersionDocument {
        let id: Int64 = row["id"]
        let originText: String = row["origin"]
        guard let origin = ConfigurationOrigin(rawValue: originText) else {
            throw UnreadableVersion(id: id, reason: "unknown origin '\(originText)'")
        }
        var diff: ConfigurationDiff?
        if let diffText: String = row["diff"] {
            do {
                diff = try JSONDecoder().decode(ConfigurationDiff.self, from: Data(diffText.utf8))
            } catch {
                throw UnreadableVersion(id: id, reason: "its diff does not decode (\(error))")
            }
        }
        let bytes: Data? = content ? row["content"] : nil
        return ConfigurationVersionDocument(
            id: id, appliedAt: date(milliseconds: row["applied_at_ms"]), sha256: row["sha256"], author: row["author"],
            origin: origin, comment: row["comment"], content: bytes.map { String(decoding: $0, as: UTF8.self) }, diff: diff)
    }

    /// `{"version", "sha256", "origin", "author", "comment", "changes", "restart_required"}`; the
    /// user is the author, none for a file edited on disk.
    static func journalDraft(_ draft: Draft, id: Int64, sha256: String) -> JournalDraft {
        var detail: [String: JSONValue] = [
            "version": .number(Double(id)), "sha256": .string(sha256), "origin": .string(draft.origin.rawValue),
            "author": .string(draft.author), "comment": draft.comment.map(JSONValue.string) ?? .null,
        ]
        if let diff = draft.diff {
            detail["changes"] = .array(diff.summary.map(JSONValue.string))
        }
        let user = draft.author == ConfigurationVersionDocument.editedOnDisk ? nil : draft.author
        return JournalDraft(time: draft.appliedAt, kind: journalKind, user: user, detail: .object(detail))
    }

    /// The table, created by `HistoryStore`'s migrator. Append-only like the journal: the change
    /// record is evidence of who changed a life-support installation.
    static func createTable(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE configuration_version (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    applied_at_ms INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    author TEXT NOT NULL,
                    origin TEXT NOT NULL,
                    comment TEXT,
                    content BLOB NOT NULL,
                    diff TEXT);
                CREATE TRIGGER configuration_version_is_append_only BEFORE UPDATE ON configuration_version
                    BEGIN SELECT RAISE(ABORT, 'the configuration history is append-only'); END;
                CREATE TRIGGER configuration_version_is_not_deleted BEFORE DELETE ON configuration_version
                    BEGIN SELECT RAISE(ABORT, 'the configuration history is append-only'); END;
                """)
    }
}
