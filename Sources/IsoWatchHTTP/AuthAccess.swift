import Foundation
import Hummingbird
import HummingbirdTLS
import NIOSSL
import IsoWatchCore
import NIOCore
import Synchronization

/// Who may do what over HTTP, and where sign-ins and actions are journaled.
public struct WebAccess: Sendable {
    /// Reading without signing in. Actions always need a signed-in user.
    public var openRead: Bool
    /// The users who may sign in, as last loaded; unavailable while the users file cannot be used.
    /// Without a users file nobody can sign in, so reading is open (unless `open_read: false`
    /// says otherwise) and every action is refused.
    public internal(set) var userFile: LiveUsers
    public var users: UserDirectory { userFile.directory ?? UserDirectory() }
    public var sessionLifetimeSeconds: Double
    /// A session unused this long ends (401 on its next use); 30 minutes by default.
    public var sessionIdleSeconds: Double
    /// The sessions' clock (tests move it instead of waiting).
    public var now: @Sendable () -> ContinuousClock.Instant
    /// PEM files: when set the server speaks only HTTPS and session cookies are `Secure`.
    public var tls: TLSFiles?
    /// Writes one journal entry: kind (`login`, `login_refused`, `logout`, `silence`,
    /// `acknowledge`, `test`; for users `added`, `role_changed`, `disabled`, `enabled`,
    /// `password_reset`, `deleted`, `password_changed`), the acting user's name, IT system (for
    /// actions) and detail. Wired by the runtime to the durable journal (as `user.<kind>`); the
    /// HTTP layer knows nothing of how it is stored.
    public var journal: AccessJournal
    /// Whether `/metrics` answers without a session (`http.metrics: open`).
    public var openMetrics: Bool

    public typealias AccessJournal =
        @Sendable (_ kind: String, _ user: String, _ system: String?, _ detail: String) async throws -> Void

    public init(
        openRead: Bool, users: UserDirectory, sessionLifetimeSeconds: Double = 8 * 3600,
        sessionIdleSeconds: Double = 30 * 60, tls: TLSFiles? = nil, openMetrics: Bool? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        journal: @escaping AccessJournal = { _, _, _, _ in }
    ) {
        self.openMetrics = openMetrics ?? openRead
        self.openRead = openRead
        self.userFile = LiveUsers(users)
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.sessionIdleSeconds = sessionIdleSeconds
        self.now = now
        self.tls = tls
        self.journal = journal
    }

    /// With the users held by `users`, which the service reloads (an unusable users file is an
    /// add-on that degrades: sign-in answers 503 until the file can be used again).
    public static func from(
        _ settings: HTTPSettings, users: LiveUsers, journal: @escaping AccessJournal = { _, _, _, _ in }
    ) -> WebAccess {
        var access = WebAccess(
            openRead: settings.openRead ?? (settings.usersFile == nil), users: UserDirectory(),
            sessionLifetimeSeconds: settings.sessionLifetimeSeconds, sessionIdleSeconds: settings.sessionIdleMinutes * 60,
            tls: settings.tls,
            openMetrics: settings.metrics.map { $0 == .open }, journal: journal)
        access.userFile = users
        return access
    }

    /// Open reading, no users: the walking skeleton's behaviour, for tools and tests that only read.
    public static let openReadOnly = WebAccess(openRead: true, users: UserDirectory())
}

/// The request context of every isowatch route: the client's address (for the sign-in limit) and
/// the signed-in user, if any, which `SessionMiddleware` fills in from the session cookie.
public struct IsoWatchRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    public var user: SignedInUser?
    /// The connection: the live stream closes it to drop a client that stopped reading.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Bodies this server accepts are small JSON documents; Hummingbird's default (2 MiB) would
    /// let every client make us buffer megabytes. Sign-in has its own, smaller cap.
    public var maxUploadSize: Int { 16 * 1024 }

    /// The address without the port: a browser opens a new connection (and port) at will.
    var clientAddress: String {
        remoteAddress?.ipAddress ?? "unknown"
    }
}

let sessionCookieName = "isowatch_session"

/// Finds the session of each request and guards reading: unless reading is open, every `/api/`
/// route read (data, history, events, the live stream) needs a signed-in user, and so does
/// `/metrics` unless it is configured open. The decision is made on the route the router resolved
/// (`endpointPath`, the registered pattern), never on the request's path text, so no spelling of a
/// path can reach a guarded handler without the guard. The sign-in routes themselves, `/healthz`
/// and the dashboard's static files stay reachable.
///
/// The session's user is looked up in the users file in force at every request: a role changed
/// there applies to the next request; a user deleted, disabled or given another password there is
/// signed out, and the first API request that still presents the session gets 401 with the
/// reason. A user who must change their password gets 403 on every API route but the password
/// change, sign-out and `GET /api/v1/session`.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = IsoWatchRequestContext
    let sessions: SessionStore
    let users: LiveUsers
    let openRead: Bool
    let openMetrics: Bool

    static let alwaysOpen: Set<String> = ["/api/v1/login", "/api/v1/logout", "/api/v1/session"]
    /// What a user who must change their password may still do.
    static let openBeforePasswordChange: Set<String> = alwaysOpen.union(["/api/v1/session/password"])
    /// Holds the connection of the live stream, which a session that ends must close.
    static let streamRoute = "/api/v1/stream"

    func isGuarded(route: String) -> Bool {
        route == "/metrics" || (route.hasPrefix("/api/") && !Self.alwaysOpen.contains(route))
    }

    func needsSession(route: String) -> Bool {
        if route == "/metrics" { return !openMetrics }
        return !openRead && route.hasPrefix("/api/") && !Self.alwaysOpen.contains(route)
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        var ended: String?
        let token = request.cookies[sessionCookieName]?.value
        if let token {
            switch sessions.lookup(token: token, users: users.directory) {
            case .active(let user): context.user = user
            case .ended(let reason): ended = reason
            case .unknown: break
            }
        }
        // A request no route matched has no endpoint path: it gets the router's 404 either way.
        guard let route = context.endpointPath else { return try await next(request, context) }
        if let ended, isGuarded(route: route) {
            return HTTPServer.errorResponse(.unauthorized, "\(ended); sign in again")
        }
        if context.user == nil, request.method == .get || request.method == .head, needsSession(route: route) {
            return HTTPServer.errorResponse(.unauthorized, "sign in to read (reading is not open on this server)")
        }
        if let user = context.user, user.mustChangePassword, route.hasPrefix("/api/") || route == "/metrics",
            !Self.openBeforePasswordChange.contains(route)
        {
            return HTTPServer.errorResponse(
                .forbidden, "password change required: '\(user.name)' must set a new password (POST /api/v1/session/password) first")
        }
        if let token, context.user != nil, route == Self.streamRoute {
            sessions.attach(stream: context.channel, token: token)
        }
        return try await next(request, context)
    }
}

/// A TLS file of the configuration that cannot serve: names the field and the file.
public struct TLSFileError: Error, CustomStringConvertible {
    public var field: String
    public var file: String
    public var reason: String

    public var description: String {
        "\(field): '\(file)' \(reason)"
    }
}

extension HTTPServer {
    /// HSTS under TLS: browsers that once reached this server over HTTPS refuse plain HTTP to it
    /// for a year (a downgrade on the hospital network cannot then read a session cookie).
    static let strictTransportSecurity = "max-age=31536000"

    /// TLS 1.2 at least (1.0 and 1.1 are refused in the handshake). Every problem with the files
    /// (missing, unreadable, not PEM, a key that does not belong to the certificate) is a
    /// `TLSFileError` naming the file, thrown before the server starts.
    static func tlsConfiguration(_ files: TLSFiles) throws -> TLSConfiguration {
        let certificatePath = files.certificateChain.path
        let keyPath = files.privateKey.path
        for (field, path) in [("http.tls.certificate", certificatePath), ("http.tls.private_key", keyPath)]
        where !FileManager.default.isReadableFile(atPath: path) {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (permissions)" : "does not exist"
            throw TLSFileError(field: field, file: path, reason: reason)
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
        } catch {
            throw TLSFileError(field: "http.tls.certificate", file: certificatePath, reason: "is not a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else {
            throw TLSFileError(field: "http.tls.certificate", file: certificatePath, reason: "holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        } catch {
            throw TLSFileError(field: "http.tls.private_key", file: keyPath, reason: "is not a PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            // Builds the context now, so that a key of another certificate fails here, not in the
            // first handshake.
            _ = try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFileError(
                field: "http.tls.private_key", file: keyPath,
                reason: "does not fit the certificate '\(certificatePath)' (\(error))")
        }
        return configuration
    }
}
