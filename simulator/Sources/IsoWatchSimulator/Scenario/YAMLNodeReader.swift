import IsoWatchCore
import Yams

/// Walks a composed YAML tree for the simulator's file parsers (site, scenario), collecting every
/// problem with the file, line, column and field path instead of stopping at the first one.
class YAMLNodeReader {
    let file: String
    var errors: [ConfigurationError] = []

    init(file: String) { self.file = file }

    /// The document's root node; an empty file or a syntax error is reported (`expected` says
    /// what the file should hold) and gives nil.
    final func root(of yaml: String, expected: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                report("", nil, "the file is empty; expected \(expected)")
                return nil
            }
            return node
        } catch {
            report("", nil, "YAML syntax: \(error)")
            return nil
        }
    }

    final func report(_ field: String, _ node: Node?, _ reason: String) {
        errors.append(
            ConfigurationError(
                file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, field: field, reason: reason))
    }

    /// The mapping's entries; with `allowed`, any other key is reported.
    final func mapping(_ node: Node, _ path: String, allowed: [String]?) -> [String: Node]? {
        guard let entries = orderedMapping(node, path) else { return nil }
        var result: [String: Node] = [:]
        for (keyNode, key, value) in entries {
            let child = path.isEmpty ? key : "\(path).\(key)"
            if let allowed, !allowed.contains(key) {
                report(child, keyNode, "unknown key; expected one of \(allowed.joined(separator: ", "))")
                continue
            }
            if result[key] != nil { report(child, keyNode, "given twice") }
            result[key] = value
        }
        return result
    }

    /// The mapping's entries in file order, keys as written.
    final func orderedMapping(_ node: Node, _ path: String) -> [(Node, String, Node)]? {
        guard case .mapping(let mapping) = node else {
            report(path, node, "expected a mapping")
            return nil
        }
        var result: [(Node, String, Node)] = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                report(path, keyNode, "keys must be strings")
                continue
            }
            result.append((keyNode, key, value))
        }
        return result
    }

    final func sequence(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report(path, node, "expected a list")
            return nil
        }
        return Array(sequence)
    }

    final func string(_ node: Node, _ path: String) -> String? {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            report(path, node, "expected a text value")
            return nil
        }
        return scalar.string
    }

    final func integer(_ node: Node, _ path: String, in range: ClosedRange<Int>? = nil) -> Int? {
        guard case .scalar = node, let value = node.int else {
            report(path, node, "expected a whole number")
            return nil
        }
        if let range, !range.contains(value) {
            report(path, node, "must be \(range.lowerBound)...\(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    final func number(_ node: Node, _ path: String, in range: ClosedRange<Double>? = nil) -> Double? {
        guard case .scalar = node, let value = node.float, value.isFinite else {
            report(path, node, "expected a finite number")
            return nil
        }
        if let range, !range.contains(value) {
            report(path, node, "must be \(range.lowerBound)...\(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    final func bool(_ node: Node, _ path: String) -> Bool? {
        guard case .scalar = node, let value = node.bool else {
            report(path, node, "expected true or false")
            return nil
        }
        return value
    }

    /// A bare number, or `{value, validity}` for a reading the device flags out of range.
    final func measured(_ node: Node, _ path: String) -> MeasuredValue? {
        guard case .mapping = node else { return number(node, path).map { MeasuredValue($0) } }
        guard let fields = mapping(node, path, allowed: ["value", "validity"]) else { return nil }
        guard let valueNode = fields["value"] else {
            report("\(path).value", node, "required")
            return nil
        }
        guard let value = number(valueNode, "\(path).value") else { return nil }
        var validity = Validity.actual
        if let node = fields["validity"], let text = string(node, "\(path).validity") {
            if let parsed = Validity(rawValue: text) {
                validity = parsed
            } else {
                report("\(path).validity", node, "expected actual, below_range, above_range or invalid, got '\(text)'")
            }
        }
        return MeasuredValue(value, validity: validity)
    }
}
