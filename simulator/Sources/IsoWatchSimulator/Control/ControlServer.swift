import Foundation
import Hummingbird
import IsoWatchCore

/// The simulator's control interface: a test bench reads and changes what the devices measure,
/// flag and do on the wire. Loopback only: it can make a healthy theatre look faulty.
///
/// - `GET /api/v1/endpoints`
/// - `GET /api/v1/units`
/// - `PATCH /api/v1/endpoints/{endpoint}/units/{unit}` with a `UnitPatch`
/// - `POST /api/v1/endpoints/{endpoint}/drop-connections`
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
            let endpoint = try Self.endpoint(context, in: simulator)
            let unitText = try context.parameters.require("unit")
            guard let unitID = UInt8(unitText), let device = endpoint.device(unit: unitID) else {
                let units = endpoint.devices.map { String($0.unitID) }.joined(separator: ", ")
                throw HTTPError(.notFound, message: "endpoint '\(endpoint.id)' has no unit '\(unitText)' (it has: \(units))")
            }
            let patch: UnitPatch
            do {
                patch = try await request.decode(as: UnitPatch.self, context: context)
            } catch let error as DecodingError {
                throw HTTPError(.badRequest, message: Self.explain(error))
            }
            do throws(PatchRefusal) {
                try patch.apply(to: device)
            } catch {
                throw HTTPError(.badRequest, message: error.description)
            }
            return UnitView(endpoint: endpoint, device: device)
        }
        router.post("api/v1/endpoints/:endpoint/drop-connections") { _, context in
            let endpoint = try Self.endpoint(context, in: simulator)
            guard case .tcp(let server) = endpoint.server else {
                throw HTTPError(.conflict, message: "endpoint '\(endpoint.id)' is an RTU bus: it has no connections to drop")
            }
            return DropView(endpoint: endpoint.id, dropped: server.dropConnections())
        }
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
