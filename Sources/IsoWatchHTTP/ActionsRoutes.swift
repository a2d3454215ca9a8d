import Foundation
import Hummingbird
import IsoWatchSnapshot
import Logging

/// The panel's buttons over HTTP: `POST /api/v1/systems/{id}/silence|acknowledge|test`.
///
/// 401 without a session, 403 for a role below operator, 404 for an unknown system; otherwise the
/// action reaches the system's alarm machine with the user's name (which its record carries) and
/// is journaled, and the answer is 200 with the system's status after the action. A test while
/// one runs or within the rest interval after the last is refused with 429 and `Retry-After`.
struct ActionsRoutes {
    let state: any LiveStateProvider
    let access: WebAccess
    let logger: Logger

    static let requiredRole = Role.operator

    func register(on router: Router<IsoWatchRequestContext>) {
        for action in OperatorAction.allCases {
            router.post("/api/v1/systems/{id}/\(action.rawValue)") { _, context -> Response in
                let id = try context.parameters.require("id")
                guard let user = context.user else {
                    return HTTPServer.errorResponse(.unauthorized, "sign in to \(action.rawValue) an alarm")
                }
                guard user.role >= Self.requiredRole else {
                    return HTTPServer.errorResponse(
                        .forbidden, "the role '\(user.role.rawValue)' may not \(action.rawValue) alarms (operator or above)")
                }
                switch await state.perform(action, system: id, user: user.name) {
                case .done:
                    break
                case .noSuchSystem:
                    return HTTPServer.errorResponse(.notFound, "no IT system with id '\(id)'")
                case let .refused(reason, retryAfter):
                    // 429 with Retry-After: the request was understood and may succeed later.
                    var response = HTTPServer.errorResponse(.tooManyRequests, "\(action.rawValue) refused: \(reason)")
                    response.headers[.retryAfter] = "\(retryAfter)"
                    return response
                }
                do {
                    try await access.journal(action.rawValue, user.name, id, "\(action.rawValue) from the web")
                } catch {
                    // The action has reached the alarm machine (whose own record names the user); a
                    // failing journal must not undo a silence someone needed.
                    logger.error(
                        "could not journal an action",
                        metadata: ["action": "\(action.rawValue)", "system": "\(id)", "user": "\(user.name)", "error": "\(error)"])
                }
                guard let status = await state.systems().first(where: { $0.id == id }) else {
                    return HTTPServer.errorResponse(.notFound, "no IT system with id '\(id)'")
                }
                return HTTPServer.jsonResponse(status)
            }
        }
    }
}
