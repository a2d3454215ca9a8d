import Foundation
import Hummingbird
import IsoWatchCore
import IsoWatchSnapshot
import NIOCore
import ServiceLifecycle

/// `GET /api/v1/stream`: server-sent events (text/event-stream). On connecting, one `status`
/// event per IT system (the snapshot); then one `status` event whenever a system's status changes
/// (a new reading, an alarm change, data going stale). The data of each event is the same JSON
/// object as `GET /api/v1/systems/{id}`. A comment line every 15 s keeps proxies from closing an
/// idle stream and lets the server notice a vanished client. The fan-out, the client cap and the
/// dropping of clients that do not read are `LiveStreamHub`'s; beyond the cap: 503.
struct LiveRoutes {
    let state: any LiveStateProvider
    let hub: LiveStreamHub

    func register(on router: Router<IsoWatchRequestContext>) {
        router.get("/api/v1/stream") { _, context -> Response in
            // Join before taking the snapshot, so no change between the two is lost (one may
            // arrive twice, which a client that replaces a tile's state by id does not notice).
            let channel = context.channel
            guard let membership = hub.join(onDrop: { channel.close(promise: nil) }) else {
                var response = HTTPServer.errorResponse(
                    .serviceUnavailable,
                    "the live stream has its maximum of \(hub.maximumClients) clients; try again later")
                response.headers[.retryAfter] = "10"
                return response
            }
            let snapshot = await state.systems()
            let body = ResponseBody { writer in
                var first = ByteBuffer(string: "retry: 2000\n\n")
                for status in snapshot { first.writeImmutableBuffer(Self.event(status)) }
                try await withGracefulShutdownHandler {
                    defer { hub.leave(membership.id) }
                    try await writer.write(first)
                    // Ends when the hub drops this client or the monitor's stream ends: the
                    // response then ends and the browser reconnects to a fresh snapshot.
                    for await buffer in membership.events {
                        try await writer.write(buffer)
                    }
                } onGracefulShutdown: {
                    hub.leave(membership.id)
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"],
                body: body)
        }
    }

    static func event(_ status: SystemStatus) -> ByteBuffer {
        // The encoder writes no newlines (no pretty printing), so the JSON is one `data:` line.
        let json = (try? JSONEncoder.isowatch.encode(status)) ?? Data("{}".utf8)
        var buffer = ByteBuffer(string: "event: status\ndata: ")
        buffer.writeBytes(json)
        buffer.writeString("\n\n")
        return buffer
    }
}
