import Foundation
import IsoWatchCore
import IsoWatchStore
import IsoWatchTesting
import Testing

/// The change record (issue 14 §4) on a real SQLite file: every applied configuration is kept with
/// its bytes, hash, author, origin, time, comment and diff, journalled, and never rewritten.
@Suite struct ConfigurationHistoryTests {
    let file = temporaryDatabase()

    func history() throws -> ConfigurationHistory {
        ConfigurationHistory(store: try HistoryStore(settings: StoreSettings(databaseFile: file)))
    }

    static let first = Data("site: { name: \"A\" }\n".utf8)
    static let second = Data("site: { name: \"B\" }\n".utf8)
    static let diff = ConfigurationDiff(
        systems: [.init(id: "or-1", change: .updated, fields: ["thresholds.insulation_response_ohms"])], panels: [],
        restartRequired: [], applied: ["site.name"])

    @Test func test_aRecordedVersionReadsBackWithItsContentHashAndDiff() async throws {
        let history = try history()
        #expect(try await history.latest() == nil)
        let time = Date(timeIntervalSince1970: 1_700_000_000.250)
        let id = try await history.record(
            .init(appliedAt: time, content: Self.first, author: "erika", origin: .api, comment: "after the inspection",
                  diff: Self.diff))
        let version = try #require(try await history.version(id: id))
        #expect(version == ConfigurationVersionDocument(
            id: id, appliedAt: time, sha256: JournalChain.sha256Hex(Self.first), author: "erika", origin: .api,
            comment: "after the inspection", content: "site: { name: \"A\" }\n", diff: Self.diff))
        #expect(try await history.latest() == version)
        #expect(try await history.version(id: id + 1) == nil)
    }

    /// The hash is `sha256sum`'s, so a technician can check the file on disk against the record.
    @Test func test_theHashIsTheFilesSHA256() async throws {
        let history = try history()
        let id = try await history.record(.init(content: Data("abc".utf8), author: "erika", origin: .cli))
        #expect(try await history.version(id: id)?.sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func test_theListIsNewestFirstLimitedAndWithoutContent() async throws {
        let history = try history()
        let start = try await history.record(
            .init(content: Self.first, author: ConfigurationVersionDocument.editedOnDisk, origin: .start))
        let reload = try await history.record(.init(content: Self.second, author: "root", origin: .sighup, diff: Self.diff))
        let back = try await history.record(
            .init(content: Self.first, author: "erika", origin: .rollback, comment: "back to version \(start)", diff: Self.diff))
        let all = try await history.versions(limit: 10)
        #expect(all.map(\.id) == [back, reload, start])
        #expect(all.map(\.origin) == [.rollback, .sighup, .start])
        #expect(all.allSatisfy { $0.content == nil })
        #expect(all[0].comment == "back to version \(start)")
        #expect(all[0].diff == Self.diff)
        #expect(all[2].diff == nil)
        #expect(all[0].sha256 == all[2].sha256)
        #expect(try await history.versions(limit: 2).map(\.id) == [back, reload])
        #expect(try await history.latest()?.id == back)
    }

    @Test func test_everyVersionIsJournalledWithItsAuthorAndChanges() async throws {
        let history = try history()
        let start = try await history.record(
            .init(content: Self.first, author: ConfigurationVersionDocument.editedOnDisk, origin: .start))
        let applied = try await history.record(
            .init(content: Self.second, author: "erika", origin: .api, comment: "new threshold", diff: Self.diff))
        let entries = try await history.store.events(JournalQuery(kindPrefix: "configuration.", newestFirst: false))
        #expect(entries.map(\.kind) == ["configuration.applied", "configuration.applied"])
        #expect(entries.map(\.user) == [nil, "erika"])
        #expect(entries[0].detail?["version"]?.numberValue == Double(start))
        #expect(entries[0].detail?["author"]?.stringValue == "file edited on disk")
        #expect(entries[1].detail?["version"]?.numberValue == Double(applied))
        #expect(entries[1].detail?["origin"]?.stringValue == "api")
        #expect(entries[1].detail?["comment"]?.stringValue == "new threshold")
        #expect(entries[1].detail?["sha256"]?.stringValue == JournalChain.sha256Hex(Self.second))
        #expect(entries[1].detail?["changes"] == ["or-1: updated (thresholds.insulation_response_ohms)", "applied: site.name"])
        #expect(try HistoryStore.verifyJournal(databaseFile: file).intact)
    }

    @Test func test_versionsSurviveReopening() async throws {
        let id = try await history().record(.init(content: Self.first, author: "erika", origin: .api))
        #expect(try await history().latest()?.id == id)
    }

    @Test func test_recordedVersionsCannotBeRewrittenOrDeleted() async throws {
        let history = try history()
        _ = try await history.record(.init(content: Self.first, author: "erika", origin: .api))
        for statement in ["UPDATE configuration_version SET author = 'mallory'", "DELETE FROM configuration_version"] {
            let result = try ExternalPeer.run("/usr/bin/sqlite3", ["-cmd", ".timeout 10000", file.path, statement])
            #expect(result.status != 0, "\(statement)")
            #expect(result.output.contains("append-only"), "\(result.output)")
        }
        #expect(try await history.latest()?.author == "erika")
    }
}
