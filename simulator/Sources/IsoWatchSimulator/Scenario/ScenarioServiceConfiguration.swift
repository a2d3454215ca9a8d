import Foundation
import IsoWatchCore

/// An isowatch configuration (YAML) that watches every unit of a running scenario site: one IT
/// system per unit, named by `UnitReference.systemID`, with its relays and buttons on simulated
/// GPIO lines. CI's end-to-end scenario test and `isowatch-sim scenario run --service-config`
/// both use it, so a test bench sees what CI sees.
public struct ScenarioServiceConfiguration: Sendable {
    /// Chip of the outputs: system i drives lines 4i (green), 4i+1 (yellow), 4i+2 (buzzer), 4i+3 (common alarm).
    public static let outputChip = "gpiochip0"
    /// Chip of the buttons: system i reads lines 3i (mute), 3i+1 (test), 3i+2 (acknowledge), active low.
    public static let inputChip = "gpiochip1"
    /// Where a scenario site's panel watchdog takes its heartbeat (`panel.watchdog.heartbeat`):
    /// line 0 of a chip of its own, so no system's outputs or buttons can ever be on it. The
    /// generated `gpio.heartbeat` names whatever line the site's watchdog names.
    public static let heartbeatLine = "gpiochip2:0"

    public struct Lines: Sendable, Equatable {
        public var green: UInt32, yellow: UInt32, buzzer: UInt32, commonAlarm: UInt32
        public var mute: UInt32, test: UInt32, acknowledge: UInt32

        public func button(_ button: PanelButton) -> UInt32 {
            switch button {
            case .mute: mute
            case .test: test
            case .acknowledge: acknowledge
            }
        }
    }

    public static func lines(systemIndex index: Int) -> Lines {
        let output = UInt32(index) * 4
        let input = UInt32(index) * 3
        return Lines(
            green: output, yellow: output + 1, buzzer: output + 2, commonAlarm: output + 3,
            mute: input, test: input + 1, acknowledge: input + 2)
    }

    /// Lines a simulated chip needs for `systems` systems.
    public static func lineCount(systems: Int) -> UInt32 { UInt32(max(systems, 1) * 4) }

    public var pollIntervalSeconds: Double = 0.5
    /// Above a gateway's 0.2 s report of an absent unit, so a late exception is never taken for
    /// the next unit's answer.
    public var timeoutSeconds: Double = 0.4
    public var retries: Int = 1
    /// Longer than a real site would set (3 s is common): CI runs the scenarios beside the fault
    /// and hostile-client suites on two cores, and a poll thread starved for a few seconds there
    /// is the machine's load, not the scenario. Physics stands still until a communication or
    /// stale alarm the timeline expects is raised, so this lengthens those scenarios only.
    public var staleAfterSeconds: Double = 6
    public var httpListen = "127.0.0.1:0"
    /// Written as `profiles_directory` when set; a configuration file outside the repository
    /// needs it, as the default is `profiles` beside the file.
    public var profilesDirectory: String?

    public init() {}

    /// The configuration for `scenario` served by `simulator` (its actual ports and pty paths).
    public func yaml(for scenario: Scenario, simulator: Simulator) -> String {
        typealias Text = ServiceConfigurationYAML
        var systems: [String] = []
        for (index, reference) in scenario.units.enumerated() {
            guard let endpoint = simulator.endpoint(reference.endpoint), let device = endpoint.device(unit: reference.unit) else { continue }
            let transport: String
            switch endpoint.server {
            case .tcp(let server):
                let host = server.host == "0.0.0.0" ? "127.0.0.1" : server.host
                transport = Text.tcp(host: host, port: "\(server.port)")
            case .rtu(let server):
                // The link when there is one, as a real installation names its adapter by a udev
                // symlink: the pty behind it changes when the adapter is unplugged and put back.
                let line = server.serialLine
                transport = Text.rtu(
                    SerialSettings(
                        device: server.linkPath ?? server.slavePath, baud: line.baud, parity: line.parity,
                        dataBits: line.dataBits, stopBits: line.stopBits))
            }
            let settings = scenario.service[reference] ?? ServiceSettings()
            var thresholds = settings.thresholds
            if thresholds["stale_after_seconds"] == nil { thresholds["stale_after_seconds"] = staleAfterSeconds }
            let thresholdText = thresholds.sorted { $0.key < $1.key }.map { "\($0.key): \(Text.number($0.value))" }.joined(separator: ", ")
            let lines = Self.lines(systemIndex: index)
            let (o, i) = (Self.outputChip, Self.inputChip)
            systems.append(
                Text.system(
                    id: reference.systemID, name: "\(reference) (\(device.profile.id))", ratingKVA: settings.ratingKVA ?? 8,
                    profile: device.profile.id, transport: transport,
                    device: """
                        unit: \(reference.unit)
                        poll_interval_seconds: \(Text.number(pollIntervalSeconds))
                        timeout_seconds: \(Text.number(timeoutSeconds))
                        retries: \(retries)
                        """,
                    sections: """
                        thresholds: { \(thresholdText) }
                        outputs:
                          green: \(Text.line(chip: o, offset: lines.green))
                          yellow: \(Text.line(chip: o, offset: lines.yellow))
                          buzzer: \(Text.line(chip: o, offset: lines.buzzer))
                          common_alarm: \(Text.line(chip: o, offset: lines.commonAlarm))
                        inputs:
                          mute: \(Text.line(chip: i, offset: lines.mute, activeLow: true))
                          test: \(Text.line(chip: i, offset: lines.test, activeLow: true))
                          acknowledge: \(Text.line(chip: i, offset: lines.acknowledge, activeLow: true))
                        """))
        }
        return "# Generated by isowatch-sim for scenario '\(scenario.name)'.\n"
            + Text.file(
                site: "Scenario \(scenario.name)", http: "listen: \"\(httpListen)\"", gpio: gpio(simulator),
                topLevel: profilesDirectory.map { ["profiles_directory: \"\($0)\""] } ?? [], systems: systems) + "\n"
    }

    /// The simulator's own panel when it serves one (a separate isowatch process then drives the
    /// simulator's lamps and reads its buttons), else a simulated chip inside the service.
    private func gpio(_ simulator: Simulator) -> String {
        guard let server = simulator.panelServer else { return "backend: simulated" }
        let host = server.host.contains(":") ? "[\(server.host)]" : server.host
        let heartbeat = simulator.panel.watchdog.flatMap { Self.heartbeatYAML($0.heartbeat) }.map { ", heartbeat: \($0)" } ?? ""
        return "backend: simulator, panel: \"\(host):\(server.port)\"\(heartbeat)"
    }

    /// `gpiochip0:31` → `{ chip: gpiochip0, line: 31 }`; `gpiochip0:"HB"` → `{ chip: gpiochip0, name: "HB" }`.
    static func heartbeatYAML(_ line: String) -> String? {
        guard let name = PanelWatchdog.lineName(line), let colon = name.firstIndex(of: ":") else { return nil }
        let chip = name[..<colon]
        let selector = name[name.index(after: colon)...]
        if selector.hasPrefix("\"") { return "{ chip: \(chip), name: \(selector) }" }
        return "{ chip: \(chip), line: \(selector) }"
    }

    /// Presses a button on the simulator's panel the way a finger does: active, held past the
    /// service's debounce (default 0.05 s, at most 2 s), released. For `ScenarioRunner.run(panel:)`
    /// when a separate service watches the simulator through its panel.
    public static func panelPresser(
        scenario: Scenario, simulator: Simulator, holdSeconds: Double = 0.3
    ) -> @Sendable (UnitReference, PanelButton) async throws -> Void {
        let units = scenario.units
        return { unit, button in
            guard let index = units.firstIndex(of: unit) else { return }
            let line = "\(inputChip):\(lines(systemIndex: index).button(button))"
            func drive(_ active: Bool) throws(ScenarioRunError) {
                do {
                    try simulator.panel.drive(line, active: active)
                } catch {
                    throw ScenarioRunError("\(unit) \(button.rawValue): \(error) (is the service connected to the panel?)")
                }
            }
            try drive(true)
            try await Task.sleep(for: .seconds(holdSeconds))
            try drive(false)
        }
    }
}
