import Foundation

// `gpio.heartbeat`: a line isowatch toggles while its monitor loop comes round, for a watchdog
// relay on the theatre panel (hardware/wiring/README.md, "A dead process does not release a
// relay"). Documented in the README's "Configuration" section.

/// The heartbeat line for a watchdog relay.
///
/// GPIO drivers keep a released line's last level, so a killed or hung isowatch would leave an
/// energised yellow or buzzer relay energised until systemd restarts it. A retriggerable watchdog
/// relay whose contact feeds those coils only holds while this line keeps changing level.
public struct HeartbeatLineSettings: Sendable, Equatable {
    /// `gpiochip0`, or a path such as `/dev/gpiochip0`.
    public var chip: String
    /// Exactly one of `offset` and `name` is set.
    public var offset: Int?
    public var name: String?
    /// Time between two level changes.
    public var periodSeconds: Double

    /// 0.5 s gives a watchdog module with a 1.5...2 s timeout three or four edges per timeout, so
    /// one late edge on a loaded machine does not drop the relays.
    public static let defaultPeriodSeconds = 0.5
    /// Accepted periods: below 0.1 s the toggling is load for nothing; above 5 s a dead service
    /// would stay silent for longer than the IMD's own response time.
    public static let periodRange = 0.1...5.0

    public init(chip: String, offset: Int? = nil, name: String? = nil, periodSeconds: Double = Self.defaultPeriodSeconds) {
        self.chip = chip
        self.offset = offset
        self.name = name
        self.periodSeconds = periodSeconds
    }
}

extension YAMLValue {
    /// Reads `gpio.heartbeat` and checks that its line serves no system or panel already.
    func heartbeatLineSettings(systems: [SystemConfiguration], panels: [PanelConfiguration]) -> HeartbeatLineSettings? {
        guard let mapping = mapping(allowedKeys: ["chip", "line", "name", "period_seconds"]) else { return nil }
        let chip = mapping.required("chip", "e.g. gpiochip0")?.string()
        let offset = mapping["line"]?.integer(in: 0...65535)
        let name = mapping["name"]?.string()
        switch (mapping["line"], mapping["name"]) {
        case (nil, nil):
            report("needs 'line' (the offset on the chip) or 'name' (the line name)")
            return nil
        case (_?, _?):
            report("needs exactly one of 'line' and 'name', not both")
            return nil
        default:
            break
        }
        let period = mapping["period_seconds"].map {
            $0.number(in: HeartbeatLineSettings.periodRange, unit: "s")
        } ?? HeartbeatLineSettings.defaultPeriodSeconds
        guard let chip, offset != nil || name != nil else { return nil }

        let owners = systems.map { ("system", $0.id, $0.outputs, $0.inputs) } + panels.map { ("panel", $0.id, $0.outputs, $0.inputs) }
        for (kind, id, outputs, inputs) in owners {
            let uses = Self.lineUses(outputs: outputs, inputs: inputs)
            guard let clash = uses.first(where: { use in
                use.chip == chip && ((offset != nil && use.offset == offset) || (name != nil && use.name == name))
            }) else { continue }
            let lineName = offset.map { "line \($0)" } ?? "line '\(name ?? "")'"
            // Reported at the key that names the line, where the fix is made.
            mapping.report(
                offset != nil ? "line" : "name",
                "\(chip) \(lineName) is already the \(clash.role) of \(kind) '\(id)'; the heartbeat needs a line of its own")
            return nil
        }
        guard let period else { return nil }
        return HeartbeatLineSettings(chip: chip, offset: offset, name: name, periodSeconds: period)
    }

    private static func lineUses(outputs: OutputLines, inputs: InputLines) -> [(role: String, chip: String, offset: Int?, name: String?)] {
        let outputRoles: [(String, LineReference?)] = [
            ("green output", outputs.green), ("yellow output", outputs.yellow), ("buzzer output", outputs.buzzer),
            ("common_alarm output", outputs.commonAlarm),
        ] + outputs.indicators.sorted { $0.key < $1.key }.map { ("\($0.key) indicator output", $0.value) }
        let inputRoles: [(String, InputLineReference?)] = [
            ("mute input", inputs.mute), ("test input", inputs.test), ("acknowledge input", inputs.acknowledge),
            ("imd_alarm_contact input", inputs.imdAlarmContact),
        ]
        return outputRoles.compactMap { role, line in line.map { (role, $0.chip, $0.offset, $0.name) } }
            + inputRoles.compactMap { role, line in line.map { (role, $0.chip, $0.offset, $0.name) } }
    }
}
