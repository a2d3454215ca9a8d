import Foundation

/// Everything isowatch knows about one kind of device, loaded from `hardware/profiles/ID.yaml`.
/// Vendor quirks (word order, scaling, validity bits, address base) live in that data and only
/// there: the code that polls, decodes and simulates is the same for every device.
public struct DeviceProfile: Sendable, Equatable {
    /// The file name without `.yaml`; configurations refer to the profile by it.
    public var id: String
    public var vendor: String
    public var model: String
    public var description: String
    public var transport: ProfileTransport
    /// Where each published quantity lives, in SI units after scaling.
    public var fields: [Quantity: RegisterField]
    /// Status bits the device raises for faults it detects itself.
    public var faultFlags: [FaultFlag]
    /// A u16 or u32 register that increments each time the device completes a measurement.
    public var updateCounter: RegisterField?
    /// Named numeric fields that are not a `Quantity`; decoded into `DecodedReading.auxiliary`.
    public var auxiliary: [String: RegisterField]
    /// Named registers the service may write (response values, test trigger, pulse period).
    /// They are not polled: a setting the service wants to read back is declared in `auxiliary`.
    public var parameters: [String: RegisterField]
    /// A ring of raw samples (the isowatch front-end's measuring current); see `SampleWindow`.
    public var sampleWindow: SampleWindow?

    public init(
        id: String, vendor: String, model: String, description: String,
        transport: ProfileTransport = ProfileTransport(),
        fields: [Quantity: RegisterField] = [:], faultFlags: [FaultFlag] = [],
        updateCounter: RegisterField? = nil, auxiliary: [String: RegisterField] = [:],
        parameters: [String: RegisterField] = [:], sampleWindow: SampleWindow? = nil
    ) {
        self.id = id
        self.vendor = vendor
        self.model = model
        self.description = description
        self.transport = transport
        self.fields = fields
        self.faultFlags = faultFlags
        self.updateCounter = updateCounter
        self.auxiliary = auxiliary
        self.parameters = parameters
        self.sampleWindow = sampleWindow
    }
}

/// Serial line parity.
public enum Parity: String, CaseIterable, Sendable, Hashable, Codable {
    case none = "N"
    case even = "E"
    case odd = "O"
}

/// Communication defaults of a device and the limits of its Modbus implementation.
public struct ProfileTransport: Sendable, Equatable {
    /// Factory unit id (slave address).
    public var unit: UInt8
    public var baud: Int
    public var parity: Parity
    public var dataBits: Int
    public var stopBits: Int
    /// Largest read of 16-bit registers the device answers (the protocol allows 125).
    public var maxRegistersPerRequest: Int
    /// Largest read of coils or discrete inputs the device answers (the protocol allows 2000).
    public var maxBitsPerRequest: Int
    /// Whether a read may span addresses the device does not map. Many devices answer such a
    /// read with exception 02 (illegal data address), so this is off unless the profile says so.
    public var allowGaps: Bool
    /// Largest run of unused addresses a merged read may span when `allowGaps` is set.
    public var maxGap: Int

    /// Modbus over serial line (V1.02) makes 19200 baud, even parity the default.
    public init(
        unit: UInt8 = 1, baud: Int = 19200, parity: Parity = .even, dataBits: Int = 8, stopBits: Int = 1,
        maxRegistersPerRequest: Int = 125, maxBitsPerRequest: Int = 2000, allowGaps: Bool = false,
        maxGap: Int = 0
    ) {
        self.unit = unit
        self.baud = baud
        self.parity = parity
        self.dataBits = dataBits
        self.stopBits = stopBits
        self.maxRegistersPerRequest = maxRegistersPerRequest
        self.maxBitsPerRequest = maxBitsPerRequest
        self.allowGaps = allowGaps
        self.maxGap = maxGap
    }
}

/// How a number is laid out in registers.
public enum RegisterValueType: String, CaseIterable, Sendable, Hashable {
    case u16, s16, u32, s32, f32
    /// One coil or discrete input, read as 0 or 1; the only type of the bit tables.
    case bit

    /// Registers (or bits) the value occupies.
    public var width: Int {
        switch self {
        case .u16, .s16, .bit: return 1
        case .u32, .s32, .f32: return 2
        }
    }

    public var isThirtyTwoBit: Bool { width == 2 }

    /// The raw values the type can hold.
    public var rawLimits: ClosedRange<Double> {
        switch self {
        case .u16: return 0...Double(UInt16.max)
        case .s16: return Double(Int16.min)...Double(Int16.max)
        case .u32: return 0...Double(UInt32.max)
        case .s32: return Double(Int32.min)...Double(Int32.max)
        case .f32: return -Double(Float.greatestFiniteMagnitude)...Double(Float.greatestFiniteMagnitude)
        case .bit: return 0...1
        }
    }

    static let registerTypes: [RegisterValueType] = [.u16, .s16, .u32, .s32, .f32]
}

/// Order of the four bytes A (most significant) to D of a 32-bit value across two registers.
public enum WordOrder: String, CaseIterable, Sendable, Hashable {
    /// Big-endian, high word first, as the Modbus application protocol specifies.
    case abcd = "ABCD"
    /// Low word first (the most common deviation).
    case cdab = "CDAB"
    /// High word first, bytes swapped within each word.
    case badc = "BADC"
    /// Fully little-endian.
    case dcba = "DCBA"
}

/// Device display limits in raw register units: a raw value at or beyond a limit means the true
/// value is at or beyond it ("< 10 kΩ", "> 999 kΩ"), not that it equals the limit.
public struct RawRange: Sendable, Equatable {
    public var min: Double
    public var max: Double

    public init(min: Double, max: Double) {
        self.min = min
        self.max = max
    }
}

/// One numeric field. Value in SI = raw × scale + offset.
public struct RegisterField: Sendable, Equatable {
    public var table: RegisterTable
    public var address: UInt16
    public var type: RegisterValueType
    /// Only meaningful for 32-bit types.
    public var wordOrder: WordOrder
    /// Positive; SI units per raw count.
    public var scale: Double
    public var offset: Double
    /// The unit the device's manual uses (documentation, shown in tools).
    public var nativeUnit: String?
    /// Raw values that mean "no value" (decoded as `.invalid`).
    public var noValue: [Double]
    public var range: RawRange?
    /// Where the device states the validity of this value (quantities only).
    public var validity: ValiditySource?

    public init(
        table: RegisterTable, address: UInt16, type: RegisterValueType = .u16, wordOrder: WordOrder = .abcd,
        scale: Double = 1, offset: Double = 0, nativeUnit: String? = nil, noValue: [Double] = [],
        range: RawRange? = nil, validity: ValiditySource? = nil
    ) {
        self.table = table
        self.address = address
        self.type = type
        self.wordOrder = wordOrder
        self.scale = scale
        self.offset = offset
        self.nativeUnit = nativeUnit
        self.noValue = noValue
        self.range = range
        self.validity = validity
    }

    /// The registers (or bits) this field occupies.
    public var block: RegisterBlock {
        RegisterBlock(table: table, address: address, count: UInt16(type.width))
    }
}

/// A bit-field that says how far the device vouches for a value, such as the validity bits of
/// Bender's unit-and-validity byte. The field is `(word & mask) >> mask.trailingZeroBitCount`.
public struct ValiditySource: Sendable, Equatable {
    public var table: RegisterTable
    public var address: UInt16
    public var mask: UInt16
    /// Field value → validity. A value not listed decodes as `.invalid`.
    public var codes: [UInt16: Validity]

    public init(table: RegisterTable, address: UInt16, mask: UInt16, codes: [UInt16: Validity]) {
        self.table = table
        self.address = address
        self.mask = mask
        self.codes = codes
    }

    var shift: Int { mask == 0 ? 0 : mask.trailingZeroBitCount }

    /// The field value to write for `validity`: the smallest code meaning it, else the code for
    /// `.invalid` (a device that cannot say "below range" at least must not say "actual").
    func code(for validity: Validity) -> UInt16? {
        let matching = codes.filter { $0.value == validity }.map(\.key).min()
        return matching ?? codes.filter { $0.value == .invalid }.map(\.key).min()
    }
}

/// A status bit that raises a `Fault`.
public struct FaultFlag: Sendable, Equatable {
    public var fault: Fault
    public var table: RegisterTable
    public var address: UInt16
    /// Bit 0-15 of a register; nil for coils and discrete inputs.
    public var bit: Int?
    /// The fault is present when the bit is 0 (a "healthy" bit that drops on failure).
    public var inverted: Bool

    public init(fault: Fault, table: RegisterTable, address: UInt16, bit: Int? = nil, inverted: Bool = false) {
        self.fault = fault
        self.table = table
        self.address = address
        self.bit = bit
        self.inverted = inverted
    }
}

/// A ring buffer of raw samples a device publishes at a fixed address, read in one request
/// together with the profile's update counter, which counts the samples produced so far.
/// Sample number k (counting from 0, modulo 2^32) sits in slot k mod `length`; `length` is a power
/// of two so that this stays true when the 32-bit counter wraps.
public struct SampleWindow: Sendable, Equatable {
    /// Name of the sampled signal, with its SI unit (e.g. `measuring_current_amperes`).
    public var name: String
    /// Number of slots, a power of two.
    public var length: Int
    /// One slot's layout, scale and "no value" codes; its `address` is slot 0.
    public var sample: RegisterField
    /// First register of a bitmap with one bit per slot (bit `slot % 16` of register
    /// `slot / 16`): 1 when the measuring voltage was positive during that sample.
    public var polarityBitmapAddress: UInt16?

    public init(name: String, sample: RegisterField, length: Int, polarityBitmapAddress: UInt16? = nil) {
        self.name = name
        self.length = length
        self.sample = sample
        self.polarityBitmapAddress = polarityBitmapAddress
    }

    public var table: RegisterTable { sample.table }

    /// Registers that hold the samples.
    public var sampleBlock: RegisterBlock {
        RegisterBlock(table: table, address: sample.address, count: UInt16(length * sample.type.width))
    }

    /// Registers that hold the polarity bitmap, if any.
    public var polarityBlock: RegisterBlock? {
        polarityBitmapAddress.map { RegisterBlock(table: table, address: $0, count: UInt16((length + 15) / 16)) }
    }
}
