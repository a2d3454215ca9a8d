import Foundation
import Hummingbird
import IsoWatchCore
import Logging
import NIOCore
import Synchronization

/// How much of the server one client, or all of them together, can hold (issue 13 §3).
public struct HTTPLimits: Sendable, Equatable {
    /// A connection that sends nothing this long while no response is being written is closed:
    /// an idle keep-alive connection, and a client that trickles its headers (slowloris), which
    /// Hummingbird counts from the last complete request part, not from the last byte.
    public var idleTimeout: Duration
    /// Open connections at most; beyond it a new connection is closed at once.
    public var maximumConnections: Int
    /// Open connections from one client address at most; beyond it a new connection from that
    /// address is closed at once, while other addresses still get in.
    public var maximumConnectionsPerClient: Int
    /// Live-stream clients at most; beyond it `GET /api/v1/stream` is answered 503.
    public var maximumStreamClients: Int
    /// Live-stream events a client may lag behind (it does not read) before it is dropped.
    public var streamBufferPerClient: Int

    public init(
        idleTimeout: Duration = .seconds(30), maximumConnections: Int = 256, maximumConnectionsPerClient: Int = 64,
        maximumStreamClients: Int = 64, streamBufferPerClient: Int = 256
    ) {
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
        self.maximumConnectionsPerClient = maximumConnectionsPerClient
        self.maximumStreamClients = maximumStreamClients
        self.streamBufferPerClient = streamBufferPerClient
    }

    /// From the configuration's `http:` section.
    public init(_ settings: HTTPSettings) {
        self.init(
            idleTimeout: .milliseconds(Int64(settings.idleTimeoutSeconds * 1000)),
            maximumConnections: settings.maximumConnections,
            maximumConnectionsPerClient: settings.maximumConnectionsPerClient,
            maximumStreamClients: settings.maximumStreamClients)
    }
}

/// Counts the server's open connections against `maximum`, and each client address's against
/// `maximumPerClient`.
final class ConnectionLimiter: Sendable {
    let maximum: Int
    let maximumPerClient: Int
    private struct State {
        var open = 0
        var byClient: [String: Int] = [:]
        var full = false
        /// Addresses already logged as over their share in this episode (bounded by the cap).
        var loggedClients: Set<String> = []
    }
    private let state = Mutex(State())
    private let logger: Logger

    init(maximum: Int, maximumPerClient: Int = .max, logger: Logger) {
        self.maximum = max(1, maximum)
        self.maximumPerClient = max(1, maximumPerClient)
        self.logger = logger
    }

    enum Refusal: Equatable {
        case full, clientFull(String)
    }

    /// Takes a place for `client` (its address; nil when unknown, then only the total counts);
    /// nil when admitted, else why not (then nothing was taken).
    func enter(client: String? = nil) -> Refusal? {
        let (refusal, firstOfEpisode) = state.withLock { state -> (Refusal?, Bool) in
            guard state.open < maximum else {
                defer { state.full = true }
                return (.full, !state.full)
            }
            if let client {
                let held = state.byClient[client, default: 0]
                guard held < maximumPerClient else {
                    let first = state.loggedClients.count < 64 && state.loggedClients.insert(client).inserted
                    return (.clientFull(client), first)
                }
                state.byClient[client] = held + 1
            }
            state.open += 1
            return (nil, false)
        }
        // Once per episode, not per refused connection: a flood must not flood the log too.
        switch refusal {
        case .full? where firstOfEpisode:
            logger.warning("HTTP connection limit reached; new connections are closed", metadata: ["limit": "\(maximum)"])
        case .clientFull(let client)? where firstOfEpisode:
            logger.warning(
                "HTTP connection limit per client reached; its new connections are closed",
                metadata: ["client": "\(client)", "limit": "\(maximumPerClient)"])
        default:
            break
        }
        return refusal
    }

    func leave(client: String? = nil) {
        state.withLock { state in
            state.open -= 1
            if state.open < maximum { state.full = false }
            if let client, let held = state.byClient[client] {
                if held <= 1 {
                    state.byClient[client] = nil
                    state.loggedClients.remove(client)
                } else {
                    state.byClient[client] = held - 1
                }
            }
        }
    }

    var open: Int {
        state.withLock { $0.open }
    }
}

/// First handler after the HTTP decoder on every connection: takes a place with the limiter when
/// the connection becomes active and closes it at once when there is none (Hummingbird's
/// `MaximumAvailableConnections` would instead stop accepting, leaving every new client waiting
/// in the kernel's backlog without an answer). Passes everything through untouched.
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    private let limiter: ConnectionLimiter
    private var admitted: Bool?
    /// The client's address, counted against its own share.
    private var client: String?

    init(limiter: ConnectionLimiter) {
        self.limiter = limiter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context)
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        guard admitted == nil else { return }
        client = context.channel.remoteAddress?.ipAddress
        admitted = limiter.enter(client: client) == nil
        if admitted == false { context.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        if admitted == true { limiter.leave(client: client) }
        admitted = false
    }
}
