import Crypto
import Foundation
import GRDB

/// The journal's hash chain: every entry stores `hash`, the SHA-256 of its canonical encoding,
/// and that encoding includes `previous_hash`, the hash of the entry before it (for the first
/// entry, `genesis`). Editing, re-numbering, re-ordering or deleting a stored entry breaks the
/// chain at that entry or the next one, which `verifyJournal` finds.
///
/// The canonical encoding (version 1) is the concatenation of these fields, in this order, each
/// written as a netstring (`<decimal byte count>:<bytes>,`), or as the two bytes `-,` when the
/// field is absent (SQL NULL):
///
/// 1. the literal `isowatch-journal-v1`
/// 2. `id`, decimal
/// 3. `time_ms`: milliseconds since 1970-01-01T00:00:00Z, decimal (negative with a leading `-`)
/// 4. `kind`, UTF-8
/// 5. `system`, UTF-8, or absent
/// 6. `user`, UTF-8, or absent
/// 7. `detail`: the stored text exactly as it is in the column (compact JSON with its object keys
///    sorted, as isowatch writes it), or absent
/// 8. `previous_hash`: 64 lowercase hexadecimal digits
///
/// `hash` is the SHA-256 of those bytes in 64 lowercase hexadecimal digits. In Python:
/// `ns = lambda v: b"-," if v is None else b"%d:%s," % (len(str(v).encode()), str(v).encode())`,
/// `hashlib.sha256(b"".join(map(ns, ["isowatch-journal-v1", id, time_ms, kind, system, user,
/// detail, previous_hash]))).hexdigest()`.
public enum JournalChain {
    /// The `previous_hash` of the first entry ever written.
    public static let genesis = String(repeating: "0", count: 64)
    public static let formatTag = "isowatch-journal-v1"
    /// The entry the store appends when retention removed the oldest entries: its detail holds
    /// `through_id` (the last id removed) and `through_hash` (that entry's hash), so the oldest
    /// remaining entry's `previous_hash` is accounted for.
    public static let trimmedKind = "journal.trimmed"

    public static func canonicalEncoding(
        id: Int64, timeMilliseconds: Int64, kind: String, system: String?, user: String?, detail: String?,
        previousHash: String
    ) -> Data {
        var bytes = Data()
        for field in [formatTag, String(id), String(timeMilliseconds), kind, system, user, detail, previousHash] {
            guard let field else {
                bytes.append(contentsOf: Array("-,".utf8))
                continue
            }
            let utf8 = Array(field.utf8)
            bytes.append(contentsOf: Array("\(utf8.count):".utf8))
            bytes.append(contentsOf: utf8)
            bytes.append(UInt8(ascii: ","))
        }
        return bytes
    }

    public static func hash(
        id: Int64, timeMilliseconds: Int64, kind: String, system: String?, user: String?, detail: String?,
        previousHash: String
    ) -> String {
        sha256Hex(
            canonicalEncoding(
                id: id, timeMilliseconds: timeMilliseconds, kind: kind, system: system, user: user, detail: detail,
                previousHash: previousHash))
    }

    public static func sha256Hex(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).map { byte in
            let digits = String(byte, radix: 16)
            return byte < 16 ? "0" + digits : digits
        }.joined()
    }

    /// Fills in `previous_hash` and `hash` of every entry that has none, in id order, chaining
    /// from the last chained entry (or from `genesis`): the migration of journals written before
    /// the chain existed.
    static func chainUnchainedEntries(_ db: Database) throws {
        var previous = try String.fetchOne(db, sql: "SELECT hash FROM event WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1") ?? genesis
        var after = try Int64.fetchOne(db, sql: "SELECT max(id) FROM event WHERE hash IS NOT NULL") ?? Int64.min
        while true {
            // In pages, so that a journal of years never has to fit in memory at once.
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, time_ms, kind, system, user, detail FROM event WHERE id > ? ORDER BY id LIMIT 1000",
                arguments: [after])
            guard let last = rows.last else { return }
            for row in rows {
                let id: Int64 = row["id"]
                let hash = Self.hash(
                    id: id, timeMilliseconds: row["time_ms"], kind: row["kind"], system: row["system"], user: row["user"],
                    detail: row["detail"], previousHash: previous)
                try db.execute(
                    sql: "UPDATE event SET previous_hash = ?, hash = ? WHERE id = ?", arguments: [previous, hash, id])
                previous = hash
            }
            after = last["id"]
        }
    }
}

/// What `HistoryStore.verifyJournal` found.
public struct JournalVerification: Sendable, Equatable {
    /// Where the verified chain begins.
    public enum Start: Sendable, Equatable {
        /// The oldest entry chains from the genesis value: nothing before it was ever written
        /// (or, for a journal chained by migration, nothing before it was left then).
        case genesis
        /// Retention removed the entries up to `throughID`; entry `recordedBy` (kind
        /// `journal.trimmed`, itself in the chain) holds the hash of the last one removed, which is
        /// the oldest remaining entry's `previous_hash`.
        case afterTrimming(throughID: Int64, recordedBy: Int64)
    }

    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        /// The stored hash is not the hash of the entry's fields: a field (or its id) was altered.
        case contentAltered
        /// The entry's `previous_hash` is not the hash of the entry before it (`previousID`).
        case linkAltered(previousID: Int64)
        /// Entries with these ids are missing between the one before and this one.
        case missing(fromID: Int64, throughID: Int64)
        /// The oldest entry chains neither from the genesis value nor from a recorded trimming:
        /// entries before it were removed.
        case missingBeforeStart
        /// The entry has no hash (written around the chain, e.g. with its triggers dropped).
        case unchained

        public var description: String {
            switch self {
            case .contentAltered: "content altered: its fields do not match its stored hash"
            case let .linkAltered(previousID):
                "link altered: its previous hash is not the hash of entry \(previousID) (that entry was replaced, or this link edited)"
            case let .missing(fromID, throughID):
                fromID == throughID ? "entry \(fromID) is missing before it" : "entries \(fromID)...\(throughID) are missing before it"
            case .missingBeforeStart:
                "entries are missing before it: its previous hash is neither the genesis value nor the last hash of a recorded trimming"
            case .unchained: "it has no hash: it was written around the chain"
            }
        }
    }

    public struct BrokenEntry: Sendable, Equatable {
        public var id: Int64
        public var time: Date
        public var kind: String
        public var problem: Problem
    }

    /// Entries whose hash and link were checked and found intact (before the first broken one).
    public var checked: Int
    /// All entries in the journal.
    public var total: Int
    public var firstID: Int64?
    public var lastID: Int64?
    /// The newest entry's hash: noted somewhere else, it lets a later verification prove that no
    /// entry up to this one was changed or removed since.
    public var lastHash: String?
    public var start: Start?
    /// The first entry (in id order) at which the chain is broken; nil when it is intact.
    public var broken: BrokenEntry?

    public var intact: Bool { broken == nil }
}

extension HistoryStore {
    public struct JournalNotChained: Error, CustomStringConvertible {
        public var description: String {
            "the journal has no hash chain (a database from before isowatch chained it): start the service once to migrate it"
        }
    }

    /// Walks the whole journal of the database at `databaseFile`, opened read-only (so it works
    /// on a copy and while the service runs), in one read transaction.
    public static func verifyJournal(databaseFile: URL) throws -> JournalVerification {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(10)
        let queue = try DatabaseQueue(path: databaseFile.path, configuration: configuration)
        return try queue.read { db in
            guard try db.tableExists("event"), try db.columns(in: "event").contains(where: { $0.name == "hash" }) else {
                throw JournalNotChained()
            }
            return try verifyJournal(db)
        }
    }

    static func verifyJournal(_ db: Database) throws -> JournalVerification {
        struct Trimmed: Decodable {
            // JSONValue numbers are doubles: ids up to 2^53 are exact.
            var through_id: Double
            var through_hash: String
        }
        var result = JournalVerification(checked: 0, total: 0)
        var previous: (id: Int64, hash: String?)?
        var first: (id: Int64, time: Date, kind: String, previousHash: String?)?
        // The trimming records that could account for the oldest entry's link: (record id, through id, through hash).
        var trims: [(id: Int64, throughID: Int64, throughHash: String)] = []
        let rows = try Row.fetchCursor(
            db, sql: "SELECT id, time_ms, kind, system, user, detail, previous_hash, hash FROM event ORDER BY id")
        while let row = try rows.next() {
            let id: Int64 = row["id"]
            let time: Int64 = row["time_ms"]
            let kind: String = row["kind"]
            let detail: String? = row["detail"]
            let previousHash: String? = row["previous_hash"]
            let hash: String? = row["hash"]
            result.total += 1
            if first == nil { first = (id, date(milliseconds: time), kind, previousHash) }
            result.firstID = result.firstID ?? id
            result.lastID = id
            result.lastHash = hash
            if kind == JournalChain.trimmedKind, let detail,
                let trimmed = try? JSONDecoder().decode(Trimmed.self, from: Data(detail.utf8))
            {
                trims.append((id, Int64(exactly: trimmed.through_id) ?? -1, trimmed.through_hash))
            }
            defer { previous = (id, hash) }
            guard result.broken == nil else { continue }
            func broken(_ problem: JournalVerification.Problem) {
                result.broken = .init(id: id, time: date(milliseconds: time), kind: kind, problem: problem)
            }
            guard let hash, let previousHash else {
                broken(.unchained)
                continue
            }
            let recomputed = JournalChain.hash(
                id: id, timeMilliseconds: time, kind: kind, system: row["system"], user: row["user"], detail: detail,
                previousHash: previousHash)
            if recomputed != hash {
                broken(.contentAltered)
            } else if let previous, previous.id + 1 != id {
                broken(.missing(fromID: previous.id + 1, throughID: id - 1))
            } else if let previous, previous.hash != previousHash {
                broken(.linkAltered(previousID: previous.id))
            } else {
                result.checked += 1
            }
        }
        // The anchor: the oldest entry chains from the genesis value or from a recorded trimming.
        if let first, let anchor = first.previousHash {
            if anchor == JournalChain.genesis {
                result.start = .genesis
            } else if let trim = trims.last(where: { $0.throughID == first.id - 1 && $0.throughHash == anchor }) {
                result.start = .afterTrimming(throughID: trim.throughID, recordedBy: trim.id)
            } else {
                result.broken = .init(id: first.id, time: first.time, kind: first.kind, problem: .missingBeforeStart)
                result.checked = 0
            }
        }
        return result
    }
}
