import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The real `isowatch` process, as a child, drives the simulator's theatre panel (`gpio: {backend:
/// simulator}`) whose watchdog relay supplies the other relays' coils and holds only while the
/// service's heartbeat line toggles. The relays are energised to normal (the default), so a
/// dropped watchdog relay shows the alarm however the lines were left.
@Suite(.serialized) struct HeartbeatWatchdogTests {
    static let timeoutSeconds = 1.5

    /// A simulator with one physics-driven IMD, a panel with a watchdog, and the configuration
    /// `ScenarioServiceConfiguration` generates for it (as the fault suite does).
    struct Bench {
        let simulator: TestSimulator
        let directory: URL
        let configuration: URL
        var panel: SimulatedPanel { simulator.simulator.panel }
        let lines = ScenarioServiceConfiguration.lines(systemIndex: 0)

        init() throws {
            let site = SiteDescription(
                endpoints: [
                    .tcp(units: [
                        UnitDescription(
                            unit: 1, profileID: "bender-isometer",
                            system: ITSystemModel(ratingVoltAmperes: 8_000, loadProfile: .constant(amperes: 12)))
                    ])
                ],
                panelListen: PanelListen(),
                panelWatchdog: PanelWatchdog(heartbeat: ScenarioServiceConfiguration.heartbeatLine, timeoutSeconds: timeoutSeconds))
            simulator = try TestSimulator(site: site)
            directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-heartbeat-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            var generator = ScenarioServiceConfiguration()
            generator.profilesDirectory = RepositoryPaths.profiles.path
            let scenario = Scenario(name: "heartbeat", site: site, durationSeconds: 1, steps: [])
            configuration = directory.appending(path: "isowatch.yaml")
            try generator.yaml(for: scenario, simulator: simulator.simulator).write(to: configuration, atomically: true, encoding: .utf8)
        }

        func effectivelyEnergised(_ line: UInt32) -> Bool? {
            panel.effectivelyEnergised("\(ScenarioServiceConfiguration.outputChip):\(line)")
        }

        func active(_ line: UInt32) -> Bool? {
            panel.line("\(ScenarioServiceConfiguration.outputChip):\(line)")?.active
        }

        /// Green lit and yellow, buzzer and common alarm quiet, as the theatre sees them: every
        /// relay energised to normal and actually carrying current.
        var panelShowsNormal: Bool {
            !panel.watchdogTripped
                && [lines.green, lines.yellow, lines.buzzer, lines.commonAlarm].allSatisfy { effectivelyEnergised($0) == true }
        }

        func stop() {
            simulator.stop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// `isowatch run` as a child process whose id the test holds, so it can be killed with SIGKILL.
    final class ServiceChild {
        let process: Process
        let log: URL

        init(configuration: URL, log: URL, extraArguments: [String] = []) throws {
            let process = Process()
            process.executableURL = try RepositoryPaths.requiredProduct("isowatch")
            process.arguments = ["run", "--config", configuration.path] + extraArguments
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
            self.process = process
            self.log = log
        }

        var transcript: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func signal(_ number: Int32) {
            kill(process.processIdentifier, number)
        }

        /// Waits for the exit; a child still there after the bound is killed, and the wait fails.
        func exited() async throws -> Bool {
            let start = ContinuousClock.now
            while process.isRunning, start.duration(to: .now) < .seconds(60) {
                try await Task.sleep(for: .milliseconds(20))
            }
            guard process.isRunning else { return true }
            signal(SIGKILL)
            return false
        }
    }

    /// Waits for `condition`; the bound only keeps a broken run from hanging.
    @Test func test_aKilledServiceDropsTheWatchdogRelayAndThePanelShowsAlarm() async throws {
        let bench = try Bench()
        defer { bench.stop() }
        #expect(bench.panel.watchdogTripped, "before the service runs, the relay has never pulled in")
        let service = try ServiceChild(configuration: bench.configuration, log: bench.directory.appending(path: "isowatch.log"))
        defer { if service.process.isRunning { service.signal(SIGKILL) } }

        _ = try await eventually(within: 90, poll: .milliseconds(20)) { bench.panelShowsNormal || !service.process.isRunning }
        try #require(bench.panelShowsNormal, "green, watchdog held\n\(service.transcript)")
        // Several periods of a running service, so the kill falls anywhere between two edges.
        _ = try await eventually(within: 90, poll: .milliseconds(20)) { (bench.panel.watchdogStatus?.toggles ?? 0) >= 6 || !service.process.isRunning }
        let held = try #require(bench.panel.watchdogStatus)
        #expect(held.toggles >= 6, "\(service.transcript)")
        #expect(try await eventually(within: 90, poll: .milliseconds(20)) { bench.panelShowsNormal }, "still green, watchdog held")
        let tripsBeforeKill = bench.panel.watchdogHistory.filter(\.tripped).count

        // Somewhere between two edges (the figure printed below spans timeout − period ... timeout);
        // nothing asserted depends on where, so the pause is fixed and every run is the same run.
        try await Task.sleep(for: .milliseconds(230))
        let killedAt = bench.panel.clockSeconds
        service.signal(SIGKILL)
        #expect(try await service.exited())
        #expect(try await eventually(within: 90, poll: .milliseconds(20)) { bench.panel.watchdogTripped }, "no heartbeat after the kill\n\(service.transcript)")

        // The lines keep the levels of the moment of the kill: energised, which without the
        // watchdog relay would go on showing a normal panel. Through the dropped relay the coils
        // have no supply: yellow lit, buzzer sounding, common alarm signalled, green dark.
        #expect(bench.active(bench.lines.yellow) == true && bench.active(bench.lines.buzzer) == true)
        #expect(bench.effectivelyEnergised(bench.lines.yellow) == false)
        #expect(bench.effectivelyEnergised(bench.lines.buzzer) == false)
        #expect(bench.effectivelyEnergised(bench.lines.commonAlarm) == false)
        #expect(bench.effectivelyEnergised(bench.lines.green) == false)

        let trips = bench.panel.watchdogHistory.filter(\.tripped)
        #expect(trips.count == tripsBeforeKill + 1, "one trip, after the kill")
        if let trip = trips.last {
            print("HeartbeatWatchdogTests: SIGKILL → watchdog trip \(String(format: "%.3f", trip.atSeconds - killedAt)) s (timeout \(Self.timeoutSeconds) s)")
        }
    }

    @Test func test_aGracefulStopDrivesTheAlarmThenStopsTheHeartbeat() async throws {
        let bench = try Bench()
        defer { bench.stop() }
        let service = try ServiceChild(configuration: bench.configuration, log: bench.directory.appending(path: "isowatch.log"))
        defer { if service.process.isRunning { service.signal(SIGKILL) } }
        _ = try await eventually(within: 90, poll: .milliseconds(20)) { bench.panelShowsNormal || !service.process.isRunning }
        try #require(bench.panelShowsNormal, "green, watchdog held\n\(service.transcript)")

        service.signal(SIGTERM)
        #expect(try await service.exited(), "\(service.transcript)")
        #expect(service.process.terminationReason == .exit, "\(service.transcript)")
        // The drivers wrote the alarm state before the lines were let go, and the heartbeat stops.
        #expect(bench.active(bench.lines.yellow) == false && bench.active(bench.lines.green) == false)
        #expect(try await eventually(within: 90, poll: .milliseconds(20)) { bench.panel.watchdogTripped }, "\(service.transcript)")
        #expect(bench.effectivelyEnergised(bench.lines.yellow) == false)
    }
}
