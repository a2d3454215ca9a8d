#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// How a TCP gateway answers a request for a unit it does not serve, or one that is off line.
public enum AbsentUnitReply: Sendable, Equatable {
    /// Exception 0x0B (gateway target device failed to respond) after the time a gateway would
    /// have waited for the serial device.
    case gatewayException(afterSeconds: Double)
    /// Nothing: the client times out, as with a gateway configured not to answer.
    case noReply
}

/// A Modbus TCP server that dispatches on the MBAP unit id like a gateway (libmodbus's server
/// answers every unit id from one map, see engineering.md). One thread accepts, one thread per
/// client connection reads and answers; none of them runs on Swift's cooperative pool.
/// The threads keep the server alive until `stop()`, which every owner must call.
public final class ModbusTCPServer: Sendable {
    public let host: String
    /// The port actually bound (the ephemeral one when asked for port 0).
    public let port: UInt16
    public let units: [UInt8: ServedUnit]
    public let absentUnitReply: AbsentUnitReply

    private let listener: TCPListener
    private var stopSignal: StopSignal { listener.stopSignal }

    /// Binds and listens at once, so the port is known when this returns, then starts accepting.
    public init(
        host: String, port: UInt16, units: [ServedUnit],
        absentUnitReply: AbsentUnitReply = .gatewayException(afterSeconds: 0.2)
    ) throws(SystemCallError) {
        self.host = host
        self.units = Dictionary(units.map { ($0.unitID, $0) }, uniquingKeysWith: { first, _ in first })
        self.absentUnitReply = absentUnitReply
        listener = try TCPListener(host: host, port: port, firstConnectionID: 0)
        self.port = listener.port
        try listener.start { [self] id, fd in serve(connection: id, fd: fd) }
    }

    /// The number of client connections open now.
    public var connectionCount: Int { listener.connectionCount }

    /// Closes every client connection (each client sees the peer hang up); new ones are accepted.
    @discardableResult
    public func dropConnections() -> Int { listener.dropConnections() }

    /// Stops accepting, closes every connection and joins every thread. Idempotent.
    public func stop() { listener.stop() }

    private func serve(connection id: Int, fd: Int32) {
        var buffer: [UInt8] = []
        while stopSignal.wait(for: fd, timeoutSeconds: nil) == .readable {
            guard let bytes = readAvailable(fd) else { return }
            buffer += bytes
            parsing: while true {
                switch MBAPFrame.parse(buffer) {
                case .incomplete:
                    break parsing
                case .invalid:
                    return
                case .frame(let request, let consumed):
                    buffer.removeFirst(consumed)
                    guard answer(request, on: fd) else { return }
                }
            }
        }
    }

    /// Answers one request; false when the connection must close.
    private func answer(_ request: MBAPFrame, on fd: Int32) -> Bool {
        let reply = { (pdu: [UInt8]) in
            writeAll(fd, MBAPFrame(transactionID: request.transactionID, unitID: request.unitID, pdu: pdu).bytes, socket: true)
        }
        let gatewayFailure = ModbusPDUEngine.exception(request.pdu[0], .gatewayTargetFailedToRespond).response
        let disposition = units[request.unitID]?.handle(function: request.pdu[0], data: request.pdu.dropFirst()) ?? .offline
        switch disposition {
        case .offline:
            switch absentUnitReply {
            case .noReply:
                return true
            case .gatewayException(let seconds):
                guard stopSignal.sleep(until: monotonicSeconds() + seconds) else { return false }
                return reply(gatewayFailure)
            }
        case .silent:
            return true
        case .dropConnection:
            return false
        case .reply(let pdu, let distortion, let extraDelaySeconds):
            if extraDelaySeconds > 0, !stopSignal.sleep(until: monotonicSeconds() + extraDelaySeconds) {
                return false
            }
            switch distortion {
            case nil:
                return reply(pdu)
            case .corruptCRC:
                // A gateway discards a serial reply with a bad CRC and reports the target silent.
                return reply(gatewayFailure)
            case .truncated:
                let whole = MBAPFrame(transactionID: request.transactionID, unitID: request.unitID, pdu: pdu).bytes
                return writeAll(fd, Array(whole.prefix(max(1, whole.count / 2))), socket: true)
            }
        }
    }
}
