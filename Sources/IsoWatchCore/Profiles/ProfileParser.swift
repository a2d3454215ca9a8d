import Foundation
import Yams

// Reads one device-profile file. The schema is documented in hardware/profiles/README.md; keep
// the two in step.

extension DeviceProfile {
    /// Parses the text of one profile file. `fileName` is used in messages; when `expectedID` is
    /// given (the file name without `.yaml`), the profile's `id` must equal it.
    public static func parse(yaml: String, fileName: String, expectedID: String? = nil) throws(ConfigurationErrors)
        -> DeviceProfile
    {
        let diagnostics = YAMLDiagnostics(file: fileName)
        let profile = diagnostics.compose(yaml).flatMap { root in
            ProfileParser(diagnostics: diagnostics).profile(
                YAMLValue(node: root, path: "", diagnostics: diagnostics), expectedID: expectedID)
        }
        guard diagnostics.errors.isEmpty, let profile else {
            throw ConfigurationErrors(diagnostics.errors)
        }
        return profile
    }
}

/// Standard Modbus serial rates.
let standardBaudRates = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]

private struct ProfileParser {
    let diagnostics: YAMLDiagnostics

    /// What a register field is used for decides which keys it accepts.
    enum FieldRole {
        case quantity, auxiliary, parameter, counter, sample
    }

    static let topKeys = [
        "id", "vendor", "model", "description", "transport", "fields", "faults", "update_counter", "auxiliary",
        "parameters", "sample_window",
    ]
    static let transportKeys = [
        "unit", "baud", "parity", "data_bits", "stop_bits", "max_registers_per_request", "max_bits_per_request",
        "allow_gaps", "max_gap",
    ]
    static let tables = RegisterTable.allCases.map { ($0.rawValue, $0) }
    static let validities: [(String, Validity)] = [
        ("actual", .actual), ("below_range", .belowRange), ("above_range", .aboveRange), ("invalid", .invalid),
    ]

    func profile(_ root: YAMLValue, expectedID: String?) -> DeviceProfile? {
        guard let top = root.mapping(allowedKeys: Self.topKeys) else { return nil }
        let id = top.required("id").flatMap { value -> String? in
            guard let id = value.string() else { return nil }
            guard isIdentifier(id) else {
                value.report("must be lower-case letters, digits and '-', got '\(id)'")
                return nil
            }
            if let expectedID, id != expectedID {
                value.report("must equal the file name without .yaml ('\(expectedID)'), got '\(id)'")
            }
            return id
        }
        let vendor = top.required("vendor")?.string()
        let model = top.required("model")?.string()
        let description = top["description"]?.string() ?? ""
        let transport = top["transport"].map(transportDefaults) ?? ProfileTransport()

        var fields: [Quantity: RegisterField] = [:]
        if let mapping = top["fields"]?.mapping(allowedKeys: Quantity.allCases.map(\.rawValue)) {
            for entry in mapping.entries where !entry.value.isNull {
                guard let quantity = Quantity(rawValue: entry.key),
                    let field = registerField(entry.value, role: .quantity)
                else { continue }
                fields[quantity] = field
            }
        }
        let faultFlags = top["faults"]?.sequence()?.compactMap(faultFlag) ?? []
        let updateCounter = top["update_counter"].flatMap { registerField($0, role: .counter) }
        let auxiliary = namedFields(top["auxiliary"], role: .auxiliary)
        let parameters = namedFields(top["parameters"], role: .parameter)
        var sampleWindow: SampleWindow?
        if let value = top["sample_window"] {
            sampleWindow = self.sampleWindow(value)
            if updateCounter == nil {
                value.report("needs an update_counter: it says how many samples the ring has received")
            }
        }

        guard let id, let vendor, let model else { return nil }
        let profile = DeviceProfile(
            id: id, vendor: vendor, model: model, description: description, transport: transport, fields: fields,
            faultFlags: faultFlags, updateCounter: updateCounter, auxiliary: auxiliary, parameters: parameters,
            sampleWindow: sampleWindow)
        checkOverlaps(profile, top)
        checkWindowIsOneRequest(profile, top)
        return profile
    }

    func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    func isFieldName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    // MARK: - Transport

    func transportDefaults(_ value: YAMLValue) -> ProfileTransport {
        var transport = ProfileTransport()
        guard let mapping = value.mapping(allowedKeys: Self.transportKeys) else { return transport }
        if let unit = mapping["unit"]?.integer(in: 1...247) { transport.unit = UInt8(unit) }
        if let baud = mapping["baud"] {
            if let rate = baud.integer() {
                if standardBaudRates.contains(rate) {
                    transport.baud = rate
                } else {
                    baud.report("must be one of \(standardBaudRates.map(String.init).joined(separator: ", ")), got \(rate)")
                }
            }
        }
        if let parity = mapping["parity"]?.choice(Parity.allCases.map { ($0.rawValue, $0) }) { transport.parity = parity }
        if let bits = mapping["data_bits"]?.choice([("7", 7), ("8", 8)]) { transport.dataBits = bits }
        if let bits = mapping["stop_bits"]?.choice([("1", 1), ("2", 2)]) { transport.stopBits = bits }
        // 125 and 2000 are the protocol's own ceilings for function codes 3/4 and 1/2.
        if let count = mapping["max_registers_per_request"]?.integer(in: 1...125) {
            transport.maxRegistersPerRequest = count
        }
        if let count = mapping["max_bits_per_request"]?.integer(in: 1...2000) { transport.maxBitsPerRequest = count }
        if let allow = mapping["allow_gaps"]?.bool() { transport.allowGaps = allow }
        if let gap = mapping["max_gap"] {
            if let count = gap.integer(in: 0...2000) {
                if transport.allowGaps {
                    transport.maxGap = count
                } else {
                    gap.report("has no effect unless allow_gaps is true")
                }
            }
        } else if transport.allowGaps {
            transport.maxGap = 10
        }
        return transport
    }

    // MARK: - Register fields

    func allowedKeys(for role: FieldRole) -> [String] {
        let location = ["table", "address", "type", "word_order"]
        let numeric = ["scale", "offset", "native_unit", "no_value", "range"]
        switch role {
        case .quantity: return location + numeric + ["validity"]
        case .auxiliary, .parameter: return location + numeric
        case .counter: return location
        case .sample: return location + ["scale", "offset", "native_unit", "no_value"]
        }
    }

    func namedFields(_ value: YAMLValue?, role: FieldRole) -> [String: RegisterField] {
        guard let mapping = value?.mapping(allowedKeys: nil) else { return [:] }
        var result: [String: RegisterField] = [:]
        for entry in mapping.entries where !entry.value.isNull {
            if Quantity(rawValue: entry.key) != nil {
                diagnostics.report(
                    entry.value.path, at: entry.keyMark,
                    "'\(entry.key)' is a quantity: declare it under 'fields' so it is decoded with its validity")
                continue
            }
            guard isFieldName(entry.key) else {
                diagnostics.report(
                    entry.value.path, at: entry.keyMark,
                    "names are snake_case with the unit at the end (e.g. sample_period_seconds), got '\(entry.key)'")
                continue
            }
            if let field = registerField(entry.value, role: role) { result[entry.key] = field }
        }
        return result
    }

    func registerField(_ value: YAMLValue, role: FieldRole) -> RegisterField? {
        guard let mapping = value.mapping(allowedKeys: allowedKeys(for: role)) else { return nil }
        let table = mapping.required("table", "one of \(RegisterTable.allCases.map(\.rawValue).joined(separator: ", "))")?
            .choice(Self.tables)
        let address = mapping.required("address")?.integer(in: 0...0xFFFF)
        guard let table else { return nil }

        if role == .parameter, table == .input || table == .discrete, let tableValue = mapping["table"] {
            tableValue.report("a writable parameter must be in a writable table: holding or coil, got '\(table.rawValue)'")
        }

        let type: RegisterValueType
        if let typeValue = mapping["type"] {
            let allowed: [RegisterValueType] =
                table.isBitTable ? [.bit] : (role == .counter ? [.u16, .u32] : RegisterValueType.registerTypes)
            guard let parsed = typeValue.choice(allowed.map { ($0.rawValue, $0) }) else { return nil }
            type = parsed
        } else {
            type = table.isBitTable ? .bit : .u16
        }

        var wordOrder = WordOrder.abcd
        if let orderValue = mapping["word_order"] {
            if type.isThirtyTwoBit {
                wordOrder = orderValue.choice(WordOrder.allCases.map { ($0.rawValue, $0) }) ?? .abcd
            } else {
                orderValue.report("applies only to 32-bit types (u32, s32, f32), and this field is \(type.rawValue)")
            }
        }

        var scale = 1.0
        if let scaleValue = mapping["scale"], let parsed = scaleValue.number() {
            if parsed > 0 {
                scale = parsed
            } else {
                scaleValue.report("must be greater than 0 (SI value = raw × scale + offset), got \(parsed)")
            }
        }
        let offset = mapping["offset"]?.number() ?? 0
        let nativeUnit = mapping["native_unit"]?.string()
        let noValue = mapping["no_value"].map { self.noValue($0, type: type) } ?? []
        let range = mapping["range"].flatMap { self.range($0, type: type) }
        var validity: ValiditySource?
        if let validityValue = mapping["validity"] { validity = self.validity(validityValue) }

        guard let address else { return nil }
        if address + type.width > 0x10000 {
            mapping["address"]?.report("a \(type.rawValue) at \(address) would run past the last address 65535")
            return nil
        }
        return RegisterField(
            table: table, address: UInt16(address), type: type, wordOrder: wordOrder, scale: scale, offset: offset,
            nativeUnit: nativeUnit, noValue: noValue, range: range, validity: validity)
    }

    /// A raw code in the type's domain. Signed types also accept the register's bit pattern
    /// (0x8000 for an s16), because manuals usually print "no value" codes that way.
    func rawCode(_ value: YAMLValue, type: RegisterValueType) -> Double? {
        if type == .f32 { return value.number() }
        guard let integer = value.integer() else { return nil }
        switch type {
        case .s16 where (0x8000...0xFFFF).contains(integer):
            return Double(Int16(truncatingIfNeeded: integer))
        case .s32 where (0x8000_0000...0xFFFF_FFFF).contains(integer):
            return Double(Int32(truncatingIfNeeded: integer))
        default:
            guard type.rawLimits.contains(Double(integer)) else {
                value.report(
                    "must fit a \(type.rawValue) (\(YAMLValue.format(type.rawLimits.lowerBound))...\(YAMLValue.format(type.rawLimits.upperBound))), got \(integer)"
                )
                return nil
            }
            return Double(integer)
        }
    }

    func noValue(_ value: YAMLValue, type: RegisterValueType) -> [Double] {
        if case .sequence = value.node {
            return value.sequence()?.compactMap { rawCode($0, type: type) } ?? []
        }
        return rawCode(value, type: type).map { [$0] } ?? []
    }

    func range(_ value: YAMLValue, type: RegisterValueType) -> RawRange? {
        guard let mapping = value.mapping(allowedKeys: ["min", "max"]) else { return nil }
        let low = mapping.required("min").flatMap { rawCode($0, type: type) }
        let high = mapping.required("max").flatMap { rawCode($0, type: type) }
        guard let low, let high else { return nil }
        guard low < high else {
            value.report("min must be below max, got min \(YAMLValue.format(low)) and max \(YAMLValue.format(high))")
            return nil
        }
        return RawRange(min: low, max: high)
    }

    func validity(_ value: YAMLValue) -> ValiditySource? {
        guard let mapping = value.mapping(allowedKeys: ["table", "address", "mask", "values"]) else { return nil }
        let registerTables = Self.tables.filter { !$0.1.isBitTable }
        let table = mapping.required("table", "holding or input")?.choice(registerTables)
        let address = mapping.required("address")?.integer(in: 0...0xFFFF)
        let mask = mapping.required("mask", "the bits of the register that hold the validity code")?
            .integer(in: 1...0xFFFF)
        var codes: [UInt16: Validity] = [:]
        if let values = mapping.required("values", "a mapping from code to actual, below_range, above_range or invalid")?
            .mapping(allowedKeys: nil), let mask
        {
            let largest = mask >> mask.trailingZeroBitCount
            for entry in values.entries {
                guard let code = YAMLValue.parseInteger(entry.key), (0...largest).contains(code) else {
                    diagnostics.report(
                        entry.value.path, at: entry.keyMark,
                        "codes are whole numbers 0...\(largest) (the masked bits shifted down), got '\(entry.key)'")
                    continue
                }
                if let validity = entry.value.choice(Self.validities) { codes[UInt16(code)] = validity }
            }
        }
        guard let table, let address, let mask else { return nil }
        return ValiditySource(table: table, address: UInt16(address), mask: UInt16(mask), codes: codes)
    }

    // MARK: - Faults

    func faultFlag(_ value: YAMLValue) -> FaultFlag? {
        guard let mapping = value.mapping(allowedKeys: ["fault", "table", "address", "bit", "inverted"]) else {
            return nil
        }
        let fault = mapping.required("fault")?.choice(Fault.allCases.map { ($0.rawValue, $0) })
        let table = mapping.required("table")?.choice(Self.tables)
        let address = mapping.required("address")?.integer(in: 0...0xFFFF)
        let inverted = mapping["inverted"]?.bool() ?? false
        var bit: Int?
        if let table {
            if table.isBitTable {
                if let bitValue = mapping["bit"] {
                    bitValue.report("a \(table.rawValue) is a single bit: remove 'bit'")
                }
            } else {
                bit = mapping.required("bit", "0...15, the bit of the register that carries the flag")?
                    .integer(in: 0...15)
                if bit == nil { return nil }
            }
        }
        guard let fault, let table, let address else { return nil }
        return FaultFlag(fault: fault, table: table, address: UInt16(address), bit: bit, inverted: inverted)
    }

    // MARK: - Sample window

    func sampleWindow(_ value: YAMLValue) -> SampleWindow? {
        let sampleKeys = allowedKeys(for: .sample)
        guard let mapping = value.mapping(allowedKeys: ["name", "length", "polarity_bitmap_address"] + sampleKeys)
        else { return nil }
        let name = mapping.required("name")?.string()
        if let name, let nameValue = mapping["name"], !isFieldName(name) {
            nameValue.report("names are snake_case with the unit at the end (e.g. measuring_current_amperes), got '\(name)'")
        }
        let length = mapping.required("length", "the number of ring slots, a power of two")?.integer(in: 1...2048)
        if let length, length & (length - 1) != 0, let lengthValue = mapping["length"] {
            // Slot = sample number mod length stays continuous across the wrap of the 32-bit
            // counter only when length divides 2^32.
            lengthValue.report("must be a power of two (so the ring stays aligned when the 32-bit counter wraps), got \(length)")
        }
        let bitmap = mapping["polarity_bitmap_address"]?.integer(in: 0...0xFFFF)
        // The slot layout is an ordinary field with the window's own keys removed.
        let slotPairs = (value.node.mapping.map(Array.init) ?? []).filter { pair in
            pair.key.scalar.map { sampleKeys.contains($0.string) } ?? false
        }
        let slotNode = Node.mapping(Node.Mapping(slotPairs, .implicit, .any, value.mark))
        let sample = registerField(
            YAMLValue(node: slotNode, path: value.path, diagnostics: diagnostics, keyMark: value.keyMark), role: .sample)
        if let sample, sample.table.isBitTable {
            mapping["table"]?.report("a sample window holds registers: holding or input")
            return nil
        }
        guard let name, let length, let sample, length & (length - 1) == 0 else { return nil }
        if Int(sample.address) + length * sample.type.width > 0x10000 {
            mapping["address"]?.report("\(length) slots at \(sample.address) would run past the last address 65535")
            return nil
        }
        return SampleWindow(name: name, sample: sample, length: length, polarityBitmapAddress: bitmap.map(UInt16.init))
    }

    // MARK: - Whole-profile checks

    /// Two values sharing a register is almost always a copy-paste slip in the map. Validity
    /// registers and fault bits are exempt: they are bit-fields that legitimately share words.
    func checkOverlaps(_ profile: DeviceProfile, _ top: YAMLMapping) {
        var owners: [(name: String, block: RegisterBlock)] = []
        for quantity in profile.fields.keys.sorted() {
            owners.append(("fields.\(quantity.rawValue)", profile.fields[quantity]!.block))
        }
        if let counter = profile.updateCounter { owners.append(("update_counter", counter.block)) }
        for name in profile.auxiliary.keys.sorted() { owners.append(("auxiliary.\(name)", profile.auxiliary[name]!.block)) }
        if let window = profile.sampleWindow {
            owners.append(("sample_window", window.sampleBlock))
            if let bitmap = window.polarityBlock { owners.append(("sample_window.polarity_bitmap_address", bitmap)) }
        }
        for (index, owner) in owners.enumerated() {
            for earlier in owners[..<index] where earlier.block.table == owner.block.table {
                let overlaps = Int(owner.block.address) < earlier.block.end && Int(earlier.block.address) < owner.block.end
                guard overlaps else { continue }
                let mark = locate(owner.name, in: top)
                diagnostics.report(
                    owner.name, at: mark,
                    "\(owner.block.table.rawValue) registers \(owner.block.address)...\(owner.block.end - 1) overlap '\(earlier.name)' (\(earlier.block.address)...\(earlier.block.end - 1))"
                )
            }
        }
    }

    /// The ring, its bitmap and the counter must come from one request, or a poll could pair a
    /// counter with slots from a different moment and misnumber every sample.
    func checkWindowIsOneRequest(_ profile: DeviceProfile, _ top: YAMLMapping) {
        guard let window = profile.sampleWindow, let counter = profile.updateCounter else { return }
        let parts = [window.sampleBlock, counter.block] + (window.polarityBlock.map { [$0] } ?? [])
        let covered = profile.readBlocks().contains { block in
            parts.allSatisfy { $0.table == block.table && $0.address >= block.address && $0.end <= block.end }
        }
        if !covered {
            diagnostics.report(
                "sample_window", at: top["sample_window"]?.mark,
                "the ring, its polarity bitmap and update_counter must fit one read request (same table, at most \(profile.transport.maxRegistersPerRequest) registers, gaps only with allow_gaps)"
            )
        }
    }

    func locate(_ path: String, in top: YAMLMapping) -> Mark? {
        var parts = path.split(separator: ".").map(String.init)
        guard !parts.isEmpty else { return top.mark }
        var value = top[parts.removeFirst()]
        for part in parts {
            guard let current = value, case .mapping = current.node else { break }
            value = current.mapping(allowedKeys: nil)?[part] ?? current
        }
        return value?.mark ?? top.mark
    }
}
