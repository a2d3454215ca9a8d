import Foundation
import Hummingbird
import IsoWatchCore
import HummingbirdTLS
import Logging
import NIOCore

/// The operator-facing HTTP API.
public enum HTTPServer {
    /// The context of every route: routes are added to `Router<Context>` (see `IsoWatchRequestContext`:
    /// the client's address and the signed-in user, if any).
    public typealias Context = IsoWatchRequestContext

    /// Builds the application. `onListening` receives the bound port (useful with port 0).
    /// Throws when the TLS files of `access` do not load.
    public static func makeApplication(
        state: any LiveStateProvider,
        host: String,
        port: Int,
        logger: Logger,
        access: WebAccess = .openReadOnly,
        history: HistoryRoutes? = nil,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = makeRouter(state: state, logger: logger, access: access, history: history)
        return Application(
            router: router,
            server: try access.tls.map { try .tls(.http1(), tlsConfiguration: tlsConfiguration($0)) } ?? .http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "isowatch"),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? port)
            },
            logger: logger
        )
    }

    /// Every route of the server, guarded as configured (public so that the OpenAPI test can list them).
    public static func makeRouter(
        state: any LiveStateProvider, logger: Logger, access: WebAccess = .openReadOnly, history: HistoryRoutes? = nil
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        // Middleware guards only the routes registered after it: these two come before every route.
        router.add(middleware: RequestHygieneMiddleware(scheme: access.tls == nil ? "http" : "https"))
        let sessions = SessionStore(lifetime: .milliseconds(Int64(access.sessionLifetimeSeconds * 1000)))
        router.add(
            middleware: SessionMiddleware(sessions: sessions, openRead: access.openRead, openMetrics: access.openMetrics))
        history?.registerMetrics(on: router)
        AuthRoutes(access: access, sessions: sessions, limiter: LoginLimiter(), logger: logger).register(on: router)
        ActionsRoutes(state: state, access: access, logger: logger).register(on: router)
        LiveRoutes(state: state).register(on: router)
        DashboardRoutes().register(on: router)
        history?.register(on: router, state: state)
        router.get("/healthz") { _, _ -> Response in
            jsonResponse(["status": "ok"])
        }
        router.get("/api/v1/systems") { _, _ -> Response in
            jsonResponse(await state.systems())
        }
        router.get("/api/v1/systems/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let system = await state.systems().first(where: { $0.id == id }) else {
                return errorResponse(.notFound, "no IT system with id '\(id)'")
            }
            return jsonResponse(system)
        }
        return router
    }

    static func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        do {
            let data = try JSONEncoder.isowatch.encode(value)
            return Response(
                status: status, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            return errorResponse(.internalServerError, "could not encode the response: \(error)")
        }
    }

    static func errorResponse(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        let data = (try? JSONEncoder.isowatch.encode(["error": reason])) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
