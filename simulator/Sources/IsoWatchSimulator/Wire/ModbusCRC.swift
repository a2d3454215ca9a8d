/// The CRC-16 that closes every Modbus RTU frame (Modbus over Serial Line V1.02, §6.2.2):
/// reflected polynomial 0xA001, initial value 0xFFFF, transmitted low byte first.
public enum ModbusCRC {
    private static let table: [UInt16] = (0...255).map { byte in
        var crc = UInt16(byte)
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? (crc >> 1) ^ 0xA001 : crc >> 1
        }
        return crc
    }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0xFFFF
        for byte in bytes {
            crc = (crc >> 8) ^ table[Int((crc ^ UInt16(byte)) & 0xFF)]
        }
        return crc
    }

    /// The frame followed by its CRC, low byte first.
    public static func sealed(_ frame: [UInt8]) -> [UInt8] {
        let crc = checksum(frame)
        return frame + [UInt8(crc & 0xFF), UInt8(crc >> 8)]
    }

    /// Whether the last two bytes of `frame` are the CRC of the bytes before them.
    public static func isIntact(_ frame: some Collection<UInt8>) -> Bool {
        guard frame.count >= 4 else { return false }
        let body = frame.dropLast(2)
        let crc = checksum(body)
        let trailer = Array(frame.suffix(2))
        return trailer[0] == UInt8(crc & 0xFF) && trailer[1] == UInt8(crc >> 8)
    }
}
