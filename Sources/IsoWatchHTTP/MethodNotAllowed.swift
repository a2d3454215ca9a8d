import HTTPTypes
import Hummingbird
import Synchronization

/// 405 with `Allow` for a path that exists but not with the request's method (RFC 9110 §15.5.6),
/// where the router alone answers 404: a client that sends `TRACE /healthz` or `GET
/// /api/v1/logout` learns that the path is right and which methods it takes, and a generated
/// client checked against openapi.yaml sees exactly the methods the specification lists.
struct MethodNotAllowedMiddleware: RouterMiddleware {
    typealias Context = IsoWatchRequestContext
    let routes: RegisteredRoutes

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(forPath: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            let list = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            var response = HTTPServer.errorResponse(
                .methodNotAllowed, "\(request.method.rawValue) is not allowed on this path; it takes \(list)")
            response.headers[.allow] = list
            return response
        }
    }
}

/// The router's routes as (path template, method), filled in once every route is registered:
/// middleware has to be added before the routes it covers, so it cannot read them at creation.
final class RegisteredRoutes: Sendable {
    private let table = Mutex<[(segments: [Substring], method: HTTPRequest.Method)]>([])

    func record(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        table.withLock { table in
            table = routes.map { (segments: $0.path.split(separator: "/"), method: $0.method) }
        }
    }

    /// The methods of every route whose template matches `path` (`{id}` matches one segment).
    func methods(forPath path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/")
        return table.withLock { table in
            Set(
                table.filter { route in
                    route.segments.count == segments.count
                        && zip(route.segments, segments).allSatisfy { template, actual in
                            (template.hasPrefix("{") && template.hasSuffix("}")) || template == actual
                        }
                }.map(\.method))
        }
    }
}
