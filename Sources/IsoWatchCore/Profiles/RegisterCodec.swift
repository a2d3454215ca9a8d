import Foundation

// Raw register words ↔ raw numbers. Word and byte order are handled here in Swift because
// libmodbus 3.1.6's modbus_get/set_float_* helpers get some orders wrong (engineering.md).

extension WordOrder {
    /// The 32-bit value whose bytes A (most significant) to D are spread over `words`.
    public func assemble(_ first: UInt16, _ second: UInt16) -> UInt32 {
        let (high, low): (UInt16, UInt16)
        switch self {
        case .abcd: (high, low) = (first, second)
        case .cdab: (high, low) = (second, first)
        case .badc: (high, low) = (first.byteSwapped, second.byteSwapped)
        case .dcba: (high, low) = (second.byteSwapped, first.byteSwapped)
        }
        return UInt32(high) << 16 | UInt32(low)
    }

    /// The two registers, in address order, that carry `value`.
    public func split(_ value: UInt32) -> [UInt16] {
        let high = UInt16(truncatingIfNeeded: value >> 16)
        let low = UInt16(truncatingIfNeeded: value)
        switch self {
        case .abcd: return [high, low]
        case .cdab: return [low, high]
        case .badc: return [high.byteSwapped, low.byteSwapped]
        case .dcba: return [low.byteSwapped, high.byteSwapped]
        }
    }
}

/// 10^0 ... 10^22: every one is exact in a double (5^22 < 2^53).
private let exactPowersOfTen: [Double] = (0...22).reduce(into: []) { powers, k in
    powers.append(k == 0 ? 1 : powers[k - 1] * 10)
}

extension RegisterField {
    /// The raw number in `words` (exactly `type.width` of them). For f32 it may be non-finite.
    public func rawValue(from words: [UInt16]) -> Double {
        switch type {
        case .u16: return Double(words[0])
        case .s16: return Double(Int16(bitPattern: words[0]))
        case .bit: return words[0] == 0 ? 0 : 1
        case .u32: return Double(wordOrder.assemble(words[0], words[1]))
        case .s32: return Double(Int32(bitPattern: wordOrder.assemble(words[0], words[1])))
        case .f32:
            // A float32 carries about 7 significant digits. Widening it bit for bit turns the 0.9 µF
            // a device sent into 0.8999999761581421; the shortest decimal that reads back as the
            // same float32 is the value the device meant.
            let single = Float(bitPattern: wordOrder.assemble(words[0], words[1]))
            guard single.isFinite else { return Double(single) }
            return Double(single.description) ?? Double(single)
        }
    }

    /// The words for a raw number already within the type's limits (NaN allowed for f32).
    public func words(forRaw raw: Double) -> [UInt16] {
        switch type {
        case .u16: return [UInt16(raw)]
        case .s16: return [UInt16(bitPattern: Int16(raw))]
        case .bit: return [raw == 0 ? 0 : 1]
        case .u32: return wordOrder.split(UInt32(raw))
        case .s32: return wordOrder.split(UInt32(bitPattern: Int32(raw)))
        case .f32: return wordOrder.split(Float(raw).bitPattern)
        }
    }

    public func siValue(raw: Double) -> Double {
        powerOfTenSIValue(raw: raw) ?? decimalSIValue(raw: raw)
    }

    /// The common cases on the poll path, without decimal arithmetic: no offset, and either a
    /// scale of 1 or a scale that is a power of ten (0.1 A, 1e-6 F, 1000 Ω). Nil when that does
    /// not hold. Both ways give the double that `decimalSIValue` gives, bit for bit:
    /// - a whole raw count: `raw / 10^k` or `raw × 10^k` is one IEEE operation on two exact
    ///   operands, rounded once, as the exact decimal product is;
    /// - a fraction (an f32 reading, which arrives as its shortest decimal): that decimal with its
    ///   exponent moved by k is the exact product, and parsing it rounds it once.
    public func powerOfTenSIValue(raw: Double) -> Double? {
        guard offset == 0 else { return nil }
        // × 1 is exact for every double, whole or not (the f32 values of most devices).
        if scale == 1 { return raw }
        guard raw.isFinite, scale > 0, scale.isFinite else { return nil }
        let exponent = log10(scale).rounded()
        guard abs(exponent) <= 22 else { return nil }
        let power = exactPowersOfTen[Int(abs(exponent))]
        // A scale read as "0.01" is the double nearest 1/100, which is what 1 / 100 rounds to.
        guard exponent > 0 ? scale == power : scale == 1 / power else { return nil }
        if raw == raw.rounded(), abs(raw) <= 9_007_199_254_740_992 {
            return exponent > 0 ? raw * power : raw / power
        }
        return Self.moveDecimalPoint(of: raw, by: Int(exponent))
    }

    /// `raw` × 10^places, by writing the shortest decimal of `raw` with its exponent changed.
    static func moveDecimalPoint(of raw: Double, by places: Int) -> Double? {
        let text = raw.description
        guard let marker = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else { return Double("\(text)e\(places)") }
        guard let written = Int(text[text.index(after: marker)...]) else { return nil }
        return Double("\(text[..<marker])e\(written + places)")
    }

    /// The reference: exact decimal arithmetic on the shortest decimal forms, rounded once.
    public func decimalSIValue(raw: Double) -> Double {
        // Scales such as 0.1 A or 1e-6 F have no exact binary form: 142 × 0.1 gives
        // 14.200000000000001. The product of the two short decimals, taken exactly and then
        // rounded once to the nearest double, is the value the device meant (14.2).
        let binary = raw * scale + offset
        guard binary.isFinite, let exactRaw = Decimal(string: "\(raw)"), let exactScale = Decimal(string: "\(scale)"),
            let exactOffset = Decimal(string: "\(offset)")
        else { return binary }
        return Double("\(exactRaw * exactScale + exactOffset)") ?? binary
    }

    /// The raw number nearest to `siValue` that the type can hold: rounded to a whole count
    /// for integer types, saturated at the type's limits.
    public func raw(forSIValue siValue: Double) -> Double {
        var raw = (siValue - offset) / scale
        if raw.isNaN { return type == .f32 ? .nan : 0 }
        if type != .f32 { raw = raw.rounded(.toNearestOrAwayFromZero) }
        return Swift.min(Swift.max(raw, type.rawLimits.lowerBound), type.rawLimits.upperBound)
    }

    /// Whether the raw number is one of the field's "no value" codes. Codes of f32 fields compare
    /// as 32-bit floats, because that is the precision the device sent them in.
    func isNoValue(_ raw: Double) -> Bool {
        if type == .f32 { return noValue.contains { Float($0) == Float(raw) } }
        return noValue.contains(raw)
    }
}
