import Foundation
import IsoWatchCore
import IsoWatchTesting
import Testing

@testable import IsoWatchSimulator

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The theatre panel's watchdog relay: its contact supplies every other output relay's coil, and
/// it holds only while the heartbeat line changed level within its timeout. Driven through the
/// panel protocol's request handler (`PanelServer.answer`), as the service's backend speaks it.
@Suite struct PanelWatchdogTests {
    /// A panel with a watchdog on gpiochip0:31, its protocol handler, and one connection holding
    /// a yellow relay (energised to normal, so energised while all is well) and the heartbeat line.
    struct Bench {
        let panel: SimulatedPanel
        let server: PanelServer
        let connection = 1
        var yellow = 0
        var heartbeat = 0
        var heartbeatHigh = false

        init(timeoutSeconds: Double) throws {
            panel = SimulatedPanel(watchdog: PanelWatchdog(heartbeat: "gpiochip0:31", timeoutSeconds: timeoutSeconds))
            server = try PanelServer(host: "127.0.0.1", port: 0, panel: panel)
            yellow = try Self.handle(server.answer("1 OUT gpiochip0 1 0 1 or-1 yellow", connection: connection))
            heartbeat = try Self.handle(server.answer("2 OUT gpiochip0 31 0 0 isowatch heartbeat", connection: connection))
        }

        static func handle(_ reply: String) throws -> Int {
            let words = reply.split(separator: " ")
            try #require(words.count == 3 && words[1] == "OK", "\(reply)")
            return try #require(Int(words[2]))
        }

        mutating func toggle() {
            heartbeatHigh.toggle()
            #expect(server.answer("3 SET \(heartbeat) \(heartbeatHigh ? 1 : 0)", connection: connection) == "3 OK")
        }

        func setYellow(energised: Bool) {
            #expect(server.answer("4 SET \(yellow) \(energised ? 1 : 0)", connection: connection) == "4 OK")
        }

        func stop() {
            server.stop()
            panel.stopWatchdog()
        }
    }

    /// Waits for `condition`; the bound only keeps a broken run from hanging.
    @Test func test_watchdogRelayIsDroppedUntilTheFirstHeartbeatEdge() throws {
        var bench = try Bench(timeoutSeconds: 5)
        defer { bench.stop() }
        #expect(bench.panel.watchdogTripped, "no edge yet: the relay never pulled in")
        var yellow = try #require(bench.panel.line("gpiochip0:1"))
        #expect(yellow.active == true && yellow.effectivelyEnergised == false, "the line is driven, but the coil has no supply")
        #expect(bench.panel.watchdogStatus?.lastToggleAgeSeconds == nil)

        bench.toggle()
        #expect(!bench.panel.watchdogTripped)
        yellow = try #require(bench.panel.line("gpiochip0:1"))
        #expect(yellow.effectivelyEnergised == true)
        #expect(bench.panel.effectivelyEnergised("gpiochip0:31") == true, "the heartbeat line reads as itself")
        #expect(bench.panel.watchdogHistory.map(\.tripped) == [false], "one recovery: the relay pulled in")
        #expect(bench.panel.outputHistory.map(\.line) == ["gpiochip0:1"], "heartbeat edges do not flood the output history")
    }

    @Test func test_watchdogTripsAfterTheTimeoutWithoutEdgesAndOutputsReadReleased() async throws {
        let timeout = 0.3
        var bench = try Bench(timeoutSeconds: timeout)
        defer { bench.stop() }
        bench.toggle()
        #expect(!bench.panel.watchdogTripped)
        let lastEdge = bench.panel.clockSeconds

        #expect(try await eventually(within: 60, poll: .milliseconds(20)) { bench.panel.watchdogTripped }, "no edge for longer than the timeout")
        let status = try #require(bench.panel.watchdogStatus)
        #expect(status.tripped && status.toggles == 1 && (status.lastToggleAgeSeconds ?? 0) >= timeout)
        let yellow = try #require(bench.panel.line("gpiochip0:1"))
        #expect(yellow.active == true && yellow.electricalHigh == true, "the line keeps its level, as a GPIO chip does")
        #expect(yellow.effectivelyEnergised == false, "the relay is released: an energise-to-normal yellow lamp lights")

        let events = bench.panel.watchdogHistory
        #expect(events.map(\.tripped) == [false, true])
        let trip = try #require(events.last)
        #expect(trip.atSeconds >= lastEdge + timeout - 0.001, "the trip is dated when the timeout ran out, not before")
        #expect(trip.atSeconds <= bench.panel.clockSeconds)
    }

    @Test func test_aTripThatFellDueComesBeforeALaterOutputChangeInTheHistory() async throws {
        var bench = try Bench(timeoutSeconds: 0.2)
        defer { bench.stop() }
        bench.toggle()
        let lastEdge = bench.panel.clockSeconds
        // Wait on the panel's clock only (reading it evaluates nothing), then change an output.
        while bench.panel.clockSeconds < lastEdge + 0.5 { try await Task.sleep(for: .milliseconds(20)) }
        bench.setYellow(energised: false)
        let trip = try #require(bench.panel.watchdogHistory.last)
        #expect(trip.tripped)
        #expect(trip.outputChangesBefore == 1, "after the claim of yellow, before its change")
        #expect(bench.panel.outputHistory.count == 2)
    }

    @Test func test_watchdogRecoversWhenTheHeartbeatTogglesAgain() async throws {
        var bench = try Bench(timeoutSeconds: 0.3)
        defer { bench.stop() }
        bench.toggle()
        #expect(try await eventually(within: 60, poll: .milliseconds(20)) { bench.panel.watchdogTripped })
        bench.toggle()
        #expect(!bench.panel.watchdogTripped, "an edge pulls the relay in again")
        #expect(bench.panel.line("gpiochip0:1")?.effectivelyEnergised == true)
        #expect(bench.panel.watchdogHistory.map(\.tripped) == [false, true, false])
        #expect(bench.panel.watchdogStatus?.toggles == 2)
    }

    @Test func test_aConnectionThatDiesStopsTheHeartbeatAndTheRelayDrops() async throws {
        var bench = try Bench(timeoutSeconds: 0.3)
        defer { bench.stop() }
        bench.toggle()
        bench.panel.unregister(connection: bench.connection)
        #expect(try await eventually(within: 60, poll: .milliseconds(20)) { bench.panel.watchdogTripped })
        let yellow = try #require(bench.panel.line("gpiochip0:1"))
        #expect(yellow.role == .unclaimed && yellow.active == true, "released, still at its last level")
        #expect(yellow.effectivelyEnergised == false)
    }

    @Test func test_withoutWatchdogOutputsReadAsTheirLines() throws {
        let panel = SimulatedPanel()
        let server = try PanelServer(host: "127.0.0.1", port: 0, panel: panel)
        defer { server.stop() }
        _ = try Bench.handle(server.answer("1 OUT gpiochip0 1 0 1 or-1 yellow", connection: 1))
        #expect(server.answer("2 IN gpiochip0 3 1 1 or-1 mute", connection: 1).hasPrefix("2 OK "))
        #expect(!panel.watchdogTripped && panel.watchdogStatus == nil && panel.watchdogHistory.isEmpty)
        #expect(panel.line("gpiochip0:1")?.effectivelyEnergised == true)
        #expect(panel.line("gpiochip0:3")?.effectivelyEnergised == nil, "an input has no coil")
    }

    @Test func test_controlInterfaceShowsTheWatchdogAndEachOutputsEffectiveState() async throws {
        let simulator = try TestSimulator(
            site: SiteDescription(
                endpoints: [.tcp(units: [UnitDescription(unit: 1, profileID: "bender-isometer", values: [.insulationResistanceOhms: 1e6])])],
                panelListen: PanelListen(), panelWatchdog: PanelWatchdog(heartbeat: "gpiochip2:0", timeoutSeconds: 30)))
        defer { simulator.stop() }
        let base = try await simulator.startControl()
        let server = try #require(simulator.simulator.panelServer)
        let yellow = try Bench.handle(server.answer("1 OUT gpiochip0 1 0 1 or-1 yellow", connection: 7))
        let heartbeat = try Bench.handle(server.answer("2 OUT gpiochip2 0 0 0 isowatch heartbeat", connection: 7))
        #expect(yellow != heartbeat)

        func panel() async throws -> PanelView {
            let (data, _) = try await URLSession.shared.data(from: base.appendingPathComponent("api/v1/panel"))
            return try JSONDecoder().decode(PanelView.self, from: data)
        }
        var view = try await panel()
        #expect(view.watchdog?.tripped == true && view.watchdog?.heartbeat == "gpiochip2:0" && view.watchdog?.lastToggleAgeSeconds == nil)
        #expect(view.lines.first { $0.line == "gpiochip0:1" }?.effectivelyEnergised == false)

        #expect(server.answer("3 SET \(heartbeat) 1", connection: 7) == "3 OK")
        view = try await panel()
        #expect(view.watchdog?.tripped == false && view.watchdog?.toggles == 1 && view.watchdog?.lastToggleAgeSeconds != nil)
        #expect(view.lines.first { $0.line == "gpiochip0:1" }?.effectivelyEnergised == true)
        #expect(view.outputChanges == 1, "the yellow claim; heartbeat edges are not output changes")
        #expect(view.watchdogEvents?.map(\.tripped) == [false], "the relay pulled in at the first edge")
    }

    @Test func test_siteFileReadsThePanelWatchdog() throws {
        let site = try SiteFile.parse(
            yaml: """
                panel: { listen: 127.0.0.1:0, watchdog: { heartbeat: "gpiochip2:007", timeout_seconds: 2 } }
                endpoints:
                  - listen: 127.0.0.1:0
                    units: [{ unit: 1, profile: bender-isometer }]
                """, fileName: "site.yaml")
        #expect(site.panelWatchdog == PanelWatchdog(heartbeat: "gpiochip2:7", timeoutSeconds: 2))
        let named = try SiteFile.parse(
            yaml: """
                panel: { listen: 127.0.0.1:0, watchdog: { heartbeat: 'gpiochip0:"HB"' } }
                endpoints: [{ listen: 127.0.0.1:0, units: [{ unit: 1, profile: bender-isometer }] }]
                """, fileName: "site.yaml")
        #expect(named.panelWatchdog == PanelWatchdog(heartbeat: #"gpiochip0:"HB""#, timeoutSeconds: 1.5))
    }

    @Test func test_siteFileRefusesABadWatchdogWithLineAndField() {
        let yaml = """
            panel:
              listen: 127.0.0.1:0
              watchdog: { heartbeat: "gpiochip0 31", timeout_seconds: 0 }
            endpoints: [{ listen: 127.0.0.1:0, units: [{ unit: 1, profile: bender-isometer }] }]
            """
        do {
            _ = try SiteFile.parse(yaml: yaml, fileName: "site.yaml")
            Issue.record("a bad watchdog was accepted")
        } catch {
            let found = Set(error.errors.map { "\($0.line) \($0.field)" })
            #expect(found == ["3 panel.watchdog.heartbeat", "3 panel.watchdog.timeout_seconds"], "\(error)")
        }
    }

    @Test func test_scenarioServiceConfigurationTakesTheHeartbeatFromTheSitesWatchdog() throws {
        var site = SiteDescription(
            endpoints: [.tcp(units: [UnitDescription(unit: 1, profileID: "bender-isometer", values: [.insulationResistanceOhms: 1e6])])],
            panelListen: PanelListen(),
            panelWatchdog: PanelWatchdog(heartbeat: ScenarioServiceConfiguration.heartbeatLine))
        let simulator = try Simulator(site: site, profiles: ProfileLibrary.load(directory: RepositoryPaths.profiles))
        defer { simulator.stop() }
        let scenario = Scenario(name: "watchdog", site: site, durationSeconds: 1, steps: [])
        let yaml = ScenarioServiceConfiguration().yaml(for: scenario, simulator: simulator)
        #expect(yaml.contains("heartbeat: { chip: gpiochip2, line: 0 }"), "\(yaml)")

        site.panelWatchdog = nil
        let plain = try Simulator(site: site, profiles: ProfileLibrary.load(directory: RepositoryPaths.profiles))
        defer { plain.stop() }
        #expect(!ScenarioServiceConfiguration().yaml(for: scenario, simulator: plain).contains("heartbeat"))
    }
}
