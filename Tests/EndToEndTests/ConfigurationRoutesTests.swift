import Foundation
import IsoWatchCore
@testable import IsoWatchHTTP
import IsoWatchTesting
import Synchronization
import Testing

/// The configuration routes' HTTP mapping on the real server: who may use them, what a body must
/// be, and which status each answer of the service gets. The service behind them is a stand-in that
/// answers by the YAML's first line; applying for real is tested end to end against the service.
@Suite(.serialized)
struct ConfigurationRoutesTests {
    /// Answers by the first line of the YAML (`# rejected`, `# restart`, `# unchanged`, else
    /// applied) and remembers what it was asked.
    final class StandInControl: ConfigurationControl {
        struct Call: Sendable, Equatable {
            var action: String
            var yaml: String?
            var author: String?
            var comment: String?
            var origin: ConfigurationOrigin?
            var limit: Int?
        }

        let calls = Mutex<[Call]>([])
        static let inForce = ConfigurationVersionDocument(
            id: 7, appliedAt: Date(timeIntervalSince1970: 1_790_000_000), sha256: String(repeating: "ab", count: 32),
            author: "erik", origin: .api, comment: "new threshold", content: "site: { name: \"In force\" }\n")

        static func answer(_ yaml: String, applied: Bool) -> ConfigurationChangeDocument {
            let diff = ConfigurationDiff(
                systems: [.init(id: "or-1", change: .updated, fields: ["thresholds.insulation_response_ohms"])], panels: [],
                restartRequired: [], applied: [])
            if yaml.hasPrefix("# rejected") {
                return .init(outcome: .rejected, errors: [
                    .init(file: "upload.yaml", line: 9, column: 7, field: "systems[0].thresholds.insulation_response_ohms",
                          reason: "must be at least 50000 Ω"),
                ])
            }
            if yaml.hasPrefix("# restart") {
                let restart = ConfigurationDiff(systems: [], panels: [], restartRequired: ["http.listen"], applied: [])
                return .init(outcome: .restartRequired, diff: restart, sha256: "12")
            }
            if yaml.hasPrefix("# unchanged") {
                return .init(outcome: .unchanged, diff: ConfigurationDiff(systems: [], panels: [], restartRequired: [], applied: []))
            }
            return applied ? .init(outcome: .applied, diff: diff, versionID: 8, sha256: "34") : .init(outcome: .previewed, diff: diff)
        }

        func inForce() async -> ConfigurationVersionDocument? {
            calls.withLock { $0.append(Call(action: "in_force")) }
            return Self.inForce
        }

        func preview(yaml: String) async -> ConfigurationChangeDocument {
            calls.withLock { $0.append(Call(action: "preview", yaml: yaml)) }
            return Self.answer(yaml, applied: false)
        }

        func apply(yaml: String, author: String, comment: String?, origin: ConfigurationOrigin) async -> ConfigurationChangeDocument {
            calls.withLock { $0.append(Call(action: "apply", yaml: yaml, author: author, comment: comment, origin: origin)) }
            return Self.answer(yaml, applied: true)
        }

        func history(limit: Int) async -> [ConfigurationVersionDocument] {
            calls.withLock { $0.append(Call(action: "history", limit: limit)) }
            var listed = Self.inForce
            listed.content = nil
            return [listed]
        }

        func version(id: Int64) async -> ConfigurationVersionDocument? {
            id == Self.inForce.id ? Self.inForce : nil
        }

        func rollback(to id: Int64, author: String, comment: String?) async -> ConfigurationChangeDocument {
            calls.withLock { $0.append(Call(action: "rollback \(id)", author: author, comment: comment)) }
            return Self.answer("", applied: true)
        }
    }

    struct Journalled: Sendable, Equatable {
        var kind: String
        var user: String
        var detail: String
    }

    final class JournalRecorder: Sendable {
        let entries = Mutex<[Journalled]>([])
    }

    /// The server with the test users, reading closed, journalling into `journal`.
    func server(_ control: (any ConfigurationControl)?) async throws -> (StandaloneHTTP, WebClient, JournalRecorder) {
        let journal = JournalRecorder()
        let access = WebAccess(
            openRead: false, users: try UserDirectory.load(file: TestUsers.file()),
            journal: { kind, user, _, detail in journal.entries.withLock { $0.append(Journalled(kind: kind, user: user, detail: detail)) } })
        let server = try await StandaloneHTTP(state: StubLiveState(), access: access, configuration: control)
        return (server, WebClient(port: server.port), journal)
    }

    func send(
        _ method: String, _ path: String, port: Int, body: Data? = nil, contentType: String? = "application/yaml",
        cookie: String?
    ) async throws -> WebClient.Reply {
        try await WebClient(port: port).send(method, path, body: body, contentType: contentType, cookie: cookie)
    }

    func cookie(_ client: WebClient, _ name: String) async throws -> String {
        try #require(try await client.login(name, TestUsers.passwords[name]!).cookie)
    }

    static let routes: [(method: String, path: String)] = [
        ("GET", "/api/v1/configuration"), ("POST", "/api/v1/configuration/preview"), ("POST", "/api/v1/configuration"),
        ("GET", "/api/v1/configuration/history"), ("GET", "/api/v1/configuration/history/7"),
        ("POST", "/api/v1/configuration/history/7/rollback"),
    ]

    static let yaml = Data("site: { name: \"Proposed\" }\n".utf8)

    @Test func test_onlySignedInEngineersAndAdminsReachTheConfiguration() async throws {
        let control = StandInControl()
        let (server, client, _) = try await server(control)
        var statuses: [String: [Int]] = [:]
        for name in [nil, "victor", "olga", "erik", "ada"] {
            let cookie = try await name.asyncMap { try await self.cookie(client, $0) }
            for route in Self.routes {
                let reply = try await send(
                    route.method, route.path, port: server.port, body: route.method == "POST" ? Self.yaml : nil, cookie: cookie)
                statuses[name ?? "nobody", default: []].append(reply.status)
            }
        }
        try await server.stop()
        #expect(statuses["nobody"] == [401, 401, 401, 401, 401, 401])
        #expect(statuses["victor"] == [403, 403, 403, 403, 403, 403])
        #expect(statuses["olga"] == [403, 403, 403, 403, 403, 403])
        #expect(statuses["erik"] == [200, 200, 200, 200, 200, 200])
        #expect(statuses["ada"] == [200, 200, 200, 200, 200, 200])
        // Refused requests never reached the service.
        #expect(control.calls.withLock { $0.count } == 2 * 5)
    }

    @Test func test_withoutConfigurationControlEveryRouteSaysWhy() async throws {
        let (server, client, _) = try await server(nil)
        let engineer = try await cookie(client, "erik")
        let operatorCookie = try await cookie(client, "olga")
        var engineerReplies: [WebClient.Reply] = []
        var operatorStatuses: [Int] = []
        var anonymousStatuses: [Int] = []
        for route in Self.routes {
            let body = route.method == "POST" ? Self.yaml : nil
            engineerReplies.append(try await send(route.method, route.path, port: server.port, body: body, cookie: engineer))
            operatorStatuses.append(try await send(route.method, route.path, port: server.port, body: body, cookie: operatorCookie).status)
            anonymousStatuses.append(try await send(route.method, route.path, port: server.port, body: body, cookie: nil).status)
        }
        try await server.stop()
        #expect(engineerReplies.map(\.status) == [503, 503, 503, 503, 503, 503])
        #expect(engineerReplies.allSatisfy { $0.json?["error"] as? String == "configuration changes are not available" })
        #expect(operatorStatuses == [403, 403, 403, 403, 403, 403])
        #expect(anonymousStatuses == [401, 401, 401, 401, 401, 401])
    }

    @Test func test_applyAnswersByOutcomeAndJournalsTheActingUser() async throws {
        let control = StandInControl()
        let (server, client, journal) = try await server(control)
        let engineer = try await cookie(client, "erik")
        func apply(_ yaml: String, query: String = "") async throws -> WebClient.Reply {
            try await send("POST", "/api/v1/configuration\(query)", port: server.port, body: Data(yaml.utf8), cookie: engineer)
        }
        let applied = try await apply("site: {}\n", query: "?comment=after%20the%20inspection")
        let rejected = try await apply("# rejected\n")
        let restart = try await apply("# restart\n")
        let unchanged = try await apply("# unchanged\n")
        let tooLong = try await apply("site: {}\n", query: "?comment=" + String(repeating: "x", count: 1001))
        try await server.stop()

        #expect(applied.status == 200)
        #expect(applied.json?["outcome"] as? String == "applied")
        #expect(applied.json?["version_id"] as? Int == 8)
        #expect(rejected.status == 422)
        let error = try #require((rejected.json?["errors"] as? [[String: Any]])?.first)
        #expect(error["line"] as? Int == 9)
        #expect(error["field"] as? String == "systems[0].thresholds.insulation_response_ohms")
        #expect(restart.status == 409)
        #expect((restart.json?["diff"] as? [String: Any])?["restart_required"] as? [String] == ["http.listen"])
        #expect(unchanged.status == 200)
        #expect(unchanged.json?["outcome"] as? String == "unchanged")
        #expect(tooLong.status == 400)

        let calls = control.calls.withLock { $0 }
        #expect(calls.count == 4)
        #expect(calls.first == .init(action: "apply", yaml: "site: {}\n", author: "erik", comment: "after the inspection", origin: .api))
        let entries = journal.entries.withLock { $0 }.filter { $0.kind == "configuration_apply" }
        #expect(entries.map(\.user) == ["erik", "erik", "erik", "erik"])
        #expect(entries[0].detail == "applied as version 8; sha256 34; comment: after the inspection")
        #expect(entries[1].detail.hasPrefix("rejected, 1 error(s): systems[0].thresholds.insulation_response_ohms"))
        #expect(entries[2].detail.hasPrefix("needs a restart: http.listen"))
        #expect(entries[3].detail.hasPrefix("unchanged"))
    }

    @Test func test_previewShowsTheDiffOrTheErrorsAndChangesNothing() async throws {
        let control = StandInControl()
        let (server, client, journal) = try await server(control)
        let engineer = try await cookie(client, "erik")
        let previewed = try await send(
            "POST", "/api/v1/configuration/preview", port: server.port, body: Data("site: {}\n".utf8), contentType: "text/plain",
            cookie: engineer)
        let rejected = try await send(
            "POST", "/api/v1/configuration/preview", port: server.port, body: Data("# rejected\n".utf8), cookie: engineer)
        try await server.stop()

        #expect(previewed.status == 200)
        #expect(previewed.json?["outcome"] as? String == "previewed")
        let systems = (previewed.json?["diff"] as? [String: Any])?["systems"] as? [[String: Any]]
        #expect(systems?.first?["change"] as? String == "updated")
        #expect(rejected.status == 422)
        #expect(control.calls.withLock { $0.map(\.action) } == ["preview", "preview"])
        #expect(!journal.entries.withLock { $0 }.contains { $0.kind.hasPrefix("configuration") })
    }

    @Test func test_aBodyMustBeYAMLTextOfAtMostOneMebibyte() async throws {
        let control = StandInControl()
        let (server, client, _) = try await server(control)
        let engineer = try await cookie(client, "erik")
        // Far beyond the 16 KiB of every other body: a site of hundreds of systems.
        let large = Data(("# " + String(repeating: "x", count: 200 * 1024) + "\nsite: {}\n").utf8)
        let largeAccepted = try await send("POST", "/api/v1/configuration/preview", port: server.port, body: large, cookie: engineer)
        let tooLarge = try await send(
            "POST", "/api/v1/configuration/preview", port: server.port, body: Data(count: (1 << 20) + 1), cookie: engineer)
        let json = try await send(
            "POST", "/api/v1/configuration", port: server.port, body: Data("{}".utf8), contentType: "application/json",
            cookie: engineer)
        let noType = try await send(
            "POST", "/api/v1/configuration", port: server.port, body: Self.yaml, contentType: nil, cookie: engineer)
        let notUTF8 = try await send(
            "POST", "/api/v1/configuration", port: server.port, body: Data([0x73, 0x69, 0xFF, 0x0A]), cookie: engineer)
        try await server.stop()

        #expect(largeAccepted.status == 200)
        #expect(tooLarge.status == 413)
        #expect(json.status == 415)
        #expect(noType.status == 415)
        #expect(notUTF8.status == 400)
        #expect(control.calls.withLock { $0.map(\.action) } == ["preview"])
    }

    @Test func test_historyVersionsAndRollback() async throws {
        let control = StandInControl()
        let (server, client, journal) = try await server(control)
        let admin = try await cookie(client, "ada")
        let inForce = try await send("GET", "/api/v1/configuration", port: server.port, cookie: admin)
        let list = try await send("GET", "/api/v1/configuration/history?limit=5000", port: server.port, cookie: admin)
        let badLimit = try await send("GET", "/api/v1/configuration/history?limit=0", port: server.port, cookie: admin)
        let one = try await send("GET", "/api/v1/configuration/history/7", port: server.port, cookie: admin)
        let unknown = try await send("GET", "/api/v1/configuration/history/8", port: server.port, cookie: admin)
        let notANumber = try await send("GET", "/api/v1/configuration/history/seven", port: server.port, cookie: admin)
        let rollback = try await send(
            "POST", "/api/v1/configuration/history/7/rollback?comment=undo", port: server.port, body: Data(), cookie: admin)
        let rollbackUnknown = try await send(
            "POST", "/api/v1/configuration/history/8/rollback", port: server.port, body: Data(), cookie: admin)
        try await server.stop()

        #expect(inForce.status == 200)
        #expect(inForce.json?["content"] as? String == "site: { name: \"In force\" }\n")
        #expect(inForce.json?["applied_at"] as? String == "2026-09-21T14:13:20Z")
        #expect(inForce.json?["origin"] as? String == "api")
        #expect(list.status == 200)
        let listed = try #require(try JSONSerialization.jsonObject(with: list.body) as? [[String: Any]])
        #expect(listed.count == 1)
        #expect(listed.first?["content"] == nil)
        #expect(badLimit.status == 400)
        #expect(one.status == 200)
        #expect(one.json?["id"] as? Int == 7)
        #expect(unknown.status == 404)
        #expect(notANumber.status == 400)
        #expect(rollback.status == 200)
        #expect(rollbackUnknown.status == 404)
        let calls = control.calls.withLock { $0 }
        #expect(calls.contains(.init(action: "history", limit: 1000)))
        #expect(calls.contains(.init(action: "rollback 7", author: "ada", comment: "undo")))
        #expect(!calls.contains { $0.action == "rollback 8" })
        #expect(journal.entries.withLock { $0 }.filter { $0.kind == "configuration_rollback" }.map(\.detail) == [
            "roll back to version 7: applied as version 8; sha256 34; comment: undo"
        ])
    }
}

extension Optional {
    fileprivate func asyncMap<Mapped>(_ transform: (Wrapped) async throws -> Mapped) async rethrows -> Mapped? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
