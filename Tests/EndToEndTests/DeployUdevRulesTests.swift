import Foundation
import IsoWatchTesting
import Testing

/// hardware/deploy/60-isowatch.rules read the way udev reads it (udev(7): comma-separated
/// `KEY op "value"` pairs, one rule per line). Debian 12's udevadm has no `verify` (systemd 253
/// added it), and a malformed rule is only logged by udevd at boot, where nobody looks: the
/// adapters then keep their probe-order names and isowatch.yaml's /dev/isowatch-rs485-N is missing.
@Suite struct DeployUdevRulesTests {
    struct Assignment: Equatable {
        let key: String
        let operation: String
        let value: String
    }

    static let matchKeys: Set<String> = [
        "ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "KERNELS", "DRIVER", "DRIVERS", "DEVPATH",
    ]
    static let assignKeys: Set<String> = ["SYMLINK", "GROUP", "MODE", "OWNER", "TAG", "NAME", "RUN"]

    /// Parses one rule line into its pairs, or throws naming what udev would reject.
    static func parse(_ line: String) throws -> [Assignment] {
        let pair = try Regex(#"^\s*([A-Z_]+(?:\{[A-Za-z0-9_]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*$"#)
        var pairs: [Assignment] = []
        var current = ""
        var quoted = false
        for character in line + "," {
            if character == "\"" { quoted.toggle() }
            if character == "," && !quoted {
                guard let match = current.wholeMatch(of: pair) else {
                    throw RuleError("not KEY op \"value\": '\(current)' in: \(line)")
                }
                let key = String(match.output[1].substring ?? "")
                let operation = String(match.output[2].substring ?? "")
                let base = String(key.prefix { $0 != "{" })
                let isMatch = operation == "==" || operation == "!="
                if isMatch {
                    guard matchKeys.contains(base) || base == "ENV" || base == "ATTRS" || base == "ATTR" else {
                        throw RuleError("unknown match key \(key) in: \(line)")
                    }
                } else {
                    guard assignKeys.contains(base) || base == "ENV" else {
                        throw RuleError("unknown assignment key \(key) in: \(line)")
                    }
                }
                pairs.append(Assignment(key: key, operation: operation, value: String(match.output[3].substring ?? "")))
                current = ""
            } else {
                current.append(character)
            }
        }
        guard !quoted else { throw RuleError("unbalanced quote in: \(line)") }
        return pairs
    }

    struct RuleError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func rules() throws -> [[Assignment]] {
        let text = try String(
            contentsOf: RepositoryPaths.root.appending(path: "hardware/deploy/60-isowatch.rules"), encoding: .utf8)
        return try text.split(separator: "\n").map(String.init)
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") }
            .map(parse)
    }

    @Test func test_parserRejectsWhatUdevRejects() throws {
        #expect(throws: RuleError.self) { try Self.parse(#"SUBSYSTEM=="tty", SYMLINK+=isowatch-rs485-1"#) }
        #expect(throws: RuleError.self) { try Self.parse(#"SUBSYSTEM=="tty" SYMLINK+="isowatch-rs485-1""#) }
        #expect(throws: RuleError.self) { try Self.parse(#"SUBSYTEM=="tty", GROUP="dialout""#) }
        #expect(throws: RuleError.self) { try Self.parse(#"SUBSYSTEM=="tty", GROUP=="dialout", MODE="0660"x"#) }
        #expect(try Self.parse(#"SUBSYSTEM=="tty", ENV{ID_SERIAL_SHORT}=="A1", SYMLINK+="x""#).count == 3)
    }

    @Test func test_everyRuleIsWellFormedAndMatchesBeforeItAssigns() throws {
        let rules = try Self.rules()
        #expect(rules.count >= 4)
        for rule in rules {
            #expect(rule.contains { $0.operation == "==" }, "a rule with no match applies to every device: \(rule)")
            #expect(rule.contains { $0.operation != "==" && $0.operation != "!=" }, "a rule that assigns nothing: \(rule)")
        }
    }

    /// Each adapter gets its own stable name, readable by the dialout group the service runs in.
    @Test func test_serialAdaptersGetDistinctStableNamesForTheDialoutGroup() throws {
        let serialRules = try Self.rules().filter { $0.contains(Assignment(key: "SUBSYSTEM", operation: "==", value: "tty")) }
        let names = serialRules.compactMap { rule in rule.first { $0.key == "SYMLINK" }?.value }
        #expect(names.count == serialRules.count)
        #expect(Set(names).count == names.count, "two adapters under one name: \(names)")
        #expect(names.allSatisfy { $0.wholeMatch(of: /isowatch-rs485-[0-9]+/) != nil }, "\(names)")
        for rule in serialRules {
            #expect(rule.contains(Assignment(key: "GROUP", operation: "=", value: "dialout")))
            // Identified by serial number or by port, never by probe order (KERNEL=="ttyUSB0").
            #expect(rule.contains { $0.key == "ENV{ID_SERIAL_SHORT}" || $0.key == "ENV{ID_PATH}" }, "\(rule)")
        }
    }

    /// The GPIO rule's group is one the service joins (SupplementaryGroups) and sysusers creates.
    @Test func test_gpioChipsBelongToAGroupTheServiceJoinsAndSysusersCreates() throws {
        let gpio = try #require(
            try Self.rules().first { $0.contains(Assignment(key: "SUBSYSTEM", operation: "==", value: "gpio")) })
        let group = try #require(gpio.first { $0.key == "GROUP" }?.value)
        let deploy = RepositoryPaths.root.appending(path: "hardware/deploy")
        let unit = try String(contentsOf: deploy.appending(path: "isowatch.service"), encoding: .utf8)
        let sysusers = try String(contentsOf: deploy.appending(path: "isowatch.sysusers"), encoding: .utf8)
        let supplementary = unit.split(separator: "\n").first { $0.hasPrefix("SupplementaryGroups=") }
        #expect(supplementary?.split(separator: "=").last?.split(separator: " ").contains(Substring(group)) == true)
        let lines = sysusers.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.contains(["g", group, "-"]), "sysusers creates the group")
        #expect(lines.contains(["m", "isowatch", group]), "sysusers puts isowatch in it")
    }
}
