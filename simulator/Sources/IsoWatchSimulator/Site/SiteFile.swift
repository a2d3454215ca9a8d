import Foundation
import IsoWatchCore
import Yams

/// Reads a site file (YAML) into a `SiteDescription`. Every problem is reported with its file,
/// line, column and field path, all at once; unknown keys are errors, so a typo is never ignored.
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
        let reader = SiteReader(file: fileName)
        let site = reader.site(yaml)
        guard reader.errors.isEmpty, let site else {
            throw ConfigurationErrors(
                reader.errors.isEmpty
                    ? [ConfigurationError(file: fileName, line: 0, column: 0, field: "", reason: "no site")]
                    : reader.errors)
        }
        return site
    }

    static let standardBauds = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]
}

private final class SiteReader: YAMLNodeReader {
    var seed: UInt64 = 1
    /// Counts units with a system, so each theatre-day profile gets its own stream of the seed.
    var systemCount: UInt64 = 0

    func site(_ yaml: String) -> SiteDescription? {
        guard let root = root(of: yaml, expected: "a mapping with 'endpoints'") else { return nil }
        guard let top = mapping(root, "", allowed: ["name", "seed", "panel", "endpoints"]) else { return nil }
        var panelListen: PanelListen?
        var panelWatchdog: PanelWatchdog?
        if let node = top["panel"], let fields = mapping(node, "panel", allowed: ["listen", "watchdog"]) {
            if let listenNode = fields["listen"], let address = listen(listenNode, "panel.listen") {
                panelListen = PanelListen(host: address.host, port: address.port)
            } else if fields["listen"] == nil {
                report("panel.listen", node, "required: HOST:PORT where the panel protocol listens")
            }
            if let watchdogNode = fields["watchdog"] { panelWatchdog = watchdog(watchdogNode, "panel.watchdog") }
        }
        if let name = top["name"] { _ = string(name, "name") }
        if let node = top["seed"], let value = integer(node, "seed", in: 0...Int.max) { seed = UInt64(value) }
        guard let list = top["endpoints"] else {
            report("endpoints", root, "required: the list of TCP gateways and RTU buses to serve")
            return nil
        }
        guard let nodes = sequence(list, "endpoints") else { return nil }
        var counters = (tcp: 0, rtu: 0)
        let endpoints = nodes.enumerated().compactMap { index, node in
            endpoint(node, "endpoints[\(index)]", counters: &counters)
        }
        var description = SiteDescription(endpoints: endpoints)
        description.seed = seed
        description.panelListen = panelListen
        description.panelWatchdog = panelWatchdog
        return description
    }

    private func watchdog(_ node: Node, _ path: String) -> PanelWatchdog? {
        guard let fields = mapping(node, path, allowed: ["heartbeat", "timeout_seconds"]) else { return nil }
        guard let heartbeatNode = fields["heartbeat"] else {
            report("\(path).heartbeat", node, "required: the heartbeat line, e.g. \"gpiochip0:31\" (isowatch's gpio.heartbeat)")
            return nil
        }
        let timeout = fields["timeout_seconds"].map { number($0, "\(path).timeout_seconds", in: 0.1...60) }
            ?? PanelWatchdog.defaultTimeoutSeconds
        guard let text = string(heartbeatNode, "\(path).heartbeat") else { return nil }
        guard let line = PanelWatchdog.lineName(text) else {
            report("\(path).heartbeat", heartbeatNode, "expected CHIP:OFFSET or CHIP:\"NAME\" (e.g. gpiochip0:31), got '\(text)'")
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

    private func endpoint(_ node: Node, _ path: String, counters: inout (tcp: Int, rtu: Int)) -> EndpointDescription? {
        guard let fields = mapping(node, path, allowed: Self.endpointKeys) else { return nil }
        let isTCP = fields["listen"] != nil
        guard isTCP || fields["link"] != nil else {
            report(path, node, "needs 'listen' (a TCP gateway, HOST:PORT) or 'link' (an RTU bus on a pty)")
            return nil
        }
        for key in fields.keys.sorted() where (isTCP ? Self.rtuKeys : Self.tcpKeys).contains(key) {
            report("\(path).\(key)", fields[key], isTCP ? "only for RTU buses (this endpoint has 'listen')" : "only for TCP gateways (this endpoint has 'link')")
        }
        let defaultID = isTCP ? "tcp\(counters.tcp)" : "rtu\(counters.rtu)"
        if isTCP { counters.tcp += 1 } else { counters.rtu += 1 }
        var id = defaultID
        if let node = fields["id"], let text = string(node, "\(path).id") {
            if text.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) == nil {
                report("\(path).id", node, "must be letters, digits, '-' or '_' (it appears in URLs), got '\(text)'")
            }
            id = text
        }
        let units: [UnitDescription]
        if let list = fields["units"], let nodes = sequence(list, "\(path).units") {
            units = nodes.enumerated().compactMap { unit($1, "\(path).units[\($0)]") }
        } else {
            if fields["units"] == nil { report("\(path).units", node, "required: the units this endpoint serves") }
            units = []
        }
        if isTCP {
            guard let listenNode = fields["listen"], let address = listen(listenNode, "\(path).listen") else { return nil }
            var reply = AbsentUnitReply.gatewayException(afterSeconds: 0.2)
            let timeout = fields["gateway_timeout_seconds"].flatMap { number($0, "\(path).gateway_timeout_seconds", in: 0...30) }
            if let node = fields["absent_units"] {
                switch string(node, "\(path).absent_units") {
                case "gateway_exception": reply = .gatewayException(afterSeconds: timeout ?? 0.2)
                case "no_reply": reply = .noReply
                case let other?: report("\(path).absent_units", node, "expected gateway_exception or no_reply, got '\(other)'")
                case nil: break
                }
            } else if let timeout {
                reply = .gatewayException(afterSeconds: timeout)
            }
            return .tcp(id: id, host: address.host, port: address.port, absentUnitReply: reply, units: units)
        }
        let link = string(fields["link"]!, "\(path).link")
        var line = SerialLine()
        if let node = fields["baud"], let baud = integer(node, "\(path).baud") {
            if SiteFile.standardBauds.contains(baud) {
                line.baud = baud
            } else {
                report("\(path).baud", node, "expected one of \(SiteFile.standardBauds.map(String.init).joined(separator: ", ")), got \(baud)")
            }
        }
        if let node = fields["parity"], let text = string(node, "\(path).parity") {
            if let parity = Parity(rawValue: text.uppercased()) {
                line.parity = parity
            } else {
                report("\(path).parity", node, "expected N, E or O, got '\(text)'")
            }
        }
        if let node = fields["data_bits"], let bits = integer(node, "\(path).data_bits", in: 7...8) { line.dataBits = bits }
        if let node = fields["stop_bits"], let bits = integer(node, "\(path).stop_bits", in: 1...2) { line.stopBits = bits }
        let turnaround = fields["turnaround_seconds"].flatMap { number($0, "\(path).turnaround_seconds", in: 0...1) } ?? 0.003
        return .rtu(id: id, linkPath: link, serialLine: line, turnaroundSeconds: turnaround, units: units)
    }

    private func unit(_ node: Node, _ path: String) -> UnitDescription? {
        let keys = [
            "unit", "profile", "values", "faults", "auxiliary", "parameters", "online", "wire_fault",
            "measurement_interval_seconds", "system",
        ]
        guard let fields = mapping(node, path, allowed: keys) else { return nil }
        guard let unitNode = fields["unit"] else {
            report("\(path).unit", node, "required: the unit id (slave address), 1...247")
            return nil
        }
        guard let profileNode = fields["profile"] else {
            report("\(path).profile", node, "required: a profile id from the profiles directory")
            return nil
        }
        guard let unitID = integer(unitNode, "\(path).unit", in: 1...247), let profile = string(profileNode, "\(path).profile")
        else { return nil }
        var state = DeviceState()
        if let node = fields["values"], let values = mapping(node, "\(path).values", allowed: Quantity.allCases.map(\.rawValue)) {
            for (key, valueNode) in values {
                guard let quantity = Quantity(rawValue: key), let value = measured(valueNode, "\(path).values.\(key)") else { continue }
                state.values[quantity] = value
            }
        }
        if let node = fields["faults"], let list = sequence(node, "\(path).faults") {
            for (index, faultNode) in list.enumerated() {
                guard let name = string(faultNode, "\(path).faults[\(index)]") else { continue }
                if let fault = Fault(rawValue: name) {
                    state.faults.insert(fault)
                } else {
                    report("\(path).faults[\(index)]", faultNode, "expected one of \(Fault.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
                }
            }
        }
        for key in ["auxiliary", "parameters"] {
            guard let node = fields[key], let entries = mapping(node, "\(path).\(key)", allowed: nil) else { continue }
            for (name, valueNode) in entries {
                guard let value = number(valueNode, "\(path).\(key).\(name)") else { continue }
                if key == "auxiliary" { state.auxiliary[name] = value } else { state.parameters[name] = value }
            }
        }
        var description = UnitDescription(unit: UInt8(unitID), profileID: profile, state: state)
        if let node = fields["online"], let online = bool(node, "\(path).online") { description.online = online }
        if let node = fields["measurement_interval_seconds"],
            let seconds = number(node, "\(path).measurement_interval_seconds", in: 0.05...3600)
        {
            description.measurementIntervalSeconds = seconds
        }
        if let node = fields["system"] {
            for key in ["values", "faults"] where fields[key] != nil {
                report("\(path).\(key)", fields[key], "not with 'system': the physics gives the values and faults")
            }
            description.system = system(node, "\(path).system")
        }
        if let node = fields["wire_fault"] {
            do {
                description.wireFault = try YAMLDecoder().decode(WireFault.self, from: node)
            } catch let DecodingError.dataCorrupted(context) {
                report("\(path).wire_fault", node, context.debugDescription)
            } catch let DecodingError.keyNotFound(key, _) {
                report("\(path).wire_fault.\(key.stringValue)", node, "required for this kind")
            } catch {
                report("\(path).wire_fault", node, "expected {kind: \(WireFault.Kind.names.joined(separator: "|")), ...}")
            }
        }
        return description
    }

    private static let systemKeys = [
        "rating_kva", "secondary_voltage_volts", "frequency_hz", "load", "ambient_celsius", "sensor",
        "insulation_resistance_ohms", "insulation_l1_ohms", "insulation_l2_ohms", "leakage_capacitance_farads",
        "capacitance_l1_farads", "capacitance_l2_farads", "dc_offset_volts", "earth_connected", "line_connected",
    ]

    private func system(_ node: Node, _ path: String) -> ITSystemModel? {
        guard let fields = mapping(node, path, allowed: Self.systemKeys) else { return nil }
        systemCount += 1
        let before = errors.count
        func value(_ key: String, _ range: ClosedRange<Double>, _ fallback: Double) -> Double {
            fields[key].flatMap { number($0, "\(path).\(key)", in: range) } ?? fallback
        }
        let ratingVA = 1000 * value("rating_kva", 0.5...10, 5)
        let voltage = value("secondary_voltage_volts", 1...250, 230)
        let frequency = value("frequency_hz", 50...60, 50)
        if let node = fields["frequency_hz"], frequency != 50, frequency != 60 {
            report("\(path).frequency_hz", node, "expected 50 or 60")
        }
        let ambient = value("ambient_celsius", -20...60, 25)
        var load = LoadProfile.constant(amperes: 0.35 * ratingVA / voltage)
        if let node = fields["load"], let entries = mapping(node, "\(path).load", allowed: ["amperes", "theatre_day", "start_hour"]) {
            if let amperes = entries["amperes"].flatMap({ number($0, "\(path).load.amperes", in: 0...200) }) {
                load = .constant(amperes: amperes)
            } else if let peak = entries["theatre_day"].flatMap({ number($0, "\(path).load.theatre_day", in: 0...200) }) {
                let startHour = entries["start_hour"].flatMap { number($0, "\(path).load.start_hour", in: 0...24) } ?? 0
                load = .theatreDay(
                    peakAmperes: peak, seed: SplitMix64.mix(seed &+ systemCount), startSecondsOfDay: startHour * 3600)
            } else if entries["amperes"] == nil, entries["theatre_day"] == nil {
                report("\(path).load", node, "needs 'amperes' (constant) or 'theatre_day' (peak amperes of a theatre's day)")
            }
        }
        var sensor = WindingSensor.pt100(.pt100)
        if let node = fields["sensor"], let text = string(node, "\(path).sensor") {
            switch text {
            case "pt100": break
            case "ptc_chain": sensor = .ptcChain(PTCThermistorChain())
            default: report("\(path).sensor", node, "expected pt100 or ptc_chain, got '\(text)'")
            }
        }
        let lumpedOhms = fields["insulation_resistance_ohms"].flatMap { number($0, "\(path).insulation_resistance_ohms", in: 1...1e10) }
        let perLine = ["insulation_l1_ohms", "insulation_l2_ohms"].filter { fields[$0] != nil }
        if lumpedOhms != nil, !perLine.isEmpty {
            report("\(path).insulation_resistance_ohms", fields["insulation_resistance_ohms"], "give the lumped value or the per-line values, not both")
        } else if perLine.count == 1 {
            report("\(path).\(perLine[0])", fields[perLine[0]], "give both insulation_l1_ohms and insulation_l2_ohms")
        }
        let lumpedFarads = fields["leakage_capacitance_farads"].flatMap { number($0, "\(path).leakage_capacitance_farads", in: 0...1e-3) }
        let r1 = lumpedOhms.map { 2 * $0 } ?? value("insulation_l1_ohms", 1...1e10, 2e6)
        let r2 = lumpedOhms.map { 2 * $0 } ?? value("insulation_l2_ohms", 1...1e10, 2e6)
        let c1 = lumpedFarads.map { $0 / 2 } ?? value("capacitance_l1_farads", 0...1e-3, 0.4e-6)
        let c2 = lumpedFarads.map { $0 / 2 } ?? value("capacitance_l2_farads", 0...1e-3, 0.4e-6)
        let offset = value("dc_offset_volts", -1000...1000, 0)
        let earth = fields["earth_connected"].flatMap { bool($0, "\(path).earth_connected") } ?? true
        let line = fields["line_connected"].flatMap { bool($0, "\(path).line_connected") } ?? true
        guard errors.count == before else { return nil }
        return ITSystemModel(
            ratingVoltAmperes: ratingVA, secondaryVoltageVolts: voltage, frequencyHz: frequency, loadProfile: load,
            ambientCelsius: ambient, sensor: sensor,
            line1: ConductorInsulation(insulationResistanceOhms: r1, leakageCapacitanceFarads: c1),
            line2: ConductorInsulation(insulationResistanceOhms: r2, leakageCapacitanceFarads: c2),
            dcOffsetVolts: offset, earthConnected: earth, lineConnected: line)
    }

    private func listen(_ node: Node, _ path: String) -> (host: String, port: UInt16)? {
        guard let text = string(node, path) else { return nil }
        guard let address = HostPort(text) else {
            report(path, node, "expected HOST:PORT (port 0...65535, 0 for any free port), got '\(text)'")
            return nil
        }
        return (address.host, UInt16(address.port))
    }
}
