import Foundation
import Hummingbird
import HummingbirdCore
import IsoWatchCore
import HummingbirdTLS
import IsoWatchSnapshot
import Logging
import NIOCore
import ServiceLifecycle

/// The operator-facing HTTP API.
public enum HTTPServer {
    /// The context of every route: routes are added to `Router<Context>` (see `IsoWatchRequestContext`:
    /// the client's address and the signed-in user, if any).
    public typealias Context = IsoWatchRequestContext

    /// Builds the server as a service. `onListening` receives the bound port (useful with port 0).
    /// Throws a `TLSFileError` naming the file when the TLS files of `access` do not load. When the
    /// server has stopped, refused sign-ins still being counted are journalled (none is lost to a
    /// restart).
    public static func makeApplication(
        state: any LiveStateProvider,
        host: String,
        port: Int,
        logger: Logger,
        access: WebAccess = .openReadOnly,
        limits: HTTPLimits = HTTPLimits(),
        history: HistoryRoutes? = nil,
        addOns: AddOnBoard? = nil,
        configuration: (any ConfigurationControl)? = nil,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some Service {
        let auth = AuthRoutes(access: access, sessions: makeSessions(access), limiter: LoginLimiter(), logger: logger)
        let hub = LiveStreamHub(
            maximumClients: limits.maximumStreamClients, bufferPerClient: limits.streamBufferPerClient,
            updates: { state.statusUpdates() })
        let router = makeRouter(
            state: state, logger: logger, access: access, history: history, auth: auth, hub: hub, addOns: addOns,
            configuration: configuration)
        let connections = ConnectionLimiter(
            maximum: limits.maximumConnections, maximumPerClient: limits.maximumConnectionsPerClient, logger: logger)
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionCapHandler(limiter: connections)],
            idleTimeout: TimeAmount(limits.idleTimeout))
        let application = Application(
            router: router,
            server: try access.tls.map { try .tls(.http1(configuration: http1), tlsConfiguration: tlsConfiguration($0)) }
                ?? .http1(configuration: http1),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "isowatch"),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? port)
            },
            logger: logger
        )
        return HTTPService(application: application, afterStop: { await auth.flushPendingRefusals() })
    }

    /// Every route of the server, guarded as configured (public so that the OpenAPI test can list them).
    public static func makeRouter(
        state: any LiveStateProvider, logger: Logger, access: WebAccess = .openReadOnly, history: HistoryRoutes? = nil,
        addOns: AddOnBoard? = nil, configuration: (any ConfigurationControl)? = nil
    ) -> Router<Context> {
        makeRouter(
            state: state, logger: logger, access: access, history: history,
            auth: AuthRoutes(access: access, sessions: makeSessions(access), limiter: LoginLimiter(), logger: logger),
            hub: LiveStreamHub(maximumClients: HTTPLimits().maximumStreamClients, updates: { state.statusUpdates() }),
            addOns: addOns, configuration: configuration)
    }

    static func makeSessions(_ access: WebAccess) -> SessionStore {
        SessionStore(
            lifetime: .milliseconds(Int64(access.sessionLifetimeSeconds * 1000)),
            idleTimeout: .milliseconds(Int64(access.sessionIdleSeconds * 1000)), now: access.now)
    }

    static func makeRouter(
        state: any LiveStateProvider, logger: Logger, access: WebAccess, history: HistoryRoutes?, auth: AuthRoutes,
        hub: LiveStreamHub, addOns: AddOnBoard?, configuration: (any ConfigurationControl)?
    ) -> Router<Context> {
        let router = Router(context: Context.self)
        // Middleware guards only the routes registered after it: these two come before every route.
        router.add(middleware: RequestHygieneMiddleware(scheme: access.tls == nil ? "http" : "https"))
        router.add(
            middleware: SessionMiddleware(
                sessions: auth.sessions, users: access.userFile, openRead: access.openRead, openMetrics: access.openMetrics))
        let registered = RegisteredRoutes()
        router.add(middleware: MethodNotAllowedMiddleware(routes: registered))
        history?.registerMetrics(on: router)
        auth.register(on: router)
        ActionsRoutes(state: state, access: access, logger: logger).register(on: router)
        LiveRoutes(state: state, hub: hub).register(on: router)
        DashboardRoutes().register(on: router)
        history?.register(on: router, state: state)
        ConfigurationRoutes(control: configuration, access: access, logger: logger).register(on: router)
        // 200 even when degraded: the monitor is alive, and a load balancer or probe must not
        // restart it for an add-on (BMS server, users file) that is down and being retried.
        router.get("/healthz") { _, _ -> Response in
            jsonResponse(HealthDocument(addOns: addOns?.all ?? []))
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
        registered.record(router.routes.map { (path: $0.path.description, method: $0.method) })
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

/// The HTTP server as the service group runs it: the application, then what must happen once it
/// no longer takes requests.
struct HTTPService<App: ApplicationProtocol>: Service {
    let application: App
    let afterStop: @Sendable () async -> Void

    func run() async throws {
        do {
            try await application.run()
        } catch {
            await afterStop()
            throw error
        }
        await afterStop()
    }
}
