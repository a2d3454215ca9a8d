import Foundation
import Hummingbird
import IsoWatchCore
import Logging
import NIOCore

/// The operator-facing HTTP API.
public enum HTTPServer {
    /// Builds the application. `onListening` receives the bound port (useful with port 0).
    public static func makeApplication(
        state: any LiveStateProvider,
        host: String,
        port: Int,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
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
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "isowatch"),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? port)
            },
            logger: logger
        )
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
