import Foundation
import Testing

@testable import IsoWatchCore

/// What a reload would change: each test edits the valid site file the way an engineer would and
/// expects the diff to name the systems, panels and fields touched, and how each is applied.
@Suite struct ConfigurationDiffTests {
    static let valid = """
        site: { name: "Diff site" }
        http: { listen: "127.0.0.1:8080" }
        gpio: { backend: simulated }
        storage: { path: isowatch.sqlite }
        systems:
          - id: or-1
            name: "Operating theatre 1"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device: { profile: bender-isometer, transport: { tcp: { host: 10.0.0.1 } }, unit: 1 }
            thresholds: { insulation_response_ohms: 50000, stale_after_seconds: 5 }
            outputs:
              green: { chip: gpiochip0, line: 0 }
              yellow: { chip: gpiochip0, line: 1 }
          - id: or-2
            name: "Operating theatre 2"
            transformer: { rating_kva: 5, secondary_voltage_volts: 230 }
            device: { profile: acrel-aim-m10, transport: { tcp: { host: 10.0.0.2 } }, unit: 2 }
            outputs:
              yellow: { chip: gpiochip0, line: 2 }
            inputs:
              mute: { chip: gpiochip0, line: 3 }
          - id: or-3
            name: "Operating theatre 3"
            transformer: { rating_kva: 5, secondary_voltage_volts: 230 }
            device: { profile: bender-isometer, transport: { tcp: { host: 10.0.0.3 } }, unit: 3 }
        panels:
          - id: recovery
            name: "Recovery room"
            systems: [or-1, or-2]
            outputs:
              yellow: { chip: gpiochip1, line: 0 }
        """

    private let site = SiteFileFixture(valid: Self.valid)

    private func diff(to edited: String, oldProfiles: ProfileLibrary? = nil, newProfiles: ProfileLibrary? = nil) throws
        -> ConfigurationDiff
    {
        ConfigurationDiff.between(
            try site.parse(Self.valid), try site.parse(edited), oldProfiles: oldProfiles, newProfiles: newProfiles)
    }

    private func change(of id: String, in diff: ConfigurationDiff) -> ConfigurationDiff.SystemChange? {
        diff.systems.first { $0.id == id }
    }

    @Test func test_theSameFileChangesNothing() throws {
        let diff = try diff(to: Self.valid)
        #expect(diff.isEmpty)
        #expect(diff.systems.map(\.change) == [.unchanged, .unchanged, .unchanged])
        #expect(diff.panels == [ConfigurationDiff.PanelChange(id: "recovery", change: .unchanged)])
        #expect(diff.summary == ["no change"])
    }

    @Test func test_reorderingSystemsChangesNone() throws {
        let or3 = """
              - id: or-3
                name: "Operating theatre 3"
                transformer: { rating_kva: 5, secondary_voltage_volts: 230 }
                device: { profile: bender-isometer, transport: { tcp: { host: 10.0.0.3 } }, unit: 3 }

            """
        let withoutOr3 = site.replacing(or3.trimmingCharacters(in: .newlines) + "\n", with: "")
        let reordered = withoutOr3.replacingOccurrences(of: "systems:\n", with: "systems:\n" + or3)
        let diff = try diff(to: reordered)
        #expect(diff.systems.map(\.id) == ["or-3", "or-1", "or-2"])
        #expect(diff.isEmpty)
    }

    @Test func test_aChangedThresholdUpdatesOnlyThatSystemInPlace() throws {
        let diff = try diff(to: site.replacing("insulation_response_ohms: 50000", with: "insulation_response_ohms: 80000"))
        #expect(change(of: "or-1", in: diff) == .init(id: "or-1", change: .updated, fields: ["thresholds.insulation_response_ohms"]))
        #expect(change(of: "or-2", in: diff)?.change == .unchanged)
        #expect(change(of: "or-3", in: diff)?.change == .unchanged)
        #expect(diff.restartRequired.isEmpty)
        #expect(!diff.isEmpty)
        #expect(diff.summary == ["or-1: updated (thresholds.insulation_response_ohms)"])
    }

    @Test func test_nameLocationTransformerTimingAndSensorsAreUpdatedInTheFilesKeyOrder() throws {
        let edited = site.replacing(
            """
                name: "Operating theatre 2"
                transformer: { rating_kva: 5, secondary_voltage_volts: 230 }
            """,
            with: """
                name: "OR 2 (cardiac)"
                location: "Building C, level 2"
                transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
                alarms: { insulation: { response_delay_seconds: 2 }, re_alarm_seconds: off }
                sensors: { winding_temperature: none }
            """)
        let diff = try diff(to: edited)
        #expect(change(of: "or-2", in: diff) == .init(id: "or-2", change: .updated, fields: [
            "name", "location", "transformer.rating_kva", "transformer.rated_current_amperes",
            "alarms.insulation.response_delay_seconds", "alarms.re_alarm_seconds", "sensors.winding_temperature",
        ]))
    }

    @Test func test_aChangedEndpointRestartsOnlyThatSystem() throws {
        let diff = try diff(to: site.replacing("host: 10.0.0.2", with: "host: 10.0.0.22"))
        #expect(change(of: "or-2", in: diff) == .init(id: "or-2", change: .restarted, fields: ["device.transport"]))
        #expect(change(of: "or-1", in: diff)?.change == .unchanged)
        #expect(change(of: "or-3", in: diff)?.change == .unchanged)
    }

    @Test func test_pollingChangesRestart() throws {
        let edited = site.replacing(
            "transport: { tcp: { host: 10.0.0.3 } }, unit: 3 }",
            with: "transport: { tcp: { host: 10.0.0.3 } }, unit: 4, poll_interval_seconds: 2, timeout_seconds: 1, retries: 0 }")
        let diff = try diff(to: edited)
        #expect(change(of: "or-3", in: diff) == .init(id: "or-3", change: .restarted, fields: [
            "device.unit", "device.poll_interval_seconds", "device.timeout_seconds", "device.retries",
        ]))
    }

    @Test func test_anotherProfileRestarts() throws {
        let edited = site.replacing(
            "profile: bender-isometer, transport: { tcp: { host: 10.0.0.3 } }",
            with: "profile: trafox-im01-med, transport: { tcp: { host: 10.0.0.3 } }")
        #expect(change(of: "or-3", in: try diff(to: edited)) == .init(id: "or-3", change: .restarted, fields: ["device.profile"]))
    }

    @Test func test_changedLinesRestartAndInPlaceFieldsAreListedWithThem() throws {
        let edited = site.replacing(
            """
                thresholds: { insulation_response_ohms: 50000, stale_after_seconds: 5 }
                outputs:
                  green: { chip: gpiochip0, line: 0 }
                  yellow: { chip: gpiochip0, line: 1 }
            """,
            with: """
                thresholds: { insulation_response_ohms: 60000, stale_after_seconds: 5 }
                outputs:
                  green: { chip: gpiochip0, line: 0 }
                  yellow: { chip: gpiochip0, line: 1, active_low: true }
                  indicators: { insulation: { chip: gpiochip0, line: 9 } }
                inputs:
                  test: { chip: gpiochip0, line: 10 }
            """)
        let diff = try diff(to: edited)
        #expect(change(of: "or-1", in: diff) == .init(id: "or-1", change: .restarted, fields: [
            "thresholds.insulation_response_ohms", "outputs.yellow", "outputs.indicators.insulation", "inputs.test",
        ]))
    }

    @Test func test_aRemovedInputLineRestarts() throws {
        let edited = site.replacing(
            """
                inputs:
                  mute: { chip: gpiochip0, line: 3 }

            """, with: "")
        #expect(change(of: "or-2", in: try diff(to: edited)) == .init(id: "or-2", change: .restarted, fields: ["inputs.mute"]))
    }

    @Test func test_addedSystemsFollowTheNewFileAndRemovedOnesComeLast() throws {
        func system(_ number: Int) -> String {
            """
              - id: or-\(number)
                name: "Operating theatre \(number)"
                transformer: { rating_kva: 5, secondary_voltage_volts: 230 }
                device: { profile: bender-isometer, transport: { tcp: { host: 10.0.0.\(number) } }, unit: \(number) }
            """
        }
        let edited = site.replacing(system(3), with: system(7))
            .replacingOccurrences(of: "systems:\n", with: "systems:\n" + system(9) + "\n")
        let diff = try diff(to: edited)
        #expect(diff.systems == [
            .init(id: "or-9", change: .added), .init(id: "or-1", change: .unchanged), .init(id: "or-2", change: .unchanged),
            .init(id: "or-7", change: .added), .init(id: "or-3", change: .removed),
        ])
        #expect(diff.summary == ["or-9: added", "or-7: added", "or-3: removed"])
    }

    @Test func test_aProfileWhoseRegistersChangedRestartsItsSystems() throws {
        let library = try Repository.library()
        var bender = try #require(library["bender-isometer"])
        bender.transport.maxRegistersPerRequest = 8
        let edited = ProfileLibrary(library.ids.compactMap { $0 == bender.id ? bender : library[$0] })
        let diff = try diff(to: Self.valid, oldProfiles: library, newProfiles: edited)
        #expect(change(of: "or-1", in: diff) == .init(id: "or-1", change: .restarted, fields: ["profiles/bender-isometer.yaml"]))
        #expect(change(of: "or-2", in: diff)?.change == .unchanged)
        #expect(change(of: "or-3", in: diff) == .init(id: "or-3", change: .restarted, fields: ["profiles/bender-isometer.yaml"]))
    }

    @Test func test_aProfilesWordsForPeopleRestartNothing() throws {
        let library = try Repository.library()
        var bender = try #require(library["bender-isometer"])
        bender.description += " (corrected)"
        bender.model += " rev. B"
        let edited = ProfileLibrary(library.ids.compactMap { $0 == bender.id ? bender : library[$0] })
        #expect(try diff(to: Self.valid, oldProfiles: library, newProfiles: edited).isEmpty)
    }

    @Test func test_withoutLibrariesOnlyTheProfileIDIsCompared() throws {
        let library = try Repository.library()
        var bender = try #require(library["bender-isometer"])
        bender.transport.maxRegistersPerRequest = 8
        let edited = ProfileLibrary(library.ids.compactMap { $0 == bender.id ? bender : library[$0] })
        #expect(try diff(to: Self.valid, oldProfiles: nil, newProfiles: edited).isEmpty)
    }

    @Test func test_serverSectionsNeedARestartAndTheSiteNameApplies() throws {
        let edited = site.replacing(
            """
            site: { name: "Diff site" }
            http: { listen: "127.0.0.1:8080" }
            gpio: { backend: simulated }
            storage: { path: isowatch.sqlite }
            """,
            with: """
            site: { name: "Diff site, building C" }
            http: { listen: "127.0.0.1:8443", session_idle_minutes: 10 }
            gpio: { backend: simulated, heartbeat: { chip: gpiochip2, line: 0 } }
            storage: { path: other.sqlite, retention_days: 30 }
            metrics: { enabled: false }
            bms: { listen: "0.0.0.0:1502" }
            """)
        let diff = try diff(to: edited)
        #expect(diff.restartRequired == [
            "http.listen", "http.session_idle_minutes", "gpio.heartbeat", "storage.path", "storage.retention_days",
            "metrics.enabled", "bms",
        ])
        #expect(diff.applied == ["site.name"])
        #expect(diff.systems.allSatisfy { $0.change == .unchanged })
        #expect(diff.summary == [
            "needs a restart: http.listen, http.session_idle_minutes, gpio.heartbeat, storage.path, storage.retention_days, metrics.enabled, bms",
            "applied: site.name",
        ])
    }

    @Test func test_aRemovedStorageSectionNeedsARestart() throws {
        let diff = try diff(to: site.replacing("storage: { path: isowatch.sqlite }\n", with: ""))
        #expect(diff.restartRequired == ["storage"])
    }

    @Test func test_panelsRestartWhenTheirMembersOrLinesChange() throws {
        let edited = site.replacing(
            """
                systems: [or-1, or-2]
                outputs:
                  yellow: { chip: gpiochip1, line: 0 }
            """,
            with: """
                systems: [or-1, or-2, or-3]
                outputs:
                  yellow: { chip: gpiochip1, line: 0 }
                  buzzer: { chip: gpiochip1, line: 1 }
              - id: nurses
                name: "Nurses' station"
                systems: [or-3]
            """)
        let diff = try diff(to: edited)
        #expect(diff.panels == [
            .init(id: "recovery", change: .restarted, fields: ["systems", "outputs.buzzer"]), .init(id: "nurses", change: .added),
        ])
        #expect(diff.systems.allSatisfy { $0.change == .unchanged })
        #expect(diff.summary == ["panel recovery: restarted (systems, outputs.buzzer)", "panel nurses: added"])
    }

    @Test func test_aRemovedPanelIsListed() throws {
        let panels = """
            panels:
              - id: recovery
                name: "Recovery room"
                systems: [or-1, or-2]
                outputs:
                  yellow: { chip: gpiochip1, line: 0 }
            """
        let diff = try diff(to: site.replacing(panels, with: ""))
        #expect(diff.panels == [.init(id: "recovery", change: .removed)])
    }

    @Test func test_theJSONUsesTheAPIsKeysAndReadsBack() throws {
        let diff = try diff(to: site.replacing("host: 10.0.0.2", with: "host: 10.0.0.22"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try #require(String(data: try encoder.encode(diff), encoding: .utf8))
        #expect(json.contains(#""restart_required":[]"#))
        #expect(json.contains(#""is_empty":false"#))
        #expect(json.contains(#""summary":["or-2: restarted (device.transport)"]"#))
        #expect(json.contains(#"{"change":"restarted","fields":["device.transport"],"id":"or-2"}"#))
        #expect(try JSONDecoder().decode(ConfigurationDiff.self, from: Data(json.utf8)) == diff)
    }
}
