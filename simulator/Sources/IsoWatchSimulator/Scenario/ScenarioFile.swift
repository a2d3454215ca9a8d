import Foundation
import IsoWatchCore
import Yams

/// Reads a scenario file (YAML) into a `Scenario`. Like site files: every problem is reported with
/// file, line, column and field path, all at once, and unknown keys are errors. The format is
/// documented in simulator/README.md ("Scenarios").
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
        let reader = ScenarioReader(file: fileName, text: yaml, baseDirectory: baseDirectory, seedOverride: seed)
        let scenario = reader.scenario()
        guard reader.errors.isEmpty, let scenario else {
            throw ConfigurationErrors(
                reader.errors.isEmpty
                    ? [ConfigurationError(file: fileName, line: 0, column: 0, field: "", reason: "no scenario")] : reader.errors)
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

private final class ScenarioReader: YAMLNodeReader {
    let text: String
    let baseDirectory: URL
    let seedOverride: UInt64?

    init(file: String, text: String, baseDirectory: URL, seedOverride: UInt64?) {
        self.seedOverride = seedOverride
        self.text = text
        self.baseDirectory = baseDirectory
        super.init(file: file)
    }

    func scenario() -> Scenario? {
        guard let root = root(of: text, expected: "a mapping with 'name', 'site' and 'timeline'") else { return nil }
        let keys = ["name", "description", "seed", "time_factor", "duration_seconds", "site", "thermal", "service", "timeline", "expect"]
        guard let top = mapping(root, "", allowed: keys) else { return nil }
        let name = required(top, "name", root, "a short name for logs and test output").flatMap { string($0, "name") }
        let summary = top["description"].flatMap { string($0, "description") } ?? ""
        var seed: UInt64 = 1
        if let node = top["seed"] {
            if case .scalar(let scalar) = node, let value = UInt64(scalar.string) { seed = value } else { report("seed", node, "expected a whole number 0...2^64-1") }
        }
        if let seedOverride { seed = seedOverride }
        let timeFactor = top["time_factor"].flatMap { number($0, "time_factor", in: 0.001...100_000) } ?? 1
        let duration = required(top, "duration_seconds", root, "physics seconds the timeline lasts")
            .flatMap { number($0, "duration_seconds", in: 0...31_536_000) }
        let site = required(top, "site", root, "a site file path, or the site inline").flatMap { self.site($0, root) }
        let units = Set(site.map { $0.endpoints.flatMap { e in e.units.map { UnitReference(endpoint: e.id, unit: $0.unit) } } } ?? [])
        let endpointIDs = Set(site?.endpoints.map(\.id) ?? [])
        let check = site != nil

        func unitKey(_ keyNode: Node, _ key: String, _ path: String) -> UnitReference? {
            guard let reference = UnitReference(key) else {
                report(path, keyNode, "expected ENDPOINT/UNIT, such as gw1/3, got '\(key)'")
                return nil
            }
            if check, !units.contains(reference) {
                report(path, keyNode, "the site has no unit \(reference) (it has: \(units.sorted().map(\.description).joined(separator: ", ")))")
                return nil
            }
            return reference
        }

        var thermal: [UnitReference: ThermalSetup] = [:]
        if let node = top["thermal"], let entries = orderedMapping(node, "thermal") {
            for (keyNode, key, value) in entries {
                let path = "thermal.\(key)"
                guard let reference = unitKey(keyNode, key, path) else { continue }
                guard let fields = mapping(value, path, allowed: ["ambient_celsius", "limit_celsius", "initial_celsius", "rated_current_amperes"]) else { continue }
                var setup = ThermalSetup()
                if let n = fields["ambient_celsius"], let v = number(n, "\(path).ambient_celsius", in: -40...80) { setup.ambientCelsius = v }
                if let n = fields["limit_celsius"], let v = number(n, "\(path).limit_celsius", in: -40...300) { setup.limitCelsius = v }
                if setup.limitCelsius <= setup.ambientCelsius { report("\(path).limit_celsius", fields["limit_celsius"] ?? value, "must be above the ambient temperature") }
                setup.initialCelsius = fields["initial_celsius"].flatMap { number($0, "\(path).initial_celsius", in: -40...300) }
                setup.ratedCurrentAmperes = fields["rated_current_amperes"].flatMap { number($0, "\(path).rated_current_amperes", in: 0.01...1000) }
                thermal[reference] = setup
            }
        }

        var service: [UnitReference: ServiceSettings] = [:]
        if let node = top["service"], let entries = orderedMapping(node, "service") {
            for (keyNode, key, value) in entries {
                let path = "service.\(key)"
                guard let reference = unitKey(keyNode, key, path) else { continue }
                guard let fields = mapping(value, path, allowed: ["rating_kva", "thresholds"]) else { continue }
                var settings = ServiceSettings()
                settings.ratingKVA = fields["rating_kva"].flatMap { number($0, "\(path).rating_kva", in: 0.5...10) }
                if let n = fields["thresholds"], let thresholds = mapping(n, "\(path).thresholds", allowed: nil) {
                    for (name, valueNode) in thresholds {
                        if let v = number(valueNode, "\(path).thresholds.\(name)") { settings.thresholds[name] = v }
                    }
                }
                service[reference] = settings
            }
        }

        var generator = SplitMix64(seed: seed)
        var steps: [ScenarioStep] = []
        if let node = top["timeline"], let list = sequence(node, "timeline") {
            for (index, stepNode) in list.enumerated() {
                steps += step(stepNode, "timeline[\(index)]", units: units, endpoints: endpointIDs, check: check,
                              site: site, duration: duration, generator: &generator)
            }
        } else if top["timeline"] == nil {
            report("timeline", root, "required: the list of steps (it may be empty: [])")
        }
        // A stable sort: steps at one time keep their file order.
        steps = steps.enumerated().sorted { ($0.element.atSeconds, $0.offset) < ($1.element.atSeconds, $1.offset) }.map(\.element)

        var expectations: [UnitReference: SystemExpectation] = [:]
        if let node = top["expect"], let entries = orderedMapping(node, "expect") {
            for (keyNode, key, value) in entries {
                let path = "expect.\(key)"
                guard let reference = unitKey(keyNode, key, path) else { continue }
                if let expectation = expectation(value, path, duration: duration) { expectations[reference] = expectation }
            }
        }

        guard let name, let duration, let site else { return nil }
        return Scenario(
            name: name, summary: summary, site: site, seed: seed, timeFactor: timeFactor, durationSeconds: duration,
            thermal: thermal, service: service, steps: steps, expectations: expectations)
    }

    // MARK: - Site

    private func site(_ node: Node, _ root: Node) -> SiteDescription? {
        if case .scalar(let scalar) = node {
            let url = URL(fileURLWithPath: scalar.string, relativeTo: baseDirectory).standardizedFileURL
            do {
                return try SiteFile.load(file: url)
            } catch {
                // The site file's own errors name the site file; say which scenario field led there.
                for problem in error.errors { report("site", node, "\(problem)") }
                return nil
            }
        }
        guard case .mapping = node else {
            report("site", node, "expected a site file path or an inline site mapping")
            return nil
        }
        // Parse the inline site with the site reader, on a copy of the text in which everything
        // outside the site is blanked, so its errors carry this file's lines and columns.
        let start = node.mark?.line ?? 1
        let startColumn = node.mark?.column ?? 1
        var end = Int.max
        if case .mapping(let top) = root {
            for (key, _) in top {
                if let line = key.mark?.line, line > start { end = min(end, line) }
            }
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var kept: [String] = []
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if number < start || number >= end {
                kept.append("")
            } else if number == start {
                kept.append(String(repeating: " ", count: max(0, startColumn - 1)) + String(line.unicodeScalars.dropFirst(max(0, startColumn - 1))))
            } else {
                kept.append(String(line))
            }
        }
        do {
            return try SiteFile.parse(yaml: kept.joined(separator: "\n"), fileName: file)
        } catch {
            for problem in error.errors {
                var moved = problem
                moved.field = problem.field.isEmpty ? "site" : "site.\(problem.field)"
                errors.append(moved)
            }
            return nil
        }
    }

    // MARK: - Steps

    private static let stepKeys = [
        "at", "unit", "endpoint", "set", "ramp", "over_seconds", "raise_fault", "clear_fault", "online", "wire_fault", "press", "storm",
    ]

    private func step(
        _ node: Node, _ path: String, units: Set<UnitReference>, endpoints: Set<String>, check: Bool, site: SiteDescription?,
        duration: Double?, generator: inout SplitMix64
    ) -> [ScenarioStep] {
        let errorsBefore = errors.count
        guard let fields = mapping(node, path, allowed: Self.stepKeys) else { return [] }
        let line = node.mark?.line ?? 0
        guard let atNode = fields["at"] else {
            report("\(path).at", node, "required: the physics time of the step, in seconds from the start")
            return []
        }
        guard let at = number(atNode, "\(path).at", in: 0...31_536_000) else { return [] }
        if let duration, at > duration { report("\(path).at", atNode, "after the end of the timeline (duration_seconds \(duration))") }
        let target: ScenarioStep.Target
        switch (fields["unit"], fields["endpoint"]) {
        case (let unitNode?, nil):
            guard let text = string(unitNode, "\(path).unit") else { return [] }
            guard let reference = UnitReference(text) else {
                report("\(path).unit", unitNode, "expected ENDPOINT/UNIT, such as gw1/3, got '\(text)'")
                return []
            }
            if check, !units.contains(reference) {
                report("\(path).unit", unitNode, "the site has no unit \(reference) (it has: \(units.sorted().map(\.description).joined(separator: ", ")))")
                return []
            }
            target = .unit(reference)
        case (nil, let endpointNode?):
            guard let id = string(endpointNode, "\(path).endpoint") else { return [] }
            if check, !endpoints.contains(id) {
                report("\(path).endpoint", endpointNode, "the site has no endpoint '\(id)' (it has: \(endpoints.sorted().joined(separator: ", ")))")
                return []
            }
            target = .endpoint(id)
        case (_?, _?):
            report(path, node, "give 'unit' or 'endpoint', not both")
            return []
        case (nil, nil):
            report(path, node, "needs 'unit' (ENDPOINT/UNIT) or 'endpoint' (every unit of it)")
            return []
        }

        var actions: [ScenarioAction] = []
        if let n = fields["set"], let values = mapping(n, "\(path).set", allowed: Quantity.allCases.map(\.rawValue)) {
            var set: [Quantity: MeasuredValue] = [:]
            for (key, valueNode) in values {
                if let quantity = Quantity(rawValue: key), let value = measured(valueNode, "\(path).set.\(key)") { set[quantity] = value }
            }
            actions.append(.set(set))
        }
        if let n = fields["ramp"], let values = mapping(n, "\(path).ramp", allowed: Quantity.allCases.map(\.rawValue)) {
            var targets: [Quantity: Double] = [:]
            for (key, valueNode) in values {
                if let quantity = Quantity(rawValue: key), let value = number(valueNode, "\(path).ramp.\(key)") { targets[quantity] = value }
            }
            if let overNode = fields["over_seconds"] {
                if let over = number(overNode, "\(path).over_seconds", in: 0.001...31_536_000) { actions.append(.ramp(targets, overSeconds: over)) }
            } else {
                report("\(path).over_seconds", n, "required with 'ramp': how long the change takes, physics seconds")
            }
        } else if let overNode = fields["over_seconds"] {
            report("\(path).over_seconds", overNode, "only with 'ramp'")
        }
        for (key, raise) in [("raise_fault", true), ("clear_fault", false)] {
            guard let n = fields[key], let name = string(n, "\(path).\(key)") else { continue }
            if let fault = Fault(rawValue: name) {
                actions.append(raise ? .raiseFault(fault) : .clearFault(fault))
            } else {
                report("\(path).\(key)", n, "expected one of \(Fault.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
            }
        }
        if let n = fields["online"], let online = bool(n, "\(path).online") { actions.append(.online(online)) }
        if let n = fields["wire_fault"] {
            if case .scalar(let scalar) = n, scalar.string == "none" {
                actions.append(.wireFault(nil))
            } else if let fault = wireFault(n, "\(path).wire_fault") {
                actions.append(.wireFault(fault))
            }
        }
        if let n = fields["press"], let name = string(n, "\(path).press") {
            if let button = PanelButton(rawValue: name) {
                if case .endpoint = target { report("\(path).press", n, "a panel belongs to one unit's theatre: use 'unit'") } else { actions.append(.press(button)) }
            } else {
                report("\(path).press", n, "expected one of \(PanelButton.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
            }
        }
        var steps = actions.map { ScenarioStep(atSeconds: at, target: target, action: $0, line: line) }
        if let n = fields["storm"] {
            steps += storm(n, "\(path).storm", at: at, target: target, site: site, line: line, generator: &generator)
        }
        if steps.isEmpty && errors.count == errorsBefore {
            report(path, node, "does nothing: give set, ramp, raise_fault, clear_fault, online, wire_fault, press or storm")
        }
        return steps
    }

    /// Interference: wire faults of random kinds at jittered times, each for a few requests. The
    /// seed fixes the schedule; between bursts the link works, so readings keep arriving.
    private func storm(
        _ node: Node, _ path: String, at: Double, target: ScenarioStep.Target, site: SiteDescription?, line: Int,
        generator: inout SplitMix64
    ) -> [ScenarioStep] {
        guard let fields = mapping(node, path, allowed: ["kinds", "every_seconds", "until", "count", "delay_seconds"]) else { return [] }
        guard let everyNode = fields["every_seconds"], let untilNode = fields["until"] else {
            report(path, node, "needs 'every_seconds' (mean physics time between bursts) and 'until' (physics time it stops)")
            return []
        }
        guard let every = number(everyNode, "\(path).every_seconds", in: 0.001...86_400), let until = number(untilNode, "\(path).until", in: 0...31_536_000)
        else { return [] }
        if until < at { report("\(path).until", untilNode, "before the step's 'at'") }
        let count = fields["count"].flatMap { integer($0, "\(path).count", in: 1...100) } ?? 1
        let delay = fields["delay_seconds"].flatMap { number($0, "\(path).delay_seconds", in: 0...60) } ?? 0.1
        var kinds: [WireFault.Kind] = [.crcError, .truncatedFrame]
        if let n = fields["kinds"], let list = sequence(n, "\(path).kinds") {
            kinds = []
            for (index, kindNode) in list.enumerated() {
                guard let name = string(kindNode, "\(path).kinds[\(index)]") else { continue }
                switch name {
                case "crc_error": kinds.append(.crcError)
                case "truncated_frame": kinds.append(.truncatedFrame)
                case "no_reply": kinds.append(.noReply)
                case "delay": kinds.append(.delay(seconds: delay))
                case "drop_connection": kinds.append(.dropConnection)
                default:
                    report("\(path).kinds[\(index)]", kindNode, "expected crc_error, truncated_frame, no_reply, delay or drop_connection, got '\(name)'")
                }
            }
            if kinds.isEmpty, list.isEmpty { report("\(path).kinds", n, "at least one kind") }
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

    private func wireFault(_ node: Node, _ path: String) -> WireFault? {
        do {
            return try YAMLDecoder().decode(WireFault.self, from: node)
        } catch let DecodingError.dataCorrupted(context) {
            report(path, node, context.debugDescription)
        } catch let DecodingError.keyNotFound(key, _) {
            report("\(path).\(key.stringValue)", node, "required for this kind")
        } catch {
            report(path, node, "expected none or {kind: \(WireFault.Kind.names.joined(separator: "|")), ...}")
        }
        return nil
    }

    // MARK: - Expectations

    private func expectation(_ node: Node, _ path: String, duration: Double?) -> SystemExpectation? {
        guard let fields = mapping(node, path, allowed: ["raised", "not_raised", "relays", "final_conditions"]) else { return nil }
        var expectation = SystemExpectation()
        if let n = fields["raised"], let list = sequence(n, "\(path).raised") {
            for (index, entryNode) in list.enumerated() {
                let entryPath = "\(path).raised[\(index)]"
                guard let entry = mapping(entryNode, entryPath, allowed: ["condition", "after", "by"]) else { continue }
                guard let conditionNode = entry["condition"], let byNode = entry["by"] else {
                    report(entryPath, entryNode, "needs 'condition' and 'by' (the physics time it must be raised by)")
                    continue
                }
                guard let condition = conditionName(conditionNode, "\(entryPath).condition"), let by = number(byNode, "\(entryPath).by", in: 0...31_536_000)
                else { continue }
                let after = entry["after"].flatMap { number($0, "\(entryPath).after", in: 0...31_536_000) }
                if let after, after > by { report("\(entryPath).after", entry["after"], "after 'by' (\(by))") }
                if let duration, by > duration { report("\(entryPath).by", byNode, "after the end of the timeline (duration_seconds \(duration))") }
                expectation.raised.append(.init(condition: condition, afterSeconds: after, bySeconds: by))
            }
        }
        if let n = fields["not_raised"], let list = sequence(n, "\(path).not_raised") {
            expectation.notRaised = list.enumerated().compactMap { conditionName($1, "\(path).not_raised[\($0)]") }
            for raised in expectation.raised where expectation.notRaised.contains(raised.condition) {
                report("\(path).not_raised", n, "'\(raised.condition)' is also expected to be raised")
            }
        }
        if let n = fields["final_conditions"], let list = sequence(n, "\(path).final_conditions") {
            expectation.finalConditions = list.enumerated().compactMap { conditionName($1, "\(path).final_conditions[\($0)]") }
        }
        if let n = fields["relays"], let list = sequence(n, "\(path).relays") {
            for (index, stateNode) in list.enumerated() {
                let statePath = "\(path).relays[\(index)]"
                if case .scalar(let scalar) = stateNode {
                    if let state = PanelState.named[scalar.string] {
                        expectation.relays.append(state)
                    } else {
                        report(statePath, stateNode, "expected normal, alarm, silenced or {green: on|off, yellow: on|off, buzzer: on|off}, got '\(scalar.string)'")
                    }
                    continue
                }
                guard let lamps = mapping(stateNode, statePath, allowed: ["green", "yellow", "buzzer"]) else { continue }
                guard let green = lamps["green"], let yellow = lamps["yellow"], let buzzer = lamps["buzzer"] else {
                    report(statePath, stateNode, "needs green, yellow and buzzer")
                    continue
                }
                if let g = onOff(green, "\(statePath).green"), let y = onOff(yellow, "\(statePath).yellow"), let b = onOff(buzzer, "\(statePath).buzzer") {
                    expectation.relays.append(PanelState(green: g, yellow: y, buzzer: b))
                }
            }
        }
        return expectation
    }

    private func conditionName(_ node: Node, _ path: String) -> String? {
        guard let name = string(node, path) else { return nil }
        guard ScenarioFile.conditionNames.contains(name) else {
            report(path, node, "expected one of \(ScenarioFile.conditionNames.joined(separator: ", ")), got '\(name)'")
            return nil
        }
        return name
    }

    private func onOff(_ node: Node, _ path: String) -> Bool? {
        if case .scalar(let scalar) = node {
            switch scalar.string {
            case "on", "true": return true
            case "off", "false": return false
            default: break
            }
        }
        report(path, node, "expected on or off")
        return nil
    }

    // MARK: - Node access with diagnostics

    private func required(_ fields: [String: Node], _ key: String, _ parent: Node, _ what: String) -> Node? {
        if let node = fields[key] { return node }
        report(key, parent, "required: \(what)")
        return nil
    }
}
