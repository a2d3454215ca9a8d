import Foundation
import Hummingbird
import Logging

/// Sign-in, sign-out and who is signed in.
///
/// - `POST /api/v1/login` `{"name", "password"}` → 200 `{"name", "role", "expires_at"}` and the
///   session cookie; 401 for a wrong name or password (the same answer for both); 429 with
///   `Retry-After` after too many failures for the name or from the address.
/// - `POST /api/v1/logout` → 204, the session ends and the cookie is cleared.
/// - `GET /api/v1/session` → 200 `{"user": {…} or null, "open_read"}`: what the dashboard needs to
///   decide between showing data and asking to sign in.
struct AuthRoutes {
    let access: WebAccess
    let sessions: SessionStore
    let limiter: LoginLimiter
    let logger: Logger

    struct Credentials: Decodable {
        var name: String
        var password: String
    }

    struct UserDocument: Encodable {
        var name: String
        var role: String
        var expiresAt: Date

        init(_ user: SignedInUser) {
            name = user.name
            role = user.role.rawValue
            expiresAt = user.expires
        }

        enum CodingKeys: String, CodingKey {
            case name, role
            case expiresAt = "expires_at"
        }
    }

    struct SessionDocument: Encodable {
        var user: UserDocument?
        var openRead: Bool

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            // `null` rather than absent: "nobody signed in" is an answer, not a missing field.
            try container.encode(user, forKey: .user)
            try container.encode(openRead, forKey: .openRead)
        }

        enum CodingKeys: String, CodingKey {
            case user
            case openRead = "open_read"
        }
    }

    func register(on router: Router<IsoWatchRequestContext>) {
        router.post("/api/v1/login") { request, context in
            try await login(request, context: context)
        }
        router.post("/api/v1/logout") { request, context -> Response in
            if let token = request.cookies[sessionCookieName]?.value {
                sessions.close(token: token)
            }
            if let user = context.user {
                await journal("logout", user: user.name, detail: "signed out")
            }
            var response = Response(status: .noContent)
            response.setCookie(cookie(value: "", maxAge: 0))
            return response
        }
        router.get("/api/v1/session") { _, context -> Response in
            HTTPServer.jsonResponse(SessionDocument(user: context.user.map(UserDocument.init), openRead: access.openRead))
        }
    }

    private func login(_ request: Request, context: IsoWatchRequestContext) async throws -> Response {
        let credentials: Credentials
        do {
            credentials = try await request.decode(as: Credentials.self, context: context)
        } catch {
            return HTTPServer.errorResponse(.badRequest, "expected JSON {\"name\": …, \"password\": …}")
        }
        let address = context.clientAddress
        if let wait = limiter.retryAfter(user: credentials.name, address: address) {
            let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
            await journal("login_refused", user: credentials.name, detail: "too many failed sign-ins; from \(address)")
            var response = HTTPServer.errorResponse(.tooManyRequests, "too many failed sign-ins; try again in \(seconds) s")
            response.headers[.retryAfter] = String(seconds)
            return response
        }
        let account = access.users.account(named: credentials.name)
        guard await PasswordCheck.verify(credentials.password, hash: account?.passwordBcrypt), let account else {
            limiter.recordFailure(user: credentials.name, address: address)
            await journal("login_refused", user: credentials.name, detail: "wrong name or password; from \(address)")
            return HTTPServer.errorResponse(.unauthorized, "wrong name or password")
        }
        limiter.recordSuccess(user: account.name)
        let (token, user) = sessions.open(name: account.name, role: account.role)
        await journal("login", user: account.name, detail: "signed in as \(account.role.rawValue) from \(address)")
        var response = HTTPServer.jsonResponse(UserDocument(user))
        response.setCookie(cookie(value: token, maxAge: Int(access.sessionLifetimeSeconds.rounded(.up))))
        return response
    }

    private func cookie(value: String, maxAge: Int) -> Cookie {
        // HttpOnly: page scripts never see the token. SameSite=Strict: another site's page cannot
        // make the browser send it (no cross-site silencing). Secure whenever the server has TLS.
        (try? Cookie.validated(
            name: sessionCookieName, value: value, maxAge: maxAge, path: "/", secure: access.tls != nil, httpOnly: true,
            sameSite: .strict))
            ?? Cookie(name: sessionCookieName, value: "", maxAge: 0, path: "/", secure: access.tls != nil, httpOnly: true)
    }

    private func journal(_ kind: String, user: String, detail: String) async {
        do {
            try await access.journal(kind, user, nil, detail)
        } catch {
            logger.error("could not journal a sign-in event", metadata: ["kind": "\(kind)", "user": "\(user)", "error": "\(error)"])
        }
    }
}
