import Foundation
import Hummingbird
import IsoWatchCore
import IsoWatchThreads

/// The simulator's control interface: a test bench reads and changes what the devices measure,
/// flag and do on the wire. Loopback only: it can make a healthy theatre look faulty.
///
/// - `GET /api/v1/endpoints`
/// - `GET /api/v1/units`
/// - `PATCH /api/v1/endpoints/{endpoint}/units/{unit}` with a `UnitPatch`
/// - `POST /api/v1/endpoints/{endpoint}/drop-connections`
/// - `POST /api/v1/endpoints/{endpoint}/unplug` and `.../replug`: an RTU endpoint's serial
///   adapter pulled out (pty closed, link removed) and put back (new pty behind the link)
/// - `GET|PATCH /api/v1/endpoints/{endpoint}/units/{unit}/physics` with a `PhysicsPatch`: the
///   true IT system behind a physics-driven unit
/// - `GET /api/v1/clock`: physics time and time factor
/// - `GET /api/v1/panel`: the theatre panel's lines and its watchdog relay; `POST /api/v1/panel/lines` with
///   `{"line": "gpiochip0:17", "active": true}` (or `"electrical_high"`) drives an input
/// - `POST /api/v1/scenarios`, `GET|DELETE /api/v1/scenarios/current` (see `ScenarioControl`)
public struct ControlServer: Sendable {
    public let simulator: Simulator
    public let host: String
    public let port: Int

    public init(simulator: Simulator, host: String = "127.0.0.1", port: Int = 8081) throws(SimulatorError) {
        guard Self.isLoopback(host) else {
            throw SimulatorError("control interface must listen on a loopback address (127.x.x.x, ::1, localhost), not \(host)")
        }
        self.simulator = simulator
        self.host = host
        self.port = port
    }

    /// Serves until the task is cancelled or, with `untilSignalled`, until SIGINT or SIGTERM
    /// (then it shuts down gracefully and returns). `onListening` receives the bound port.
    public func run(untilSignalled: Bool = false, onListening: @escaping @Sendable (Int) async -> Void = { _ in })
        async throws
    {
        let app = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "isowatch-sim"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) })
        if untilSignalled {
            try await app.runService()
        } else {
            try await app.run()
        }
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let simulator = self.simulator
        let router = Router()
        router.get("api/v1/endpoints") { _, _ in
            EndpointsView(endpoints: simulator.endpoints.map(EndpointView.init))
        }
        router.get("api/v1/units") { _, _ in
            UnitsView(units: simulator.endpoints.flatMap { endpoint in endpoint.devices.map { UnitView(endpoint: endpoint, device: $0) } })
        }
        router.patch("api/v1/endpoints/:endpoint/units/:unit") { request, context in
            let (endpoint, device) = try Self.unit(context, in: simulator)
            try await Self.apply(UnitPatch.self, from: request, context, to: device)
            return UnitView(endpoint: endpoint, device: device)
        }
        router.get("api/v1/panel") { _, _ in
            PanelView(
                listen: simulator.panelServer.map { "\($0.host.contains(":") ? "[\($0.host)]" : $0.host):\($0.port)" },
                lines: simulator.panel.lines, outputChanges: simulator.panel.outputHistory.count,
                watchdog: simulator.panel.watchdogStatus,
                watchdogEvents: simulator.panel.watchdog == nil ? nil : simulator.panel.watchdogHistory)
        }
        router.post("api/v1/panel/lines") { request, context in
            let drive: PanelDrive
            do {
                drive = try await request.decode(as: PanelDrive.self, context: context)
            } catch let error as DecodingError {
                throw HTTPError(.badRequest, message: Self.explain(error))
            }
            guard (drive.active == nil) != (drive.electricalHigh == nil) else {
                throw HTTPError(.badRequest, message: "give exactly one of 'active' and 'electrical_high'")
            }
            do throws(SimulatedPanel.Refusal) {
                if let active = drive.active {
                    try simulator.panel.drive(drive.line, active: active)
                } else if let high = drive.electricalHigh {
                    try simulator.panel.drive(drive.line, electricalHigh: high)
                }
            } catch {
                throw HTTPError(error == .unknownLine(drive.line) ? .notFound : .conflict, message: error.description)
            }
            return try simulator.panel.line(drive.line) ?? { throw HTTPError(.notFound, message: "no line \(drive.line)") }()
        }
        router.get("api/v1/clock") { _, _ in
            ClockView(physicsSeconds: simulator.clock.physicsSeconds, timeFactor: simulator.clock.timeFactor)
        }
        router.get("api/v1/endpoints/:endpoint/units/:unit/physics") { _, context in
            let (endpoint, device) = try Self.unit(context, in: simulator)
            return try Self.physicsView(endpoint, device, simulator)
        }
        router.patch("api/v1/endpoints/:endpoint/units/:unit/physics") { request, context in
            let (endpoint, device) = try Self.unit(context, in: simulator)
            try await Self.apply(PhysicsPatch.self, from: request, context, to: device)
            return try Self.physicsView(endpoint, device, simulator)
        }
        router.post("api/v1/endpoints/:endpoint/drop-connections") { _, context in
            let endpoint = try Self.endpoint(context, in: simulator)
            guard case .tcp(let server) = endpoint.server else {
                throw HTTPError(.conflict, message: "endpoint '\(endpoint.id)' is an RTU bus: it has no connections to drop")
            }
            return DropView(endpoint: endpoint.id, dropped: server.dropConnections())
        }
        router.post("api/v1/endpoints/:endpoint/unplug") { _, context in
            let (endpoint, server) = try Self.rtuEndpoint(context, in: simulator, verb: "unplug")
            try await OwnedThread.run(name: "sim-unplug") { server.unplug() }
            return PlugView(endpoint: endpoint.id, server: server)
        }
        router.post("api/v1/endpoints/:endpoint/replug") { _, context in
            let (endpoint, server) = try Self.rtuEndpoint(context, in: simulator, verb: "replug")
            do {
                try await OwnedThread.run(name: "sim-replug") { try server.replug() }
            } catch {
                throw HTTPError(.internalServerError, message: "endpoint '\(endpoint.id)': \(error)")
            }
            return PlugView(endpoint: endpoint.id, server: server)
        }
        ScenarioControl.addRoutes(to: router, simulator: simulator)
        return router
    }

    private static func endpoint(_ context: BasicRequestContext, in simulator: Simulator) throws -> RunningEndpoint {
        let id = try context.parameters.require("endpoint")
        guard let endpoint = simulator.endpoint(id) else {
            let ids = simulator.endpoints.map(\.id).joined(separator: ", ")
            throw HTTPError(.notFound, message: "no endpoint '\(id)' (have: \(ids))")
        }
        return endpoint
    }

    private static func rtuEndpoint(_ context: BasicRequestContext, in simulator: Simulator, verb: String) throws
        -> (RunningEndpoint, ModbusRTUServer)
    {
        let endpoint = try Self.endpoint(context, in: simulator)
        guard let server = endpoint.rtuServer else {
            throw HTTPError(.conflict, message: "endpoint '\(endpoint.id)' is TCP: it has no serial adapter to \(verb)")
        }
        return (endpoint, server)
    }

    private static func unit(_ context: BasicRequestContext, in simulator: Simulator) throws -> (RunningEndpoint, SimulatedDevice) {
        let endpoint = try Self.endpoint(context, in: simulator)
        let unitText = try context.parameters.require("unit")
        guard let unitID = UInt8(unitText), let device = endpoint.device(unit: unitID) else {
            let units = endpoint.devices.map { String($0.unitID) }.joined(separator: ", ")
            throw HTTPError(.notFound, message: "endpoint '\(endpoint.id)' has no unit '\(unitText)' (it has: \(units))")
        }
        return (endpoint, device)
    }

    /// Decodes a patch from the body and applies it; a malformed or refused patch is a 400 naming the field.
    private static func apply<Patch: DevicePatch>(
        _ type: Patch.Type, from request: Request, _ context: BasicRequestContext, to device: SimulatedDevice
    ) async throws {
        let patch: Patch
        do {
            patch = try await request.decode(as: Patch.self, context: context)
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, message: Self.explain(error))
        }
        do throws(PatchRefusal) {
            try patch.apply(to: device)
        } catch {
            throw HTTPError(.badRequest, message: error.description)
        }
    }

    private static func physicsView(_ endpoint: RunningEndpoint, _ device: SimulatedDevice, _ simulator: Simulator) throws
        -> PhysicsView
    {
        guard let view = PhysicsView(endpoint: endpoint, device: device, physicsSeconds: simulator.clock.physicsSeconds) else {
            throw HTTPError(
                .conflict,
                message: "endpoint '\(endpoint.id)' unit \(device.unitID) has no physics (its site entry has no 'system')")
        }
        return view
    }

    private static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : text
        }
        switch error {
        case .dataCorrupted(let context): return [path(context), context.debugDescription].filter { !$0.isEmpty }.joined(separator: ": ")
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue): required"
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), got null"
        @unknown default: return "\(error)"
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        return octets.count == 4 && octets.allSatisfy { $0 != nil } && octets[0] == 127
    }
}

extension UnitView: ResponseEncodable {}
extension UnitsView: ResponseEncodable {}
extension EndpointsView: ResponseEncodable {}
extension DropView: ResponseEncodable {}
extension PlugView: ResponseEncodable {}
extension PhysicsView: ResponseEncodable {}
extension ClockView: ResponseEncodable {}
extension PanelView: ResponseEncodable {}
extension SimulatedPanel.Line: ResponseEncodable {}

/// What `POST /api/v1/endpoints/{endpoint}/unplug` and `.../replug` return: whether the
/// adapter is in, and the pty and link a client opens (the pty path is the last one while out).
public struct PlugView: Codable, Sendable, Equatable {
    public var endpoint: String
    public var plugged: Bool
    public var address: String
    public var link: String?

    init(endpoint: String, server: ModbusRTUServer) {
        self.endpoint = endpoint
        self.plugged = server.isPlugged
        self.address = server.slavePath
        self.link = server.linkPath
    }
}

/// `GET /api/v1/panel`.
public struct PanelView: Codable, Sendable, Equatable {
    /// Where the panel protocol listens (HOST:PORT), if it does.
    public var listen: String?
    public var lines: [SimulatedPanel.Line]
    /// How many output claims and changes there were so far.
    public var outputChanges: Int
    /// The watchdog relay, when the site's panel has one, and its trips and recoveries so far.
    public var watchdog: SimulatedPanel.WatchdogStatus?
    public var watchdogEvents: [SimulatedPanel.WatchdogEvent]?

    enum CodingKeys: String, CodingKey {
        case listen, lines, watchdog
        case outputChanges = "output_changes"
        case watchdogEvents = "watchdog_events"
    }
}

/// The body of `POST /api/v1/panel/lines`.
public struct PanelDrive: Codable, Sendable, Equatable {
    public var line: String
    public var active: Bool?
    public var electricalHigh: Bool?

    public init(line: String, active: Bool? = nil, electricalHigh: Bool? = nil) {
        self.line = line
        self.active = active
        self.electricalHigh = electricalHigh
    }

    enum CodingKeys: String, CodingKey {
        case line, active
        case electricalHigh = "electrical_high"
    }
}

/// `GET /api/v1/clock`.
public struct ClockView: Codable, Sendable, Equatable {
    public var physicsSeconds: Double
    /// Physics seconds per wall second; 0 for a manual clock.
    public var timeFactor: Double

    enum CodingKeys: String, CodingKey {
        case physicsSeconds = "physics_seconds"
        case timeFactor = "time_factor"
    }
}
