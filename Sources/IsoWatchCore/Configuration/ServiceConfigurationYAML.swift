/// Service configuration files (the schema `ConfigurationLoader` reads) written from parts: the one
/// generator of that text, beside its reader. The simulator's `ScenarioServiceConfiguration` (the
/// scenario test and `isowatch-sim scenario run --service-config`) and the tests use it; the tests
/// pass the sections they care about as YAML fragments written without indentation.
public enum ServiceConfigurationYAML {
    /// A whole file: the site, the HTTP listener (`http`: the mapping's entries), the GPIO backend
    /// (`gpio`: likewise), `topLevel` sections (one per line, without indentation) and the system
    /// blocks from `system`.
    public static func file(
        site: String, http: String = #"listen: "127.0.0.1:0""#, gpio: String = "backend: simulated",
        topLevel: [String] = [], systems: [String]
    ) -> String {
        ([#"site: { name: "\#(site)" }"#, "http: { \(http) }", "gpio: { \(gpio) }"] + topLevel + ["systems:"] + systems)
            .joined(separator: "\n")
    }

    /// One system reading `profile` over `transport` (from `tcp` or `rtu`). `device` adds lines to
    /// the device block, `sections` whole sections (thresholds, alarms, outputs, inputs) to the
    /// system; both are written without indentation.
    public static func system(
        id: String, name: String, ratingKVA: Double = 8, profile: String = "bender-isometer", transport: String,
        device: String = "", sections: String = ""
    ) -> String {
        var lines = [
            "  - id: \(id)",
            "    name: \"\(name)\"",
            "    transformer: { rating_kva: \(number(ratingKVA)), secondary_voltage_volts: 230 }",
            "    device:",
            "      profile: \(profile)",
            "      transport: \(transport)",
        ]
        lines += indented(device, by: 6)
        lines += indented(sections, by: 4)
        return lines.joined(separator: "\n")
    }

    /// One system polling a Modbus TCP device on the loopback interface; `port` may be a
    /// placeholder the caller replaces.
    public static func tcpSystem(
        id: String, name: String, profile: String = "bender-isometer", port: String, device: String = "",
        sections: String = ""
    ) -> String {
        system(
            id: id, name: name, profile: profile, transport: tcp(host: "127.0.0.1", port: port), device: device,
            sections: sections)
    }

    /// `device.transport` for Modbus TCP.
    public static func tcp(host: String, port: String) -> String {
        #"{ tcp: { host: "\#(host)", port: \#(port) } }"#
    }

    /// `device.transport` for Modbus RTU.
    public static func rtu(_ serial: SerialSettings) -> String {
        #"{ rtu: { device: "\#(serial.device)", baud: \#(serial.baud), parity: \#(serial.parity.rawValue), "#
            + "data_bits: \(serial.dataBits), stop_bits: \(serial.stopBits) } }"
    }

    /// An output or input line: `{ chip: gpiochip0, line: 20 }`.
    public static func line(chip: String, offset: UInt32, activeLow: Bool = false) -> String {
        activeLow ? "{ chip: \(chip), line: \(offset), active_low: true }" : "{ chip: \(chip), line: \(offset) }"
    }

    /// Whole numbers without a fraction, as a person writes them.
    public static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func indented(_ text: String, by spaces: Int) -> [String] {
        guard !text.isEmpty else { return [] }
        let indentation = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { indentation + $0 }
    }
}
