import ArgumentParser
import Foundation
import IsoWatchCore
import IsoWatchSimulator

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP side of the `set`, `status`, `drop-connections`, `unplug` and `replug` verbs.
struct ControlClient {
    let base: URL

    init(_ text: String) throws {
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), url.scheme != nil else {
            throw ValidationError("--control expects a URL such as http://127.0.0.1:8081, got '\(text)'")
        }
        base = url
    }

    func get<T: Decodable>(_ path: String, as type: T.Type) async throws -> T {
        try await send("GET", path, body: nil, as: type)
    }

    func send<T: Decodable>(_ method: String, _ path: String, body: Data?, as type: T.Type) async throws -> T {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = method
        request.timeoutInterval = 5
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            throw ControlFailure(status: status, body: String(decoding: data, as: UTF8.self))
        }
        return try JSONDecoder().decode(type, from: data)
    }
}

struct ControlFailure: Error, CustomStringConvertible {
    var status: Int
    var body: String
    var description: String {
        // Hummingbird puts the reason in {"error": {"message": "..."}}.
        struct Envelope: Decodable {
            struct Detail: Decodable { var message: String }
            var error: Detail
        }
        let message = (try? JSONDecoder().decode(Envelope.self, from: Data(body.utf8)))?.error.message ?? body
        return "HTTP \(status): \(message)"
    }
}

struct ControlOptions: ParsableArguments {
    @Option(help: "The simulator's control interface.")
    var control: String = "http://127.0.0.1:8081"
}

struct SetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change what a simulated unit measures, flags, or does on the wire.",
        discussion: """
            isowatch-sim set --endpoint gw1 --unit 1 insulation_resistance_ohms=30000
            isowatch-sim set --endpoint rtu0 --unit 2 --faults earth_connection --offline
            isowatch-sim set --endpoint rtu0 --unit 2 --wire-fault crc_error --count 3
            isowatch-sim set --endpoint gw1 --unit 1 --wire-fault delay:0.8
            isowatch-sim set --endpoint rtu0 --unit 1 --wire-fault no_reply --probability 0.2 --seed 7
            isowatch-sim set --endpoint gw1 --unit 1 --wire-fault none --online --faults ""
            """)

    @OptionGroup var options: ControlOptions

    @Option(help: "Endpoint id (see `status`).")
    var endpoint: String

    @Option(help: "Unit id.")
    var unit: UInt8

    @Argument(help: "QUANTITY=VALUE in SI units, e.g. insulation_resistance_ohms=30000.")
    var assignments: [String] = []

    @Option(help: "Comma-separated device faults that replace the current ones (\"\" for none).")
    var faults: String?

    enum Availability: String, EnumerableFlag {
        case online, offline

        static func help(for value: Availability) -> ArgumentHelp? {
            value == .online ? "Put the unit back on line." : "Take the unit off line (silent on RTU, 0x0B on TCP)."
        }
    }

    @Flag var availability: Availability?

    @Option(help: "exception[:CODE], no_reply, crc_error, truncated_frame, delay:SECONDS, drop_connection, or none.")
    var wireFault: String?

    @Option(help: "With --wire-fault: how many requests it affects (default: until cleared).")
    var count: Int?

    @Option(help: "With --wire-fault: the chance in (0, 1] that it strikes a request (default: every request).")
    var probability: Double?

    @Option(help: "With --probability: seeds the draws so a run replays (default: derived from the unit id).")
    var seed: UInt64?

    func run() async throws {
        var patch = UnitPatch()
        if !assignments.isEmpty {
            var values: [String: Double] = [:]
            for assignment in assignments {
                let (quantity, value) = try parseAssignment(assignment)
                values[quantity.rawValue] = value
            }
            patch.values = values
        }
        if let faults { patch.faults = faults.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let availability { patch.online = availability == .online }
        if wireFault == nil, count != nil || probability != nil || seed != nil {
            throw ValidationError("--count, --probability and --seed go with --wire-fault")
        }
        if let wireFault {
            patch.wireFault = .some(try Self.parseWireFault(wireFault, count: count, probability: probability, seed: seed))
        }
        let client = try ControlClient(options.control)
        let view = try await client.send(
            "PATCH", "api/v1/endpoints/\(endpoint)/units/\(unit)", body: try JSONEncoder().encode(patch), as: UnitView.self)
        print(StatusCommand.line(view))
    }

    static func parseWireFault(_ text: String, count: Int?, probability: Double? = nil, seed: UInt64? = nil) throws
        -> WireFault?
    {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let kind: WireFault.Kind
        switch (parts.first ?? "", parts.count > 1 ? parts[1] : nil) {
        case ("none", nil): return nil
        case ("exception", let code):
            guard let raw = UInt8(code ?? "4"), raw > 0 else { throw ValidationError("exception code must be 1...255") }
            kind = .exception(ModbusExceptionCode(rawValue: raw))
        case ("no_reply", nil): kind = .noReply
        case ("crc_error", nil): kind = .crcError
        case ("truncated_frame", nil): kind = .truncatedFrame
        case ("drop_connection", nil): kind = .dropConnection
        case ("delay", let seconds?):
            guard let value = Double(seconds), (0...60).contains(value) else {
                throw ValidationError("delay:SECONDS expects 0...60 seconds")
            }
            kind = .delay(seconds: value)
        default:
            throw ValidationError(
                "--wire-fault expects exception[:CODE], no_reply, crc_error, truncated_frame, delay:SECONDS, drop_connection or none; got '\(text)'")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if let probability, !WireFault.isValid(probability: probability) {
            throw ValidationError("--probability must be above 0 and at most 1, got \(probability)")
        }
        if seed != nil, probability == nil { throw ValidationError("--seed goes with --probability") }
        return WireFault(kind, remainingRequests: count, probability: probability, seed: seed)
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the simulator's endpoints and units.")

    @OptionGroup var options: ControlOptions

    @Flag(help: "Print the units as JSON, as the control interface returns them.")
    var json = false

    func run() async throws {
        let client = try ControlClient(options.control)
        let units = try await client.get("api/v1/units", as: UnitsView.self)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(units), as: UTF8.self))
            return
        }
        for endpoint in try await client.get("api/v1/endpoints", as: EndpointsView.self).endpoints {
            let link = endpoint.link.map { " (link \($0))" } ?? ""
            let serial = endpoint.serial.map { " @\($0)" } ?? ""
            let connections = endpoint.connections.map { ", \($0) connection(s)" } ?? ""
            print("[\(endpoint.id)] \(endpoint.transport) \(endpoint.address)\(link)\(serial)\(connections)")
            for unit in units.units where unit.endpoint == endpoint.id {
                print("  " + line(unit))
            }
        }
    }

    func line(_ unit: UnitView) -> String { Self.line(unit) }

    static func line(_ unit: UnitView) -> String {
        let values = unit.values.keys.sorted().map { key in
            let validity = unit.validity[key].map { " (\($0))" } ?? ""
            return "\(key)=\(unit.values[key]!)\(validity)"
        }
        var parts = ["unit \(unit.unit)", unit.profile, unit.online ? "online" : "OFFLINE", "counter \(unit.updateCounter)"]
        parts += values
        if !unit.faults.isEmpty { parts.append("faults \(unit.faults.joined(separator: ","))") }
        if let fault = unit.wireFault {
            parts.append(
                "wire fault \(fault.kind.name)" + (fault.remainingRequests.map { " ×\($0)" } ?? "")
                    + (fault.probability.map { " p=\($0)" } ?? ""))
        }
        return parts.joined(separator: "  ")
    }
}

struct DropConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drop-connections", abstract: "Close every client connection of a TCP endpoint.")

    @OptionGroup var options: ControlOptions

    @Option(help: "Endpoint id (see `status`).")
    var endpoint: String

    func run() async throws {
        let view = try await ControlClient(options.control).send(
            "POST", "api/v1/endpoints/\(endpoint)/drop-connections", body: nil, as: DropView.self)
        print("[\(view.endpoint)] dropped \(view.dropped) connection(s)")
    }
}

/// `unplug` and `replug`: an RTU endpoint's serial adapter pulled out and put back.
struct UnplugCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unplug",
        abstract: "Pull out an RTU endpoint's serial adapter: its pty closes and its link disappears.")

    @OptionGroup var options: ControlOptions

    @Option(help: "Endpoint id of an RTU bus (see `status`).")
    var endpoint: String

    func run() async throws {
        try await PlugVerb.send("unplug", endpoint: endpoint, control: options.control)
    }
}

struct ReplugCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replug",
        abstract: "Put an RTU endpoint's serial adapter back: a new pty behind the same link, same units.")

    @OptionGroup var options: ControlOptions

    @Option(help: "Endpoint id of an RTU bus (see `status`).")
    var endpoint: String

    func run() async throws {
        try await PlugVerb.send("replug", endpoint: endpoint, control: options.control)
    }
}

enum PlugVerb {
    static func send(_ verb: String, endpoint: String, control: String) async throws {
        let view = try await ControlClient(control).send(
            "POST", "api/v1/endpoints/\(endpoint)/\(verb)", body: nil, as: PlugView.self)
        let link = view.link.map { " (link \($0))" } ?? ""
        print("[\(view.endpoint)] \(view.plugged ? "plugged in at \(view.address)" : "unplugged")\(link)")
    }
}
