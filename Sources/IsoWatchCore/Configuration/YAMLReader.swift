import Foundation
import Yams

// Typed reading of a composed YAML tree (Yams `Node`): the one YAML reader of the project, used for
// the configuration, device profiles, the users file and the simulator's site and scenario files. We walk `Node`s instead of decoding with Codable because every message
// must carry the line and column of the offending value, and unknown keys must be reported, not
// silently dropped: in a safety system a misspelt threshold that falls back to a default is a
// hidden wrong setting.

/// Collects every problem found in one file.
public final class YAMLDiagnostics {
    public let file: String
    private var reported: [ConfigurationError] = []

    /// In file order, as an editor walks them; problems of the whole file come first.
    public var errors: [ConfigurationError] {
        reported.enumerated().sorted { lhs, rhs in
            (lhs.element.line, lhs.element.column, lhs.offset) < (rhs.element.line, rhs.element.column, rhs.offset)
        }.map(\.element)
    }

    public init(file: String) {
        self.file = file
    }

    public func report(_ field: String, at mark: Mark?, _ reason: String) {
        reported.append(
            ConfigurationError(
                file: file, line: mark?.line ?? 0, column: mark?.column ?? 0, field: field, reason: reason))
    }

    /// Composes `yaml` into a tree, or records the syntax error with its position.
    public func compose(_ yaml: String) -> Node? {
        do {
            guard let root = try Yams.compose(yaml: yaml) else {
                report("", at: nil, "the file is empty")
                return nil
            }
            return root
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _),
                .parser(_, let problem, let mark, _),
                .composer(_, let problem, let mark, _):
                report("", at: mark, "YAML syntax error: \(problem)")
            case .duplicatedKeysInMapping(let duplicates, let context):
                let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
                report("", at: context.mark, "duplicate key \(keys) in one mapping: which one would win is not obvious")
            case .reader(let problem, _, _, _):
                report("", at: nil, "cannot read the file as UTF-8 text: \(problem)")
            default:
                report("", at: nil, "YAML error: \(error)")
            }
            return nil
        } catch {
            report("", at: nil, "YAML error: \(error)")
            return nil
        }
    }
}

/// A node of the tree with the dotted path that names it in messages.
public struct YAMLValue {
    public let node: Node
    public let path: String
    public let diagnostics: YAMLDiagnostics
    /// Where the key that introduced this value is; problems about a missing part of the value
    /// point there ("transformer: needs rating_kva"), not at whatever key happens to come first.
    public var keyMark: Mark? = nil

    public init(node: Node, path: String, diagnostics: YAMLDiagnostics, keyMark: Mark? = nil) {
        self.node = node
        self.path = path
        self.diagnostics = diagnostics
        self.keyMark = keyMark
    }

    public var mark: Mark? { node.mark }

    public func report(_ reason: String) {
        diagnostics.report(path, at: mark, reason)
    }

    /// `key:` with nothing after it, `~` or `null`: we treat these as if the key were absent.
    public var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private var plainScalarText: String? {
        guard case .scalar(let scalar) = node else { return nil }
        if scalar.style == .singleQuoted || scalar.style == .doubleQuoted { return nil }
        return scalar.string.trimmingCharacters(in: .whitespaces)
    }

    private var kindName: String {
        switch node {
        case .scalar(let scalar):
            return scalar.style == .singleQuoted || scalar.style == .doubleQuoted
                ? "the quoted string '\(scalar.string)'" : "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public func string() -> String? {
        guard case .scalar(let scalar) = node, !isNull else {
            report("must be a text value, got \(kindName)")
            return nil
        }
        return scalar.string
    }

    /// A whole number, written in decimal or as 0x hexadecimal. Leading zeros are decimal: YAML
    /// 1.1 would read `0010` as octal 8, a trap for register addresses copied from a manual.
    public func integer(in range: ClosedRange<Int>? = nil) -> Int? {
        guard let text = plainScalarText, let value = Self.parseInteger(text) else {
            report("must be a whole number (decimal or 0x hexadecimal), got \(kindName)")
            return nil
        }
        if let range, !range.contains(value) {
            report("must be \(range.lowerBound)...\(range.upperBound), got \(value)")
            return nil
        }
        return value
    }

    /// A finite number; integers may be written in hexadecimal.
    public func number() -> Double? {
        guard let text = plainScalarText else {
            report("must be a number, got \(kindName)")
            return nil
        }
        if let integer = Self.parseInteger(text) { return Double(integer) }
        guard let value = Double(text), value.isFinite else {
            report("must be a finite number, got \(kindName)")
            return nil
        }
        return value
    }

    public func number(in range: ClosedRange<Double>, unit: String = "") -> Double? {
        guard let value = number() else { return nil }
        guard range.contains(value) else {
            let suffix = unit.isEmpty ? "" : " \(unit)"
            report(
                "must be \(Self.format(range.lowerBound))...\(Self.format(range.upperBound))\(suffix), got \(Self.format(value))"
            )
            return nil
        }
        return value
    }

    public func bool() -> Bool? {
        switch plainScalarText {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default:
            report("must be true or false, got \(kindName)")
            return nil
        }
    }

    /// One of a closed set of words; the message lists them all.
    public func choice<T>(_ options: [(String, T)]) -> T? {
        guard case .scalar(let scalar) = node, !isNull else {
            report("must be one of \(Self.list(options.map(\.0))), got \(kindName)")
            return nil
        }
        if let match = options.first(where: { $0.0 == scalar.string }) { return match.1 }
        var reason = "must be one of \(Self.list(options.map(\.0))), got '\(scalar.string)'"
        if let suggestion = Self.closest(to: scalar.string, in: options.map(\.0)) {
            reason += "; did you mean '\(suggestion)'?"
        }
        report(reason)
        return nil
    }

    /// The node as a mapping whose keys must all be in `allowedKeys` (nil: any key is allowed,
    /// the caller checks names itself). Unknown keys are reported with the closest valid one.
    public func mapping(allowedKeys: [String]?) -> YAMLMapping? {
        guard case .mapping(let mapping) = node else {
            report("must be a mapping (key: value), got \(kindName)")
            return nil
        }
        var entries: [YAMLMapping.Entry] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                diagnostics.report(path, at: keyNode.mark, "keys must be plain words, not a mapping or a list")
                continue
            }
            let key = keyScalar.string
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if let allowedKeys, !allowedKeys.contains(key) {
                var reason = "unknown key '\(key)'"
                if let suggestion = Self.closest(to: key, in: allowedKeys) {
                    reason += "; did you mean '\(suggestion)'?"
                }
                reason += " Accepted keys: \(allowedKeys.joined(separator: ", "))"
                diagnostics.report(childPath, at: keyNode.mark, reason)
                continue
            }
            entries.append(
                YAMLMapping.Entry(
                    key: key, keyMark: keyNode.mark,
                    value: YAMLValue(node: valueNode, path: childPath, diagnostics: diagnostics, keyMark: keyNode.mark)))
        }
        return YAMLMapping(path: path, mark: keyMark ?? mark, diagnostics: diagnostics, entries: entries)
    }

    public func sequence() -> [YAMLValue]? {
        guard case .sequence(let sequence) = node else {
            report("must be a list, got \(kindName)")
            return nil
        }
        return sequence.enumerated().map { index, element in
            YAMLValue(node: element, path: "\(path)[\(index)]", diagnostics: diagnostics)
        }
    }

    // MARK: - Helpers

    static func parseInteger(_ text: String) -> Int? {
        var body = Substring(text)
        var negative = false
        if let sign = body.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            body = body.dropFirst()
        }
        let magnitude: Int?
        if body.hasPrefix("0x") || body.hasPrefix("0X") {
            let digits = body.dropFirst(2)
            magnitude = digits.isEmpty ? nil : Int(digits, radix: 16)
        } else if !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }) {
            magnitude = Int(body, radix: 10)
        } else {
            magnitude = nil
        }
        guard let magnitude else { return nil }
        return negative ? -magnitude : magnitude
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    static func list(_ words: [String]) -> String {
        words.joined(separator: ", ")
    }

    /// The candidate nearest to a misspelt word, if it is near enough to be a plausible typo.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let lowered = word.lowercased()
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        // Short words are a fresh choice more often than a typo ("X" is not "N" misspelt).
        let tolerance = max(1, word.count / 3)
        return best.distance <= tolerance && best.distance < word.count ? best.candidate : nil
    }

    /// Edit distance counting a swap of two neighbouring letters as one edit ("sacle" is one
    /// edit from "scale"), the most common typing slip.
    static func editDistance(_ lhs: String, _ rhs: String) -> Int {
        let left = Array(lhs.unicodeScalars)
        let right = Array(rhs.unicodeScalars)
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var table = Array(repeating: Array(repeating: 0, count: right.count + 1), count: left.count + 1)
        for i in 0...left.count { table[i][0] = i }
        for j in 0...right.count { table[0][j] = j }
        for i in 1...left.count {
            for j in 1...right.count {
                let cost = left[i - 1] == right[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, left[i - 1] == right[j - 2], left[i - 2] == right[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[left.count][right.count]
    }
}

/// A mapping whose keys have been checked against the accepted set.
public struct YAMLMapping {
    public struct Entry {
        public let key: String
        public let keyMark: Mark?
        public let value: YAMLValue
    }

    public let path: String
    /// The mark of the key naming this mapping, or of the mapping itself at the top level.
    public let mark: Mark?
    public let diagnostics: YAMLDiagnostics
    public let entries: [Entry]

    /// The value of `key`, or nil when it is absent or null.
    public subscript(key: String) -> YAMLValue? {
        guard let entry = entries.first(where: { $0.key == key }), !entry.value.isNull else { return nil }
        return entry.value
    }

    public func childPath(_ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }

    /// The value of `key`, reporting it as missing (at the mapping's position) when absent.
    public func required(_ key: String, _ explanation: String = "") -> YAMLValue? {
        if let value = self[key] { return value }
        let reason = explanation.isEmpty ? "is required" : "is required: \(explanation)"
        diagnostics.report(childPath(key), at: mark, reason)
        return nil
    }

    public func report(_ key: String, _ reason: String) {
        let mark = self[key]?.mark ?? entries.first(where: { $0.key == key })?.keyMark ?? self.mark
        diagnostics.report(childPath(key), at: mark, reason)
    }
}
