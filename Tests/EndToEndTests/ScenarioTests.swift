import Foundation
import IsoWatchAlarms
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// Every scenario of the shipped library (simulator/scenarios) played, accelerated, against the
/// real service, with its expectations asserted through the service's live state and the relays
/// on the simulated GPIO chip, in order. A scenario added to the directory is run here without
/// any change to this file.
///
/// Time: the timeline runs at the scenario's time factor, but the service's alarm delays are real
/// time (1 s insulation response, 5 s overload response, 5 s release delays). Rather than
/// shrinking those delays in the generated configuration, physics time stands still at every
/// checkpoint and panel press until the service has answered, so a scenario's `by` times are the
/// physical ones and a slow machine only makes the run longer, never wrong. For the same reason,
/// and because each scenario owns its simulator, service and GPIO chip on ephemeral ports, the
/// scenarios may run side by side (scripts/test-shards runs three at once).
@Suite
struct ScenarioTests {
    static let library = ScenarioFile.library(directory: RepositoryPaths.root.appending(path: "simulator/scenarios"))

    @Test func test_libraryShipsEveryScenarioTheIssueNames() throws {
        let names = try Self.library.map { try ScenarioFile.load(file: $0).name }
        for required in [
            "normal-day", "slow-insulation-degradation", "sudden-insulation-fault", "overload-during-surgery",
            "earth-connection-loss", "temperature-sensor-break", "gateway-dropout", "interference-storm", "multi-theatre-site",
        ] {
            #expect(names.contains(required), "missing scenario \(required)")
        }
        let site = try ScenarioFile.load(file: try #require(Self.library.first { $0.lastPathComponent == "multi-theatre-site.yaml" })).site
        #expect(site.endpoints.flatMap(\.units).count >= 16)
        #expect(site.endpoints.contains { if case .tcp = $0.transport { true } else { false } })
        #expect(site.endpoints.contains { if case .rtu = $0.transport { true } else { false } })
    }

    @Test func test_expectationsNameOnlyConditionsTheAlarmEngineKnows() throws {
        let known = Set(AlarmCondition.allCases.map(\.rawValue))
        #expect(Set(ScenarioFile.conditionNames) == known)
    }

    @Test(arguments: library.map(\.lastPathComponent))
    func test_scenarioRaisesExactlyTheExpectedAlarmsAndRelaySequence(_ fileName: String) async throws {
        let problems = try await Self.play(RepositoryPaths.root.appending(path: "simulator/scenarios/\(fileName)"))
        for problem in problems {
            Issue.record(Comment(rawValue: problem))
        }
    }

    /// The checks above must be able to fail: a scenario whose expectations contradict what
    /// happens (an insulation fault, expected to stay green, to raise an overload, and to come
    /// later than it does) is caught by every one of them.
    @Test func test_scenarioWithWrongExpectationsIsCaughtByEveryCheck() async throws {
        let scratch = try ScratchDirectory("isowatch-scenario")
        defer { scratch.remove() }
        let file = try scratch.write("""
            name: wrong-expectations
            time_factor: 10
            duration_seconds: 20
            site:
              endpoints:
                - id: gw1
                  listen: 127.0.0.1:0
                  units:
                    - { unit: 1, profile: bender-isometer, values: { insulation_resistance_ohms: 700000 } }
                    - { unit: 2, profile: bender-isometer, values: { insulation_resistance_ohms: 700000 } }
            timeline:
              - { at: 5, endpoint: gw1, set: { insulation_resistance_ohms: 20000 } }
            expect:
              gw1/2:
                raised:
                  - { condition: insulation, by: 6 }
                  - { condition: insulation, after: 7, by: 8 }
              gw1/1:
                raised: [{ condition: overload, by: 10 }]
                not_raised: [insulation]
                relays: [normal]
                final_conditions: []
            """, to: "wrong.yaml")
        let problems = try await Self.play(file, waitSeconds: 3)
        #expect(problems.contains { $0.contains("overload not raised by t=10.0 s") }, "\(problems)")
        #expect(problems.contains { $0.contains("insulation was raised") }, "\(problems)")
        #expect(problems.contains { $0.contains("relays showed [normal, alarm], expected [normal]") }, "\(problems)")
        #expect(problems.contains { $0.contains("conditions at the end [\"insulation\"], expected []") }, "\(problems)")
        #expect(problems.contains { $0.contains("gw1/2: insulation was raised before t=7.0 s") }, "\(problems)")
        #expect(problems.count == 5, "\(problems)")
    }

    /// Plays one scenario file against the service and returns what went against its expectations.
    static func play(_ file: URL, waitSeconds: Double = 30) async throws -> [String] {
        let bench = try await ScenarioBench(file: file, waitSeconds: waitSeconds)
        let scenario = bench.scenario
        let mark: Int
        do {
            mark = try await bench.play()
        } catch {
            await bench.stop()
            throw error
        }
        // The end state: wait (generously) for the expected final conditions, then look.
        var finals: [UnitReference: [String]] = [:]
        for (unit, expectation) in scenario.expectations.sorted(by: { $0.key < $1.key }) {
            guard let final = expectation.finalConditions else { continue }
            _ = try await bench.wait(unit) { Set($0.alarm.conditions.map(\.rawValue)) == Set(final) }
            finals[unit] = await bench.status(unit)?.alarm.conditions.map(\.rawValue) ?? ["(no status)"]
        }
        // Let the last relay writes of a clearing land before the history is read: the relays
        // themselves, not the monitor's decision, which the driver carries out one write at a time.
        for (unit, expectation) in scenario.expectations {
            guard let last = expectation.relays.last else { continue }
            _ = try await bench.waitForRelays(unit, showing: last)
        }
        var observed: [UnitReference: [PanelState]] = [:]
        var seen: [UnitReference: Set<String>] = [:]
        for (unit, expectation) in scenario.expectations {
            observed[unit] = bench.panelStates(unit, from: mark, keeping: expectation.relays)
            seen[unit] = bench.conditionsSeen(unit)
        }
        await bench.stop()

        var problems = bench.failures
        for (unit, expectation) in scenario.expectations.sorted(by: { $0.key < $1.key }) {
            let shown = seen[unit] ?? []
            for condition in expectation.notRaised where shown.contains(condition) {
                problems.append("\(scenario.name) \(unit): \(condition) was raised (seen: \(shown.sorted()))")
            }
            if !expectation.relays.isEmpty, observed[unit] != expectation.relays {
                problems.append("\(scenario.name) \(unit): relays showed \(observed[unit] ?? []), expected \(expectation.relays)")
            }
            if let final = expectation.finalConditions, Set(finals[unit] ?? []) != Set(final) {
                problems.append("\(scenario.name) \(unit): conditions at the end \(finals[unit] ?? []), expected \(final)")
            }
        }
        return problems
    }
}
