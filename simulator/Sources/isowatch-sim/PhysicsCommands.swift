import ArgumentParser
import Foundation
import IsoWatchSimulator

struct PhysicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "physics",
        abstract: "Show or change the true IT system behind a physics-driven unit.",
        discussion: """
            isowatch-sim physics --endpoint gw1 --unit 1
            isowatch-sim physics --endpoint gw1 --unit 1 insulation_l1_ohms=40000 capacitance_l2_farads=2e-6
            isowatch-sim physics --endpoint rtu0 --unit 2 load_amperes=35 ambient_celsius=30
            isowatch-sim physics --endpoint rtu0 --unit 2 sensor_wiring=broken earth_connected=false
            isowatch-sim physics --endpoint gw1 --unit 2 self_test_result=fail forced_faults=device
            Keys: insulation_resistance_ohms, insulation_l1_ohms, insulation_l2_ohms,
            leakage_capacitance_farads, capacitance_l1_farads, capacitance_l2_farads, dc_offset_volts,
            load_amperes, load_percent, ambient_celsius, sensor_wiring (intact|broken|shorted),
            earth_connected, line_connected (true|false), self_test_result (pass|fail),
            forced_faults (comma-separated fault names, "" for none).
            """)

    @OptionGroup var options: ControlOptions

    @Option(help: "Endpoint id (see `status`).")
    var endpoint: String

    @Option(help: "Unit id.")
    var unit: UInt8

    @Argument(help: "KEY=VALUE settings of the true system (none: just show it).")
    var assignments: [String] = []

    @Flag(help: "Print the JSON the control interface returns.")
    var json = false

    func run() async throws {
        let client = try ControlClient(options.control)
        let path = "api/v1/endpoints/\(endpoint)/units/\(unit)/physics"
        let view: PhysicsView
        if assignments.isEmpty {
            view = try await client.get(path, as: PhysicsView.self)
        } else {
            var body: [String: Any] = [:]
            for assignment in assignments {
                let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw ValidationError("expected KEY=VALUE, got '\(assignment)'") }
                let (key, text) = (parts[0], parts[1])
                if key == "forced_faults" {
                    body[key] = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                } else if text == "true" || text == "false" {
                    body[key] = text == "true"
                } else if let number = Double(text) {
                    body[key] = number
                } else {
                    body[key] = text
                }
            }
            view = try await client.send(
                "PATCH", path, body: try JSONSerialization.data(withJSONObject: body), as: PhysicsView.self)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(view), as: UTF8.self))
            return
        }
        func number(_ value: Double) -> String { String(format: "%.6g", value) }
        print("[\(view.endpoint)] unit \(view.unit) at physics time \(number(view.physicsSeconds)) s")
        print(
            "  transformer \(number(view.ratingVoltAmperes / 1000)) kVA \(number(view.secondaryVoltageVolts)) V \(number(view.frequencyHz)) Hz; load \(number(view.loadCurrentAmperes)) A (\(number(view.loadPercent)) %)"
        )
        print(
            "  winding \(number(view.windingTemperatureCelsius)) °C (ambient \(number(view.ambientCelsius)) °C); sensor \(view.sensor) \(view.sensorWiring)"
                + (view.sensorOhms.map { " \(number($0)) Ω" } ?? ""))
        print(
            "  insulation L1 \(number(view.insulationL1Ohms)) Ω, L2 \(number(view.insulationL2Ohms)) Ω, lumped \(number(view.insulationResistanceOhms)) Ω; Ce \(number(view.leakageCapacitanceFarads)) F; DC offset \(number(view.dcOffsetVolts)) V"
        )
        print(
            "  earth \(view.earthConnected ? "connected" : "OPEN"), line \(view.lineConnected ? "connected" : "OPEN"); self-test \(view.selfTest) (next: \(view.selfTestResult))"
        )
        print(
            "  device shows \(number(view.deviceInsulationResistanceOhms)) Ω, \(number(view.deviceLeakageCapacitanceFarads)) F; response time \(number(view.deviceResponseTimeSeconds)) s"
        )
        print("  registers: " + StatusCommand.line(view.published))
    }
}

struct PanelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "panel",
        abstract: "Show the theatre panel's lines (relays the service drives), or drive an input.",
        discussion: """
            isowatch-sim panel
            isowatch-sim panel --press gpiochip0:17          # logically active (button pressed)
            isowatch-sim panel --release gpiochip0:17
            isowatch-sim panel --high 'gpiochip0:"OR1_IMD"'  # an electrical level
            """)

    @OptionGroup var options: ControlOptions

    @Option(help: "Make an input line active (a button pressed, a contact signalling).")
    var press: String?

    @Option(help: "Make an input line inactive.")
    var release: String?

    @Option(help: "Drive an input line electrically high.")
    var high: String?

    @Option(help: "Drive an input line electrically low.")
    var low: String?

    @Flag(help: "Print the JSON the control interface returns.")
    var json = false

    func validate() throws {
        guard [press, release, high, low].compactMap({ $0 }).count <= 1 else {
            throw ValidationError("give at most one of --press, --release, --high, --low")
        }
    }

    func run() async throws {
        let client = try ControlClient(options.control)
        var drive: PanelDrive?
        if let press { drive = PanelDrive(line: press, active: true) }
        if let release { drive = PanelDrive(line: release, active: false) }
        if let high { drive = PanelDrive(line: high, electricalHigh: true) }
        if let low { drive = PanelDrive(line: low, electricalHigh: false) }
        if let drive {
            _ = try await client.send(
                "POST", "api/v1/panel/lines", body: try JSONEncoder().encode(drive), as: SimulatedPanel.Line.self)
        }
        let view = try await client.get("api/v1/panel", as: PanelView.self)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(view), as: UTF8.self))
            return
        }
        print("panel \(view.listen ?? "(no panel server)"), \(view.outputChanges) output change(s)")
        if let watchdog = view.watchdog {
            let age = watchdog.lastToggleAgeSeconds.map { String(format: "%.2f s ago", $0) } ?? "never"
            print(
                "  watchdog relay \(watchdog.tripped ? "TRIPPED (outputs de-energised)" : "held"): heartbeat \(watchdog.heartbeat), last edge \(age), timeout \(watchdog.timeoutSeconds) s"
            )
        }
        for line in view.lines {
            let level = line.electricalHigh.map { $0 ? "high" : "low" } ?? "undriven"
            // An output's active state is its relay's coil; an input's, a pressed button or a
            // signalling contact.
            // A line last claimed as an output has `effectively_energised`: behind a dropped
            // watchdog relay its coil has no supply whatever level the line keeps.
            var state =
                (line.effectivelyEnergised ?? line.active).map { active in
                    line.role == .output || line.effectivelyEnergised != nil
                        ? (active ? "energised" : "DE-ENERGISED") : (active ? "ACTIVE" : "inactive")
                } ?? "-"
            if line.effectivelyEnergised == false, line.active == true { state += " (line energised, no coil supply)" }
            let changes = line.role == .output ? "  \(line.changes) change(s)" : ""
            print(
                "  \(line.line)  \(line.role.rawValue)  \(state)  \(level)\(line.activeLow ? " (active low)" : "")  \(line.consumer ?? "")\(changes)"
            )
        }
    }
}
