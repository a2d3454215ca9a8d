import IsoWatchCore

/// Answers one request PDU against one unit's register image. Pure: no I/O, no clock, no lock;
/// the transports own framing and timing, the unit owns the lock around the image.
///
/// Checks follow the order of the specification's state diagrams (Modbus Application Protocol
/// V1.1b3, §6): function supported (else 01), quantity and byte count (else 03), every address
/// of the range present in the image (else 02). A write that fails a check changes nothing.
public enum ModbusPDUEngine {
    public struct Outcome: Sendable, Equatable {
        /// The reply PDU: function code and data, or function code | 0x80 and an exception code.
        public var response: [UInt8]
        /// What the request wrote into the image; empty for reads and exceptions.
        public var writes: [RegisterWrite]

        public var exceptionCode: ModbusExceptionCode? {
            response.count == 2 && response[0] & 0x80 != 0 ? ModbusExceptionCode(rawValue: response[1]) : nil
        }
    }

    public static func respond(function code: UInt8, data: ArraySlice<UInt8>, image: inout RegisterImage) -> Outcome {
        guard let function = ModbusFunction(rawValue: code) else {
            return exception(code, .illegalFunction)
        }
        let data = Array(data)
        switch function {
        case .readCoils, .readDiscreteInputs:
            return readBits(function, data, image)
        case .readHoldingRegisters, .readInputRegisters:
            return readRegisters(function, data, image)
        case .writeSingleCoil:
            return writeSingleCoil(data, &image)
        case .writeSingleRegister:
            return writeSingleRegister(data, &image)
        case .writeMultipleCoils:
            return writeMultipleCoils(data, &image)
        case .writeMultipleRegisters:
            return writeMultipleRegisters(data, &image)
        case .diagnostics:
            // Only sub-function 0 (return query data) is served; it echoes the request unchanged.
            guard data.count >= 2, word(data, 0) == 0 else { return exception(code, .illegalFunction) }
            return Outcome(response: [code] + data, writes: [])
        }
    }

    public static func exception(_ function: UInt8, _ code: ModbusExceptionCode) -> Outcome {
        Outcome(response: [function | 0x80, code.rawValue], writes: [])
    }

    private static func readBits(_ function: ModbusFunction, _ data: [UInt8], _ image: RegisterImage) -> Outcome {
        guard data.count == 4 else { return exception(function.rawValue, .illegalDataValue) }
        let address = word(data, 0)
        let count = Int(word(data, 2))
        guard (1...ModbusLimits.maxReadBits).contains(count) else {
            return exception(function.rawValue, .illegalDataValue)
        }
        guard let bits = present(image, function.table!, address, count) else {
            return exception(function.rawValue, .illegalDataAddress)
        }
        let packed = packBits(bits)
        return Outcome(response: [function.rawValue, UInt8(packed.count)] + packed, writes: [])
    }

    private static func readRegisters(_ function: ModbusFunction, _ data: [UInt8], _ image: RegisterImage) -> Outcome {
        guard data.count == 4 else { return exception(function.rawValue, .illegalDataValue) }
        let address = word(data, 0)
        let count = Int(word(data, 2))
        guard (1...ModbusLimits.maxReadRegisters).contains(count) else {
            return exception(function.rawValue, .illegalDataValue)
        }
        guard let words = present(image, function.table!, address, count) else {
            return exception(function.rawValue, .illegalDataAddress)
        }
        var response: [UInt8] = [function.rawValue, UInt8(count * 2)]
        for value in words { response += [UInt8(value >> 8), UInt8(value & 0xFF)] }
        return Outcome(response: response, writes: [])
    }

    private static func writeSingleCoil(_ data: [UInt8], _ image: inout RegisterImage) -> Outcome {
        let code = ModbusFunction.writeSingleCoil.rawValue
        guard data.count == 4 else { return exception(code, .illegalDataValue) }
        let address = word(data, 0)
        // §6.5: only 0xFF00 (on) and 0x0000 (off) are legal output values.
        let bit: UInt16
        switch word(data, 2) {
        case 0xFF00: bit = 1
        case 0x0000: bit = 0
        default: return exception(code, .illegalDataValue)
        }
        guard image[.coil, address] != nil else { return exception(code, .illegalDataAddress) }
        image[.coil, address] = bit
        return Outcome(response: [code] + data, writes: [RegisterWrite(table: .coil, address: address, values: [bit])])
    }

    private static func writeSingleRegister(_ data: [UInt8], _ image: inout RegisterImage) -> Outcome {
        let code = ModbusFunction.writeSingleRegister.rawValue
        guard data.count == 4 else { return exception(code, .illegalDataValue) }
        let address = word(data, 0)
        let value = word(data, 2)
        guard image[.holding, address] != nil else { return exception(code, .illegalDataAddress) }
        image[.holding, address] = value
        return Outcome(
            response: [code] + data, writes: [RegisterWrite(table: .holding, address: address, values: [value])])
    }

    private static func writeMultipleCoils(_ data: [UInt8], _ image: inout RegisterImage) -> Outcome {
        let code = ModbusFunction.writeMultipleCoils.rawValue
        guard data.count >= 5 else { return exception(code, .illegalDataValue) }
        let address = word(data, 0)
        let count = Int(word(data, 2))
        let byteCount = Int(data[4])
        guard (1...ModbusLimits.maxWriteBits).contains(count), byteCount == (count + 7) / 8,
            data.count == 5 + byteCount
        else { return exception(code, .illegalDataValue) }
        guard present(image, .coil, address, count) != nil else { return exception(code, .illegalDataAddress) }
        let bits = (0..<count).map { index in UInt16((data[5 + index / 8] >> UInt8(index % 8)) & 1) }
        image.set(.coil, address, words: bits)
        return Outcome(
            response: [code] + data[0..<4], writes: [RegisterWrite(table: .coil, address: address, values: bits)])
    }

    private static func writeMultipleRegisters(_ data: [UInt8], _ image: inout RegisterImage) -> Outcome {
        let code = ModbusFunction.writeMultipleRegisters.rawValue
        guard data.count >= 5 else { return exception(code, .illegalDataValue) }
        let address = word(data, 0)
        let count = Int(word(data, 2))
        let byteCount = Int(data[4])
        guard (1...ModbusLimits.maxWriteRegisters).contains(count), byteCount == count * 2,
            data.count == 5 + byteCount
        else { return exception(code, .illegalDataValue) }
        guard present(image, .holding, address, count) != nil else { return exception(code, .illegalDataAddress) }
        let values = (0..<count).map { index in word(data, 5 + index * 2) }
        image.set(.holding, address, words: values)
        return Outcome(
            response: [code] + data[0..<4], writes: [RegisterWrite(table: .holding, address: address, values: values)])
    }

    /// The cells of a range, or nil when the range runs past 0xFFFF or any address is absent.
    private static func present(_ image: RegisterImage, _ table: RegisterTable, _ address: UInt16, _ count: Int)
        -> [UInt16]?
    {
        guard Int(address) + count <= 0x10000 else { return nil }
        return image.words(table, address, count: count)
    }

    private static func word(_ data: [UInt8], _ offset: Int) -> UInt16 {
        UInt16(data[offset]) << 8 | UInt16(data[offset + 1])
    }

    /// Bits packed least significant first, as coils and discrete inputs travel (§6.1).
    private static func packBits(_ bits: [UInt16]) -> [UInt8] {
        var packed = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (index, bit) in bits.enumerated() where bit != 0 {
            packed[index / 8] |= 1 << UInt8(index % 8)
        }
        return packed
    }
}
