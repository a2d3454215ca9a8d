/// A Modbus TCP application data unit: the 7-byte MBAP header and the PDU (Modbus Messaging on
/// TCP/IP Implementation Guide V1.0b, §3.1.3).
public struct MBAPFrame: Sendable, Equatable {
    public var transactionID: UInt16
    public var unitID: UInt8
    public var pdu: [UInt8]

    public static let headerLength = 7
    /// The length field counts the unit id and the PDU; a PDU is 1...253 bytes.
    static let lengthFieldRange = 2...(1 + ModbusLimits.maxPDUBytes)

    public init(transactionID: UInt16, unitID: UInt8, pdu: [UInt8]) {
        self.transactionID = transactionID
        self.unitID = unitID
        self.pdu = pdu
    }

    public var bytes: [UInt8] {
        let length = UInt16(pdu.count + 1)
        return [
            UInt8(transactionID >> 8), UInt8(transactionID & 0xFF), 0, 0,
            UInt8(length >> 8), UInt8(length & 0xFF), unitID,
        ] + pdu
    }

    public enum Parse: Sendable, Equatable {
        case incomplete
        case frame(MBAPFrame, consumed: Int)
        /// The stream cannot be trusted any more (wrong protocol id or length): close it, since
        /// TCP offers no way to find the next frame boundary.
        case invalid(String)
    }

    /// The first frame at the start of `buffer`.
    public static func parse(_ buffer: [UInt8]) -> Parse {
        guard buffer.count >= headerLength else { return .incomplete }
        let protocolID = UInt16(buffer[2]) << 8 | UInt16(buffer[3])
        guard protocolID == 0 else { return .invalid("protocol id \(protocolID), expected 0 (Modbus)") }
        let length = Int(UInt16(buffer[4]) << 8 | UInt16(buffer[5]))
        guard lengthFieldRange.contains(length) else {
            return .invalid("length field \(length), expected \(lengthFieldRange.lowerBound)...\(lengthFieldRange.upperBound)")
        }
        let total = 6 + length
        guard buffer.count >= total else { return .incomplete }
        let frame = MBAPFrame(
            transactionID: UInt16(buffer[0]) << 8 | UInt16(buffer[1]), unitID: buffer[6],
            pdu: Array(buffer[headerLength..<total]))
        return .frame(frame, consumed: total)
    }
}
