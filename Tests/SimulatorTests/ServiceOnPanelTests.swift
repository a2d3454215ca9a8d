import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The real `isowatch` service, configured with `gpio: {backend: simulator}`, drives the
/// simulator's theatre panel over loopback while reading a physics-driven IMD over Modbus TCP.
@Suite struct ServiceOnPanelTests {
    /// Polls `condition` until it holds; the bound only stops a broken run from hanging.
    @Test func test_theServiceLightsThePanelGreenThenYellowWithBuzzerForAnInsulationFaultAndMuteSilencesIt() async throws {
        let isowatch = try #require(RepositoryPaths.builtProduct("isowatch"), "the isowatch product is built with the tests")
        let simulator = try TestSimulator(
            site: SiteDescription(
                endpoints: [
                    .tcp(units: [
                        UnitDescription(
                            unit: 1, profileID: "bender-isometer",
                            system: ITSystemModel(ratingVoltAmperes: 8_000, loadProfile: .constant(amperes: 12)))
                    ])
                ], panelListen: PanelListen()))
        defer { simulator.stop() }
        let panelPort = try #require(simulator.simulator.panelServer?.port)
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-panel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = directory.appending(path: "isowatch.yaml")
        try """
            site: { name: "Panel bench" }
            http: { listen: "127.0.0.1:0" }
            gpio: { backend: simulator, panel: "127.0.0.1:\(panelPort)" }
            profiles_directory: \(RepositoryPaths.profiles.path)
            systems:
              - id: or-1
                name: "Operating theatre 1"
                transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
                device:
                  profile: bender-isometer
                  transport: { tcp: { host: 127.0.0.1, port: \(simulator.tcpPort) } }
                  unit: 1
                  poll_interval_seconds: 0.2
                  timeout_seconds: 0.1
                outputs:
                  green: { chip: gpiochip0, line: 0 }
                  yellow: { chip: gpiochip0, line: 1, energise: alarm }
                  buzzer: { chip: gpiochip0, line: 2, energise: alarm }
                inputs:
                  mute: { chip: gpiochip0, line: 3, active_low: true, debounce_seconds: 0.01 }
            """.write(to: configuration, atomically: true, encoding: .utf8)
        let service = try ExternalPeer(
            executable: isowatch.path, arguments: ["run", "--config", configuration.path],
            readyWhen: { $0.contains("monitoring started") }, timeoutSeconds: 60)
        defer { service.stop() }
        let panel = simulator.simulator.panel
        func active(_ line: Int) -> Bool? { panel.line("gpiochip0:\(line)")?.active }

        #expect(try await eventually(within: 90, poll: .milliseconds(50)) { active(0) == true }, "green after the first measurement\n\(service.transcript)")
        #expect(active(1) == false && active(2) == false)
        #expect(panel.line("gpiochip0:3")?.role == .input)

        try PhysicsPatch(insulationResistanceOhms: 20_000).apply(to: simulator.device(unit: 1))
        #expect(try await eventually(within: 90, poll: .milliseconds(50)) { active(1) == true && active(2) == true }, "\(service.transcript)")
        #expect(active(0) == false, "green goes dark with the alarm")

        try panel.drive("gpiochip0:3", active: true)
        #expect(try await eventually(within: 90, poll: .milliseconds(50)) { active(2) == false }, "mute silences the buzzer\n\(service.transcript)")
        try panel.drive("gpiochip0:3", active: false)
        #expect(active(1) == true, "yellow cannot be cancelled while the fault lasts")

        // The relays' sequence as the panel recorded it: the service starts in alarm, lights green
        // at the first measurement, then yellow and buzzer for the fault, then the buzzer stops.
        let history = panel.outputHistory
        let greenLit = try #require(history.firstIndex { $0.line == "gpiochip0:0" && $0.active })
        let yellowLit = try #require(history[greenLit...].firstIndex { $0.line == "gpiochip0:1" && $0.active })
        let buzzerOn = try #require(history[greenLit...].firstIndex { $0.line == "gpiochip0:2" && $0.active })
        let buzzerOff = try #require(history[buzzerOn...].firstIndex { $0.line == "gpiochip0:2" && !$0.active })
        #expect(history[..<greenLit].contains { $0.line == "gpiochip0:1" && $0.active }, "yellow from the start")
        #expect(greenLit < yellowLit && yellowLit < buzzerOff)
    }
}
