import Foundation
import HTTPTypes
import Hummingbird
import IsoWatchCore
import Logging
import NIOCore

/// The configuration in force, a proposed one checked and applied, and the change record (issue 14
/// §3, §4). Every route needs a signed-in engineer or admin: the file names the installation's
/// devices, addresses and users file, and changing it changes what every theatre's alarm does.
///
/// - `GET /api/v1/configuration` → 200 the version in force, with its YAML; 404 before any is recorded.
/// - `POST /api/v1/configuration/preview`, YAML body → 200 what applying it would change
///   (`outcome` previewed, unchanged or restart_required); 422 with the errors (file, line, field).
/// - `POST /api/v1/configuration[?comment=]`, YAML body → 200 applied or unchanged; 422 rejected
///   and 409 restart_required, both with nothing changed.
/// - `GET /api/v1/configuration/history[?limit=]` → 200 the versions, newest first, without content.
/// - `GET /api/v1/configuration/history/{id}` → 200 one version with its YAML; 404.
/// - `POST /api/v1/configuration/history/{id}/rollback[?comment=]` → as applying that version's YAML; 404.
///
/// Before any of that: 401 without a session, 403 below engineer, 503 when the service offers no
/// configuration changes; for a body, 415 unless `application/yaml` or `text/plain`, 413 over
/// 1 MiB, 400 unless UTF-8. Every apply and rollback is journalled with the acting user, whatever
/// its outcome.
struct ConfigurationRoutes {
    let control: (any ConfigurationControl)?
    let access: WebAccess
    let logger: Logger

    static let requiredRole = Role.engineer
    /// A configuration of 256 systems is about 150 KiB; a megabyte leaves room and bounds what
    /// one request makes the server buffer.
    static let maximumBodyBytes = 1 << 20
    static let acceptedMediaTypes: Set<String> = ["application/yaml", "text/plain"]
    /// A comment is a sentence or two for the record, not a document.
    static let maximumCommentCharacters = 1000
    static let defaultHistoryLimit = 50
    static let maximumHistoryLimit = 1000

    func register(on router: Router<IsoWatchRequestContext>) {
        router.get("/api/v1/configuration") { _, context -> Response in
            try await guarded(context) { control, _ in
                guard let version = await control.inForce() else {
                    return HTTPServer.errorResponse(.notFound, "no configuration version is recorded yet")
                }
                return HTTPServer.jsonResponse(version)
            }
        }
        router.post("/api/v1/configuration/preview") { request, context -> Response in
            try await guarded(context) { control, _ in
                try await withYAML(request) { yaml in
                    let answer = await control.preview(yaml: yaml)
                    return HTTPServer.jsonResponse(answer, status: answer.outcome == .rejected ? .unprocessableContent : .ok)
                }
            }
        }
        router.post("/api/v1/configuration") { request, context -> Response in
            try await guarded(context) { control, user in
                let comment = try commentParameter(request)
                return try await withYAML(request) { yaml in
                    let answer = await control.apply(yaml: yaml, author: user.name, comment: comment, origin: .api)
                    await journal("configuration_apply", answer, user: user, comment: comment, rollbackOf: nil)
                    return Self.response(answer)
                }
            }
        }
        router.get("/api/v1/configuration/history") { request, context -> Response in
            try await guarded(context) { control, _ in
                let query = Query(request.uri.queryParameters)
                let limit = min(try query.integer("limit", in: 1...10_000) ?? Self.defaultHistoryLimit, Self.maximumHistoryLimit)
                return HTTPServer.jsonResponse(await control.history(limit: limit))
            }
        }
        router.get("/api/v1/configuration/history/{id}") { _, context -> Response in
            try await guarded(context) { control, _ in
                let id = try versionID(context)
                guard let version = await control.version(id: id) else {
                    return HTTPServer.errorResponse(.notFound, "no configuration version \(id)")
                }
                return HTTPServer.jsonResponse(version)
            }
        }
        router.post("/api/v1/configuration/history/{id}/rollback") { request, context -> Response in
            try await guarded(context) { control, user in
                let id = try versionID(context)
                let comment = try commentParameter(request)
                guard await control.version(id: id) != nil else {
                    return HTTPServer.errorResponse(.notFound, "no configuration version \(id)")
                }
                let answer = await control.rollback(to: id, author: user.name, comment: comment)
                await journal("configuration_rollback", answer, user: user, comment: comment, rollbackOf: id)
                return Self.response(answer)
            }
        }
    }

    /// The answer to an apply or rollback: nothing changed unless 200 says applied.
    static func response(_ answer: ConfigurationChangeDocument) -> Response {
        let status: HTTPResponse.Status =
            switch answer.outcome {
            case .applied, .unchanged, .previewed: .ok
            case .rejected: .unprocessableContent
            case .restartRequired: .conflict
            }
        return HTTPServer.jsonResponse(answer, status: status)
    }

    /// A malformed parameter, answered 400 with its reason.
    struct BadRequest: Error {
        var reason: String
    }

    /// Session, role and availability, in that order: nobody learns whether the service offers
    /// configuration changes before showing they may make them.
    private func guarded(
        _ context: IsoWatchRequestContext, _ body: (any ConfigurationControl, SignedInUser) async throws -> Response
    ) async throws -> Response {
        guard let user = context.user else {
            return HTTPServer.errorResponse(.unauthorized, "sign in as an engineer to see or change the configuration")
        }
        guard user.role >= Self.requiredRole else {
            return HTTPServer.errorResponse(
                .forbidden, "the role '\(user.role.rawValue)' may not see or change the configuration (engineer or above)")
        }
        guard let control else {
            return HTTPServer.errorResponse(.serviceUnavailable, "configuration changes are not available")
        }
        do {
            return try await body(control, user)
        } catch let error as BadRequest {
            return HTTPServer.errorResponse(.badRequest, error.reason)
        } catch let error as QueryError {
            return HTTPServer.errorResponse(.badRequest, error.description)
        }
    }

    /// The body as YAML text: the media type first, then the size, then UTF-8.
    private func withYAML(_ request: Request, _ body: (String) async throws -> Response) async throws -> Response {
        let mediaType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard let mediaType, Self.acceptedMediaTypes.contains(mediaType) else {
            return HTTPServer.errorResponse(
                .unsupportedMediaType, "a configuration is sent as Content-Type: application/yaml or text/plain")
        }
        let tooLarge = "a configuration is at most \(Self.maximumBodyBytes) bytes"
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Self.maximumBodyBytes {
            return HTTPServer.errorResponse(.contentTooLarge, tooLarge)
        }
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: Self.maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            return HTTPServer.errorResponse(.contentTooLarge, tooLarge)
        }
        guard let yaml = String(validating: bytes.readableBytesView, as: UTF8.self) else {
            return HTTPServer.errorResponse(.badRequest, "a configuration is UTF-8 text")
        }
        return try await body(yaml)
    }

    private func commentParameter(_ request: Request) throws -> String? {
        guard let text = request.uri.queryParameters.get("comment") else { return nil }
        // Counted in Unicode scalars, as openapi.yaml's maxLength counts.
        guard text.unicodeScalars.count <= Self.maximumCommentCharacters else {
            throw BadRequest(reason: "parameter 'comment' is at most \(Self.maximumCommentCharacters) characters")
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    private func versionID(_ context: IsoWatchRequestContext) throws -> Int64 {
        let text = try context.parameters.require("id")
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let id = Int64(text), id > 0 else {
            throw BadRequest(reason: "a configuration version id is a whole number from 1, got '\(text)'")
        }
        return id
    }

    /// `user.configuration_apply` / `user.configuration_rollback`: who tried what, and what came of it.
    private func journal(
        _ kind: String, _ answer: ConfigurationChangeDocument, user: SignedInUser, comment: String?, rollbackOf: Int64?
    ) async {
        var detail = rollbackOf.map { "roll back to version \($0): " } ?? ""
        switch answer.outcome {
        case .applied: detail += "applied as version \(answer.versionID.map(String.init) ?? "?")"
        case .unchanged: detail += "unchanged, the configuration in force"
        case .previewed: detail += "previewed"
        case .rejected: detail += "rejected, \(answer.errors.count) error(s): \(answer.errors.prefix(3).map(\.field).joined(separator: ", "))"
        case .restartRequired: detail += "needs a restart: \(answer.diff?.restartRequired.joined(separator: ", ") ?? "")"
        }
        if let sha256 = answer.sha256 { detail += "; sha256 \(sha256)" }
        if let comment { detail += "; comment: \(comment)" }
        do {
            try await access.journal(kind, user.name, nil, detail)
        } catch {
            // The change is in force (or refused) either way; its own record is the history's.
            logger.error(
                "could not journal a configuration change", metadata: ["user": "\(user.name)", "error": "\(error)"])
        }
    }
}
