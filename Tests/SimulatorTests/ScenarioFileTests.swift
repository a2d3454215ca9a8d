import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@Suite struct ScenarioFileTests {
    static let base = RepositoryPaths.root.appending(path: "simulator/scenarios")

    static func parse(_ yaml: String, seed: UInt64? = nil) throws(ConfigurationErrors) -> Scenario {
        try ScenarioFile.parse(yaml: yaml, fileName: "test.yaml", baseDirectory: base, seed: seed)
    }

    static func errors(_ yaml: String) -> [ConfigurationError] {
        do {
            _ = try parse(yaml)
            return []
        } catch {
            return error.errors
        }
    }

    static let site = """
        site:
          endpoints:
            - id: gw1
              listen: 127.0.0.1:0
              units:
                - { unit: 1, profile: bender-isometer }
                - { unit: 2, profile: trafox-im01-med }
            - id: rtu0
              link: /tmp/isowatch-test/rtu0
              units:
                - { unit: 1, profile: acrel-aim-m10 }
        """

    @Test func test_everyShippedScenarioParses() throws {
        let files = ScenarioFile.library(directory: Self.base)
        #expect(files.count >= 9)
        for file in files {
            let scenario = try ScenarioFile.load(file: file)
            #expect(!scenario.expectations.isEmpty, "\(file.lastPathComponent) expects nothing")
            #expect(scenario.durationSeconds / scenario.timeFactor <= 30, "\(file.lastPathComponent) takes too long for CI")
        }
    }

    @Test func test_mistakesAreReportedAllAtOnceWithFileLineColumnAndField() {
        let yaml = """
            name: typos
            duration_seconds: 100
            \(Self.site)
            timeline:
              - { at: 10, unit: gw1/1, presss: mute }
              - { at: 20, unit: gw9/1, set: { insulation_resistance_ohms: 30000 } }
              - { at: 200, endpoint: gw1, online: false }
            expect:
              gw1/3:
                relays: [normal]
              gw1/1:
                raised: [{ condition: insulaton, by: 30 }]
            """
        let errors = Self.errors(yaml)
        let byField = Dictionary(errors.map { ($0.field, $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byField["timeline[0].presss"]?.line == 15)
        #expect(byField["timeline[0].presss"]?.column == 28)
        #expect(byField["timeline[1].unit"]?.line == 16)
        #expect(byField["timeline[1].unit"]?.reason.contains("gw1/1, gw1/2, rtu0/1") == true)
        #expect(byField["timeline[2].at"]?.line == 17)
        #expect(byField["expect.gw1/3"]?.line == 19)
        #expect(byField["expect.gw1/1.raised[0].condition"]?.line == 22)
        #expect(errors.allSatisfy { $0.file == "test.yaml" })
        #expect(errors.count == 5, "\(errors)")
    }

    @Test func test_inlineSiteErrorsCarryTheScenarioFilesLinesAndASitePath() {
        let yaml = """
            name: bad-site
            duration_seconds: 10
            site:
              endpoints:
                - id: rtu0
                  link: /tmp/isowatch-test/rtu0
                  baud: 12345
                  units: [{ unit: 1, profile: acrel-aim-m10 }]
            timeline: []
            """
        let errors = Self.errors(yaml)
        #expect(errors.count == 1)
        #expect(errors.first?.field == "site.endpoints[0].baud")
        #expect(errors.first?.line == 7)
        #expect(errors.first?.column == 13)
        #expect(errors.first?.file == "test.yaml")
    }

    @Test func test_siteGivenAsAPathIsReadBesideTheScenarioFile() throws {
        let scenario = try ScenarioFile.load(file: Self.base.appending(path: "multi-theatre-site.yaml"))
        let site = try SiteFile.load(file: Self.base.appending(path: "sites/surgical-wing.yaml"))
        #expect(scenario.site == site)
        #expect(scenario.units.count == 16)
    }

    @Test func test_stepsRunInTimeOrderAndKeepFileOrderAtOneTime() throws {
        let scenario = try Self.parse(
            """
            name: order
            duration_seconds: 100
            \(Self.site)
            timeline:
              - { at: 50, unit: gw1/1, set: { insulation_resistance_ohms: 20000 } }
              - { at: 10, unit: gw1/2, raise_fault: overload, wire_fault: none }
              - { at: 10, endpoint: rtu0, online: false }
              - { at: 30, unit: gw1/1, ramp: { insulation_resistance_ohms: 40000 }, over_seconds: 15 }
            """)
        #expect(scenario.steps.map(\.atSeconds) == [10, 10, 10, 30, 50])
        #expect(scenario.steps.map(\.action) == [
            .raiseFault(.overload), .wireFault(nil), .online(false),
            .ramp([.insulationResistanceOhms: 40_000], overSeconds: 15), .set([.insulationResistanceOhms: MeasuredValue(20_000)]),
        ])
        #expect(scenario.steps[2].target == .endpoint("rtu0"))
        #expect(scenario.steps.map(\.line) == [16, 16, 17, 18, 15])
    }

    @Test func test_aSeedReplaysTheSameStormAndAnotherSeedDoesNot() throws {
        let yaml = """
            name: storm
            seed: 5
            duration_seconds: 300
            \(Self.site)
            timeline:
              - { at: 0, endpoint: gw1, storm: { kinds: [crc_error, truncated_frame, no_reply], every_seconds: 3, until: 300 } }
            """
        let first = try Self.parse(yaml)
        let again = try Self.parse(yaml)
        let other = try Self.parse(yaml, seed: 6)
        #expect(first.steps == again.steps)
        #expect(first.steps != other.steps)
        #expect(other.seed == 6)
        // About one burst per 3 s, never outside the storm, spread over both units and all kinds.
        #expect((70...130).contains(first.steps.count))
        #expect(first.steps.allSatisfy { $0.atSeconds > 0 && $0.atSeconds <= 300 })
        #expect(Set(first.steps.map(\.target.description)) == ["gw1/1", "gw1/2"])
        let kinds = Set(first.steps.compactMap { step -> String? in
            if case .wireFault(let fault?) = step.action, fault.remainingRequests == 1 { fault.kind.name } else { nil }
        })
        #expect(kinds == ["crc_error", "truncated_frame", "no_reply"])
    }

    @Test func test_expectationsKeepTheirRelaySequenceAndWindows() throws {
        let scenario = try Self.parse(
            """
            name: expect
            duration_seconds: 100
            \(Self.site)
            timeline: []
            expect:
              gw1/1:
                raised:
                  - { condition: insulation_prewarning, after: 10, by: 20 }
                  - { condition: insulation, by: 40 }
                not_raised: [communication]
                relays: [normal, alarm, silenced, { green: off, yellow: on, buzzer: on }]
                final_conditions: []
            """)
        let expectation = try #require(scenario.expectations[UnitReference(endpoint: "gw1", unit: 1)])
        #expect(expectation.relays == [.normal, .alarm, .silenced, .alarm])
        #expect(expectation.finalConditions == [])
        #expect(scenario.checkpoints.map(\.description) == [
            "t=10.0 s gw1/1: insulation_prewarning not yet raised",
            "t=20.0 s gw1/1: insulation_prewarning raised",
            "t=40.0 s gw1/1: insulation raised",
        ])
    }
}
