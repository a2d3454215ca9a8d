import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The `physics` and `panel` verbs of the built `isowatch-sim`, against a simulator's control
/// interface.
@Suite struct PhysicsCommandTests {
    @Test func test_physicsVerbShowsAndSetsTheTruthAndPanelVerbDrivesAnInput() async throws {
        let simulator = try TestSimulator(
            site: SiteDescription(endpoints: [
                .tcp(id: "gw1", units: [
                    UnitDescription(unit: 1, profileID: "bender-isometer", system: ITSystemModel(ratingVoltAmperes: 8_000))
                ])
            ]),
            clock: SimulationClock(.manual))
        defer { simulator.stop() }
        let control = try await simulator.startControl().absoluteString

        let set = try await SimulatorCommandTests.run([
            "physics", "--control", control, "--endpoint", "gw1", "--unit", "1", "insulation_l1_ohms=40000",
            "earth_connected=false", "sensor_wiring=shorted", "forced_faults=device", "--json",
        ])
        #expect(set.status == 0, "\(set.output)")
        let view = try JSONDecoder().decode(PhysicsView.self, from: Data(set.output.utf8))
        #expect(view.insulationL1Ohms == 40_000 && !view.earthConnected && view.sensorWiring == "shorted")
        #expect(view.forcedFaults == ["device"])
        let physics = try #require(simulator.device(unit: 1).physics)
        #expect(physics.system.line1.insulationResistanceOhms == 40_000 && !physics.system.earthConnected)

        let shown = try await SimulatorCommandTests.run(["physics", "--control", control, "--endpoint", "gw1", "--unit", "1"])
        #expect(shown.status == 0 && shown.output.contains("insulation L1 40000 Ω") && shown.output.contains("earth OPEN"))

        let refused = try await SimulatorCommandTests.run([
            "physics", "--control", control, "--endpoint", "gw1", "--unit", "1", "sensor_wiring=loose",
        ])
        #expect(refused.status != 0 && refused.output.contains("expected intact, broken or shorted"))

        let pressed = try await SimulatorCommandTests.run(["panel", "--control", control, "--high", "gpiochip0:19"])
        #expect(pressed.status == 0 && pressed.output.contains("gpiochip0:19"), "\(pressed.output)")
        #expect(simulator.simulator.panel.line("gpiochip0:19")?.electricalHigh == true)
    }
}
