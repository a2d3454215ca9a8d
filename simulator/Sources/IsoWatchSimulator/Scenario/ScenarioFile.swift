import Foundation
import IsoWatchCore
import Yams

/// Reads a scenario file (YAML) into a `Scenario` with the project's one YAML reader. Like site
/// files: every problem is reported with file, line, column and field path, all at once, and
/// unknown keys are errors. The format is documented in simulator/README.md ("Scenarios").
public enum ScenarioFile {
    /// `seed` replaces the file's seed (and so the schedule of its storms).
    public static func load(file: URL, seed: UInt64? = nil) throws(ConfigurationErrors) -> Scenario {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw ConfigurationErrors([
                ConfigurationError(file: file.path, line: 0, column: 0, field: "", reason: "cannot read: \(error.localizedDescription)")
            ])
        }
        return try parse(yaml: text, fileName: file.path, baseDirectory: file.deletingLastPathComponent(), seed: seed)
    }

    /// `baseDirectory` resolves a site given as a path.
    public static func parse(yaml: String, fileName: String, baseDirectory: URL, seed: UInt64? = nil) throws(ConfigurationErrors) -> Scenario {
        let diagnostics = YAMLDiagnostics(file: fileName)
        let reader = ScenarioReader(baseDirectory: baseDirectory, seedOverride: seed)
        let scenario = diagnostics.compose(yaml).flatMap { root in
            reader.scenario(YAMLValue(node: root, path: "", diagnostics: diagnostics))
        }
        let errors = diagnostics.errors
        guard errors.isEmpty, let scenario else {
            throw ConfigurationErrors(
                errors.isEmpty ? [ConfigurationError(file: fileName, line: 0, column: 0, field: "", reason: "no scenario")] : errors)
        }
        return scenario
    }

    /// The scenario files of a directory, sorted by name.
    public static func library(directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { directory.appending(path: $0) }
    }

    /// Alarm conditions as the service names them; `expect` may name only these.
    public static let conditionNames = [
        "awaiting_first_measurement", "insulation", "insulation_prewarning", "overload", "overtemperature",
        "earth_connection", "line_connection", "temperature_sensor", "device", "self_test_failed", "communication",
        "stale_data",
    ]
}

private struct ScenarioReader {
    let baseDirectory: URL
    let seedOverride: UInt64?

    private static let topKeys = [
        "name", "description", "seed", "time_factor", "duration_seconds", "site", "thermal", "service", "timeline", "expect",
    ]

    func scenario(_ root: YAMLValue) -> Scenario? {
        guard let top = root.mapping(allowedKeys: Self.topKeys) else { return nil }
        let name = top.required("name", "a short name for logs and test output")?.string()
        let summary = top["description"]?.string() ?? ""
        var seed: UInt64 = 1
        if let seedValue = top["seed"] {
            // The whole UInt64 range: YAMLValue's integers stop at Int.max.
            if case .scalar(let scalar) = seedValue.node, let value = UInt64(scalar.string) {
                seed = value
            } else {
                seedValue.report("must be a whole number 0...2^64-1")
            }
        }
        if let seedOverride { seed = seedOverride }
        let timeFactor = top["time_factor"]?.number(in: 0.001...100_000) ?? 1
        let duration = top.required("duration_seconds", "physics seconds the timeline lasts")?.number(in: 0...31_536_000, unit: "s")
        let site = top.required("site", "a site file path, or the site inline").flatMap { self.site($0) }
        let units = Set(site.map { $0.endpoints.flatMap { e in e.units.map { UnitReference(endpoint: e.id, unit: $0.unit) } } } ?? [])
        let endpointIDs = Set(site?.endpoints.map(\.id) ?? [])
        let check = site != nil

        /// The unit an `ENDPOINT/UNIT` key names, reported at the key.
        func unitKey(_ entry: YAMLMapping.Entry) -> UnitReference? {
            guard let reference = UnitReference(entry.key) else {
                root.diagnostics.report(entry.value.path, at: entry.keyMark, "must be ENDPOINT/UNIT, such as gw1/3, got '\(entry.key)'")
                return nil
            }
            if check, !units.contains(reference) {
                root.diagnostics.report(
                    entry.value.path, at: entry.keyMark,
                    "the site has no unit \(reference) (it has: \(units.sorted().map(\.description).joined(separator: ", ")))")
                return nil
            }
            return reference
        }

        var thermal: [UnitReference: ThermalSetup] = [:]
        for entry in top["thermal"]?.mapping(allowedKeys: nil)?.entries ?? [] {
            guard let reference = unitKey(entry) else { continue }
            let keys = ["ambient_celsius", "limit_celsius", "initial_celsius", "rated_current_amperes"]
            guard let fields = entry.value.mapping(allowedKeys: keys) else { continue }
            var setup = ThermalSetup()
            if let value = fields["ambient_celsius"]?.number(in: -40...80, unit: "°C") { setup.ambientCelsius = value }
            if let value = fields["limit_celsius"]?.number(in: -40...300, unit: "°C") { setup.limitCelsius = value }
            if setup.limitCelsius <= setup.ambientCelsius {
                fields.report("limit_celsius", "must be above the ambient temperature")
            }
            setup.initialCelsius = fields["initial_celsius"]?.number(in: -40...300, unit: "°C")
            setup.ratedCurrentAmperes = fields["rated_current_amperes"]?.number(in: 0.01...1000, unit: "A")
            thermal[reference] = setup
        }

        var service: [UnitReference: ServiceSettings] = [:]
        for entry in top["service"]?.mapping(allowedKeys: nil)?.entries ?? [] {
            guard let reference = unitKey(entry) else { continue }
            guard let fields = entry.value.mapping(allowedKeys: ["rating_kva", "thresholds"]) else { continue }
            var settings = ServiceSettings()
            settings.ratingKVA = fields["rating_kva"]?.number(in: 0.5...10, unit: "kVA")
            for threshold in fields["thresholds"]?.mapping(allowedKeys: nil)?.entries ?? [] {
                if let value = threshold.value.number() { settings.thresholds[threshold.key] = value }
            }
            service[reference] = settings
        }

        var generator = SplitMix64(seed: seed)
        var steps: [ScenarioStep] = []
        for stepValue in top.required("timeline", "the list of steps (it may be empty: [])")?.sequence() ?? [] {
            steps += step(
                stepValue, units: units, endpoints: endpointIDs, check: check, site: site, duration: duration,
                generator: &generator)
        }
        // A stable sort: steps at one time keep their file order.
        steps = steps.enumerated().sorted { ($0.element.atSeconds, $0.offset) < ($1.element.atSeconds, $1.offset) }.map(\.element)

        var expectations: [UnitReference: SystemExpectation] = [:]
        for entry in top["expect"]?.mapping(allowedKeys: nil)?.entries ?? [] {
            guard let reference = unitKey(entry) else { continue }
            if let expectation = expectation(entry.value, duration: duration) { expectations[reference] = expectation }
        }

        guard let name, let duration, let site else { return nil }
        return Scenario(
            name: name, summary: summary, site: site, seed: seed, timeFactor: timeFactor, durationSeconds: duration,
            thermal: thermal, service: service, steps: steps, expectations: expectations)
    }

    // MARK: - Site

    /// A path to a site file (beside the scenario), or the site inline: its problems then carry
    /// this file's lines and a `site.` path.
    private func site(_ value: YAMLValue) -> SiteDescription? {
        switch value.node {
        case .scalar:
            guard let path = value.string() else { return nil }
            let url = URL(fileURLWithPath: path, relativeTo: baseDirectory).standardizedFileURL
            do {
                return try SiteFile.load(file: url)
            } catch {
                // The site file's own errors name the site file; say which scenario field led there.
                for problem in error.errors { value.report("\(problem)") }
                return nil
            }
        case .mapping:
            return SiteFile.read(value)
        default:
            value.report("must be a site file path or an inline site mapping")
            return nil
        }
    }

    // MARK: - Steps

    private static let stepKeys = [
        "at", "unit", "endpoint", "set", "ramp", "over_seconds", "raise_fault", "clear_fault", "online", "wire_fault", "press", "storm",
    ]

    private func step(
        _ value: YAMLValue, units: Set<UnitReference>, endpoints: Set<String>, check: Bool, site: SiteDescription?,
        duration: Double?, generator: inout SplitMix64
    ) -> [ScenarioStep] {
        let errorsBefore = value.diagnostics.errors.count
        guard let fields = value.mapping(allowedKeys: Self.stepKeys) else { return [] }
        let line = value.mark?.line ?? 0
        guard let atValue = fields.required("at", "the physics time of the step, in seconds from the start"),
            let at = atValue.number(in: 0...31_536_000, unit: "s")
        else { return [] }
        if let duration, at > duration { atValue.report("after the end of the timeline (duration_seconds \(duration))") }
        let target: ScenarioStep.Target
        switch (fields["unit"], fields["endpoint"]) {
        case (let unitValue?, nil):
            guard let text = unitValue.string() else { return [] }
            guard let reference = UnitReference(text) else {
                unitValue.report("must be ENDPOINT/UNIT, such as gw1/3, got '\(text)'")
                return []
            }
            if check, !units.contains(reference) {
                unitValue.report(
                    "the site has no unit \(reference) (it has: \(units.sorted().map(\.description).joined(separator: ", ")))")
                return []
            }
            target = .unit(reference)
        case (nil, let endpointValue?):
            guard let id = endpointValue.string() else { return [] }
            if check, !endpoints.contains(id) {
                endpointValue.report("the site has no endpoint '\(id)' (it has: \(endpoints.sorted().joined(separator: ", ")))")
                return []
            }
            target = .endpoint(id)
        case (_?, _?):
            value.report("give 'unit' or 'endpoint', not both")
            return []
        case (nil, nil):
            value.report("needs 'unit' (ENDPOINT/UNIT) or 'endpoint' (every unit of it)")
            return []
        }

        let quantities = Quantity.allCases.map(\.rawValue)
        var actions: [ScenarioAction] = []
        if let entries = fields["set"]?.mapping(allowedKeys: quantities)?.entries {
            var set: [Quantity: MeasuredValue] = [:]
            for entry in entries {
                if let quantity = Quantity(rawValue: entry.key), let measured = entry.value.measuredValue() { set[quantity] = measured }
            }
            actions.append(.set(set))
        }
        if let ramp = fields["ramp"], let entries = ramp.mapping(allowedKeys: quantities)?.entries {
            var targets: [Quantity: Double] = [:]
            for entry in entries {
                if let quantity = Quantity(rawValue: entry.key), let number = entry.value.number() { targets[quantity] = number }
            }
            if let over = fields.required("over_seconds", "with 'ramp': how long the change takes, physics seconds") {
                if let seconds = over.number(in: 0.001...31_536_000, unit: "s") { actions.append(.ramp(targets, overSeconds: seconds)) }
            }
        } else if let over = fields["over_seconds"] {
            over.report("only with 'ramp'")
        }
        for (key, raise) in [("raise_fault", true), ("clear_fault", false)] {
            if let fault = fields[key]?.choice(Fault.allCases.map { ($0.rawValue, $0) }) {
                actions.append(raise ? .raiseFault(fault) : .clearFault(fault))
            }
        }
        if let online = fields["online"]?.bool() { actions.append(.online(online)) }
        if let faultValue = fields["wire_fault"] {
            if case .scalar(let scalar) = faultValue.node, scalar.string == "none" {
                actions.append(.wireFault(nil))
            } else if let fault = faultValue.wireFault() {
                actions.append(.wireFault(fault))
            }
        }
        if let pressValue = fields["press"], let button = pressValue.choice(PanelButton.allCases.map { ($0.rawValue, $0) }) {
            if case .endpoint = target {
                pressValue.report("a panel belongs to one unit's theatre: use 'unit'")
            } else {
                actions.append(.press(button))
            }
        }
        var steps = actions.map { ScenarioStep(atSeconds: at, target: target, action: $0, line: line) }
        if let stormValue = fields["storm"] {
            steps += storm(stormValue, at: at, target: target, site: site, line: line, generator: &generator)
        }
        if steps.isEmpty && value.diagnostics.errors.count == errorsBefore {
            value.report("does nothing: give set, ramp, raise_fault, clear_fault, online, wire_fault, press or storm")
        }
        return steps
    }

    /// Interference: wire faults of random kinds at jittered times, each for a few requests. The
    /// seed fixes the schedule; between bursts the link works, so readings keep arriving.
    private func storm(
        _ value: YAMLValue, at: Double, target: ScenarioStep.Target, site: SiteDescription?, line: Int,
        generator: inout SplitMix64
    ) -> [ScenarioStep] {
        guard let fields = value.mapping(allowedKeys: ["kinds", "every_seconds", "until", "count", "delay_seconds"]) else {
            return []
        }
        let everyValue = fields.required("every_seconds", "the mean physics time between bursts")
        let untilValue = fields.required("until", "the physics time the storm stops")
        guard let every = everyValue?.number(in: 0.001...86_400, unit: "s"),
            let untilValue, let until = untilValue.number(in: 0...31_536_000, unit: "s")
        else { return [] }
        if until < at { untilValue.report("before the step's 'at'") }
        let count = fields["count"]?.integer(in: 1...100) ?? 1
        let delay = fields["delay_seconds"]?.number(in: 0...60, unit: "s") ?? 0.1
        var kinds: [WireFault.Kind] = [.crcError, .truncatedFrame]
        if let kindsValue = fields["kinds"], let list = kindsValue.sequence() {
            let named: [(String, WireFault.Kind)] = [
                ("crc_error", .crcError), ("truncated_frame", .truncatedFrame), ("no_reply", .noReply),
                ("delay", .delay(seconds: delay)), ("drop_connection", .dropConnection),
            ]
            kinds = list.compactMap { $0.choice(named) }
            if list.isEmpty { kindsValue.report("at least one kind") }
        }
        guard !kinds.isEmpty else { return [] }
        var members: [UnitReference] = []
        switch target {
        case .unit(let unit): members = [unit]
        case .endpoint(let id):
            members = site?.endpoints.first { $0.id == id }?.units.map { UnitReference(endpoint: id, unit: $0.unit) } ?? []
        }
        guard !members.isEmpty else { return [] }
        var steps: [ScenarioStep] = []
        var time = at
        while true {
            // Uniform jitter of ±half an interval: bursts do not fall in step with the poll cycle.
            time += every * (0.5 + generator.nextUnitInterval())
            guard time <= until else { break }
            let member = members[Int(generator.next() % UInt64(members.count))]
            let kind = kinds[Int(generator.next() % UInt64(kinds.count))]
            steps.append(ScenarioStep(atSeconds: time, target: .unit(member), action: .wireFault(WireFault(kind, remainingRequests: count)), line: line))
        }
        return steps
    }

    // MARK: - Expectations

    private func expectation(_ value: YAMLValue, duration: Double?) -> SystemExpectation? {
        guard let fields = value.mapping(allowedKeys: ["raised", "not_raised", "relays", "final_conditions"]) else { return nil }
        let conditions = ScenarioFile.conditionNames.map { ($0, $0) }
        var expectation = SystemExpectation()
        for entryValue in fields["raised"]?.sequence() ?? [] {
            guard let entry = entryValue.mapping(allowedKeys: ["condition", "after", "by"]) else { continue }
            let conditionValue = entry.required("condition", "the alarm condition expected")
            let byValue = entry.required("by", "the physics time it must be raised by")
            guard let condition = conditionValue?.choice(conditions), let byValue,
                let by = byValue.number(in: 0...31_536_000, unit: "s")
            else { continue }
            let after = entry["after"]?.number(in: 0...31_536_000, unit: "s")
            if let after, after > by { entry.report("after", "after 'by' (\(by))") }
            if let duration, by > duration { byValue.report("after the end of the timeline (duration_seconds \(duration))") }
            expectation.raised.append(.init(condition: condition, afterSeconds: after, bySeconds: by))
        }
        if let notRaised = fields["not_raised"], let list = notRaised.sequence() {
            expectation.notRaised = list.compactMap { $0.choice(conditions) }
            for raised in expectation.raised where expectation.notRaised.contains(raised.condition) {
                notRaised.report("'\(raised.condition)' is also expected to be raised")
            }
        }
        if let list = fields["final_conditions"]?.sequence() {
            expectation.finalConditions = list.compactMap { $0.choice(conditions) }
        }
        for stateValue in fields["relays"]?.sequence() ?? [] {
            if case .scalar(let scalar) = stateValue.node {
                if let state = PanelState.named[scalar.string] {
                    expectation.relays.append(state)
                } else {
                    stateValue.report(
                        "must be normal, alarm, silenced or {green: on|off, yellow: on|off, buzzer: on|off}, got '\(scalar.string)'")
                }
                continue
            }
            guard let lamps = stateValue.mapping(allowedKeys: ["green", "yellow", "buzzer"]) else { continue }
            let onOff = [("on", true), ("off", false)]
            let green = lamps.required("green")?.choice(onOff)
            let yellow = lamps.required("yellow")?.choice(onOff)
            let buzzer = lamps.required("buzzer")?.choice(onOff)
            if let green, let yellow, let buzzer {
                expectation.relays.append(PanelState(green: green, yellow: yellow, buzzer: buzzer))
            }
        }
        return expectation
    }
}
