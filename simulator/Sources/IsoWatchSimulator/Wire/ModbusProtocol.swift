import IsoWatchCore

/// The public function codes the simulator serves (Modbus Application Protocol V1.1b3, §6).
public enum ModbusFunction: UInt8, Sendable, CaseIterable {
    case readCoils = 0x01
    case readDiscreteInputs = 0x02
    case readHoldingRegisters = 0x03
    case readInputRegisters = 0x04
    case writeSingleCoil = 0x05
    case writeSingleRegister = 0x06
    case diagnostics = 0x08
    case writeMultipleCoils = 0x0F
    case writeMultipleRegisters = 0x10

    /// The table a read or write function addresses; nil for diagnostics.
    public var table: RegisterTable? {
        switch self {
        case .readCoils, .writeSingleCoil, .writeMultipleCoils: .coil
        case .readDiscreteInputs: .discrete
        case .readHoldingRegisters, .writeSingleRegister, .writeMultipleRegisters: .holding
        case .readInputRegisters: .input
        case .diagnostics: nil
        }
    }

    public var isWrite: Bool {
        switch self {
        case .writeSingleCoil, .writeSingleRegister, .writeMultipleCoils, .writeMultipleRegisters: true
        default: false
        }
    }
}

/// An exception code of a Modbus exception reply. A struct rather than an enum because a test bench
/// may inject any code, including ones the specification reserves.
public struct ModbusExceptionCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let illegalFunction = Self(rawValue: 0x01)
    public static let illegalDataAddress = Self(rawValue: 0x02)
    public static let illegalDataValue = Self(rawValue: 0x03)
    public static let serverDeviceFailure = Self(rawValue: 0x04)
    public static let serverDeviceBusy = Self(rawValue: 0x06)
    public static let gatewayPathUnavailable = Self(rawValue: 0x0A)
    /// What a TCP-to-RTU gateway answers when the serial device behind it stays silent.
    public static let gatewayTargetFailedToRespond = Self(rawValue: 0x0B)

    public var description: String { "exception 0x" + String(rawValue, radix: 16, uppercase: true) }
}

/// Quantity limits per request (Modbus Application Protocol V1.1b3, §6.1-6.12). They keep every
/// reply inside the 253-byte PDU that both RTU and TCP framing allow.
public enum ModbusLimits {
    public static let maxReadRegisters = 125
    public static let maxReadBits = 2000
    public static let maxWriteRegisters = 123
    public static let maxWriteBits = 1968
    public static let maxPDUBytes = 253
}

/// A write a client made into a unit's image, reported to the device behind it (the front-end
/// accepts a commanded pulse half-period this way). Bits of coil writes are 0 or 1.
public struct RegisterWrite: Sendable, Equatable {
    public var table: RegisterTable
    public var address: UInt16
    public var values: [UInt16]

    public init(table: RegisterTable, address: UInt16, values: [UInt16]) {
        self.table = table
        self.address = address
        self.values = values
    }
}
