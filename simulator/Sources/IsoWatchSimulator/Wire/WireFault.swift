/// A fault on the wire of one unit, injected by a test bench to exercise the service's error
/// handling. It stays in force until cleared, or for `remainingRequests` requests when set.
/// With a `probability` it strikes only that share of requests, drawn from `seed`, so a fault
/// suite run at a given rate replays request for request.
public struct WireFault: Sendable {
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
    /// How many more requests the fault affects; nil keeps it until it is cleared. Requests a
    /// probabilistic fault spares do not count.
    public var remainingRequests: Int?
    /// The chance, in (0, 1], that a request is affected; nil affects every request.
    public var probability: Double?
    /// Seeds the draws of a probabilistic fault; nil derives the seed from the unit id, so units
    /// given the same fault do not all fail on the same requests.
    public var seed: UInt64?
    /// How many draws were made so far. The n-th draw is SplitMix64's n-th output from the seed,
    /// kept as a counter so the fault stays a plain value whatever unit it is later moved to.
    private var draws: UInt64 = 0

    /// - Precondition: `probability`, when given, is finite and in (0, 1]; decoding checks it
    ///   with a message, code that builds a fault by hand gets a crash rather than a fault that
    ///   silently never (or always) fires.
    public init(_ kind: Kind, remainingRequests: Int? = nil, probability: Double? = nil, seed: UInt64? = nil) {
        if let probability { precondition(Self.isValid(probability: probability), "probability must be in (0, 1]") }
        self.kind = kind
        self.remainingRequests = remainingRequests
        self.probability = probability
        self.seed = seed
    }

    public static func isValid(probability: Double) -> Bool {
        probability.isFinite && probability > 0 && probability <= 1
    }

    /// Decides whether the fault strikes the next request of unit `unitID`, and advances the draws.
    /// Without a probability every request is struck and nothing is drawn.
    public mutating func strikesNextRequest(unitID: UInt8) -> Bool {
        guard let probability else { return true }
        let base = seed ?? SplitMix64.mix(0x6973_6F77_6174_6368 ^ UInt64(unitID))
        var generator = SplitMix64(seed: base &+ draws &* 0x9E37_79B9_7F4A_7C15)
        draws &+= 1
        return generator.nextUnitInterval() < probability
    }
}

/// Two faults are equal when they are set the same way; how far a probabilistic one has drawn is
/// its progress, not its setting.
extension WireFault: Equatable {
    public static func == (lhs: WireFault, rhs: WireFault) -> Bool {
        lhs.kind == rhs.kind && lhs.remainingRequests == rhs.remainingRequests && lhs.probability == rhs.probability
            && lhs.seed == rhs.seed
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
/// "delay_seconds": 0.3}`, `{"kind": "crc_error", "count": 2}`, `{"kind": "no_reply",
/// "probability": 0.2, "seed": 7}`.
extension WireFault: Codable {
    /// The keys of the flat form, for readers that refuse unknown ones (site and scenario files).
    public static let fieldNames = CodingKeys.allCases.map(\.stringValue)

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case kind
        case exceptionCode = "exception_code"
        case delaySeconds = "delay_seconds"
        case count
        case probability
        case seed
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .kind)
        let count = try container.decodeIfPresent(Int.self, forKey: .count)
        if let count, count < 1 {
            throw DecodingError.dataCorruptedError(
                forKey: .count, in: container, debugDescription: "count must be at least 1, got \(count)")
        }
        let probability = try container.decodeIfPresent(Double.self, forKey: .probability)
        if let probability, !Self.isValid(probability: probability) {
            throw DecodingError.dataCorruptedError(
                forKey: .probability, in: container,
                debugDescription: "probability must be above 0 and at most 1, got \(probability)")
        }
        let seed = try container.decodeIfPresent(UInt64.self, forKey: .seed)
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
        self.init(kind, remainingRequests: count, probability: probability, seed: seed)
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
        try container.encodeIfPresent(probability, forKey: .probability)
        try container.encodeIfPresent(seed, forKey: .seed)
    }
}
