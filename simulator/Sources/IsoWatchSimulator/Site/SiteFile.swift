import Foundation
import IsoWatchCore

/// Reads a site file (YAML) into a `SiteDescription` with the project's one YAML reader
/// (`YAMLValue`, as the service's configuration): every problem is reported with its file, line,
/// column and field path, all at once; unknown keys are errors, so a typo is never ignored;
/// booleans are `true` or `false`.
///
/// ```yaml
/// name: Test bench 2                      # optional, for people
/// seed: 7                                 # seeds everything random (load profiles); default 1
/// panel: { listen: 127.0.0.1:8082 }       # the theatre panel for isowatch's `gpio: {backend: simulator}`
///   # optional in `panel`: a watchdog relay feeding the other relays' coils, held while the
///   # heartbeat line (isowatch's gpio.heartbeat) changed level within timeout_seconds (0.1...60; default 1.5)
///   # watchdog: { heartbeat: "gpiochip0:31", timeout_seconds: 1.5 }
/// endpoints:
///   - id: gw1                             # optional; default tcp0, tcp1… / rtu0, rtu1…
///     listen: 127.0.0.1:1502              # a TCP gateway ([::1]:1502 for IPv6)
///     absent_units: gateway_exception     # or no_reply; default gateway_exception
///     gateway_timeout_seconds: 0.2        # delay before exception 0x0B; default 0.2
///     units:
///       - unit: 1                         # 1...247
///         profile: bender-isometer        # a profile id
///         values:                         # Quantity raw names, SI units
///           insulation_resistance_ohms: 850000
///           leakage_capacitance_farads: { value: 0.8e-6, validity: actual }
///         faults: [earth_connection]      # Fault raw names; default none
///         auxiliary: { name: 1.0 }        # the profile's auxiliary fields
///         parameters: { name: 50000 }     # the profile's writable parameters, initial settings
///         online: true                    # default true
///         wire_fault: { kind: delay, delay_seconds: 0.5 }   # default none
///         measurement_interval_seconds: 1 # default 1 (physics seconds)
///         system:                         # optional: physics drives what the device publishes
///           rating_kva: 5                 # 0.5...10; default 5
///           secondary_voltage_volts: 230  # default 230
///           frequency_hz: 50              # 50 or 60; default 50
///           load: { amperes: 8 }          # constant; or { theatre_day: 18, start_hour: 7 } (peak A)
///           ambient_celsius: 25           # default 25
///           sensor: pt100                 # pt100 or ptc_chain; default pt100
///           insulation_resistance_ohms: 1.0e6   # lumped Re, split evenly over L1/L2; or
///           insulation_l1_ohms: 2.0e6           #   per line (then both)
///           insulation_l2_ohms: 2.0e6
///           leakage_capacitance_farads: 0.8e-6  # lumped Ce; or capacitance_l1_farads/_l2_farads
///           dc_offset_volts: 0            # default 0
///           earth_connected: true         # default true
///           line_connected: true          # default true
///         # with `system`, `values` and `faults` are not allowed: the physics gives them
///   - id: bus1
///     link: /tmp/isowatch/rtu0            # an RTU bus on a pty, symlinked here
///     baud: 19200                         # default 19200
///     parity: E                           # N, E or O; default E
///     data_bits: 8                        # 7 or 8; default 8
///     stop_bits: 1                        # 1 or 2; default 1
///     turnaround_seconds: 0.003           # slave think time; default 0.003
///     units: [...]
/// ```
public enum SiteFile {
    public static func load(file: URL) throws(ConfigurationErrors) -> SiteDescription {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw ConfigurationErrors([
                ConfigurationError(
                    file: file.path, line: 0, column: 0, field: "", reason: "cannot read: \(error.localizedDescription)")
            ])
        }
        return try parse(yaml: text, fileName: file.path)
    }

    public static func parse(yaml: String, fileName: String) throws(ConfigurationErrors) -> SiteDescription {
        let diagnostics = YAMLDiagnostics(file: fileName)
        let site = diagnostics.compose(yaml).flatMap { root in
            read(YAMLValue(node: root, path: "", diagnostics: diagnostics))
        }
        let errors = diagnostics.errors
        guard errors.isEmpty, let site else {
            throw ConfigurationErrors(
                errors.isEmpty ? [ConfigurationError(file: fileName, line: 0, column: 0, field: "", reason: "no site")] : errors)
        }
        return site
    }

    /// The site at `value` (a whole file, or a scenario's inline `site:`), its problems reported
    /// to `value`'s diagnostics under `value`'s path; nil if it has any.
    static func read(_ value: YAMLValue) -> SiteDescription? {
        let before = value.diagnostics.errors.count
        var reader = SiteReader()
        let site = reader.site(value)
        return value.diagnostics.errors.count == before ? site : nil
    }

    static let standardBauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]
}

private struct SiteReader {
    var seed: UInt64 = 1
    /// Counts units with a system, so each theatre-day profile gets its own stream of the seed.
    var systemCount: UInt64 = 0

    mutating func site(_ root: YAMLValue) -> SiteDescription? {
        guard let top = root.mapping(allowedKeys: ["name", "seed", "panel", "endpoints"]) else { return nil }
        var panelListen: PanelListen?
        var panelWatchdog: PanelWatchdog?
        if let panel = top["panel"]?.mapping(allowedKeys: ["listen", "watchdog"]) {
            if let address = panel.required("listen", "HOST:PORT where the panel protocol listens")?.listenAddress() {
                panelListen = PanelListen(host: address.host, port: UInt16(address.port))
            }
            panelWatchdog = panel["watchdog"].flatMap { watchdog($0) }
        }
        _ = top["name"]?.string()
        if let value = top["seed"]?.integer(in: 0...Int.max) { seed = UInt64(value) }
        guard let list = top.required("endpoints", "the list of TCP gateways and RTU buses to serve")?.sequence() else {
            return nil
        }
        var counters = (tcp: 0, rtu: 0)
        let endpoints = list.compactMap { endpoint($0, counters: &counters) }
        var description = SiteDescription(endpoints: endpoints)
        description.seed = seed
        description.panelListen = panelListen
        description.panelWatchdog = panelWatchdog
        return description
    }

    private func watchdog(_ value: YAMLValue) -> PanelWatchdog? {
        guard let fields = value.mapping(allowedKeys: ["heartbeat", "timeout_seconds"]) else { return nil }
        let heartbeat = fields.required("heartbeat", "the heartbeat line, e.g. \"gpiochip0:31\" (isowatch's gpio.heartbeat)")
        // Read before returning, so that a bad timeout is reported together with a bad line.
        let timeout = fields["timeout_seconds"].map { $0.number(in: 0.1...60, unit: "s") } ?? PanelWatchdog.defaultTimeoutSeconds
        guard let heartbeat, let text = heartbeat.string() else { return nil }
        guard let line = PanelWatchdog.lineName(text) else {
            heartbeat.report("must be CHIP:OFFSET or CHIP:\"NAME\" (e.g. gpiochip0:31), got '\(text)'")
            return nil
        }
        guard let timeout else { return nil }
        return PanelWatchdog(heartbeat: line, timeoutSeconds: timeout)
    }

    private static let endpointKeys = [
        "id", "listen", "absent_units", "gateway_timeout_seconds", "link", "baud", "parity", "data_bits", "stop_bits",
        "turnaround_seconds", "units",
    ]
    private static let tcpKeys: Set = ["listen", "absent_units", "gateway_timeout_seconds"]
    private static let rtuKeys: Set = ["link", "baud", "parity", "data_bits", "stop_bits", "turnaround_seconds"]

    private mutating func endpoint(_ value: YAMLValue, counters: inout (tcp: Int, rtu: Int)) -> EndpointDescription? {
        guard let fields = value.mapping(allowedKeys: Self.endpointKeys) else { return nil }
        let isTCP = fields["listen"] != nil
        guard isTCP || fields["link"] != nil else {
            value.report("needs 'listen' (a TCP gateway, HOST:PORT) or 'link' (an RTU bus on a pty)")
            return nil
        }
        for entry in fields.entries where (isTCP ? Self.rtuKeys : Self.tcpKeys).contains(entry.key) {
            fields.report(
                entry.key,
                isTCP ? "only for RTU buses (this endpoint has 'listen')" : "only for TCP gateways (this endpoint has 'link')")
        }
        let defaultID = isTCP ? "tcp\(counters.tcp)" : "rtu\(counters.rtu)"
        if isTCP { counters.tcp += 1 } else { counters.rtu += 1 }
        var id = defaultID
        if let idValue = fields["id"], let text = idValue.string() {
            if text.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) == nil {
                idValue.report("must be letters, digits, '-' or '_' (it appears in URLs), got '\(text)'")
            }
            id = text
        }
        let units = fields.required("units", "the units this endpoint serves")?.sequence()?.compactMap { unit($0) } ?? []
        if isTCP {
            guard let address = fields["listen"]?.listenAddress() else { return nil }
            let timeout = fields["gateway_timeout_seconds"]?.number(in: 0...30, unit: "s")
            var reply = AbsentUnitReply.gatewayException(afterSeconds: timeout ?? 0.2)
            if fields["absent_units"]?.choice([("gateway_exception", false), ("no_reply", true)]) == true {
                reply = .noReply
            }
            return .tcp(id: id, host: address.host, port: UInt16(address.port), absentUnitReply: reply, units: units)
        }
        let link = fields["link"]?.string()
        var line = SerialLine()
        if let baudValue = fields["baud"], let baud = baudValue.integer() {
            if SiteFile.standardBauds.contains(baud) {
                line.baud = baud
            } else {
                baudValue.report("must be one of \(SiteFile.standardBauds.map(String.init).joined(separator: ", ")), got \(baud)")
            }
        }
        if let parity = fields["parity"]?.choice(Parity.allCases.map { ($0.rawValue, $0) }) { line.parity = parity }
        if let bits = fields["data_bits"]?.integer(in: 7...8) { line.dataBits = bits }
        if let bits = fields["stop_bits"]?.integer(in: 1...2) { line.stopBits = bits }
        let turnaround = fields["turnaround_seconds"]?.number(in: 0...1, unit: "s") ?? 0.003
        guard let link else { return nil }
        return .rtu(id: id, linkPath: link, serialLine: line, turnaroundSeconds: turnaround, units: units)
    }

    private static let unitKeys = [
        "unit", "profile", "values", "faults", "auxiliary", "parameters", "online", "wire_fault",
        "measurement_interval_seconds", "system",
    ]

    private mutating func unit(_ value: YAMLValue) -> UnitDescription? {
        guard let fields = value.mapping(allowedKeys: Self.unitKeys) else { return nil }
        let unitValue = fields.required("unit", "the unit id (slave address), 1...247")
        let profileValue = fields.required("profile", "a profile id from the profiles directory")
        guard let unitID = unitValue?.integer(in: 1...247), let profile = profileValue?.string() else { return nil }
        var state = DeviceState()
        for entry in fields["values"]?.mapping(allowedKeys: Quantity.allCases.map(\.rawValue))?.entries ?? [] {
            guard let quantity = Quantity(rawValue: entry.key), let measured = entry.value.measuredValue() else { continue }
            state.values[quantity] = measured
        }
        for faultValue in fields["faults"]?.sequence() ?? [] {
            if let fault = faultValue.choice(Fault.allCases.map { ($0.rawValue, $0) }) { state.faults.insert(fault) }
        }
        for key in ["auxiliary", "parameters"] {
            for entry in fields[key]?.mapping(allowedKeys: nil)?.entries ?? [] {
                guard let number = entry.value.number() else { continue }
                if key == "auxiliary" { state.auxiliary[entry.key] = number } else { state.parameters[entry.key] = number }
            }
        }
        var description = UnitDescription(unit: UInt8(unitID), profileID: profile, state: state)
        if let online = fields["online"]?.bool() { description.online = online }
        if let seconds = fields["measurement_interval_seconds"]?.number(in: 0.05...3600, unit: "s") {
            description.measurementIntervalSeconds = seconds
        }
        if let systemValue = fields["system"] {
            for key in ["values", "faults"] where fields[key] != nil {
                fields.report(key, "not with 'system': the physics gives the values and faults")
            }
            description.system = system(systemValue)
        }
        if let faultValue = fields["wire_fault"] { description.wireFault = faultValue.wireFault() }
        return description
    }

    private static let systemKeys = [
        "rating_kva", "secondary_voltage_volts", "frequency_hz", "load", "ambient_celsius", "sensor",
        "insulation_resistance_ohms", "insulation_l1_ohms", "insulation_l2_ohms", "leakage_capacitance_farads",
        "capacitance_l1_farads", "capacitance_l2_farads", "dc_offset_volts", "earth_connected", "line_connected",
    ]

    private mutating func system(_ value: YAMLValue) -> ITSystemModel? {
        guard let fields = value.mapping(allowedKeys: Self.systemKeys) else { return nil }
        systemCount += 1
        let before = value.diagnostics.errors.count
        func number(_ key: String, _ range: ClosedRange<Double>, _ unit: String, _ fallback: Double) -> Double {
            fields[key]?.number(in: range, unit: unit) ?? fallback
        }
        let ratingVA = 1000 * number("rating_kva", 0.5...10, "kVA", 5)
        let voltage = number("secondary_voltage_volts", 1...250, "V", 230)
        let frequency = number("frequency_hz", 50...60, "Hz", 50)
        if frequency != 50, frequency != 60 { fields.report("frequency_hz", "must be 50 or 60") }
        let ambient = number("ambient_celsius", -20...60, "°C", 25)
        var load = LoadProfile.constant(amperes: 0.35 * ratingVA / voltage)
        if let loadFields = fields["load"]?.mapping(allowedKeys: ["amperes", "theatre_day", "start_hour"]) {
            if let amperes = loadFields["amperes"]?.number(in: 0...200, unit: "A") {
                load = .constant(amperes: amperes)
            } else if let peak = loadFields["theatre_day"]?.number(in: 0...200, unit: "A") {
                let startHour = loadFields["start_hour"]?.number(in: 0...24, unit: "h") ?? 0
                load = .theatreDay(
                    peakAmperes: peak, seed: SplitMix64.mix(seed &+ systemCount), startSecondsOfDay: startHour * 3600)
            } else if loadFields["amperes"] == nil, loadFields["theatre_day"] == nil {
                fields.report("load", "needs 'amperes' (constant) or 'theatre_day' (peak amperes of a theatre's day)")
            }
        }
        var sensor = WindingSensor.pt100(.pt100)
        if fields["sensor"]?.choice([("pt100", false), ("ptc_chain", true)]) == true {
            sensor = .ptcChain(PTCThermistorChain())
        }
        let lumpedOhms = fields["insulation_resistance_ohms"]?.number(in: 1...1e10, unit: "Ω")
        let perLine = ["insulation_l1_ohms", "insulation_l2_ohms"].filter { fields[$0] != nil }
        if lumpedOhms != nil, !perLine.isEmpty {
            fields.report("insulation_resistance_ohms", "give the lumped value or the per-line values, not both")
        } else if perLine.count == 1 {
            fields.report(perLine[0], "give both insulation_l1_ohms and insulation_l2_ohms")
        }
        let lumpedFarads = fields["leakage_capacitance_farads"]?.number(in: 0...1e-3, unit: "F")
        let r1 = lumpedOhms.map { 2 * $0 } ?? number("insulation_l1_ohms", 1...1e10, "Ω", 2e6)
        let r2 = lumpedOhms.map { 2 * $0 } ?? number("insulation_l2_ohms", 1...1e10, "Ω", 2e6)
        let c1 = lumpedFarads.map { $0 / 2 } ?? number("capacitance_l1_farads", 0...1e-3, "F", 0.4e-6)
        let c2 = lumpedFarads.map { $0 / 2 } ?? number("capacitance_l2_farads", 0...1e-3, "F", 0.4e-6)
        let offset = number("dc_offset_volts", -1000...1000, "V", 0)
        let earth = fields["earth_connected"]?.bool() ?? true
        let line = fields["line_connected"]?.bool() ?? true
        guard value.diagnostics.errors.count == before else { return nil }
        return ITSystemModel(
            ratingVoltAmperes: ratingVA, secondaryVoltageVolts: voltage, frequencyHz: frequency, loadProfile: load,
            ambientCelsius: ambient, sensor: sensor,
            line1: ConductorInsulation(insulationResistanceOhms: r1, leakageCapacitanceFarads: c1),
            line2: ConductorInsulation(insulationResistanceOhms: r2, leakageCapacitanceFarads: c2),
            dcOffsetVolts: offset, earthConnected: earth, lineConnected: line)
    }
}
