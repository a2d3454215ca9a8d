import Foundation
import IsoWatchSnapshot
import NIOCore
import Synchronization

/// The live stream's side of the fan-out: one subscription to the monitor's status changes for
/// all clients, each change encoded once as its `event: status` bytes and handed to every
/// client's bounded queue.
///
/// - **Encoded once.** A hundred dashboards cost one JSON encoding per change, not a hundred;
///   the bytes are one shared `ByteBuffer`.
/// - **Capped.** At most `maximumClients` streams at once; `join` refuses the next (the route
///   answers 503).
/// - **A client that does not read is dropped.** Its response writer waits while its connection
///   cannot take more; meanwhile its queue fills, and when a change no longer fits the client is
///   dropped: its queue ends and `onDrop` closes its connection (which also ends a write that is
///   stuck). Nobody else waits for it, and the monitor never does: handing bytes to a queue never
///   blocks.
final class LiveStreamHub: Sendable {
    let maximumClients: Int
    /// Events a client may lag behind before it is dropped.
    let bufferPerClient: Int
    let keepAliveInterval: Duration

    private let updates: @Sendable () -> AsyncStream<SystemStatus>
    private let encode: @Sendable (SystemStatus) -> ByteBuffer

    private struct Client {
        var continuation: AsyncStream<ByteBuffer>.Continuation
        var onDrop: @Sendable () -> Void
    }
    private struct State {
        var clients: [UInt64: Client] = [:]
        var nextID: UInt64 = 0
        var pumping = false
    }
    private let state = Mutex(State())

    init(
        maximumClients: Int, bufferPerClient: Int = 256, keepAliveInterval: Duration = .seconds(15),
        updates: @escaping @Sendable () -> AsyncStream<SystemStatus>,
        encode: @escaping @Sendable (SystemStatus) -> ByteBuffer = LiveRoutes.event
    ) {
        self.maximumClients = max(1, maximumClients)
        self.bufferPerClient = max(1, bufferPerClient)
        self.keepAliveInterval = keepAliveInterval
        self.updates = updates
        self.encode = encode
    }

    struct Membership: Sendable {
        let id: UInt64
        /// What to write to the client, in order; it ends when the client is dropped or the
        /// monitor's stream ends (shutdown), and the response ends with it.
        let events: AsyncStream<ByteBuffer>
    }

    /// A place among the clients, or nil when `maximumClients` streams are open. Changes from now
    /// on are queued for the client; `onDrop` runs once if the client is dropped for not reading.
    func join(onDrop: @escaping @Sendable () -> Void) -> Membership? {
        let (events, continuation) = AsyncStream.makeStream(
            of: ByteBuffer.self, bufferingPolicy: .bufferingOldest(bufferPerClient))
        let joined: (UInt64, startPump: Bool)? = state.withLock { state in
            guard state.clients.count < maximumClients else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.clients[id] = Client(continuation: continuation, onDrop: onDrop)
            defer { state.pumping = true }
            return (id, !state.pumping)
        }
        guard let (id, startPump) = joined else { return nil }
        continuation.onTermination = { [weak self] _ in self?.leave(id) }
        if startPump { pump() }
        return Membership(id: id, events: events)
    }

    /// Ends a client's queue (it disconnected, or the server shuts down).
    func leave(_ id: UInt64) {
        state.withLock { $0.clients.removeValue(forKey: id) }?.continuation.finish()
    }

    var clientCount: Int {
        state.withLock { $0.clients.count }
    }

    /// Hands the same bytes to every client; drops the ones whose queue is full.
    func send(_ bytes: ByteBuffer) {
        var dropped: [Client] = []
        state.withLock { state in
            for (id, client) in state.clients {
                if case .dropped = client.continuation.yield(bytes) {
                    state.clients[id] = nil
                    dropped.append(client)
                }
            }
        }
        // Outside the lock: finishing runs the termination handler, which takes it.
        for client in dropped {
            client.continuation.finish()
            client.onDrop()
        }
    }

    /// One task for all clients while any are connected: reads the monitor's changes, encodes
    /// each once, and sends a keep-alive comment every `keepAliveInterval`.
    private func pump() {
        let updates = updates()
        Task { [self] in
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: self.keepAliveInterval) } catch { return }
                        self.send(Self.keepAlive)
                    }
                }
                for await status in updates { send(encode(status)) }
                group.cancelAll()
            }
            // The monitor dropped this subscription (it lagged behind) or shut down: every client
            // ends, reconnects and gets a fresh snapshot; the next one to join starts a new pump.
            let clients = state.withLock { state in
                defer {
                    state.clients = [:]
                    state.pumping = false
                }
                return Array(state.clients.values)
            }
            for client in clients { client.continuation.finish() }
        }
    }

    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")
}
