import Foundation
import IsoWatchCore
import IsoWatchStore
import IsoWatchTesting
import Synchronization
import Testing

func temporaryDatabase(_ name: String = "history") -> URL {
    FileManager.default.temporaryDirectory
        .appendingPathComponent("isowatch-store-\(UUID().uuidString)")
        .appendingPathComponent("\(name).sqlite")
}

@Suite struct JournalTests {
    @Test func test_appendReturnsIdsInOrderAndEntriesReadBackWithTheirDetail() throws {
        let store = try HistoryStore(settings: StoreSettings(databaseFile: temporaryDatabase()))
        let first = try store.append(kind: "user.login", user: "alice", detail: ["address": "10.0.0.7"])
        let second = try store.append(
            kind: "test.result", system: "or-1", user: "bob", detail: ["passed": false, "insulation_resistance_ohms": 48_000])
        #expect(second > first)
        let entries = try store.events(JournalQuery(newestFirst: false))
        #expect(entries.map(\.id) == [first, second])
        #expect(entries[0].user == "alice")
        #expect(entries[0].detail?["address"]?.stringValue == "10.0.0.7")
        #expect(entries[1].system == "or-1")
        #expect(entries[1].detail?["passed"] == .bool(false))
        #expect(entries[1].detail?["insulation_resistance_ohms"]?.numberValue == 48_000)
        // A new kind needs no schema: it is just a name.
        #expect(try store.events(JournalQuery(kindPrefix: "test.")).map(\.id) == [second])
        #expect(try store.events(JournalQuery(system: "or-1")).map(\.id) == [second])
    }

    @Test func test_journalEntriesCannotBeRewritten() throws {
        let file = temporaryDatabase()
        let store = try HistoryStore(settings: StoreSettings(databaseFile: file))
        try store.append(kind: "alarm.raised", system: "or-1")
        let result = try ExternalPeer.run(
            "/usr/bin/sqlite3", ["-cmd", ".timeout 10000", file.path, "UPDATE event SET kind = 'alarm.cleared'"])
        #expect(result.status != 0)
        #expect(result.output.contains("append-only"))
        #expect(try store.events(JournalQuery()).map(\.kind) == ["alarm.raised"])
    }

    @Test func test_journalSurvivesReopening() throws {
        let file = temporaryDatabase()
        let id = try HistoryStore(settings: StoreSettings(databaseFile: file)).append(kind: "service.started")
        let reopened = try HistoryStore(settings: StoreSettings(databaseFile: file))
        #expect(try reopened.events(JournalQuery()).map(\.id) == [id])
    }

    /// Issue 6: a kill -9 during a burst of alarms loses no journal entry that was reported as
    /// stored. The child appends through the monitor's writer and prints each id once stored.
    @Test func test_killNineDuringABurstLosesNoEntryReportedStored() throws {
        let probe = try #require(
            RepositoryPaths.builtProduct("isowatch-journal-probe"), "build the package first (swift build --build-tests)")
        let file = temporaryDatabase()
        for round in 0..<3 {
            let process = Process()
            process.executableURL = probe
            process.arguments = [file.path, "1000000"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            var reported: [Int64] = []
            var buffer = Data()
            // Kill at a different point each round, somewhere inside the burst.
            let killAfter = 300 + round * 700
            while reported.count < killAfter {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    let words = line.split(separator: " ")
                    if words.first == "stored", words.count >= 2, let id = Int64(words[1]) { reported.append(id) }
                }
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal)
            // Whatever was still in the pipe was also reported before the kill.
            buffer.append(pipe.fileHandleForReading.readDataToEndOfFile())
            for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.first == "stored", words.count >= 2, let id = Int64(words[1]) { reported.append(id) }
            }
            #expect(reported.count >= killAfter)
            let store = try HistoryStore(settings: StoreSettings(databaseFile: file))
            let stored = Set(try store.events(JournalQuery(limit: 10_000_000)).map(\.id))
            let lost = reported.filter { !stored.contains($0) }
            #expect(lost.isEmpty, "round \(round): \(lost.count) of \(reported.count) reported entries lost")
        }
    }

    @Test func test_writerReportsStoredOnlyAfterCommitAndKeepsSubmissionOrder() throws {
        let store = try HistoryStore(settings: StoreSettings(databaseFile: temporaryDatabase()))
        let writer = StoreWriter(store: store)
        let ids = Mutex<[Int64]>([])
        for index in 0..<200 {
            writer.journal(JournalDraft(kind: "alarm.raised", system: "or-\(index)")) { result in
                if case let .success(id) = result {
                    // Reported stored: it must already be readable by another connection.
                    let visible = (try? store.events(JournalQuery(system: "or-\(index)")).map(\.id)) ?? []
                    #expect(visible == [id])
                    ids.withLock { $0.append(id) }
                }
            }
        }
        writer.close()
        let reported = ids.withLock { $0 }
        #expect(reported.count == 200)
        #expect(reported == reported.sorted())
        let systems = try store.events(JournalQuery(limit: 1000, newestFirst: false)).compactMap(\.system)
        #expect(systems == (0..<200).map { "or-\($0)" })
    }
}
