import Foundation

/// Service configuration files assembled from the parts a test cares about, so each test shows
/// only what it changes against the common frame.
public enum ConfigurationYAML {
    /// A whole file: the site, an HTTP listener, simulated GPIO, `topLevel` sections (one per
    /// line, without indentation) and the given system blocks.
    public static func file(
        site: String, http: String = #"listen: "127.0.0.1:0""#, topLevel: [String] = [], systems: [String]
    ) -> String {
        (["site: { name: \"\(site)\" }", "http: { \(http) }", "gpio: { backend: simulated }"]
            + topLevel + ["systems:"] + systems).joined(separator: "\n")
    }

    /// The fast polling end-to-end tests use, so a changed value reaches the API within a second.
    public static let fastPolling = """
        unit: 1
        poll_interval_seconds: 0.25
        timeout_seconds: 0.2
        retries: 1
        """

    /// The green and yellow lamps and the buzzer on lines 20, 21 and 22 of gpiochip0: the theatre
    /// panel as the end-to-end suites wire it and read it back.
    public static let theatreOutputs = """
        outputs:
          green: { chip: gpiochip0, line: 20 }
          yellow: { chip: gpiochip0, line: 21 }
          buzzer: { chip: gpiochip0, line: 22 }
        """

    /// One system polling a Modbus TCP device on the loopback interface. `device` adds lines to
    /// the device block, `sections` whole sections (alarms, outputs, inputs) to the system; both
    /// are written without indentation.
    public static func tcpSystem(
        id: String, name: String, profile: String = "bender-isometer", port: String,
        device: String = "", sections: String = ""
    ) -> String {
        var lines = [
            "  - id: \(id)",
            "    name: \"\(name)\"",
            "    transformer: { rating_kva: 8, secondary_voltage_volts: 230 }",
            "    device:",
            "      profile: \(profile)",
            "      transport: { tcp: { host: 127.0.0.1, port: \(port) } }",
        ]
        lines += indented(device, by: 6)
        lines += indented(sections, by: 4)
        return lines.joined(separator: "\n")
    }

    private static func indented(_ text: String, by spaces: Int) -> [String] {
        guard !text.isEmpty else { return [] }
        let indentation = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { indentation + $0 }
    }
}

/// A fresh directory under the temporary directory, for configuration files and databases a
/// test hands to a real process; `remove()` it in a `defer`.
public struct ScratchDirectory: Sendable {
    public let url: URL

    public init(_ prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appending(path: "\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `text` to a file in the directory and returns where.
    public func write(_ text: String, to name: String) throws -> URL {
        let file = url.appending(path: name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
