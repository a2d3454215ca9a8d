/// A fault on the wire of one unit, injected by a test bench to exercise the service's error
/// handling. It stays in force until cleared, or for `remainingRequests` requests when set.
public struct WireFault: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Every request is answered with this exception code and changes nothing.
        case exception(ModbusExceptionCode)
        /// The request is lost: nothing executes, nothing answers (the client times out).
        case noReply
        /// The request executes, but the reply's CRC is wrong. On TCP, where there is no CRC, the
        /// simulator behaves like a gateway whose serial device answered garbage: exception 0x0B.
        case crcError
        /// The request executes, but only the first half of the reply is sent.
        case truncatedFrame
        /// The request executes and the reply comes this much later than it would.
        case delay(seconds: Double)
        /// TCP: the server closes the connection instead of answering. RTU has no connection to
        /// drop, so there it acts like `noReply`.
        case dropConnection
    }

    public var kind: Kind
    /// How many more requests the fault affects; nil keeps it until it is cleared.
    public var remainingRequests: Int?

    public init(_ kind: Kind, remainingRequests: Int? = nil) {
        self.kind = kind
        self.remainingRequests = remainingRequests
    }
}

extension WireFault.Kind {
    /// The snake_case name used by the site file and the control API.
    public var name: String {
        switch self {
        case .exception: "exception"
        case .noReply: "no_reply"
        case .crcError: "crc_error"
        case .truncatedFrame: "truncated_frame"
        case .delay: "delay"
        case .dropConnection: "drop_connection"
        }
    }

    public static let names = ["exception", "no_reply", "crc_error", "truncated_frame", "delay", "drop_connection"]
}

/// The flat JSON form: `{"kind": "exception", "exception_code": 4}`, `{"kind": "delay",
/// "delay_seconds": 0.3}`, `{"kind": "crc_error", "count": 2}`.
extension WireFault: Codable {
    private enum CodingKeys: String, CodingKey {
        case kind
        case exceptionCode = "exception_code"
        case delaySeconds = "delay_seconds"
        case count
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .kind)
        let count = try container.decodeIfPresent(Int.self, forKey: .count)
        if let count, count < 1 {
            throw DecodingError.dataCorruptedError(
                forKey: .count, in: container, debugDescription: "count must be at least 1, got \(count)")
        }
        let kind: Kind
        switch name {
        case "exception":
            let code = try container.decodeIfPresent(UInt8.self, forKey: .exceptionCode) ?? 0x04
            guard code != 0 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .exceptionCode, in: container, debugDescription: "exception_code must be 1...255")
            }
            kind = .exception(ModbusExceptionCode(rawValue: code))
        case "no_reply": kind = .noReply
        case "crc_error": kind = .crcError
        case "truncated_frame": kind = .truncatedFrame
        case "delay":
            let seconds = try container.decode(Double.self, forKey: .delaySeconds)
            guard seconds.isFinite, (0...60).contains(seconds) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .delaySeconds, in: container, debugDescription: "delay_seconds must be 0...60, got \(seconds)")
            }
            kind = .delay(seconds: seconds)
        case "drop_connection": kind = .dropConnection
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container,
                debugDescription: "unknown kind '\(name)'; expected one of \(Kind.names.joined(separator: ", "))")
        }
        self.init(kind, remainingRequests: count)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind.name, forKey: .kind)
        switch kind {
        case .exception(let code): try container.encode(code.rawValue, forKey: .exceptionCode)
        case .delay(let seconds): try container.encode(seconds, forKey: .delaySeconds)
        default: break
        }
        try container.encodeIfPresent(remainingRequests, forKey: .count)
    }
}
