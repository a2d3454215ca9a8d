import Foundation
import Hummingbird
import Logging
import NIOCore

/// Sign-in, sign-out and who is signed in.
///
/// - `POST /api/v1/login` `{"name", "password"}` → 200 `{"name", "role", "expires_at"}` and the
///   session cookie; 401 for a wrong name or password (the same answer for both); 429 with
///   `Retry-After` after too many failures for the name or from the address; 415 unless the body
///   is `application/json`, 413 over 1 KiB, 400 for a name the users file could not hold; 503
///   when the password checkers are all busy, or while the users file cannot be used.
/// - `POST /api/v1/logout` → 204, the session ends and the cookie is cleared.
/// - `GET /api/v1/session` → 200 `{"user": {…} or null, "open_read"}`: what the dashboard needs to
///   decide between showing data and asking to sign in (or for a new password).
/// - `POST /api/v1/session/password` `{"current", "new"}` → 204: any signed-in user sets their
///   own password (and so clears `must_change_password`); the user's other sessions end. 403 for
///   a wrong current password (counted like a failed sign-in, 429 beyond the limit), 422 for a
///   new one the rules refuse.
///
/// A disabled user who gives the right password is refused with 403 and the reason. The
/// administration of users (`UsersRoutes`) is registered with these routes.
struct AuthRoutes {
    let access: WebAccess
    let sessions: SessionStore
    let limiter: LoginLimiter
    var refusals = SignInRefusals()
    let logger: Logger

    struct Credentials: Decodable {
        var name: String
        var password: String
    }

    struct UserDocument: Encodable {
        var name: String
        var role: String
        var expiresAt: Date
        var mustChangePassword: Bool

        init(_ user: SignedInUser) {
            name = user.name
            role = user.role.rawValue
            expiresAt = user.expires
            mustChangePassword = user.mustChangePassword
        }

        enum CodingKeys: String, CodingKey {
            case name, role
            case expiresAt = "expires_at"
            case mustChangePassword = "must_change_password"
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
        router.post("/api/v1/session/password") { request, context -> Response in
            do {
                return try await changePassword(request, context: context)
            } catch let refusal as RequestRefusal {
                return refusal.response
            }
        }
        // A new users file ends the sessions it no longer allows at once (and closes their streams).
        access.userFile.follow(sessions)
        UsersRoutes(access: access, logger: logger).register(on: router)
    }

    /// The largest sign-in body read: a name of at most 64 characters and a password fit many
    /// times over, and nothing larger is ever buffered.
    static let maximumBodyBytes = 1024

    private func login(_ request: Request, context: IsoWatchRequestContext) async throws -> Response {
        // Cheap refusals first, in this order, before anything is stored, counted or logged:
        // a JSON body (a form post cannot sign a browser in), of bounded size, with a valid name.
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            return HTTPServer.errorResponse(.unsupportedMediaType, "sign-in takes Content-Type: application/json")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Self.maximumBodyBytes {
            return HTTPServer.errorResponse(.contentTooLarge, "a sign-in body is at most \(Self.maximumBodyBytes) bytes")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            return HTTPServer.errorResponse(.contentTooLarge, "a sign-in body is at most \(Self.maximumBodyBytes) bytes")
        }
        guard let credentials = try? JSONDecoder().decode(Credentials.self, from: Data(body.readableBytesView)) else {
            return HTTPServer.errorResponse(.badRequest, "expected JSON {\"name\": …, \"password\": …}")
        }
        guard UserDirectory.isValidName(credentials.name) else {
            return HTTPServer.errorResponse(
                .badRequest, "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'")
        }
        // An unusable users file (an add-on, retried by the service) refuses before the limiter,
        // so that nobody's failures are counted while nobody can sign in.
        guard let users = access.userFile.directory else {
            let reason = if case .unavailable(let reason) = access.userFile.availability { reason } else { "" }
            var response = HTTPServer.errorResponse(
                .serviceUnavailable, "sign-in is unavailable: the users file cannot be used (\(reason))")
            response.headers[.retryAfter] = "5"
            return response
        }
        let address = context.clientAddress
        let slot: ContinuousClock.Instant
        switch limiter.reserve(user: credentials.name, address: address) {
        case .refused(let wait, let byAddress):
            let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
            // Refused for the address: every name from it is one stream of refusals.
            await refused(name: byAddress ? "*" : credentials.name, address: address, reason: "too many failed sign-ins")
            var response = HTTPServer.errorResponse(.tooManyRequests, "too many failed sign-ins; try again in \(seconds) s")
            response.headers[.retryAfter] = String(seconds)
            return response
        case .admitted(let reserved):
            slot = reserved
        }
        let account = users.account(named: credentials.name)
        guard let matches = await PasswordCheck.verify(credentials.password, hash: account?.passwordBcrypt) else {
            limiter.abandoned(user: credentials.name, address: address, slot: slot)
            var response = HTTPServer.errorResponse(.serviceUnavailable, "too many sign-ins at once; try again shortly")
            response.headers[.retryAfter] = "1"
            return response
        }
        guard matches, let account else {
            await refused(name: credentials.name, address: address, reason: "wrong name or password")
            return HTTPServer.errorResponse(.unauthorized, "wrong name or password")
        }
        limiter.succeeded(user: account.name, address: address, slot: slot)
        // Said only to whoever knows the password: to anyone else a disabled user is a wrong password.
        guard !account.disabled else {
            await refused(name: account.name, address: address, reason: "the user is disabled")
            return HTTPServer.errorResponse(
                .forbidden, "the user '\(account.name)' is disabled; an administrator can enable it again")
        }
        let (token, user) = sessions.open(account)
        await journal("login", user: account.name, detail: "signed in as \(account.role.rawValue) from \(address)")
        var response = HTTPServer.jsonResponse(UserDocument(user))
        // A browser-session cookie (no Max-Age, no Expires): closing the browser forgets it. The
        // server ends the session itself after its lifetime or its idle time, whichever is first.
        response.setCookie(cookie(value: token, maxAge: nil))
        return response
    }

    /// The signed-in user sets a new password, proving the current one (which a stolen session
    /// does not know). Guesses at it count against the sign-in limits.
    private func changePassword(_ request: Request, context: IsoWatchRequestContext) async throws -> Response {
        guard let user = context.user, let token = request.cookies[sessionCookieName]?.value else {
            return HTTPServer.errorResponse(.unauthorized, "sign in to change your password")
        }
        let body = try await RequestRefusal.jsonObject(request, keys: ["current", "new"])
        let current = try body.requiredString("current")
        let new = try body.requiredString("new")
        guard let account = access.userFile.directory?.account(named: user.name) else {
            return HTTPServer.errorResponse(.serviceUnavailable, "the users file cannot be used now; try again shortly")
        }
        let address = context.clientAddress
        let slot: ContinuousClock.Instant
        switch limiter.reserve(user: user.name, address: address) {
        case .refused(let wait, _):
            let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
            throw RequestRefusal(.tooManyRequests, "too many wrong passwords; try again in \(seconds) s", retryAfterSeconds: seconds)
        case .admitted(let reserved):
            slot = reserved
        }
        guard let matches = await PasswordCheck.verify(current, hash: account.passwordBcrypt) else {
            limiter.abandoned(user: user.name, address: address, slot: slot)
            throw RequestRefusal(.serviceUnavailable, "too many password checks at once; try again shortly", retryAfterSeconds: 1)
        }
        guard matches else {
            await refused(name: user.name, address: address, reason: "wrong current password in a password change")
            throw RequestRefusal(.forbidden, "the current password is not right")
        }
        limiter.succeeded(user: user.name, address: address, slot: slot)
        guard new != current else {
            throw RequestRefusal(.unprocessableContent, "the new password must differ from the current one")
        }
        let hash = try await RequestRefusal.hash(new, for: user.name)
        // This session stays; the user's other sessions end with the old password.
        sessions.acceptPassword(hash, token: token)
        do {
            try await RequestRefusal.modify(access.userFile, by: user.name) { directory throws(UserDirectory.Refusal) in
                try directory.update(user.name) { account in
                    account.passwordBcrypt = hash
                    account.mustChangePassword = false
                }
            }
        } catch {
            sessions.settlePassword(account.passwordBcrypt, token: token)
            throw error
        }
        sessions.settlePassword(hash, token: token)
        await journal("password_changed", user: user.name, detail: "changed their own password")
        return Response(status: .noContent)
    }

    /// Journals a refused sign-in in aggregate (see `SignInRefusals`).
    private func refused(name: String, address: String, reason: String) async {
        let key = SignInRefusals.Key(name: name, address: address)
        switch refusals.note(key) {
        case .opened:
            await journal("login_refused", user: name, detail: "\(reason); from \(address)")
        case .counted(let closesAt?):
            let routes = self
            Task {
                try? await Task.sleep(until: closesAt, clock: .continuous)
                guard let summary = routes.refusals.close(key) else { return }
                let minutes = Int((Double(routes.refusals.window.components.seconds) / 60).rounded(.up))
                await routes.journal(
                    "login_refused", user: name,
                    detail: "\(summary.count) more refused sign-ins from \(address) within \(minutes) min of the first")
            }
        case .counted(nil):
            break
        }
    }

    /// Journals every refusal count still waiting for its window to end: at shutdown, so that a
    /// restart loses none of them.
    func flushPendingRefusals() async {
        let minutes = Int((Double(refusals.window.components.seconds) / 60).rounded(.up))
        for (key, summary) in refusals.closeAll() {
            await journal(
                "login_refused", user: key.name,
                detail: "\(summary.count) more refused sign-ins from \(key.address) within \(minutes) min of the first "
                    + "(counted until the server stopped)")
        }
    }

    private func cookie(value: String, maxAge: Int?) -> Cookie {
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
