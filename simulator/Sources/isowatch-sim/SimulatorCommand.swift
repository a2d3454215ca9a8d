import ArgumentParser

@main
struct SimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isowatch-sim",
        abstract: "Simulated insulation monitors over Modbus TCP and Modbus RTU (on a pseudo-terminal).",
        discussion: "See simulator/README.md for test-bench recipes.",
        subcommands: [ServeCommand.self, SetCommand.self, StatusCommand.self, DropConnectionsCommand.self, UnplugCommand.self, ReplugCommand.self, WaveformCommand.self, ScenarioCommand.self,
            PhysicsCommand.self, PanelCommand.self])
}
