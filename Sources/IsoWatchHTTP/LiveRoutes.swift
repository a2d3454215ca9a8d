import Foundation
import Hummingbird
import IsoWatchCore
import NIOCore
import ServiceLifecycle

/// `GET /api/v1/stream`: server-sent events (text/event-stream). On connecting, one `status`
/// event per IT system (the snapshot); then one `status` event whenever a system's status changes
/// (a new reading, an alarm change, data going stale). The data of each event is the same JSON
/// object as `GET /api/v1/systems/{id}`. A comment line every 15 s keeps proxies from closing an
/// idle stream and lets the server notice a vanished client.
struct LiveRoutes {
    let state: any LiveStateProvider
    static let keepAliveInterval = Duration.seconds(15)

    func register(on router: Router<IsoWatchRequestContext>) {
        router.get("/api/v1/stream") { _, _ -> Response in
            // Subscribe before taking the snapshot, so no change between the two is lost (one may
            // arrive twice, which a client that replaces a tile's state by id does not notice).
            let updates = state.statusUpdates()
            let snapshot = await state.systems()
            let body = ResponseBody { writer in
                let (events, sink) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(64))
                var first = ByteBuffer(string: "retry: 2000\n\n")
                for status in snapshot { first.writeImmutableBuffer(Self.event(status)) }
                sink.yield(first)
                try await withGracefulShutdownHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await status in updates { sink.yield(Self.event(status)) }
                            // The broadcaster dropped this client (it lagged behind) or shut down:
                            // end the response so the browser reconnects to a fresh snapshot.
                            sink.finish()
                        }
                        group.addTask {
                            while !Task.isCancelled {
                                try await Task.sleep(for: Self.keepAliveInterval)
                                sink.yield(ByteBuffer(string: ": keep-alive\n\n"))
                            }
                        }
                        defer { group.cancelAll() }
                        for await buffer in events {
                            try await writer.write(buffer)
                        }
                    }
                } onGracefulShutdown: {
                    sink.finish()
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
