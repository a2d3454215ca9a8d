import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchTesting
import Testing

/// The fleet's Prometheus configuration and alert rules (hardware/deploy/prometheus), checked by
/// Prometheus's own promtool so that the normal test command is also the CI check: a rule that
/// does not parse, or does not fire when its unit tests say it must, fails here.
@Suite struct PrometheusRulesTests {
    static let directory = RepositoryPaths.root.appending(path: "hardware/deploy/prometheus")

    static func promtool(_ arguments: String...) throws -> (status: Int32, output: String) {
        let promtool = try TestTools.tool("promtool")
        // promtool resolves rule_files relative to the file it reads; run it from that folder.
        return try ExternalPeer.run(
            "/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory.path, promtool] + arguments)
    }

    @Test func test_alertRulesAreValidPrometheusRules() throws {
        let result = try Self.promtool("check", "rules", "isowatch-rules.yml")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    @Test func test_scrapeConfigurationIsValidAndLoadsTheRules() throws {
        let result = try Self.promtool("check", "config", "prometheus.yml")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("isowatch-rules.yml"), "\(result.output)")
    }

    /// Insulation, overload, over-temperature, device faults fire on the first scrape; the
    /// communication, stale and instance-down alerts only after a minute (see the test file).
    @Test func test_alertsFireAndResolveAsTheRuleUnitTestsRequire() throws {
        let result = try Self.promtool("test", "rules", "isowatch-rules.test.yml")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"), "\(result.output)")
    }

    /// A misspelt condition in a rule would parse and never fire: every condition the rules name
    /// must be one the alarm machine raises.
    @Test func test_everyConditionTheRulesMatchIsAnAlarmCondition() throws {
        let rules = try String(contentsOf: Self.directory.appending(path: "isowatch-rules.yml"), encoding: .utf8)
        let pattern = try Regex(#"condition=~?"([^"]+)""#)
        let named = Set(
            rules.matches(of: pattern).flatMap { match in
                (match.output[1].substring ?? "").split(separator: "|").map(String.init)
            })
        let known = Set(AlarmCondition.allCases.map(\.rawValue))
        #expect(named.count >= 9, "the rules cover the conditions: \(named.sorted())")
        #expect(named.subtracting(known).isEmpty, "not alarm conditions: \(named.subtracting(known).sorted())")
    }

    /// Every alert the rules define has a unit test, so none goes untested when it is added.
    @Test func test_everyAlertHasAUnitTest() throws {
        let rules = try String(contentsOf: Self.directory.appending(path: "isowatch-rules.yml"), encoding: .utf8)
        let tests = try String(
            contentsOf: Self.directory.appending(path: "isowatch-rules.test.yml"), encoding: .utf8)
        let alerts = rules.matches(of: try Regex(#"- alert: (\w+)"#)).compactMap { $0.output[1].substring }
        let tested = Set(tests.matches(of: try Regex(#"alertname: (\w+)"#)).compactMap { $0.output[1].substring })
        #expect(!alerts.isEmpty)
        #expect(alerts.filter { !tested.contains($0) }.isEmpty, "untested: \(alerts.filter { !tested.contains($0) })")
    }

    /// The rules and the service must agree on metric names: a rule on a metric the service does
    /// not export never fires. The real binary runs one system (its device absent, so it is in
    /// communication alarm) and its /metrics must name every metric the rules use.
    @Test func test_everyMetricTheRulesUseIsExportedByTheService() async throws {
        let binary = try RepositoryPaths.requiredProduct("isowatch")
        let directory = try ScratchDirectory("isowatch-metrics")
        defer { directory.remove() }
        let httpPort = try freeTCPPort()
        let absentDevicePort = try freeTCPPort()
        let configuration = try directory.write(
            ServiceConfigurationYAML.file(
                site: "Metrics test", http: #"listen: "127.0.0.1:\#(httpPort)", open_read: true"#,
                topLevel: [
                    "profiles_directory: \(RepositoryPaths.profiles.path)",
                    "storage: { path: \(directory.url.appending(path: "history.sqlite").path) }",
                ],
                systems: [ServiceConfigurationYAML.tcpSystem(id: "or-1", name: "OR 1", port: "\(absentDevicePort)")]),
            to: "isowatch.yaml")
        let service = try ExternalPeer(
            executable: binary.path, arguments: ["run", "--config", configuration.path],
            readyWhen: { $0.contains("live readings at") }, timeoutSeconds: 60)
        defer { service.stop() }

        let rules = try String(contentsOf: Self.directory.appending(path: "isowatch-rules.yml"), encoding: .utf8)
        let used = Set(rules.matches(of: /isowatch_[a-z_]+/).map { String($0.output) })
        // Exported once a poll has failed; wait for the communication counters to appear.
        let curl = try TestTools.tool("curl")
        var exported = Set<String>()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = try await onOwnThread {
                try ExternalPeer.run(curl, ["-s", "http://127.0.0.1:\(httpPort)/metrics"]).output
            }
            exported = Set(
                text.split(separator: "\n").filter { !$0.hasPrefix("#") }
                    .compactMap { $0.prefixMatch(of: /isowatch_[a-z_]+/).map { String($0.output) } })
            if used.isSubset(of: exported) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(used.count >= 6, "\(used.sorted())")
        #expect(used.subtracting(exported).isEmpty, "used by the rules, not exported: \(used.subtracting(exported).sorted())")
    }
}
