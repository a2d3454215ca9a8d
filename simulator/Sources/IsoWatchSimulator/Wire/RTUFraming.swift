import IsoWatchCore

/// Character framing of a serial line, which sets how long a frame takes on the wire.
public struct SerialLine: Sendable, Equatable {
    public var baud: Int
    public var parity: Parity
    public var dataBits: Int
    public var stopBits: Int

    public init(baud: Int = 19200, parity: Parity = .even, dataBits: Int = 8, stopBits: Int = 1) {
        self.baud = baud
        self.parity = parity
        self.dataBits = dataBits
        self.stopBits = stopBits
    }

    /// Start bit, data bits, parity bit, stop bits: 11 for 8E1, 8O1 and 8N2, 10 for 8N1.
    public var bitsPerCharacter: Int { 1 + dataBits + (parity == .none ? 0 : 1) + stopBits }

    public var characterSeconds: Double { Double(bitsPerCharacter) / Double(baud) }

    /// The silent interval that ends a frame. Above 19200 baud the specification fixes it at
    /// 1.75 ms instead of 3.5 characters (Modbus over Serial Line V1.02, §2.5.1.1).
    public var frameGapSeconds: Double { baud > 19200 ? 0.00175 : 3.5 * characterSeconds }

    /// "8E1" and the like.
    public var notation: String { "\(dataBits)\(parity.rawValue)\(stopBits)" }

    /// How long after the master's request went out its whole reply is in: the request on the
    /// wire, the gap that tells the slave the request has ended, the slave's turnaround, the reply.
    public func exchangeSeconds(requestBytes: Int, replyBytes: Int, turnaroundSeconds: Double) -> Double {
        Double(requestBytes + replyBytes) * characterSeconds + frameGapSeconds + turnaroundSeconds
    }
}

/// Finding request frames in the byte stream a slave receives.
public enum RTUFraming {
    /// The length of the request frame that starts `buffer` (address, function, data, CRC), when
    /// the function code fixes it and enough of the header is in; nil otherwise, in which case only
    /// the silent interval can end the frame.
    public static func requestLength(_ buffer: some Collection<UInt8>) -> Int? {
        guard buffer.count >= 2 else { return nil }
        let function = buffer[buffer.index(buffer.startIndex, offsetBy: 1)]
        switch function {
        case 0x01...0x06, 0x08:
            return 8
        case 0x0F, 0x10:
            guard buffer.count >= 7 else { return nil }
            return 9 + Int(buffer[buffer.index(buffer.startIndex, offsetBy: 6)])
        default:
            return nil
        }
    }
}
