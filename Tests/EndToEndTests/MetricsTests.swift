import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@Suite(.serialized)
struct MetricsTests {
    /// Issue 6 §5 and its check: promtool (Prometheus's own linter) accepts the real `/metrics`,
    /// and the exposition carries the live values and alarm states under the names the alert
    /// rules use.
    @Test func test_promtoolAcceptsMetricsAndTheyFollowAFault() async throws {
        let promtool = try TestTools.tool("promtool")
        let harness = try await ServiceHarness(
            site: WalkingSkeletonTests.site(),
            configurationYAML: StoreTestSite.configuration(database: StoreTestSite.database()))
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        try await harness.waitFor("icu-1", seconds: 15) { $0.alarm.state == "normal" }
        let healthy = String(decoding: try await harness.get("/metrics").body, as: UTF8.self)
        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        let faulted = String(decoding: try await harness.get("/metrics").body, as: UTF8.self)
        try await harness.stop()

        for exposition in [healthy, faulted] {
            let file = FileManager.default.temporaryDirectory.appending(path: "isowatch-metrics-\(UUID().uuidString).txt")
            try exposition.write(to: file, atomically: true, encoding: .utf8)
            let check = try ExternalPeer.run("/bin/sh", ["-c", "\(promtool) check metrics < \(file.path)"])
            #expect(check.status == 0, "promtool: \(check.output)")
        }
        let values = Self.samples(healthy)
        #expect(values[#"isowatch_insulation_resistance_ohms{system="or-1"}"#] == 650_000)
        #expect(values[#"isowatch_alarm_state{system="or-1"}"#] == 0)
        #expect(values[#"isowatch_communication_ok{system="icu-1"}"#] == 1)
        #expect(values[#"isowatch_alarm_active{system="or-1",condition="insulation"}"#] == 0)
        #expect((values[#"isowatch_reading_age_seconds{system="or-1"}"#] ?? .infinity) < 5)
        #expect(healthy.contains(#"isowatch_poll_duration_seconds_bucket{endpoint="tcp://127.0.0.1:"#))
        #expect((values["isowatch_journal_entries_total"] ?? 0) >= 2)
        #expect(values["isowatch_storage_errors_total"] == 0)
        let after = Self.samples(faulted)
        #expect(after[#"isowatch_insulation_resistance_ohms{system="or-1"}"#] == 30_000)
        #expect(after[#"isowatch_alarm_active{system="or-1",condition="insulation"}"#] == 1)
        #expect(after[#"isowatch_alarm_state{system="or-1"}"#] == 1)
        #expect(after[#"isowatch_alarm_state{system="icu-1"}"#] == 0)
    }

    /// Sample lines by their name and labels.
    static func samples(_ exposition: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            samples[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return samples
    }
}
