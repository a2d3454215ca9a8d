import Foundation
import HTTPTypes
import Hummingbird

/// The rules every request meets before any route sees it, and the headers every response carries.
///
/// - **Canonical paths only.** The router's trie skips empty segments, so `//api/v1/systems`
///   reaches the same handler as `/api/v1/systems`; anything that compares path strings (a guard,
///   a log, a proxy rule in front of us) can then disagree with what is served. No isowatch route
///   needs an empty, `.` or `..` segment or a percent-encoded character (system ids are
///   `[a-z0-9-]`, the dashboard files have fixed names), so such paths are refused with 400 rather
///   than normalised: a client that sends one is either broken or probing. The one exception is
///   `%40`: user names may contain `@`, and clients encode it in a path segment (RFC 3986 makes
///   the two forms equal); the users routes decode it.
/// - **Same-origin writes.** A state-changing request (anything but GET, HEAD, OPTIONS) that names
///   an `Origin` must name this server's own. Without `Origin` it is a script or an old browser:
///   then `Sec-Fetch-Site`, when present, must say `same-origin` or `none`. SameSite=Strict alone
///   lets a sibling host on the same site post, and does nothing against login CSRF.
/// - **`nosniff` and a CSP on every response**, errors included; a route that sets its own CSP
///   (the dashboard, the report) keeps it. Under TLS also HSTS (`Strict-Transport-Security`);
///   never over plain HTTP, where a browser ignores it and it would only mislead.
struct RequestHygieneMiddleware: RouterMiddleware {
    typealias Context = IsoWatchRequestContext
    /// `https` when the server speaks TLS: part of its own origin.
    let scheme: String

    static let defaultContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'"

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response: Response
        if let problem = Self.pathProblem(request.head.path ?? "") {
            response = HTTPServer.errorResponse(.badRequest, "the request path \(problem)")
        } else if let refusal = Self.originRefusal(request, scheme: scheme) {
            response = HTTPServer.errorResponse(.forbidden, refusal)
        } else {
            do {
                response = try await next(request, context)
            } catch let error as any HTTPResponseError {
                // Thrown errors (404, 413 from the body limit) must carry the headers too.
                response = try error.response(from: request, context: context)
            }
        }
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = Self.defaultContentSecurityPolicy
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        if scheme == "https" {
            response.headers[.strictTransportSecurity] = HTTPServer.strictTransportSecurity
        }
        return response
    }

    /// Why the path of a request target is not canonical, or nil when it is.
    static func pathProblem(_ target: String) -> String? {
        let path = target.prefix { $0 != "?" && $0 != "#" }
        guard path.hasPrefix("/") else { return "must start with '/'" }
        if path == "/" { return nil }
        for segment in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "must not contain an empty segment ('//' or a trailing '/')" }
            if segment == "." || segment == ".." { return "must not contain '.' or '..' segments" }
        }
        for scalar in path.replacingOccurrences(of: "%40", with: "@", options: .caseInsensitive).unicodeScalars {
            if scalar == "%" { return "must not be percent-encoded" }
            if scalar == "\\" || scalar.value < 0x21 || scalar.value == 0x7F || scalar.value > 0x7E {
                return "must be printable ASCII without '\\'"
            }
        }
        return nil
    }

    static let safeMethods: Set<HTTPRequest.Method> = [.get, .head, .options]

    /// Why a state-changing request looks cross-origin, or nil when it may go on.
    static func originRefusal(_ request: Request, scheme: String) -> String? {
        guard !safeMethods.contains(request.method) else { return nil }
        if let origin = request.headers[.origin] {
            guard let host = request.head.authority,
                origin.lowercased() == "\(scheme)://\(host)".lowercased()
            else {
                return "cross-origin request refused: Origin must be this server's own"
            }
            return nil
        }
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            return "cross-origin request refused (Sec-Fetch-Site: \(site))"
        }
        return nil
    }
}
