import ArgumentParser
import Foundation
import IsoWatchCore
import IsoWatchSimulator

struct ScenarioCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenario",
        abstract: "Run scenario files (timelines of faults against a simulated site) or list the library.",
        subcommands: [ScenarioRunCommand.self, ScenarioListCommand.self])
}

struct ScenarioRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the scenario's site and play its timeline, accelerated.",
        discussion: """
            isowatch-sim scenario run simulator/scenarios/slow-insulation-degradation.yaml --time-factor 20 \\
                --service-config /tmp/isowatch-scenario.yaml --start-delay 10
            Start `isowatch run --config /tmp/isowatch-scenario.yaml` within the start delay to watch it.
            """)

    @Argument(help: "The scenario file (YAML).")
    var file: String

    @Option(help: "Physics seconds per wall second (default: the scenario's time_factor).")
    var timeFactor: Double?

    @Option(help: "Replaces the scenario's seed (storm schedules).")
    var seed: UInt64?

    @OptionGroup var profiles: ProfilesOption

    @Option(help: "Control interface HOST:PORT, loopback only; 'none' to run without it.")
    var control: String = "127.0.0.1:8081"

    @Option(help: "Write an isowatch configuration watching every unit of the site to this file.")
    var serviceConfig: String?

    @Option(help: "Serve the theatre panel at HOST:PORT (the configuration then uses it; presses drive it).")
    var panel: String?

    @Option(help: "Wall seconds to serve the site before the timeline starts (time for a service to turn green).")
    var startDelay: Double = 0

    @Flag(help: "Keep serving after the timeline ends, until SIGINT or SIGTERM.")
    var keepRunning = false

    func validate() throws {
        if let timeFactor, !(timeFactor > 0 && timeFactor.isFinite) {
            throw ValidationError("--time-factor must be a positive number, got \(timeFactor)")
        }
        guard startDelay >= 0, startDelay.isFinite else { throw ValidationError("--start-delay must not be negative") }
    }

    func run() async throws {
        let library = try profiles.load()
        var scenario: Scenario
        do {
            scenario = try ScenarioFile.load(file: URL(fileURLWithPath: file), seed: seed)
        } catch {
            throw CleanExit.message("error: scenario file:\n\(error)")
        }
        if let panel {
            guard let address = HostPort(panel) else { throw ValidationError("--panel expects HOST:PORT, got '\(panel)'") }
            scenario.site.panelListen = PanelListen(host: address.host, port: UInt16(address.port))
        }
        let simulator: Simulator
        let runner: ScenarioRunner
        do {
            // Physics-driven devices of the site age at the same pace as the timeline.
            let factor = timeFactor ?? scenario.timeFactor
            simulator = try Simulator(site: scenario.site, profiles: library, clock: SimulationClock(.accelerated(factor: factor)))
            runner = try ScenarioRunner(scenario: scenario, simulator: simulator, timeFactor: factor)
        } catch {
            throw CleanExit.message("error: \(error)")
        }
        defer { simulator.stop() }
        say("scenario \(scenario.name): \(scenario.steps.count) steps over \(scenario.durationSeconds) s at ×\(runner.timeFactor), seed \(scenario.seed)")
        for endpoint in simulator.endpoints {
            say("[\(endpoint.id)] \(endpoint.summary)")
        }
        if let serviceConfig {
            var generator = ScenarioServiceConfiguration()
            generator.httpListen = "127.0.0.1:8080"
            generator.profilesDirectory = URL(fileURLWithPath: profiles.resolvedDirectory).standardizedFileURL.path
            let yaml = generator.yaml(for: scenario, simulator: simulator)
            do {
                try yaml.write(toFile: serviceConfig, atomically: true, encoding: .utf8)
            } catch {
                throw CleanExit.message("error: cannot write \(serviceConfig): \(error.localizedDescription)")
            }
            say("service configuration \(serviceConfig)")
        }

        let presser = simulator.panelServer == nil ? nil : ScenarioServiceConfiguration.panelPresser(scenario: scenario, simulator: simulator)
        try await withThrowingTaskGroup(of: Void.self) { group in
            if control != "none" {
                guard let address = HostPort(control) else { throw ValidationError("--control expects HOST:PORT or none, got '\(control)'") }
                let server = try ControlServer(simulator: simulator, host: address.host, port: address.port)
                group.addTask {
                    try await server.run { port in say("control http://\(address.host):\(port)") }
                }
            }
            group.addTask {
                for await signal in terminationSignals() {
                    say("isowatch-sim: signal \(signal), stopping")
                    return
                }
            }
            group.addTask {
                if startDelay > 0 { try await Task.sleep(for: .seconds(startDelay)) }
                try await runner.run(panel: presser, log: { say($0) })
                guard keepRunning else { return }
                // Serve on until a signal ends the group.
                try await Task.sleep(for: .seconds(365 * 86_400))
            }
            // Whichever ends first (the timeline, or a signal) ends the run.
            try await group.next()
            group.cancelAll()
        }
    }
}

struct ScenarioListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the scenario library with what each one checks.")

    @Option(help: "The scenario directory.")
    var directory: String = "simulator/scenarios"

    func run() throws {
        let files = ScenarioFile.library(directory: URL(fileURLWithPath: directory))
        guard !files.isEmpty else { throw CleanExit.message("no scenario files in \(directory)") }
        var failed = false
        for file in files {
            do {
                let scenario = try ScenarioFile.load(file: file)
                let wall = scenario.durationSeconds / scenario.timeFactor
                say("\(file.lastPathComponent)")
                say("  \(scenario.name): \(scenario.units.count) units, \(scenario.steps.count) steps, \(Int(scenario.durationSeconds)) s of physics at ×\(scenario.timeFactor) (≈\(Int(wall.rounded(.up))) s)")
                if !scenario.summary.isEmpty { say("  \(scenario.summary.split(separator: "\n").first ?? "")") }
            } catch {
                failed = true
                say("\(file.lastPathComponent): \(error)")
            }
        }
        if failed { throw ExitCode.failure }
    }
}
