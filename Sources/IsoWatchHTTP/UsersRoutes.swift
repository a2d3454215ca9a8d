import Foundation
import Hummingbird
import IsoWatchStore
import Logging
import NIOCore

/// The administration of users, for the role `admin` (401 without a session, 403 for any other role):
///
/// - `GET /api/v1/users` → 200, every user: `name`, `role`, `disabled`, `must_change_password`
///   (never a hash).
/// - `POST /api/v1/users` `{"name", "role", "password", "must_change_password"?}` → 201 and the
///   user; 409 when the name exists, 422 for a name, role or password that cannot be used. A new
///   user must change the password at first sign-in unless `must_change_password` is false.
/// - `PATCH /api/v1/users/{name}` `{"role"?, "disabled"?}` → 200 and the user.
/// - `POST /api/v1/users/{name}/password-reset` `{"password"}` → 200 and the user, who must
///   change it at the next sign-in.
/// - `DELETE /api/v1/users/{name}` → 204.
///
/// 404 for an unknown user; 409 when a change would leave no enabled admin. Every change is
/// written to the users file (atomically) and in force before the answer, so sessions of a
/// disabled or deleted user have already ended; it is journalled with the acting admin as
/// `user.added`, `user.role_changed`, `user.disabled`, `user.enabled`, `user.password_reset` or
/// `user.deleted`. New passwords are hashed on the bcrypt workers (never on the cooperative pool).
struct UsersRoutes {
    /// A user name from the path: `@` may come percent-encoded (`%40`), the one encoding allowed.
    static func userName(_ segment: String) -> String {
        segment.replacingOccurrences(of: "%40", with: "@", options: .caseInsensitive)
    }

    let access: WebAccess
    let logger: Logger

    static let requiredRole = Role.admin

    /// A user as the API shows it.
    struct UserDocument: Encodable {
        var name: String
        var role: String
        var disabled: Bool
        var mustChangePassword: Bool

        init(_ account: UserAccount) {
            name = account.name
            role = account.role.rawValue
            disabled = account.disabled
            mustChangePassword = account.mustChangePassword
        }

        enum CodingKeys: String, CodingKey {
            case name, role, disabled
            case mustChangePassword = "must_change_password"
        }
    }

    func register(on router: Router<IsoWatchRequestContext>) {
        router.get("/api/v1/users") { _, context -> Response in
            try await answer(context) { _ in
                HTTPServer.jsonResponse((access.userFile.directory?.accounts ?? []).map(UserDocument.init))
            }
        }
        router.post("/api/v1/users") { request, context -> Response in
            try await answer(context) { admin in try await add(request, by: admin) }
        }
        router.patch("/api/v1/users/{name}") { request, context -> Response in
            try await answer(context) { admin in
                try await update(Self.userName(try context.parameters.require("name")), request, by: admin)
            }
        }
        router.post("/api/v1/users/{name}/password-reset") { request, context -> Response in
            try await answer(context) { admin in
                try await resetPassword(Self.userName(try context.parameters.require("name")), request, by: admin)
            }
        }
        router.delete("/api/v1/users/{name}") { _, context -> Response in
            try await answer(context) { admin in
                let name = Self.userName(try context.parameters.require("name"))
                try await change(by: admin) { directory throws(UserDirectory.Refusal) in
                    let before = directory
                    try directory.remove(name)
                    try directory.requireAnEnabledAdmin(before: before, changing: name)
                }
                await journal("deleted", by: admin, "\(name): deleted")
                return Response(status: .noContent)
            }
        }
    }

    /// Runs `body` for a signed-in admin; a refusal it throws becomes its status and reason.
    private func answer(
        _ context: IsoWatchRequestContext, _ body: (SignedInUser) async throws -> Response
    ) async throws -> Response {
        guard let user = context.user else {
            return HTTPServer.errorResponse(.unauthorized, "sign in as an admin to manage users")
        }
        guard user.role >= Self.requiredRole else {
            return HTTPServer.errorResponse(.forbidden, "the role '\(user.role.rawValue)' may not manage users (admin only)")
        }
        do {
            return try await body(user)
        } catch let refusal as RequestRefusal {
            return refusal.response
        }
    }

    private func add(_ request: Request, by admin: SignedInUser) async throws -> Response {
        let body = try await RequestRefusal.jsonObject(request, keys: ["name", "role", "password", "must_change_password"])
        let name = try body.requiredString("name")
        guard UserDirectory.isValidName(name) else { throw RequestRefusal(.unprocessableContent, UserDirectory.nameRule) }
        let role = try body.role("role", required: true)!
        let password = try body.requiredString("password")
        let mustChange = try body.bool("must_change_password") ?? true
        let hash = try await RequestRefusal.hash(password, for: name)
        let account = UserAccount(name: name, role: role, passwordBcrypt: hash, mustChangePassword: mustChange)
        try await change(by: admin) { directory throws(UserDirectory.Refusal) in try directory.add(account) }
        await journal(
            "added", by: admin,
            "\(name): added as \(role.rawValue)\(mustChange ? "; must change the password at first sign-in" : "")")
        var response = HTTPServer.jsonResponse(UserDocument(account), status: .created)
        response.headers[.location] = "/api/v1/users/\(name)"
        return response
    }

    private func update(_ name: String, _ request: Request, by admin: SignedInUser) async throws -> Response {
        let body = try await RequestRefusal.jsonObject(request, keys: ["role", "disabled"])
        let role = try body.role("role", required: false)
        let disabled = try body.bool("disabled")
        guard role != nil || disabled != nil else {
            throw RequestRefusal(.unprocessableContent, "nothing to change: give 'role', 'disabled' or both")
        }
        let (before, after) = try await change(by: admin) { directory throws(UserDirectory.Refusal) in
            let previous = directory
            try directory.update(name) { account in
                if let role { account.role = role }
                if let disabled { account.disabled = disabled }
            }
            try directory.requireAnEnabledAdmin(before: previous, changing: name)
            return (previous.account(named: name)!, directory.account(named: name)!)
        }
        if before.role != after.role {
            await journal("role_changed", by: admin, "\(name): role \(before.role.rawValue) → \(after.role.rawValue)")
        }
        if before.disabled != after.disabled {
            await journal(
                after.disabled ? "disabled" : "enabled", by: admin,
                "\(name): \(after.disabled ? "disabled; signed out everywhere" : "enabled")")
        }
        return HTTPServer.jsonResponse(UserDocument(after))
    }

    private func resetPassword(_ name: String, _ request: Request, by admin: SignedInUser) async throws -> Response {
        let body = try await RequestRefusal.jsonObject(request, keys: ["password"])
        let password = try body.requiredString("password")
        guard access.userFile.directory?.account(named: name) != nil else {
            throw RequestRefusal(.notFound, "no user named '\(name)'")
        }
        let hash = try await RequestRefusal.hash(password, for: name)
        let account = try await change(by: admin) { directory throws(UserDirectory.Refusal) in
            try directory.update(name) { account in
                account.passwordBcrypt = hash
                account.mustChangePassword = true
            }
            return directory.account(named: name)!
        }
        await journal("password_reset", by: admin, "\(name): password reset; must change it at the next sign-in")
        return HTTPServer.jsonResponse(UserDocument(account))
    }

    /// Changes the users file through `LiveUsers.modify`, mapping what stops it to a status.
    @discardableResult
    private func change<T: Sendable>(
        by admin: SignedInUser, _ body: @escaping @Sendable (inout UserDirectory) throws(UserDirectory.Refusal) -> T
    ) async throws -> T {
        try await RequestRefusal.modify(access.userFile, by: admin.name, body)
    }

    private func journal(_ kind: String, by admin: SignedInUser, _ detail: String) async {
        do {
            try await access.journal(kind, admin.name, nil, detail)
        } catch {
            // The change is in force; a failing journal must not make the admin think it is not.
            logger.error(
                "could not journal a change of users", metadata: ["kind": "\(kind)", "user": "\(admin.name)", "error": "\(error)"])
        }
    }
}

/// A request the users routes (and the password change) refuse: its status and reason.
struct RequestRefusal: Error {
    var status: HTTPResponse.Status
    var reason: String
    var retryAfterSeconds: Int?

    init(_ status: HTTPResponse.Status, _ reason: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.reason = reason
        self.retryAfterSeconds = retryAfterSeconds
    }

    var response: Response {
        var response = HTTPServer.errorResponse(status, reason)
        if let retryAfterSeconds { response.headers[.retryAfter] = String(retryAfterSeconds) }
        return response
    }

    /// The largest body these routes read: a name, a role and a password fit many times over.
    static let maximumBodyBytes = 4096

    /// A JSON object body with only `keys` (415 unless `application/json`, 413 over 4 KiB, 400
    /// for anything else, naming the unknown key: a misspelt `disabled` must not pass unnoticed).
    static func jsonObject(_ request: Request, keys: Set<String>) async throws(RequestRefusal) -> JSONObject {
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            throw RequestRefusal(.unsupportedMediaType, "the body must be Content-Type: application/json")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBodyBytes)
        } catch {
            throw RequestRefusal(.contentTooLarge, "the body is at most \(maximumBodyBytes) bytes")
        }
        guard case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView)) else {
            throw RequestRefusal(.badRequest, "the body must be a JSON object")
        }
        if let unknown = Set(members.keys).subtracting(keys).sorted().first {
            throw RequestRefusal(.badRequest, "unknown field '\(unknown)'; accepted: \(keys.sorted().joined(separator: ", "))")
        }
        return JSONObject(members: members)
    }

    /// The fields of a JSON body; a field of the wrong type is a 400 naming it.
    struct JSONObject {
        let members: [String: JSONValue]

        func string(_ key: String) throws(RequestRefusal) -> String? {
            switch members[key] {
            case nil: return nil
            case .string(let value)?: return value
            default: throw RequestRefusal(.badRequest, "'\(key)' must be a string")
            }
        }

        func requiredString(_ key: String) throws(RequestRefusal) -> String {
            guard let value = try string(key) else { throw RequestRefusal(.badRequest, "'\(key)' is required") }
            return value
        }

        func bool(_ key: String) throws(RequestRefusal) -> Bool? {
            switch members[key] {
            case nil: return nil
            case .bool(let value)?: return value
            default: throw RequestRefusal(.badRequest, "'\(key)' must be true or false")
            }
        }

        func role(_ key: String, required: Bool) throws(RequestRefusal) -> Role? {
            guard let text = required ? try requiredString(key) : try string(key) else { return nil }
            guard let role = Role(rawValue: text) else {
                throw RequestRefusal(
                    .unprocessableContent, "'\(key)' must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return role
        }
    }

    /// The bcrypt hash of a new password for `name`, once it passes the password rules (422).
    static func hash(_ password: String, for name: String) async throws(RequestRefusal) -> String {
        if let problem = UserDirectory.passwordProblem(password, name: name) {
            throw RequestRefusal(.unprocessableContent, problem)
        }
        guard let hash = await PasswordCheck.hash(password) else {
            throw RequestRefusal(.serviceUnavailable, "too many password operations at once; try again shortly", retryAfterSeconds: 1)
        }
        return hash
    }

    /// `users.modify`, with what stops it as a status: 404 no such user, 409 the name exists or
    /// the last enabled admin would go or the file on disk has errors, 422 invalid, 503 the file
    /// cannot be written (e.g. a read-only file system) or there is none.
    static func modify<T: Sendable>(
        _ users: LiveUsers, by user: String, _ body: @escaping @Sendable (inout UserDirectory) throws(UserDirectory.Refusal) -> T
    ) async throws(RequestRefusal) -> T {
        do throws(LiveUsers.ModifyError) {
            return try await users.modify(by: user, body)
        } catch {
            switch error {
            case .refused(let refusal):
                let status: HTTPResponse.Status =
                    switch refusal.kind {
                    case .invalid: .unprocessableContent
                    case .exists, .lastAdmin: .conflict
                    case .noSuchUser: .notFound
                    }
                throw RequestRefusal(status, refusal.description)
            case .fileInvalid:
                throw RequestRefusal(.conflict, error.description)
            case .noFile, .notWritten:
                throw RequestRefusal(.serviceUnavailable, "the users file cannot be changed: \(error.description)")
            }
        }
    }
}
