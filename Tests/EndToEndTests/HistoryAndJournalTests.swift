import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The walking skeleton's site with a history database, metrics and the BMS server configured.
enum StoreTestSite {
    static func configuration(database: URL, bmsPort: UInt16? = nil) -> String {
        """
        site: { name: "History test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        storage: { path: "\(database.path)", raw_retention_hours: 1 }
        metrics: { enabled: true }

        """
            + (bmsPort.map { "bms: { listen: \"127.0.0.1:\($0)\" }\n" } ?? "")
            + "systems:\n"
            + WalkingSkeletonTests.theatreAndICUSystems
    }

    static func database() -> URL {
        FileManager.default.temporaryDirectory.appending(path: "isowatch-e2e-\(UUID().uuidString)/history.sqlite")
    }
}

struct EventView: Decodable {
    var id: Int64
    var kind: String
    var system: String?
    var user: String?
}

struct AlarmView: Decodable {
    var system: String
    var condition: String
    var cleared: String?
    var worst: [String: Double]?
    var interrupted: Bool
}

extension ServiceHarness {
    func json<T: Decodable>(_ type: T.Type, _ path: String) async throws -> T {
        let (status, body) = try await get(path)
        guard status == 200 else {
            throw ExternalPeer.PeerError.missingTool("GET \(path): \(status) \(String(decoding: body, as: UTF8.self))")
        }
        return try JSONDecoder().decode(T.self, from: body)
    }

    func events(_ query: String) async throws -> [EventView] {
        try await json([EventView].self, "/api/v1/events?\(query)")
    }
}

@Suite(.serialized)
struct HistoryAndJournalTests {
    /// Issue 6 §3: alarms raised and cleared are journalled, and the episode keeps its worst value.
    @Test func test_insulationFaultIsJournalledWithItsEpisodeAndWorstValue() async throws {
        let database = StoreTestSite.database()
        let harness = try await ServiceHarness(
            site: WalkingSkeletonTests.site(), configurationYAML: StoreTestSite.configuration(database: database))
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        var active: [AlarmView] = []
        let deadline = Date().addingTimeInterval(10)
        while active.isEmpty && Date() < deadline {
            active = try await harness.json([AlarmView].self, "/api/v1/alarms?system=or-1&active=true")
                .filter { $0.condition == "insulation" }
            if active.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(650_000)
        }
        try await harness.waitFor("or-1", seconds: 15) { !$0.alarm.conditions.contains("insulation") }
        var ended: [AlarmView] = []
        while ended.isEmpty && Date() < deadline.addingTimeInterval(10) {
            ended = try await harness.json([AlarmView].self, "/api/v1/alarms?system=or-1&active=false")
                .filter { $0.condition == "insulation" }
            if ended.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        let journal = try await harness.events("system=or-1&limit=1000").reversed().map(\.kind)
        let everything = try await harness.events("limit=1000").map(\.kind)
        let badActive = try await harness.get("/api/v1/alarms?active=maybe")
        let badLimit = try await harness.get("/api/v1/events?limit=0")
        try await harness.stop()

        #expect(active.count == 1)
        #expect(active.first?.cleared == nil)
        #expect(ended.count == 1)
        #expect(ended.first?.cleared != nil)
        #expect(ended.first?.worst?["insulation_resistance_ohms"] == 30_000)
        let raised = try #require(journal.firstIndex(of: "alarm.raised"))
        let cleared = try #require(journal.lastIndex(of: "alarm.cleared"))
        #expect(raised < cleared)
        #expect(everything.contains("service.started"))
        #expect(everything.contains("configuration.loaded"))
        #expect(badActive.status == 400)
        #expect(String(decoding: badActive.body, as: UTF8.self).contains("active"))
        #expect(badLimit.status == 400)
        // The stop is journalled before the writer closes: the file has it.
        let store = try HistoryStoreProbe.kinds(database)
        #expect(store.last == "service.stopped")
    }

    /// Issue 13 §7: every start journals the SHA-256 and path of the configuration and users file
    /// in force, and `isowatch journal verify` checks the live database while the service runs.
    @Test func test_everyStartJournalsTheHashesOfTheConfigurationAndUsersFile() async throws {
        let database = StoreTestSite.database()
        let users = try TestUsers.file()
        let yaml = StoreTestSite.configuration(database: database)
            .replacingOccurrences(
                of: #"http: { listen: "127.0.0.1:0" }"#,
                with: #"http: { listen: "127.0.0.1:0", open_read: true, users_file: "\#(users.path)" }"#)
        #expect(yaml.contains(users.path))
        let binary = try RepositoryPaths.requiredProduct("isowatch").path
        var parsed: [Data] = []
        for start in 0..<2 {
            let harness = try await ServiceHarness(site: WalkingSkeletonTests.site(), configurationYAML: yaml)
            parsed.append(try #require(harness.configuration.source?.contents))
            var recorded: [EventView] = []
            let deadline = Date().addingTimeInterval(15)
            while recorded.count < start + 1 && Date() < deadline {
                recorded = try await harness.events("kind=service.configuration")
                if recorded.count < start + 1 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(recorded.count == start + 1, "start \(start)")
            let path = database.path
            let live = try await onOwnThread { try ExternalPeer.run(binary, ["journal", "verify", "--database", path]) }
            #expect(live.status == 0, "\(live.output)")
            #expect(live.output.contains("journal OK"))
            try await harness.stop()
        }
        let rows = try ExternalPeer.run(
            "/usr/bin/sqlite3",
            ["-cmd", ".timeout 10000", database.path, "SELECT detail FROM event WHERE kind = 'service.configuration' ORDER BY id"])
        let details = try rows.output.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        #expect(details.count == 2)
        let scratch = try ScratchDirectory("isowatch-fingerprint")
        defer { scratch.remove() }
        func sha256sum(_ file: URL) throws -> String {
            String(try ExternalPeer.run("/usr/bin/sha256sum", [file.path]).output.prefix(64))
        }
        let usersHash = try sha256sum(users)
        // Each start parsed its own text (the simulator's port differs): each entry has that text's hash.
        for (start, detail) in details.enumerated() {
            let parsedFile = scratch.url.appending(path: "parsed-\(start).yaml")
            try parsed[start].write(to: parsedFile)
            let configurationHash = try sha256sum(parsedFile)
            #expect(configurationHash.count == 64)
            #expect(detail["reason"] as? String == "start")
            #expect(detail["configuration_file"] as? String == "end-to-end.yaml")
            #expect(detail["configuration_sha256"] as? String == configurationHash, "start \(start)")
            #expect(detail["users_file"] as? String == users.path)
            #expect(detail["users_sha256"] as? String == usersHash)
        }
    }

    /// Issue 6 §2 and §3: readings over a range, the hour/day/week spans, CSV and the report.
    @Test func test_readingsRangesCSVAndReportComeFromTheHistory() async throws {
        let database = StoreTestSite.database()
        let harness = try await ServiceHarness(
            site: WalkingSkeletonTests.site(), configurationYAML: StoreTestSite.configuration(database: database))
        let started = Date()
        try await harness.waitFor("icu-1", seconds: 15) { $0.alarm.state == "normal" }
        // The writer commits what is queued each time it comes round; wait until readings are there.
        var points: [[String: JSONValueView]] = []
        let deadline = Date().addingTimeInterval(15)
        while points.count < 3 && Date() < deadline {
            let from = Int(started.timeIntervalSince1970) - 5
            let document = try await harness.json(ReadingsView.self, "/api/v1/systems/icu-1/readings?from=\(from)")
            points = document.points
            if points.count < 3 { try await Task.sleep(for: .milliseconds(200)) }
        }
        let from = ISO8601DateFormatter().string(from: started.addingTimeInterval(-5))
        let raw = try await harness.json(ReadingsView.self, "/api/v1/systems/icu-1/readings?from=\(from)")
        let day = try await harness.json(ReadingsView.self, "/api/v1/systems/icu-1/history?span=day")
        let csv = try await harness.get("/api/v1/systems/icu-1/readings.csv?from=\(from)")
        let report = try await harness.get("/api/v1/systems/icu-1/report")
        let badSpan = try await harness.get("/api/v1/systems/icu-1/history?span=year")
        let reversed = try await harness.get("/api/v1/systems/icu-1/readings?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
        let badTime = try await harness.get("/api/v1/systems/icu-1/readings?from=yesterday")
        let unknown = try await harness.get("/api/v1/systems/or-99/readings")
        // Found by fuzzing (FUZZING.md): instants beyond what the store can hold once trapped.
        let farFuture = try await harness.get("/api/v1/systems/icu-1/readings.csv?to=99999999999999999999")
        let farPast = try await harness.get("/api/v1/events?from=-99999999999999999999")
        let stillServing = try await harness.get("/api/v1/systems/icu-1/history?span=hour")
        try await harness.stop()
        #expect(farFuture.status == 400)
        #expect(String(decoding: farFuture.body, as: UTF8.self).contains("between 1970-01-01 and 9999-12-31"))
        #expect(farPast.status == 400)
        #expect(stillServing.status == 200)

        #expect(raw.bucket_seconds == 0)
        #expect(raw.points.count >= 3)
        #expect(raw.points.last?["insulation_resistance_ohms"]?.number == 650_000)
        #expect(day.bucket_seconds == 60)
        #expect(day.points.last?["insulation_resistance_ohms"]?.object?["min"] == 650_000)
        let lines = String(decoding: csv.body, as: UTF8.self).split(separator: "\n")
        #expect(csv.status == 200)
        #expect(lines.first?.hasPrefix("timestamp,insulation_resistance_ohms,leakage_capacitance_farads") == true)
        #expect(lines.count >= raw.points.count + 1)
        #expect(lines.dropFirst().first?.split(separator: ",", omittingEmptySubsequences: false)[1] == "650000")
        let html = String(decoding: report.body, as: UTF8.self)
        #expect(report.status == 200)
        #expect(html.contains("Inspection report: ICU 1"))
        #expect(html.contains("insulation_resistance_ohms</td><td>650000"))
        #expect(badSpan.status == 400)
        #expect(String(decoding: badSpan.body, as: UTF8.self).contains("hour, day or week"))
        #expect(reversed.status == 400)
        #expect(badTime.status == 400)
        #expect(unknown.status == 404)
    }
}

struct ReadingsView: Decodable {
    var bucket_seconds: Int
    var points: [[String: JSONValueView]]
}

enum JSONValueView: Decodable {
    case number(Double), object([String: Double]), other
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let object = try? container.decode([String: Double].self) {
            self = .object(object)
        } else {
            self = .other
        }
    }
    var number: Double? { if case let .number(value) = self { value } else { nil } }
    var object: [String: Double]? { if case let .object(value) = self { value } else { nil } }
}

/// Reads the database file the way an auditor would: with the sqlite3 command-line tool.
enum HistoryStoreProbe {
    static func kinds(_ database: URL) throws -> [String] {
        // Busy-wait rather than fail while the service's connections finish their last checkpoint.
        let result = try ExternalPeer.run(
            "/usr/bin/sqlite3", ["-cmd", ".timeout 10000", database.path, "SELECT kind FROM event ORDER BY id"])
        return result.output.split(separator: "\n").map(String.init)
    }
}
