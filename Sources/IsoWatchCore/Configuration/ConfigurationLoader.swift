import Foundation
import Yams

// The file format is documented, with every key, default and limit, in the README's
// "Configuration" section; keep the two in step.

/// Loads and validates the configuration file.
public enum ConfigurationLoader {
    /// Reads `file`. When `profiles` is nil the profile library is loaded from the configured
    /// profiles directory, and its problems are reported with the configuration's.
    public static func load(file: URL, profiles: ProfileLibrary? = nil) throws(ConfigurationErrors) -> Configuration {
        let text: String
        let contents: Data
        do {
            contents = try Data(contentsOf: file)
            guard let decoded = String(data: contents, encoding: .utf8) else {
                throw CocoaError(.fileReadInapplicableStringEncoding)
            }
            text = decoded
        } catch {
            throw ConfigurationErrors([
                ConfigurationError(
                    file: file.path, line: 0, column: 0, field: "",
                    reason: "cannot read the configuration: \(error.localizedDescription)")
            ])
        }
        var configuration = try parse(
            yaml: text, fileName: file.path, baseDirectory: file.deletingLastPathComponent(), profiles: profiles)
        // The file's bytes as read, not the text re-encoded: its hash is what `sha256sum` says.
        configuration.source = ConfigurationSource(
            path: file.path, contents: contents, directory: file.deletingLastPathComponent(), isFile: true)
        return configuration
    }

    /// Parses configuration text. `fileName` appears in messages; relative paths are resolved
    /// against `baseDirectory`.
    public static func parse(yaml: String, fileName: String, baseDirectory: URL, profiles: ProfileLibrary?)
        throws(ConfigurationErrors) -> Configuration
    {
        let diagnostics = YAMLDiagnostics(file: fileName)
        var extraErrors: [ConfigurationError] = []
        var parser = ConfigurationParser(diagnostics: diagnostics, baseDirectory: baseDirectory, library: profiles)
        let configuration = diagnostics.compose(yaml).flatMap { root in
            parser.configuration(YAMLValue(node: root, path: "", diagnostics: diagnostics), extraErrors: &extraErrors)
        }
        let errors = diagnostics.errors + extraErrors
        guard errors.isEmpty, var configuration else { throw ConfigurationErrors(errors) }
        configuration.source = ConfigurationSource(path: fileName, contents: Data(yaml.utf8), directory: baseDirectory)
        return configuration
    }
}

private struct ConfigurationParser {
    let diagnostics: YAMLDiagnostics
    let baseDirectory: URL
    var library: ProfileLibrary?

    /// A parsed system with the positions needed for cross-checks.
    struct Located {
        var system: SystemConfiguration
        var path: String
        var line: Int
        var idMark: Mark?
        var unitMark: Mark?
        var transportMark: Mark?
        var outputMarks: [String: Mark?]
        var inputMarks: [String: Mark?] = [:]
    }

    mutating func configuration(_ root: YAMLValue, extraErrors: inout [ConfigurationError]) -> Configuration? {
        guard let top = root.mapping(allowedKeys: [
            "site", "http", "gpio", "profiles_directory", "systems", "panels", "storage", "metrics", "bms",
        ]) else {
            return nil
        }
        let site = top.required("site")?.mapping(allowedKeys: ["name"]).flatMap { $0.required("name")?.string() }
        let http = top["http"].map(httpSettings) ?? HTTPSettings()
        let gpio = top.required("gpio", "which GPIO backend drives the alarm lines: libgpiod, simulated or simulator")?
            .mapping(allowedKeys: ["backend", "panel", "heartbeat"])
        let backend = gpio?.required("backend", "libgpiod, simulated or simulator")?
            .choice(GPIOBackendKind.allCases.map { ($0.rawValue, $0) })
        var panel: HostPort?
        if backend == .simulator, let value = gpio?.required("panel", "HOST:PORT of isowatch-sim's panel (its site's panel.listen)"),
            let text = value.string()
        {
            panel = HostPort(text).flatMap { $0.port > 0 ? $0 : nil }
            if panel == nil { value.report("must be HOST:PORT with a port in 1...65535 (e.g. 127.0.0.1:8082), got '\(text)'") }
        } else if backend != nil, backend != .simulator, gpio?["panel"] != nil {
            gpio?.report("panel", "only with backend: simulator")
        }

        var profilesDirectory = baseDirectory.appendingPathComponent("profiles")
        let directoryValue = top["profiles_directory"]
        if let directoryValue, let path = directoryValue.string() {
            profilesDirectory = path.hasPrefix("/")
                ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
        }
        profilesDirectory = profilesDirectory.standardized
        if library == nil {
            do {
                library = try ProfileLibrary.load(directory: profilesDirectory)
            } catch {
                if let directoryValue {
                    directoryValue.report("the profile library at \(profilesDirectory.path) does not load (see the errors that follow)")
                }
                extraErrors.append(contentsOf: error.errors)
            }
        }

        var located: [Located] = []
        if let systemsValue = top.required("systems", "a list of the medical IT systems to monitor") {
            if let list = systemsValue.sequence() {
                if list.isEmpty { systemsValue.report("must list at least one system") }
                located = list.compactMap(system)
            }
        }
        crossCheck(located)
        let panels = top["panels"].map { self.panels($0, systems: located) } ?? []
        let heartbeat = gpio?["heartbeat"]?.heartbeatLineSettings(systems: located.map(\.system), panels: panels)

        let storage = top["storage"]?.storageConfiguration(baseDirectory: baseDirectory)
        let metrics = top["metrics"]?.metricsSettings() ?? MetricsSettings()
        let bms = top["bms"]?.bmsSettings()

        guard let site, let backend else { return nil }
        var configuration = Configuration(
            site: Site(name: site), http: http, gpio: GPIOSettings(backend: backend, panel: panel, heartbeat: heartbeat),
            profilesDirectory: profilesDirectory, systems: located.map(\.system), panels: panels)
        configuration.storage = storage
        configuration.metrics = metrics
        configuration.bms = bms
        return configuration
    }

    // MARK: - Sections

    func httpSettings(_ value: YAMLValue) -> HTTPSettings {
        guard
            let mapping = value.mapping(allowedKeys: [
                "listen", "tls", "open_read", "users_file", "session_lifetime_seconds", "session_idle_minutes", "metrics",
                "idle_timeout_seconds", "max_connections", "max_connections_per_client", "max_stream_clients",
            ])
        else { return HTTPSettings() }
        var settings = HTTPSettings()
        if let listen = mapping["listen"], let text = listen.string() {
            if let address = HostPort(text) {
                // Port 0 lets the kernel choose (the service logs the port it got): for test benches
                // that run several instances side by side.
                settings.host = address.host
                settings.port = address.port
            } else {
                listen.report("must be HOST:PORT with a port in 0...65535 (e.g. 127.0.0.1:8080, or [::1]:8080), got '\(text)'")
            }
        }
        func path(_ value: YAMLValue) -> URL? {
            guard let text = value.string() else { return nil }
            return (text.hasPrefix("/") ? URL(fileURLWithPath: text) : baseDirectory.appendingPathComponent(text)).standardized
        }
        if let tls = mapping["tls"]?.mapping(allowedKeys: ["certificate", "private_key"]) {
            let certificate = tls.required("certificate", "a PEM certificate chain").flatMap(path)
            let key = tls.required("private_key", "the PEM private key of the certificate").flatMap(path)
            if let certificate, let key { settings.tls = TLSFiles(certificateChain: certificate, privateKey: key) }
        }
        if let openRead = mapping["open_read"]?.bool() { settings.openRead = openRead }
        if let users = mapping["users_file"] { settings.usersFile = path(users) }
        if let lifetime = mapping["session_lifetime_seconds"]?.number(in: 1...604_800, unit: "s") {
            settings.sessionLifetimeSeconds = lifetime
        }
        if let idle = mapping["session_idle_minutes"]?.number(in: 1...1440, unit: "min") {
            settings.sessionIdleMinutes = idle
        }
        if let idle = mapping["idle_timeout_seconds"]?.number(in: 1...3600, unit: "s") {
            settings.idleTimeoutSeconds = idle
        }
        if let connections = mapping["max_connections"]?.integer(in: 1...1000) {
            settings.maximumConnections = connections
        }
        if let perClient = mapping["max_connections_per_client"]?.integer(in: 1...1000) {
            settings.maximumConnectionsPerClient = perClient
        }
        if let streams = mapping["max_stream_clients"]?.integer(in: 1...1000) {
            settings.maximumStreamClients = streams
        }
        if let metrics = mapping["metrics"], let text = metrics.string() {
            if let access = MetricsAccess(rawValue: text) {
                settings.metrics = access
            } else {
                metrics.report("must be open or signed_in, got '\(text)'")
            }
        }
        return settings
    }

    func system(_ value: YAMLValue) -> Located? {
        guard
            let mapping = value.mapping(allowedKeys: [
                "id", "name", "location", "transformer", "device", "thresholds", "outputs", "inputs", "alarms", "sensors",
            ])
        else { return nil }
        let id = mapping.required("id").flatMap { idValue -> String? in
            guard let id = idValue.string() else { return nil }
            let valid = !id.isEmpty
                && id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
            if !valid {
                idValue.report("must be lower-case letters, digits and '-' (it appears in URLs), got '\(id)'")
                return nil
            }
            return id
        }
        let name = mapping.required("name")?.string()
        let location = mapping["location"]?.string() ?? ""
        let transformer = mapping.required("transformer").flatMap(self.transformer)
        let device = mapping.required("device").flatMap(self.device)
        let thresholds = mapping["thresholds"].map { self.thresholds($0, pollInterval: device?.configuration.pollIntervalSeconds) }
            ?? Thresholds()
        if mapping["thresholds"] == nil, let device, Thresholds().staleAfterSeconds <= device.configuration.pollIntervalSeconds {
            mapping.report(
                "thresholds",
                "the default stale_after_seconds (\(YAMLValue.format(Thresholds().staleAfterSeconds))) is not above poll_interval_seconds (\(YAMLValue.format(device.configuration.pollIntervalSeconds))): set it explicitly"
            )
        }
        let (outputs, outputMarks) = mapping["outputs"].map { self.outputs($0) } ?? (OutputLines(), [:])
        let (inputs, inputMarks) = mapping["inputs"].map { self.inputs($0) } ?? (InputLines(), [:])
        let alarms = mapping["alarms"]?.alarmTiming() ?? AlarmTiming()
        let sensors = mapping["sensors"]?.systemSensors() ?? SystemSensors()

        guard let id, let name, let transformer, let device else { return nil }
        return Located(
            system: SystemConfiguration(
                id: id, name: name, location: location, transformer: transformer, device: device.configuration,
                thresholds: thresholds, outputs: outputs, inputs: inputs, alarms: alarms, sensors: sensors),
            path: value.path, line: mapping["id"]?.mark?.line ?? value.mark?.line ?? 0, idMark: mapping["id"]?.mark,
            unitMark: device.unitMark,
            transportMark: device.transportMark, outputMarks: outputMarks, inputMarks: inputMarks)
    }

    func transformer(_ value: YAMLValue) -> TransformerRating? {
        guard
            let mapping = value.mapping(allowedKeys: ["rating_kva", "secondary_voltage_volts", "rated_current_amperes"])
        else { return nil }
        var rating: Double?
        if let ratingValue = mapping.required("rating_kva"), let kva = ratingValue.number() {
            if (0.5...10).contains(kva) {
                rating = kva
            } else {
                ratingValue.report(
                    "must be 0.5...10 kVA: IEC 61558-2-15 rates medical isolating transformers from 0.5 to 10 kVA, got \(YAMLValue.format(kva))"
                )
            }
        }
        var voltage: Double?
        if let voltageValue = mapping.required("secondary_voltage_volts"), let volts = voltageValue.number() {
            if volts > 0, volts <= 250 {
                voltage = volts
            } else {
                voltageValue.report(
                    "must be above 0 and at most 250 V: IEC 61558-2-15 limits the secondary of a medical isolating transformer to 250 V AC, got \(YAMLValue.format(volts))"
                )
            }
        }
        let current = mapping["rated_current_amperes"]?.number(in: 0.1...200, unit: "A")
        guard let rating, let voltage else { return nil }
        if mapping["rated_current_amperes"] != nil, current == nil { return nil }
        return TransformerRating(ratingKVA: rating, secondaryVoltageVolts: voltage, ratedCurrentAmperes: current)
    }

    struct ParsedDevice {
        var configuration: DeviceConfiguration
        var unitMark: Mark?
        var transportMark: Mark?
    }

    func device(_ value: YAMLValue) -> ParsedDevice? {
        guard
            let mapping = value.mapping(allowedKeys: [
                "profile", "transport", "unit", "poll_interval_seconds", "timeout_seconds", "retries",
            ])
        else { return nil }
        var profile: DeviceProfile?
        let profileID = mapping.required("profile", "the id of a device profile").flatMap { profileValue -> String? in
            guard let id = profileValue.string() else { return nil }
            if let library {
                profile = library[id]
                if profile == nil {
                    var reason = "no device profile '\(id)' in the library"
                    if let suggestion = YAMLValue.closest(to: id, in: library.ids) {
                        reason += "; did you mean '\(suggestion)'?"
                    }
                    reason += " Available: \(library.ids.joined(separator: ", "))"
                    profileValue.report(reason)
                    return nil
                }
            }
            return id
        }
        let defaults = profile?.transport ?? ProfileTransport()
        let transport = mapping.required("transport", "exactly one of tcp or rtu").flatMap {
            self.transport($0, defaults: defaults)
        }
        let unit = mapping["unit"].map { $0.integer(in: 1...247) } ?? Int(defaults.unit)
        let pollInterval = mapping["poll_interval_seconds"].map { $0.number(in: 0.1...3600, unit: "s") } ?? 1.0
        var timeout = mapping["timeout_seconds"].map { $0.number(in: 0.01...60, unit: "s") } ?? 0.5
        if let pollInterval, let currentTimeout = timeout, currentTimeout >= pollInterval {
            // A request that may outlast the poll interval would make polls overlap on the bus.
            mapping.report(
                "timeout_seconds",
                "must be below poll_interval_seconds (\(YAMLValue.format(pollInterval))), got \(YAMLValue.format(currentTimeout))"
            )
            timeout = nil
        }
        let retries = mapping["retries"].map { $0.integer(in: 0...10) } ?? 2
        guard let profileID, let transport, let unit, let pollInterval, let timeout, let retries else { return nil }
        return ParsedDevice(
            configuration: DeviceConfiguration(
                profileID: profileID, transport: transport, unit: UInt8(unit), pollIntervalSeconds: pollInterval,
                timeoutSeconds: timeout, retries: retries),
            unitMark: mapping["unit"]?.mark ?? mapping.mark, transportMark: mapping["transport"]?.mark)
    }

    func transport(_ value: YAMLValue, defaults: ProfileTransport) -> Transport? {
        guard let mapping = value.mapping(allowedKeys: ["tcp", "rtu"]) else { return nil }
        switch (mapping["tcp"], mapping["rtu"]) {
        case (let tcp?, nil):
            guard let tcpMapping = tcp.mapping(allowedKeys: ["host", "port"]) else { return nil }
            let host = tcpMapping.required("host")?.string()
            if let host, host.isEmpty { tcpMapping.report("host", "must not be empty") }
            let port = tcpMapping["port"].map { $0.integer(in: 1...65535) } ?? 502
            guard let host, !host.isEmpty, let port else { return nil }
            return .tcp(host: host, port: port)
        case (nil, let rtu?):
            guard
                let rtuMapping = rtu.mapping(allowedKeys: ["device", "baud", "parity", "data_bits", "stop_bits"])
            else { return nil }
            let device = rtuMapping.required("device", "the serial device, e.g. /dev/ttyUSB0").flatMap { deviceValue -> String? in
                guard let path = deviceValue.string() else { return nil }
                guard path.hasPrefix("/") else {
                    deviceValue.report("must be an absolute path such as /dev/ttyUSB0, got '\(path)'")
                    return nil
                }
                return path
            }
            var baud: Int? = defaults.baud
            if let baudValue = rtuMapping["baud"] {
                baud = baudValue.integer()
                if let rate = baud, !standardBaudRates.contains(rate) {
                    baudValue.report("must be one of \(standardBaudRates.map(String.init).joined(separator: ", ")), got \(rate)")
                    baud = nil
                }
            }
            let parity = rtuMapping["parity"].map { $0.choice(Parity.allCases.map { ($0.rawValue, $0) }) } ?? defaults.parity
            let dataBits = rtuMapping["data_bits"].map { $0.choice([("7", 7), ("8", 8)]) } ?? defaults.dataBits
            let stopBits = rtuMapping["stop_bits"].map { $0.choice([("1", 1), ("2", 2)]) } ?? defaults.stopBits
            guard let device, let baud, let parity, let dataBits, let stopBits else { return nil }
            return .rtu(SerialSettings(device: device, baud: baud, parity: parity, dataBits: dataBits, stopBits: stopBits))
        case (nil, nil):
            value.report("must contain tcp or rtu")
            return nil
        case (_?, _?):
            value.report("must contain exactly one of tcp or rtu, not both")
            return nil
        }
    }

    func thresholds(_ value: YAMLValue, pollInterval: Double?) -> Thresholds {
        var thresholds = Thresholds()
        guard
            let mapping = value.mapping(allowedKeys: [
                "insulation_response_ohms", "insulation_prewarning_ohms", "load_percent", "winding_temperature_celsius",
                "stale_after_seconds", "winding_temperature_release_celsius", "ptc_response_ohms", "ptc_release_ohms",
            ])
        else { return thresholds }
        if let responseValue = mapping["insulation_response_ohms"], let ohms = responseValue.number() {
            if ohms < Thresholds.minimumInsulationResponseOhms {
                responseValue.report(
                    "must be at least \(YAMLValue.format(Thresholds.minimumInsulationResponseOhms)) Ω: IEC 60364-7-710 requires the insulation monitor of a medical IT system to respond at 50 kΩ at the latest (the response value may be set higher, never lower), got \(YAMLValue.format(ohms))"
                )
            } else if ohms > 10_000_000 {
                responseValue.report("must be at most 10000000 Ω (10 MΩ), got \(YAMLValue.format(ohms))")
            } else {
                thresholds.insulationResponseOhms = ohms
            }
        }
        if let prewarningValue = mapping["insulation_prewarning_ohms"], let ohms = prewarningValue.number() {
            if ohms <= thresholds.insulationResponseOhms {
                prewarningValue.report(
                    "must be above insulation_response_ohms (\(YAMLValue.format(thresholds.insulationResponseOhms))): a prewarning comes before the alarm, got \(YAMLValue.format(ohms))"
                )
            } else if ohms > 10_000_000 {
                prewarningValue.report("must be at most 10000000 Ω (10 MΩ), got \(YAMLValue.format(ohms))")
            } else {
                thresholds.insulationPrewarningOhms = ohms
            }
        }
        if let percent = mapping["load_percent"]?.number(in: 1...200, unit: "%") { thresholds.loadPercent = percent }
        if let celsius = mapping["winding_temperature_celsius"]?.number(in: 0...250, unit: "°C") {
            thresholds.windingTemperatureCelsius = celsius
        }
        if let staleValue = mapping["stale_after_seconds"], let seconds = staleValue.number(in: 0.5...3600, unit: "s") {
            if let pollInterval, seconds <= pollInterval {
                staleValue.report(
                    "must be above poll_interval_seconds (\(YAMLValue.format(pollInterval))), or every reading would be stale, got \(YAMLValue.format(seconds))"
                )
            } else {
                thresholds.staleAfterSeconds = seconds
            }
        }
        mapping.temperatureReleaseThresholds(into: &thresholds)
        return thresholds
    }

    static let outputRoles = ["green", "yellow", "buzzer", "common_alarm"]

    func outputs(_ value: YAMLValue, indicators allowIndicators: Bool = true) -> (OutputLines, [String: Mark?]) {
        var lines = OutputLines()
        var marks: [String: Mark?] = [:]
        guard let mapping = value.mapping(allowedKeys: Self.outputRoles + (allowIndicators ? ["indicators"] : [])) else {
            return (lines, marks)
        }
        if let indicators = mapping["indicators"]?.mapping(allowedKeys: indicatorConditionNames) {
            for condition in indicatorConditionNames {
                guard let lineValue = indicators[condition], let reference = lineReference(lineValue, role: condition) else {
                    continue
                }
                lines.indicators[condition] = reference
                marks["indicators.\(condition)"] = lineValue.mark
            }
        }
        for role in Self.outputRoles {
            guard let lineValue = mapping[role], let reference = lineReference(lineValue, role: role) else { continue }
            marks[role] = lineValue.mark
            switch role {
            case "green": lines.green = reference
            case "yellow": lines.yellow = reference
            case "buzzer": lines.buzzer = reference
            default: lines.commonAlarm = reference
            }
        }
        return (lines, marks)
    }

    func lineReference(_ value: YAMLValue, role: String) -> LineReference? {
        guard let mapping = value.mapping(allowedKeys: ["chip", "line", "name", "active_low", "energise"]) else {
            return nil
        }
        let location = lineWhere(mapping, value)
        let energiseValue = mapping["energise"]
        let energise = energiseValue.map { $0.choice(RelayEnergise.allCases.map { ($0.rawValue, $0) }) } ?? .normal
        if role == "green", energise == .alarm, let energiseValue {
            // The green lamp says "all is well": on a relay energised in alarm it would be wired
            // through the rest contact and stay lit when the service crashes or stops.
            energiseValue.report(
                "must be 'normal' for green: a green lamp on a relay energised in alarm lights through the rest contact when the service stops"
            )
            return nil
        }
        guard let location, let energise else { return nil }
        return LineReference(
            chip: location.chip, offset: location.offset, name: location.name, activeLow: location.activeLow, energise: energise)
    }

    /// Where a line is, the same for outputs and inputs: a chip, exactly one of `line` (offset)
    /// and `name`, and `active_low`. Nil when something is missing or wrong (already reported).
    func lineWhere(_ mapping: YAMLMapping, _ value: YAMLValue) -> (chip: String, offset: Int?, name: String?, activeLow: Bool)? {
        let chip = mapping.required("chip", "e.g. gpiochip0")?.string()
        let offset = mapping["line"]?.integer(in: 0...65535)
        let name = mapping["name"]?.string()
        let activeLow = mapping["active_low"]?.bool() ?? false
        switch (mapping["line"], mapping["name"]) {
        case (nil, nil):
            value.report("needs 'line' (the offset on the chip) or 'name' (the line name)")
            return nil
        case (_?, _?):
            value.report("needs exactly one of 'line' and 'name', not both")
            return nil
        default:
            break
        }
        guard let chip, offset != nil || name != nil else { return nil }
        return (chip, offset, name, activeLow)
    }

    static let inputRoles = ["mute", "test", "acknowledge", "imd_alarm_contact"]

    func inputs(_ value: YAMLValue, roles: [String] = Self.inputRoles) -> (InputLines, [String: Mark?]) {
        var lines = InputLines()
        var marks: [String: Mark?] = [:]
        guard let mapping = value.mapping(allowedKeys: roles) else { return (lines, marks) }
        for role in roles {
            guard let lineValue = mapping[role], let reference = inputLineReference(lineValue) else { continue }
            marks[role] = lineValue.mark
            switch role {
            case "mute": lines.mute = reference
            case "test": lines.test = reference
            case "acknowledge": lines.acknowledge = reference
            default: lines.imdAlarmContact = reference
            }
        }
        return (lines, marks)
    }

    func inputLineReference(_ value: YAMLValue) -> InputLineReference? {
        guard let mapping = value.mapping(allowedKeys: ["chip", "line", "name", "active_low", "debounce_seconds"]) else {
            return nil
        }
        let location = lineWhere(mapping, value)
        // Contacts bounce for a few milliseconds, so less than 5 ms would pass bounces on as
        // presses; a debounce beyond 2 s would make a press feel lost and delay the IMD contact.
        let debounce = mapping["debounce_seconds"].map { $0.number(in: 0.005...2, unit: "s") } ?? 0.05
        guard let location, let debounce else { return nil }
        return InputLineReference(
            chip: location.chip, offset: location.offset, name: location.name, activeLow: location.activeLow,
            debounceSeconds: debounce)
    }

    // MARK: - Cross-checks

    func crossCheck(_ systems: [Located]) {
        for (index, current) in systems.enumerated() {
            let earlier = systems[..<index]
            if let first = earlier.first(where: { $0.system.id == current.system.id }) {
                diagnostics.report(
                    "\(current.path).id", at: current.idMark,
                    "'\(current.system.id)' is already the id of \(first.path) (line \(first.line)); ids must be unique")
            }
            let device = current.system.device
            if let first = earlier.first(where: { sameBus($0.system.device.transport, device.transport) && $0.system.device.unit == device.unit }) {
                diagnostics.report(
                    "\(current.path).device.unit", at: current.unitMark,
                    "\(first.path) ('\(first.system.id)', line \(first.line)) already polls unit \(device.unit) on \(busName(device.transport)); two systems cannot share one device"
                )
            }
            if case .rtu(let serial) = device.transport,
                let first = earlier.first(where: { other in
                    if case .rtu(let otherSerial) = other.system.device.transport {
                        return otherSerial.device == serial.device && otherSerial != serial
                    }
                    return false
                })
            {
                diagnostics.report(
                    "\(current.path).device.transport.rtu", at: current.transportMark,
                    "\(serial.device) is set to \(first.system.device.transport) by \(first.path) ('\(first.system.id)'); one serial bus has one line setting, got \(device.transport)"
                )
            }
            let currentLines = gpioLines(of: current)
            for (position, entry) in currentLines.enumerated() {
                let candidates = systems[..<index].flatMap { other in gpioLines(of: other).map { (other, $0) } }
                    + currentLines[..<position].map { (current, $0) }
                for (other, otherEntry) in candidates {
                    guard otherEntry.chip == entry.chip,
                        (entry.offset != nil && otherEntry.offset == entry.offset)
                            || (entry.name != nil && otherEntry.name == entry.name)
                    else { continue }
                    let lineName = entry.offset.map { "line \($0)" } ?? "line '\(entry.name ?? "")'"
                    diagnostics.report(
                        "\(current.path).\(entry.section).\(entry.role)", at: entry.mark,
                        "\(entry.chip) \(lineName) is already the \(otherEntry.role) \(otherEntry.kind) of \(other.path) ('\(other.system.id)'); one line cannot serve two roles"
                    )
                }
            }
        }
    }

    /// A GPIO line of a system, output or input, for the check that no line is used twice.
    struct GPIOLineUse {
        var section: String
        var kind: String
        var role: String
        var chip: String
        var offset: Int?
        var name: String?
        var mark: Mark?
    }

    func gpioLines(of system: Located) -> [GPIOLineUse] {
        let outputs = Self.outputRoles.compactMap { role -> GPIOLineUse? in
            line(system.system.outputs, role).map {
                GPIOLineUse(
                    section: "outputs", kind: "output", role: role, chip: $0.chip, offset: $0.offset, name: $0.name,
                    mark: system.outputMarks[role] ?? nil)
            }
        }
        let inputs = Self.inputRoles.compactMap { role -> GPIOLineUse? in
            inputLine(system.system.inputs, role).map {
                GPIOLineUse(
                    section: "inputs", kind: "input", role: role, chip: $0.chip, offset: $0.offset, name: $0.name,
                    mark: system.inputMarks[role] ?? nil)
            }
        }
        let indicators = system.system.outputs.indicators.sorted { $0.key < $1.key }.map { condition, line in
            GPIOLineUse(
                section: "outputs.indicators", kind: "indicator output", role: condition, chip: line.chip,
                offset: line.offset, name: line.name, mark: system.outputMarks["indicators.\(condition)"] ?? nil)
        }
        return outputs + indicators + inputs
    }

    // MARK: - Remote panels

    /// `panels:` each panel's lamps follow its member systems (README "Configuration"); its lines
    /// are checked against every system's and every earlier panel's.
    func panels(_ value: YAMLValue, systems: [Located]) -> [PanelConfiguration] {
        guard let list = value.sequence() else { return [] }
        var panels: [PanelConfiguration] = []
        var located: [Located] = []
        for item in list {
            guard let mapping = item.mapping(allowedKeys: ["id", "name", "systems", "outputs", "inputs"]) else { continue }
            let idValue = mapping.required("id")
            var id = idValue?.string()
            if let idValue, let current = id {
                if let first = panels.first(where: { $0.id == current }) {
                    idValue.report("'\(current)' is already the id of another panel ('\(first.name)'); panel ids must be unique")
                    id = nil
                } else if current.isEmpty
                    || !current.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" })
                {
                    idValue.report("must be lower-case letters, digits and '-', got '\(current)'")
                    id = nil
                }
            }
            let name = mapping.required("name")?.string()
            var members: [String] = []
            if let membersValue = mapping.required("systems", "the ids of the systems this panel covers"),
                let entries = membersValue.sequence()
            {
                if entries.isEmpty { membersValue.report("must list at least one system") }
                for entry in entries {
                    guard let member = entry.string() else { continue }
                    if !systems.contains(where: { $0.system.id == member }) {
                        entry.report("no system '\(member)' in this file (systems: \(systems.map(\.system.id).joined(separator: ", ")))")
                    } else if members.contains(member) {
                        entry.report("'\(member)' is listed twice")
                    } else {
                        members.append(member)
                    }
                }
            }
            // A panel repeats the lamps and the mute and acknowledge buttons; the test button and
            // the IMD contact belong to one system and its device.
            let (outputs, outputMarks) = mapping["outputs"].map { self.outputs($0, indicators: false) } ?? (OutputLines(), [:])
            let (inputs, inputMarks) = mapping["inputs"].map { self.inputs($0, roles: ["mute", "acknowledge"]) } ?? (InputLines(), [:])
            guard let id, let name, !members.isEmpty else { continue }
            let panel = PanelConfiguration(id: id, name: name, systems: members, outputs: outputs, inputs: inputs)
            // The line check needs a system-shaped entry; only its lines and id are read.
            let placeholder = SystemConfiguration(
                id: id, name: name, location: "", transformer: TransformerRating(ratingKVA: 1, secondaryVoltageVolts: 230),
                device: DeviceConfiguration(profileID: "", transport: .tcp(host: "", port: 0), unit: 1), outputs: outputs,
                inputs: inputs)
            let entry = Located(
                system: placeholder, path: item.path, line: item.mark?.line ?? 0, idMark: nil, unitMark: nil, transportMark: nil,
                outputMarks: outputMarks, inputMarks: inputMarks)
            let earlier = systems + located
            for use in gpioLines(of: entry) {
                for other in earlier {
                    guard let clash = gpioLines(of: other).first(where: { otherUse in
                        otherUse.chip == use.chip
                            && ((use.offset != nil && otherUse.offset == use.offset) || (use.name != nil && otherUse.name == use.name))
                    }) else { continue }
                    diagnostics.report(
                        "\(entry.path).\(use.section).\(use.role)", at: use.mark,
                        "\(use.chip) \(use.offset.map { "line \($0)" } ?? "line '\(use.name ?? "")'") is already the \(clash.role) \(clash.kind) of \(other.path) ('\(other.system.id)'); one line cannot serve two roles"
                    )
                    break
                }
            }
            panels.append(panel)
            located.append(entry)
        }
        return panels
    }

    func inputLine(_ inputs: InputLines, _ role: String) -> InputLineReference? {
        switch role {
        case "mute": return inputs.mute
        case "test": return inputs.test
        case "acknowledge": return inputs.acknowledge
        default: return inputs.imdAlarmContact
        }
    }

    func line(_ outputs: OutputLines, _ role: String) -> LineReference? {
        switch role {
        case "green": return outputs.green
        case "yellow": return outputs.yellow
        case "buzzer": return outputs.buzzer
        default: return outputs.commonAlarm
        }
    }

    func sameBus(_ lhs: Transport, _ rhs: Transport) -> Bool {
        switch (lhs, rhs) {
        case (.tcp(let hostA, let portA), .tcp(let hostB, let portB)):
            return hostA.lowercased() == hostB.lowercased() && portA == portB
        case (.rtu(let serialA), .rtu(let serialB)):
            return serialA.device == serialB.device
        default:
            return false
        }
    }

    func busName(_ transport: Transport) -> String {
        switch transport {
        case .tcp(let host, let port): return "tcp \(host):\(port)"
        case .rtu(let serial): return "serial bus \(serial.device)"
        }
    }
}
