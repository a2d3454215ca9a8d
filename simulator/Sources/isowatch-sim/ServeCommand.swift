import ArgumentParser
import Dispatch
import Foundation
import IsoWatchCore
import IsoWatchSimulator

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the units of a site file, or of one profile given on the command line.",
        discussion: """
            isowatch-sim serve --site simulator/sites/demo.yaml
            isowatch-sim serve --profile acrel-aim-m10 --tcp 127.0.0.1:1502 --unit 1
            isowatch-sim serve --profile acrel-aim-m10 --rtu-link /tmp/isowatch/rtu0 --unit 1 --unit 2
            """)

    @Option(help: "A site file (YAML) listing endpoints and units.")
    var site: String?

    @OptionGroup var profiles: ProfilesOption

    @Option(help: "Control interface HOST:PORT, loopback only.")
    var control: String = "127.0.0.1:8081"

    @Flag(help: "Run without the control interface.")
    var noControl = false

    @Option(help: "Quick form: the profile of every unit.")
    var profile: String?

    @Option(help: "Quick form: serve the units over Modbus TCP at HOST:PORT.")
    var tcp: String?

    @Option(help: "Quick form: serve the units on an RTU bus (a pty) symlinked at this path.")
    var rtuLink: String?

    @Option(help: "Quick form: RTU baud rate.")
    var baud: Int = 19200

    @Option(help: "Quick form: RTU parity, N, E or O.")
    var parity: String = "E"

    @Option(help: "Quick form: a unit id to serve (repeat for several).")
    var unit: [UInt8] = []

    @Option(help: "Physics seconds per wall second (thermal models, load profiles, device response times); wire timing stays real.")
    var timeFactor: Double = 1

    @Option(help: "Serve the theatre panel's line protocol at HOST:PORT (overrides the site's panel.listen).")
    var panel: String?

    @Option(name: .customLong("value"), help: "Quick form: QUANTITY=VALUE in SI units (repeatable), e.g. insulation_resistance_ohms=30000.")
    var values: [String] = []

    func validate() throws {
        guard timeFactor > 0, timeFactor <= 100_000 else { throw ValidationError("--time-factor must be above 0 and at most 100000") }
        if site != nil {
            guard profile == nil, tcp == nil, rtuLink == nil, unit.isEmpty, values.isEmpty else {
                throw ValidationError("--site cannot be combined with --profile, --tcp, --rtu-link, --unit or --value")
            }
        } else {
            guard profile != nil, tcp != nil || rtuLink != nil else {
                throw ValidationError("give --site FILE, or --profile ID with --tcp HOST:PORT and/or --rtu-link PATH")
            }
        }
    }

    func run() async throws {
        let library = try profiles.load()
        var description = try siteDescription(library)
        if let panel {
            guard let address = HostPort(panel), address.port > 0 else {
                throw ValidationError("--panel expects HOST:PORT, got '\(panel)'")
            }
            description.panelListen = PanelListen(host: address.host, port: UInt16(address.port))
        }
        let simulator: Simulator
        do {
            simulator = try Simulator(
                site: description, profiles: library, clock: SimulationClock(.accelerated(factor: timeFactor)))
        } catch {
            throw CleanExit.message("error: \(error)")
        }
        for endpoint in simulator.endpoints {
            say("[\(endpoint.id)] \(endpoint.summary)")
        }
        if let server = simulator.panelServer {
            say("panel \(server.host.contains(":") ? "[\(server.host)]" : server.host):\(server.port)")
        }
        if timeFactor != 1 { say("time factor \(timeFactor)") }
        defer { simulator.stop() }
        if noControl {
            for await signal in terminationSignals() {
                FileHandle.standardError.write(Data("isowatch-sim: signal \(signal), stopping\n".utf8))
                return
            }
            return
        }
        guard let address = HostPort(control) else {
            throw ValidationError("--control expects HOST:PORT, got '\(control)'")
        }
        let host = address.host
        let server = try ControlServer(simulator: simulator, host: host, port: address.port)
        try await server.run(untilSignalled: true) { port in
            say("control http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
        }
    }

    private func siteDescription(_ library: ProfileLibrary) throws -> SiteDescription {
        if let site {
            do {
                return try SiteFile.load(file: URL(fileURLWithPath: site))
            } catch {
                throw ValidationError("site file:\n\(error)")
            }
        }
        guard let profileID = profile, let deviceProfile = library[profileID] else {
            throw ValidationError("no profile '\(profile ?? "")' (have: \(library.ids.joined(separator: ", ")))")
        }
        var state = DeviceState.healthy(publishedBy: deviceProfile)
        for assignment in values {
            let (quantity, value) = try parseAssignment(assignment)
            state.values[quantity] = MeasuredValue(value)
        }
        let units = (unit.isEmpty ? [deviceProfile.transport.unit] : unit).map {
            UnitDescription(unit: $0, profileID: profileID, state: state)
        }
        var endpoints: [EndpointDescription] = []
        if let tcp {
            guard let address = HostPort(tcp) else {
                throw ValidationError("--tcp expects HOST:PORT, got '\(tcp)'")
            }
            endpoints.append(.tcp(host: address.host, port: UInt16(address.port), units: units))
        }
        if let rtuLink {
            guard let parsedParity = Parity(rawValue: parity.uppercased()) else {
                throw ValidationError("--parity expects N, E or O, got '\(parity)'")
            }
            endpoints.append(.rtu(linkPath: rtuLink, serialLine: SerialLine(baud: baud, parity: parsedParity), units: units))
        }
        return SiteDescription(endpoints: endpoints)
    }
}

/// QUANTITY=VALUE, with the quantity by its raw name.
func parseAssignment(_ text: String) throws -> (Quantity, Double) {
    let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
    guard parts.count == 2, let value = Double(parts[1]), value.isFinite else {
        throw ValidationError("expected QUANTITY=VALUE, got '\(text)'")
    }
    guard let quantity = Quantity(rawValue: parts[0]) else {
        throw ValidationError(
            "unknown quantity '\(parts[0])'; expected one of \(Quantity.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return (quantity, value)
}

/// A line on standard output, unbuffered: a test bench reads the endpoint lines through a pipe
/// while the simulator keeps running.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// SIGINT and SIGTERM, delivered on a dispatch queue rather than in a signal handler. The stream
/// ends when the task reading it is cancelled.
func terminationSignals() -> AsyncStream<Int32> {
    AsyncStream { continuation in
        let sources = SignalSources([SIGINT, SIGTERM]) { continuation.yield($0) }
        continuation.onTermination = { _ in sources.cancel() }
    }
}

/// Dispatch sources are thread-safe objects that Dispatch has not annotated as Sendable.
private final class SignalSources: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(_ numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}
