import Foundation
import IsoWatchCore
import IsoWatchStore
import IsoWatchTesting
import Testing

/// Issue 13 §7: the journal is evidence. Every test edits a real SQLite file with the sqlite3
/// tool, as someone with access to the file would, and then verifies it.
@Suite struct JournalChainTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A journal of `count` entries of several shapes (with and without system, user, detail).
    func journal(_ count: Int, settings: (URL) -> StoreSettings = { StoreSettings(databaseFile: $0) }) throws -> (HistoryStore, URL) {
        let file = temporaryDatabase()
        let store = try HistoryStore(settings: settings(file))
        for index in 0..<count {
            switch index % 3 {
            case 0:
                try store.append(
                    kind: "alarm.raised", system: "or-\(index)",
                    detail: ["insulation_resistance_ohms": 30_000, "condition": "insulation"], time: start + Double(index))
            case 1:
                try store.append(
                    kind: "user.action", system: "or-1", user: "olga", detail: ["text": "silence \"now\"\n"],
                    time: start + Double(index))
            default:
                try store.append(kind: "service.started", time: start + Double(index))
            }
        }
        return (store, file)
    }

    func sql(_ file: URL, _ statements: String) throws -> (status: Int32, output: String) {
        try ExternalPeer.run("/usr/bin/sqlite3", ["-cmd", ".timeout 10000", file.path, statements])
    }

    /// Raw edits need the triggers out of the way, as a tamperer would take them out.
    func dropTriggers(_ file: URL) throws {
        let result = try sql(
            file,
            "DROP TRIGGER event_is_append_only; DROP TRIGGER event_is_not_deleted; DROP TRIGGER event_is_chained; DROP INDEX event_chain;")
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func test_anIntactJournalVerifiesFromTheGenesisValue() throws {
        let (_, file) = try journal(7)
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        #expect(result.intact)
        #expect(result.checked == 7)
        #expect(result.total == 7)
        #expect(result.start == .genesis)
        #expect(result.firstID == 1)
        #expect(result.lastID == 7)
    }

    /// The documented encoding, recomputed by another tool (Python's hashlib on the raw rows),
    /// gives every stored hash and link.
    @Test func test_anAuditorRecomputesEveryHashWithAnotherTool() throws {
        let (_, file) = try journal(6)
        let script = """
            import hashlib, sqlite3, sys
            def ns(v):
                if v is None: return b"-,"
                b = str(v).encode()
                return b"%d:%s," % (len(b), b)
            previous = "0" * 64
            rows = sqlite3.connect(sys.argv[1]).execute(
                "SELECT id, time_ms, kind, system, user, detail, previous_hash, hash FROM event ORDER BY id")
            n = 0
            for (id, time_ms, kind, system, user, detail, previous_hash, stored) in rows:
                fields = ["isowatch-journal-v1", id, time_ms, kind, system, user, detail, previous_hash]
                computed = hashlib.sha256(b"".join(ns(f) for f in fields)).hexdigest()
                assert previous_hash == previous, (id, "link")
                assert computed == stored, (id, "content")
                previous = stored
                n += 1
            print("recomputed", n)
            """
        let result = try ExternalPeer.run("/usr/bin/python3", ["-c", script, file.path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("recomputed 6"), "\(result.output)")
    }

    @Test func test_deleteIsRefusedLikeUpdate() throws {
        let (store, file) = try journal(3)
        let delete = try sql(file, "DELETE FROM event WHERE id = 2")
        #expect(delete.status != 0)
        #expect(delete.output.contains("append-only"), "\(delete.output)")
        let deleteAll = try sql(file, "DELETE FROM event")
        #expect(deleteAll.status != 0)
        let update = try sql(file, "UPDATE event SET kind = 'alarm.cleared' WHERE id = 1")
        #expect(update.status != 0)
        #expect(update.output.contains("append-only"))
        let unchained = try sql(file, "INSERT INTO event (time_ms, kind) VALUES (0, 'alarm.cleared')")
        #expect(unchained.status != 0)
        #expect(try store.events(JournalQuery(newestFirst: false)).map(\.id) == [1, 2, 3])
        #expect(try HistoryStore.verifyJournal(databaseFile: file).intact)
    }

    @Test func test_anEditedFieldIsNamedAsAlteredContent() throws {
        let (_, file) = try journal(6)
        try dropTriggers(file)
        #expect(try sql(file, "UPDATE event SET detail = '{\"condition\":\"overload\"}' WHERE id = 4").status == 0)
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        let broken = try #require(result.broken)
        #expect(broken.id == 4)
        #expect(broken.kind == "alarm.raised")
        #expect(broken.time == start + 3)
        #expect(broken.problem == .contentAltered)
        #expect(result.checked == 3)
    }

    /// Someone who also rewrites the edited entry's hash breaks the next entry's link.
    @Test func test_anEditRehashedBreaksTheNextLink() throws {
        let (_, file) = try journal(5)
        try dropTriggers(file)
        // Any other well-formed hash will do: it is not the one entry 3 links to.
        let forged = String(repeating: "a", count: 64)
        #expect(try sql(file, "UPDATE event SET user = 'mallory', hash = '\(forged)' WHERE id = 2").status == 0)
        let broken = try #require(try HistoryStore.verifyJournal(databaseFile: file).broken)
        // Entry 2's own hash no longer matches its fields either: it is the first broken one.
        #expect(broken.id == 2)
        #expect(broken.problem == .contentAltered)
        // Replace entry 2's fields and hash consistently: only the link from 3 shows it.
        let detail = try sql(file, "SELECT detail FROM event WHERE id = 2").output.trimmingCharacters(in: .newlines)
        let forgedEntry = JournalChain.hash(
            id: 2, timeMilliseconds: 1_800_000_001_000, kind: "user.action", system: "or-1", user: "mallory",
            detail: detail, previousHash: try #require(try hashes(file).first))
        #expect(try sql(file, "UPDATE event SET hash = '\(forgedEntry)' WHERE id = 2").status == 0)
        let relinked = try #require(try HistoryStore.verifyJournal(databaseFile: file).broken)
        #expect(relinked.id == 3)
        #expect(relinked.problem == .linkAltered(previousID: 2))
    }

    func hashes(_ file: URL) throws -> [String] {
        try sql(file, "SELECT hash FROM event ORDER BY id").output.split(separator: "\n").map(String.init)
    }

    @Test func test_aDeletedEntryIsNamedAsMissing() throws {
        let (_, file) = try journal(6)
        try dropTriggers(file)
        #expect(try sql(file, "DELETE FROM event WHERE id IN (3, 4)").status == 0)
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        let broken = try #require(result.broken)
        #expect(broken.id == 5)
        #expect(broken.problem == .missing(fromID: 3, throughID: 4))
        #expect(result.checked == 2)
    }

    @Test func test_aDeletedFirstEntryIsNamedAsMissingBeforeTheStart() throws {
        let (_, file) = try journal(4)
        try dropTriggers(file)
        #expect(try sql(file, "DELETE FROM event WHERE id = 1").status == 0)
        let broken = try #require(try HistoryStore.verifyJournal(databaseFile: file).broken)
        #expect(broken.id == 2)
        #expect(broken.problem == .missingBeforeStart)
    }

    @Test func test_reorderedOrRenumberedEntriesAreNamed() throws {
        let (_, swapped) = try journal(5)
        try dropTriggers(swapped)
        #expect(
            try sql(
                swapped,
                "UPDATE event SET id = -2 WHERE id = 2; UPDATE event SET id = 2 WHERE id = 3; UPDATE event SET id = 3 WHERE id = -2;")
                .status == 0)
        let swap = try #require(try HistoryStore.verifyJournal(databaseFile: swapped).broken)
        #expect(swap.id == 2)
        #expect(swap.kind == "service.started")
        #expect(swap.problem == .contentAltered)

        let (_, renumbered) = try journal(5)
        try dropTriggers(renumbered)
        #expect(try sql(renumbered, "UPDATE event SET id = id + 100").status == 0)
        let renumber = try #require(try HistoryStore.verifyJournal(databaseFile: renumbered).broken)
        #expect(renumber.id == 101)
        #expect(renumber.problem == .contentAltered)
    }

    /// Several writers (the writer thread and the durable appends of HTTP handlers) form one chain.
    @Test func test_concurrentWritersFormOneChain() async throws {
        let file = temporaryDatabase()
        let store = try HistoryStore(settings: StoreSettings(databaseFile: file))
        let writer = StoreWriter(store: store)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for index in 0..<25 {
                        try await store.appendDurably(kind: "user.action", user: "user-\(task)", detail: ["n": .number(Double(index))])
                    }
                }
            }
            group.addTask {
                for index in 0..<100 { writer.journal(JournalDraft(kind: "alarm.raised", system: "or-\(index)")) }
                try await onOwnThread { writer.flush() }
            }
            try await group.waitForAll()
        }
        writer.close()
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        #expect(result.intact, "\(String(describing: result.broken))")
        #expect(result.checked == 200)
    }

    /// Retention removes the oldest entries as one prefix and records it; the rest still verifies,
    /// starting at the first remaining id.
    @Test func test_retentionTrimsAPrefixThatTheChainAccountsFor() throws {
        let day = 86_400.0
        let (store, file) = try journal(6) { StoreSettings(databaseFile: $0, journalRetentionSeconds: 30 * day) }
        // Two newer entries, then one whose clock stood back: it must not leave a hole.
        try store.append(kind: "alarm.cleared", system: "or-1", time: start + 40 * day)
        try store.append(kind: "alarm.cleared", system: "or-2", time: start + 41 * day)
        try store.append(kind: "test.started", system: "or-3", time: start + 1)
        try store.maintain(now: start + 45 * day)
        let ids = try store.events(JournalQuery(newestFirst: false)).map(\.id)
        #expect(ids == [7, 8, 9, 10])
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        #expect(result.intact, "\(String(describing: result.broken))")
        #expect(result.start == .afterTrimming(throughID: 6, recordedBy: 10))
        #expect(result.checked == 4)
        // The trimming permitted nothing beyond itself.
        #expect(try sql(file, "DELETE FROM event WHERE id = 7").status != 0)
        // Deleting the anchor's record of trimming too is found.
        try dropTriggers(file)
        #expect(try sql(file, "DELETE FROM event WHERE id = 7").status == 0)
        let broken = try #require(try HistoryStore.verifyJournal(databaseFile: file).broken)
        #expect(broken.id == 8)
        #expect(broken.problem == .missingBeforeStart)
    }

    /// Entries all past the retention (a service off for longer than it): the newest stays, so the
    /// record of the trimming still links to what was removed.
    @Test func test_retentionKeepsTheNewestEntryAsTheLink() throws {
        let day = 86_400.0
        let (store, file) = try journal(4) { StoreSettings(databaseFile: $0, journalRetentionSeconds: 30 * day) }
        try store.maintain(now: start + 400 * day)
        #expect(try store.events(JournalQuery(newestFirst: false)).map(\.kind) == ["alarm.raised", "journal.trimmed"])
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        #expect(result.intact, "\(String(describing: result.broken))")
        #expect(result.start == .afterTrimming(throughID: 3, recordedBy: 5))
    }

    /// A database from before the chain: the migration chains the entries it holds, in id order.
    @Test func test_migrationChainsTheEntriesAnOlderDatabaseHolds() throws {
        let (store, file) = try journal(0)
        _ = store
        // Back to the schema of migration v2, with entries written the old way.
        let downgrade = try sql(
            file,
            """
            DROP TRIGGER event_is_append_only; DROP TRIGGER event_is_not_deleted; DROP TRIGGER event_is_chained;
            DROP INDEX event_chain; ALTER TABLE event DROP COLUMN hash; ALTER TABLE event DROP COLUMN previous_hash;
            CREATE TRIGGER event_is_append_only BEFORE UPDATE ON event BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
            DELETE FROM grdb_migrations WHERE identifier LIKE 'v3%';
            INSERT INTO event (time_ms, kind, system, user, detail) VALUES (1000, 'service.started', NULL, NULL, '{"pid":7}');
            INSERT INTO event (time_ms, kind, system, user, detail) VALUES (2000, 'alarm.raised', 'or-1', NULL, NULL);
            INSERT INTO event (time_ms, kind, system, user, detail) VALUES (3000, 'user.login', NULL, 'olga', '{"text":"x"}');
            """)
        #expect(downgrade.status == 0, "\(downgrade.output)")
        #expect(throws: HistoryStore.JournalNotChained.self) { try HistoryStore.verifyJournal(databaseFile: file) }
        let migrated = try HistoryStore(settings: StoreSettings(databaseFile: file))
        try migrated.append(kind: "service.started")
        let result = try HistoryStore.verifyJournal(databaseFile: file)
        #expect(result.intact, "\(String(describing: result.broken))")
        #expect(result.checked == 4)
        #expect(result.start == .genesis)
        #expect(try sql(file, "DELETE FROM event WHERE id = 1").status != 0)
    }
}
