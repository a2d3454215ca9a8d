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
    /// Live-stream clients at most; beyond it `GET /api/v1/stream` is answered 503.
    public var maximumStreamClients: Int
    /// Live-stream events a client may lag behind (it does not read) before it is dropped.
    public var streamBufferPerClient: Int

    public init(
        idleTimeout: Duration = .seconds(30), maximumConnections: Int = 256, maximumStreamClients: Int = 64,
        streamBufferPerClient: Int = 256
    ) {
        self.idleTimeout = idleTimeout
        self.maximumConnections = maximumConnections
        self.maximumStreamClients = maximumStreamClients
        self.streamBufferPerClient = streamBufferPerClient
    }

    /// From the configuration's `http:` section.
    public init(_ settings: HTTPSettings) {
        self.init(
            idleTimeout: .milliseconds(Int64(settings.idleTimeoutSeconds * 1000)),
            maximumConnections: settings.maximumConnections, maximumStreamClients: settings.maximumStreamClients)
    }
}

/// Counts the server's open connections against `maximum`.
final class ConnectionLimiter: Sendable {
    let maximum: Int
    private let state = Mutex((open: 0, full: false))
    private let logger: Logger

    init(maximum: Int, logger: Logger) {
        self.maximum = max(1, maximum)
        self.logger = logger
    }

    /// Takes a place; false when all are taken (then nothing was taken).
    func enter() -> Bool {
        let (admitted, becameFull) = state.withLock { state -> (Bool, Bool) in
            guard state.open < maximum else {
                defer { state.full = true }
                return (false, !state.full)
            }
            state.open += 1
            return (true, false)
        }
        // Once per episode, not per refused connection: a flood must not flood the log too.
        if becameFull {
            logger.warning("HTTP connection limit reached; new connections are closed", metadata: ["limit": "\(maximum)"])
        }
        return admitted
    }

    func leave() {
        state.withLock { state in
            state.open -= 1
            if state.open < maximum { state.full = false }
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
        admitted = limiter.enter()
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
        if admitted == true { limiter.leave() }
        admitted = false
    }
}
