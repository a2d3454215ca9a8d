import Foundation

/// What changes when `new` replaces `old` as the configuration in force: per system and per
/// remote panel, and for the site-wide sections. Pure: it compares two validated configurations
/// (and, when given, the device-profile libraries they were validated against) and decides
/// nothing about how the change is carried out.
///
/// Field paths are the YAML keys of the file (`thresholds.insulation_response_ohms`,
/// `outputs.indicators.insulation`, `http.listen`), so a person can find each in their file.
public struct ConfigurationDiff: Sendable, Equatable, Codable {
    public enum Change: String, Sendable, Codable {
        case unchanged
        /// Applied in place: the alarm state carries over.
        case updated
        /// Its device, communication or lines changed: it starts again from alarm, as at service start.
        case restarted
        case added
        case removed
    }

    /// One system or remote panel, by id. A panel (`panels:`) is only ever unchanged, restarted,
    /// added or removed: its lamps follow its members, so there is no state of its own to carry over.
    public struct ItemChange: Sendable, Equatable, Codable {
        public var id: String
        public var change: Change
        /// The changed fields, as dotted paths of the YAML below the item (`thresholds.insulation_response_ohms`,
        /// `device.transport`, `outputs.yellow`, `name`; a panel's `systems`), in the file's key
        /// order; a changed device profile (same id, different content) is `profiles/ID.yaml`.
        /// Empty for unchanged, added and removed.
        public var fields: [String]

        public init(id: String, change: Change, fields: [String] = []) {
            self.id = id
            self.change = change
            self.fields = fields
        }
    }

    public typealias SystemChange = ItemChange
    public typealias PanelChange = ItemChange

    /// Every system of either file: in the new file's order, the removed ones after in the old
    /// file's order.
    public var systems: [SystemChange]
    /// Every panel of either file, ordered as `systems`.
    public var panels: [PanelChange]
    /// Changed fields that cannot change while the service runs (everything under `http:`,
    /// `storage:`, `gpio:`, `metrics:` and `bms:`): the listening socket, the database, the line
    /// backend and the BMS server are opened once at start.
    public var restartRequired: [String]
    /// Changed site-wide fields applied live: `site.name`, `profiles_directory` (its profiles'
    /// content is compared per system).
    public var applied: [String]

    public init(systems: [SystemChange], panels: [PanelChange], restartRequired: [String], applied: [String]) {
        self.systems = systems
        self.panels = panels
        self.restartRequired = restartRequired
        self.applied = applied
    }

    /// Nothing changed at all.
    public var isEmpty: Bool {
        systems.allSatisfy { $0.change == .unchanged } && panels.allSatisfy { $0.change == .unchanged }
            && restartRequired.isEmpty && applied.isEmpty
    }

    /// The diff in a few lines for a person: one per changed system or panel, then what needs a
    /// restart and what else applies. Unchanged systems are left out.
    public var summary: [String] {
        func line(_ label: String, _ change: Change, _ fields: [String]) -> String {
            fields.isEmpty ? "\(label): \(change.rawValue)" : "\(label): \(change.rawValue) (\(fields.joined(separator: ", ")))"
        }
        var lines = systems.filter { $0.change != .unchanged }.map { line($0.id, $0.change, $0.fields) }
        lines += panels.filter { $0.change != .unchanged }.map { line("panel \($0.id)", $0.change, $0.fields) }
        if !restartRequired.isEmpty { lines.append("needs a restart: \(restartRequired.joined(separator: ", "))") }
        if !applied.isEmpty { lines.append("applied: \(applied.joined(separator: ", "))") }
        return lines.isEmpty ? ["no change"] : lines
    }

    // The JSON carries `summary` and `is_empty` for readers that do not recompute them; decoding
    // ignores both.
    enum CodingKeys: String, CodingKey {
        case systems, panels, applied, summary
        case restartRequired = "restart_required"
        case isEmpty = "is_empty"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        systems = try container.decode([SystemChange].self, forKey: .systems)
        panels = try container.decode([PanelChange].self, forKey: .panels)
        restartRequired = try container.decode([String].self, forKey: .restartRequired)
        applied = try container.decode([String].self, forKey: .applied)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(systems, forKey: .systems)
        try container.encode(panels, forKey: .panels)
        try container.encode(restartRequired, forKey: .restartRequired)
        try container.encode(applied, forKey: .applied)
        try container.encode(summary, forKey: .summary)
        try container.encode(isEmpty, forKey: .isEmpty)
    }
}

// MARK: - Computing the diff

extension ConfigurationDiff {
    /// The diff from `old` to `new`. With both profile libraries given, a system whose profile id
    /// stays but whose profile content differs is restarted (its registers may have moved); without
    /// them only the id is compared.
    public static func between(
        _ old: Configuration, _ new: Configuration, oldProfiles: ProfileLibrary? = nil, newProfiles: ProfileLibrary? = nil
    ) -> ConfigurationDiff {
        let oldSystems = Dictionary(old.systems.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let newIDs = Set(new.systems.map(\.id))
        var systems = new.systems.map { system -> SystemChange in
            guard let previous = oldSystems[system.id] else { return SystemChange(id: system.id, change: .added) }
            let profileID = system.device.profileID
            var profileChanged = false
            if let oldProfiles, let newProfiles, previous.device.profileID == profileID {
                profileChanged = !sameBehaviour(oldProfiles[profileID], newProfiles[profileID])
            }
            let fields = systemFields(previous, system, profileChanged: profileChanged)
            let change: Change = fields.isEmpty ? .unchanged : fields.contains(where: restartsTheSystem) ? .restarted : .updated
            return SystemChange(id: system.id, change: change, fields: fields)
        }
        systems += old.systems.filter { !newIDs.contains($0.id) }.map { SystemChange(id: $0.id, change: .removed) }

        let oldPanels = Dictionary(old.panels.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let newPanelIDs = Set(new.panels.map(\.id))
        var panels = new.panels.map { panel -> PanelChange in
            guard let previous = oldPanels[panel.id] else { return PanelChange(id: panel.id, change: .added) }
            var fields = ChangedFields()
            fields.compare("name", previous.name, panel.name)
            fields.compare("systems", previous.systems, panel.systems)
            fields.outputs(previous.outputs, panel.outputs)
            fields.inputs(previous.inputs, panel.inputs)
            return PanelChange(id: panel.id, change: fields.paths.isEmpty ? .unchanged : .restarted, fields: fields.paths)
        }
        panels += old.panels.filter { !newPanelIDs.contains($0.id) }.map { PanelChange(id: $0.id, change: .removed) }

        var applied = ChangedFields()
        applied.compare("site.name", old.site.name, new.site.name)
        applied.compare("profiles_directory", old.profilesDirectory.standardized.path, new.profilesDirectory.standardized.path)

        return ConfigurationDiff(
            systems: systems, panels: panels, restartRequired: restartFields(old, new), applied: applied.paths)
    }

    /// Whether two versions of a profile read and decode a device alike: vendor, model and
    /// description are words for people, and a corrected spelling should not restart a theatre.
    private static func sameBehaviour(_ old: DeviceProfile?, _ new: DeviceProfile?) -> Bool {
        guard var old, var new else { return old == nil && new == nil }
        (old.vendor, old.model, old.description) = ("", "", "")
        (new.vendor, new.model, new.description) = ("", "", "")
        return old == new
    }

    /// A system restarts, from alarm as at service start, when how its device is reached, polled or
    /// decoded changes, or any of its lines: its poller and its line requests are made anew.
    /// Everything else (names, transformer, thresholds, alarm timing, sensors) applies in place.
    private static func restartsTheSystem(_ field: String) -> Bool {
        ["device.", "profiles/", "outputs.", "inputs."].contains { field.hasPrefix($0) }
    }

    /// The changed fields of a system, in the file's key order.
    private static func systemFields(_ old: SystemConfiguration, _ new: SystemConfiguration, profileChanged: Bool) -> [String] {
        var fields = ChangedFields()
        fields.compare("name", old.name, new.name)
        fields.compare("location", old.location, new.location)
        fields.compare("transformer.rating_kva", old.transformer.ratingKVA, new.transformer.ratingKVA)
        fields.compare(
            "transformer.secondary_voltage_volts", old.transformer.secondaryVoltageVolts, new.transformer.secondaryVoltageVolts)
        fields.compare(
            "transformer.rated_current_amperes", old.transformer.ratedCurrentAmperes, new.transformer.ratedCurrentAmperes)
        fields.compare("device.profile", old.device.profileID, new.device.profileID)
        if profileChanged { fields.paths.append("profiles/\(new.device.profileID).yaml") }
        fields.compare("device.transport", old.device.transport, new.device.transport)
        fields.compare("device.unit", old.device.unit, new.device.unit)
        fields.compare("device.poll_interval_seconds", old.device.pollIntervalSeconds, new.device.pollIntervalSeconds)
        fields.compare("device.timeout_seconds", old.device.timeoutSeconds, new.device.timeoutSeconds)
        fields.compare("device.retries", old.device.retries, new.device.retries)
        fields.thresholds(old.thresholds, new.thresholds)
        fields.outputs(old.outputs, new.outputs)
        fields.inputs(old.inputs, new.inputs)
        fields.alarms(old.alarms, new.alarms)
        fields.compare("sensors.load", old.sensors.load, new.sensors.load)
        fields.compare("sensors.winding_temperature", old.sensors.windingTemperature, new.sensors.windingTemperature)
        return fields.paths
    }

    /// The site-wide fields opened once at start, in the file's section order.
    private static func restartFields(_ old: Configuration, _ new: Configuration) -> [String] {
        var fields = ChangedFields()
        let (was, now) = (old.http, new.http)
        fields.compare("http.listen", HostPort(host: was.host, port: was.port), HostPort(host: now.host, port: now.port))
        fields.optional("http.tls", was.tls, now.tls) { fields, was, now in
            fields.compare("http.tls.certificate", was.certificateChain.path, now.certificateChain.path)
            fields.compare("http.tls.private_key", was.privateKey.path, now.privateKey.path)
        }
        fields.compare("http.open_read", was.openRead, now.openRead)
        fields.compare("http.users_file", was.usersFile?.path, now.usersFile?.path)
        fields.compare("http.session_lifetime_seconds", was.sessionLifetimeSeconds, now.sessionLifetimeSeconds)
        fields.compare("http.session_idle_minutes", was.sessionIdleMinutes, now.sessionIdleMinutes)
        fields.compare("http.metrics", was.metrics, now.metrics)
        fields.compare("http.idle_timeout_seconds", was.idleTimeoutSeconds, now.idleTimeoutSeconds)
        fields.compare("http.max_connections", was.maximumConnections, now.maximumConnections)
        fields.compare("http.max_connections_per_client", was.maximumConnectionsPerClient, now.maximumConnectionsPerClient)
        fields.compare("http.max_stream_clients", was.maximumStreamClients, now.maximumStreamClients)

        fields.compare("gpio.backend", old.gpio.backend, new.gpio.backend)
        fields.compare("gpio.panel", old.gpio.panel, new.gpio.panel)
        fields.optional("gpio.heartbeat", old.gpio.heartbeat, new.gpio.heartbeat) { fields, was, now in
            fields.compare("gpio.heartbeat.chip", was.chip, now.chip)
            fields.compare("gpio.heartbeat.line", was.offset, now.offset)
            fields.compare("gpio.heartbeat.name", was.name, now.name)
            fields.compare("gpio.heartbeat.period_seconds", was.periodSeconds, now.periodSeconds)
        }

        fields.optional("storage", old.storage, new.storage) { fields, was, now in
            fields.compare("storage.path", was.databaseFile.path, now.databaseFile.path)
            fields.compare("storage.raw_retention_hours", was.rawRetentionHours, now.rawRetentionHours)
            fields.compare("storage.retention_days", was.retentionDays, now.retentionDays)
            fields.compare("storage.journal_retention_days", was.journalRetentionDays, now.journalRetentionDays)
            fields.compare("storage.max_size_megabytes", was.maximumSizeMegabytes, now.maximumSizeMegabytes)
        }
        fields.compare("metrics.enabled", old.metrics.enabled, new.metrics.enabled)
        fields.optional("bms", old.bms, new.bms) { fields, was, now in
            fields.compare("bms.listen", HostPort(host: was.host, port: was.port), HostPort(host: now.host, port: now.port))
            fields.compare("bms.max_clients", was.maxClients, now.maxClients)
        }
        return fields.paths
    }
}

/// The paths of the fields that differ, in the order they were compared.
private struct ChangedFields {
    var paths: [String] = []

    mutating func compare<Value: Equatable>(_ path: String, _ old: Value, _ new: Value) {
        if old != new { paths.append(path) }
    }

    /// A section that may be absent: the whole section when it appears or disappears, else its fields.
    mutating func optional<Section: Equatable>(
        _ path: String, _ old: Section?, _ new: Section?, fields: (inout ChangedFields, Section, Section) -> Void
    ) {
        switch (old, new) {
        case (let old?, let new?): fields(&self, old, new)
        case (nil, nil): break
        default: paths.append(path)
        }
    }

    mutating func outputs(_ old: OutputLines, _ new: OutputLines) {
        compare("outputs.green", old.green, new.green)
        compare("outputs.yellow", old.yellow, new.yellow)
        compare("outputs.buzzer", old.buzzer, new.buzzer)
        compare("outputs.common_alarm", old.commonAlarm, new.commonAlarm)
        for condition in indicatorConditionNames {
            compare("outputs.indicators.\(condition)", old.indicators[condition], new.indicators[condition])
        }
    }

    mutating func inputs(_ old: InputLines, _ new: InputLines) {
        compare("inputs.mute", old.mute, new.mute)
        compare("inputs.test", old.test, new.test)
        compare("inputs.acknowledge", old.acknowledge, new.acknowledge)
        compare("inputs.imd_alarm_contact", old.imdAlarmContact, new.imdAlarmContact)
    }

    mutating func thresholds(_ old: Thresholds, _ new: Thresholds) {
        compare("thresholds.insulation_response_ohms", old.insulationResponseOhms, new.insulationResponseOhms)
        compare("thresholds.insulation_prewarning_ohms", old.insulationPrewarningOhms, new.insulationPrewarningOhms)
        compare("thresholds.load_percent", old.loadPercent, new.loadPercent)
        compare("thresholds.winding_temperature_celsius", old.windingTemperatureCelsius, new.windingTemperatureCelsius)
        compare("thresholds.stale_after_seconds", old.staleAfterSeconds, new.staleAfterSeconds)
        compare(
            "thresholds.winding_temperature_release_celsius", old.windingTemperatureReleaseCelsius,
            new.windingTemperatureReleaseCelsius)
        compare("thresholds.ptc_response_ohms", old.ptcResponseOhms, new.ptcResponseOhms)
        compare("thresholds.ptc_release_ohms", old.ptcReleaseOhms, new.ptcReleaseOhms)
    }

    mutating func alarms(_ old: AlarmTiming, _ new: AlarmTiming) {
        condition("alarms.insulation", old.insulation, new.insulation)
        condition("alarms.insulation_prewarning", old.insulationPrewarning, new.insulationPrewarning)
        condition("alarms.overload", old.overload, new.overload)
        condition("alarms.overtemperature", old.overtemperature, new.overtemperature)
        condition("alarms.device_faults", old.deviceFaults, new.deviceFaults)
        compare(
            "alarms.communication.release_delay_seconds", old.communicationReleaseDelaySeconds,
            new.communicationReleaseDelaySeconds)
        compare("alarms.re_alarm_seconds", old.reAlarmSeconds, new.reAlarmSeconds)
        compare("alarms.test_duration_seconds", old.testDurationSeconds, new.testDurationSeconds)
        compare("alarms.test_rest_seconds", old.testRestSeconds, new.testRestSeconds)
        compare("alarms.self_test_timeout_seconds", old.selfTestTimeoutSeconds, new.selfTestTimeoutSeconds)
        compare(
            "alarms.imd_contact_disagreement_seconds", old.imdContactDisagreementSeconds, new.imdContactDisagreementSeconds)
        compare("alarms.function_test_interval_hours", old.functionTestIntervalHours, new.functionTestIntervalHours)
    }

    private mutating func condition(_ path: String, _ old: ConditionTiming, _ new: ConditionTiming) {
        compare("\(path).response_delay_seconds", old.responseDelaySeconds, new.responseDelaySeconds)
        compare("\(path).release_delay_seconds", old.releaseDelaySeconds, new.releaseDelaySeconds)
        compare("\(path).release_hysteresis_percent", old.releaseHysteresisPercent, new.releaseHysteresisPercent)
    }
}
