import Foundation
import IsoWatchStore
import IsoWatchTesting
import Testing

/// Issue 14 §2-§4 through the HTTP API of the real service, started from a file with a history:
/// an engineer uploads a change (previewed, applied, recorded, journalled with their name, written
/// to the file), an invalid one changes nothing and names line and field, an operator may not,
/// and a rollback is itself a new recorded change.
@Suite(.serialized)
struct ConfigurationAPITests {
    @Test func test_anEngineerChangesRollsBackAndEveryVersionIsRecordedWithItsAuthor() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-configuration-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let users = try TestUsers.file()
        let database = directory.appending(path: "history.sqlite")
        let file = directory.appending(path: "isowatch.yaml")
        let yaml = TestUsers.configuration(http: #"{ listen: "127.0.0.1:0", open_read: true, users_file: "\#(users.path)" }"#)
            + "\nstorage: { path: \(database.path) }\n"
        let harness = try await ServiceHarness(site: TestUsers.site(), configurationYAML: yaml, configurationFile: file)
        let client = WebClient(port: harness.httpPort)
        let engineer = try #require(try await client.login("erik", TestUsers.passwords["erik"]!).cookie)
        let operatorCookie = try #require(try await client.login("olga", TestUsers.passwords["olga"]!).cookie)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }

        let inForce = try await client.send("GET", "/api/v1/configuration", cookie: engineer)
        let original = try #require(inForce.json?["content"] as? String)
        #expect(inForce.json?["origin"] as? String == "start", "the file found at start is version 1")
        let changed = original.replacingOccurrences(of: "insulation_response_ohms: 50000", with: "insulation_response_ohms: 80000")
        try #require(changed != original, "the test's configuration sets the response value")

        func post(_ path: String, _ text: String, cookie: String) async throws -> WebClient.Reply {
            try await client.send("POST", path, body: Data(text.utf8), contentType: "application/yaml", cookie: cookie)
        }
        let forbidden = try await post("/api/v1/configuration", changed, cookie: operatorCookie)
        let preview = try await post("/api/v1/configuration/preview", changed, cookie: engineer)
        let applied = try await post("/api/v1/configuration?comment=after%20inspection", changed, cookie: engineer)
        let onDisk = try String(contentsOf: file, encoding: .utf8)
        let invalid = try await post(
            "/api/v1/configuration", changed.replacingOccurrences(of: "insulation_response_ohms: 80000", with: "insulation_response_ohms: 80"),
            cookie: engineer)
        let history = try await client.send("GET", "/api/v1/configuration/history", cookie: engineer)
        let versions = (history.jsonArray ?? []).compactMap { $0 as? [String: Any] }
        let firstID = try #require(versions.last?["id"] as? Int)
        let rolledBack = try await client.send(
            "POST", "/api/v1/configuration/history/\(firstID)/rollback", json: [:], cookie: engineer)
        let after = try await client.send("GET", "/api/v1/configuration/history", cookie: engineer)
        let afterVersions = (after.jsonArray ?? []).compactMap { $0 as? [String: Any] }
        let journal = try await client.send("GET", "/api/v1/events?limit=200", cookie: engineer)
        let kinds = (journal.jsonArray as? [[String: Any]] ?? []).map { ($0["kind"] as? String ?? "", $0["user"] as? String) }
        try await harness.stop()

        #expect(forbidden.status == 403, "an operator may not change the configuration")
        #expect(preview.status == 200 && preview.json?["outcome"] as? String == "previewed")
        #expect(applied.status == 200 && applied.json?["outcome"] as? String == "applied", "\(applied.json ?? [:])")
        #expect(onDisk == changed, "the applied upload is the configuration file now")
        #expect(invalid.status == 422 && invalid.json?["outcome"] as? String == "rejected")
        let error = (invalid.json?["errors"] as? [[String: Any]])?.first
        #expect(error?["field"] as? String == "systems[0].thresholds.insulation_response_ohms", "\(invalid.json ?? [:])")
        #expect((error?["line"] as? Int ?? 0) > 0)
        #expect(versions.map { $0["origin"] as? String } == ["api", "start"], "\(versions)")
        #expect(versions.first?["author"] as? String == "erik")
        #expect(versions.first?["comment"] as? String == "after inspection")
        #expect(rolledBack.status == 200 && rolledBack.json?["outcome"] as? String == "applied", "\(rolledBack.json ?? [:])")
        #expect(afterVersions.map { $0["origin"] as? String } == ["rollback", "api", "start"])
        #expect(kinds.contains { $0.0 == "configuration.applied" && $0.1 == "erik" }, "\(kinds)")
        #expect(kinds.contains { $0.0 == "configuration.rejected" && $0.1 == "erik" }, "\(kinds)")
        #expect(kinds.contains { $0.0 == "system.updated" && $0.1 == "erik" }, "\(kinds)")
    }
}

extension WebClient.Reply {
    var jsonArray: [Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [Any] }
}
