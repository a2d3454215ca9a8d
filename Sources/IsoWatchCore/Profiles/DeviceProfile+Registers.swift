import Foundation

/// A poll did not return a register that a profile field needs.
public struct RegisterDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public var profileID: String
    /// The profile field, as written in the profile file (e.g. `fields.insulation_resistance_ohms`).
    public var field: String
    public var block: RegisterBlock

    public init(profileID: String, field: String, block: RegisterBlock) {
        self.profileID = profileID
        self.field = field
        self.block = block
    }

    public var description: String {
        let last = block.end - 1
        let span = block.count == 1 ? "\(block.address)" : "\(block.address)...\(last)"
        return "profile '\(profileID)', field '\(field)': \(block.table.rawValue) address \(span) missing from the poll"
    }
}

extension DeviceProfile {
    /// Every register (or bit) a poll must read: fields with their validity registers, fault
    /// flags, the update counter, auxiliary fields and the sample window. Parameters are not polled.
    var polledBlocks: [RegisterBlock] {
        var blocks: [RegisterBlock] = []
        for field in fields.values {
            blocks.append(field.block)
            if let validity = field.validity {
                blocks.append(RegisterBlock(table: validity.table, address: validity.address, count: 1))
            }
        }
        for flag in faultFlags {
            blocks.append(RegisterBlock(table: flag.table, address: flag.address, count: 1))
        }
        if let updateCounter { blocks.append(updateCounter.block) }
        blocks.append(contentsOf: auxiliary.values.map(\.block))
        if let sampleWindow {
            blocks.append(sampleWindow.sampleBlock)
            if let polarity = sampleWindow.polarityBlock { blocks.append(polarity) }
        }
        return blocks
    }

    /// Register blocks covering every field, merged: same table, adjacent (or within the allowed gap),
    /// each at most the profile's max registers (or bits) per request, in ascending address order.
    public func readBlocks() -> [RegisterBlock] {
        let wanted = polledBlocks
        let gap = transport.allowGaps ? transport.maxGap : 0
        var result: [RegisterBlock] = []
        for table in RegisterTable.allCases {
            let limit = table.isBitTable ? transport.maxBitsPerRequest : transport.maxRegistersPerRequest
            let spans = wanted.filter { $0.table == table && $0.count > 0 }
                .sorted { ($0.address, $0.end) < ($1.address, $1.end) }
            var current: (start: Int, end: Int)?

            func flush() {
                guard let (start, end) = current else { return }
                // Only a single field longer than the limit (a large sample window) gets here
                // with more than `limit` registers; it is read in consecutive chunks.
                var chunkStart = start
                while chunkStart < end {
                    let count = min(limit, end - chunkStart)
                    result.append(RegisterBlock(table: table, address: UInt16(chunkStart), count: UInt16(count)))
                    chunkStart += count
                }
            }

            for span in spans {
                let start = Int(span.address)
                if let (currentStart, currentEnd) = current, start <= currentEnd + gap,
                    max(currentEnd, span.end) - currentStart <= limit
                {
                    current = (currentStart, max(currentEnd, span.end))
                } else {
                    flush()
                    current = (start, span.end)
                }
            }
            flush()
        }
        return result
    }

    /// Decode a poll. Throws when a needed register is missing from the image.
    public func decode(_ image: RegisterImage, at timestamp: Date) throws -> DecodedReading {
        var reading = DecodedReading(timestamp: timestamp)
        for (quantity, field) in fields {
            reading.values[quantity] = try decodeMeasured(field, named: "fields.\(quantity.rawValue)", in: image)
        }
        for (index, flag) in faultFlags.enumerated() {
            let word = try words(RegisterBlock(table: flag.table, address: flag.address, count: 1),
                                 field: "faults[\(index)]", in: image)[0]
            let isSet = flag.bit.map { word & (1 << UInt16($0)) != 0 } ?? (word != 0)
            if isSet != flag.inverted { reading.faults.insert(flag.fault) }
        }
        if let updateCounter {
            let raw = updateCounter.rawValue(from: try words(updateCounter.block, field: "update_counter", in: image))
            reading.updateCounter = UInt32(exactly: raw) ?? UInt32(truncatingIfNeeded: Int64(raw))
        }
        for (name, field) in auxiliary {
            let raw = field.rawValue(from: try words(field.block, field: "auxiliary.\(name)", in: image))
            // An auxiliary field has no validity to carry "no value": it is simply absent.
            guard raw.isFinite, !field.isNoValue(raw) else { continue }
            reading.auxiliary[name] = field.siValue(raw: raw)
        }
        return reading
    }

    /// Inverse of decode, for the simulator: writes values, faults, validity, counter and auxiliary into
    /// the image so that decode(encode(x)) == x up to the profile's resolution (scale) and range.
    public func encode(_ reading: DecodedReading, into image: inout RegisterImage) {
        for (quantity, field) in fields {
            encodeMeasured(reading.values[quantity], field: field, into: &image)
        }
        for flag in faultFlags {
            let on = reading.faults.contains(flag.fault) != flag.inverted
            if let bit = flag.bit {
                let mask: UInt16 = 1 << UInt16(bit)
                let word = image[flag.table, flag.address] ?? 0
                image[flag.table, flag.address] = on ? word | mask : word & ~mask
            } else {
                image[flag.table, flag.address] = on ? 1 : 0
            }
        }
        if let updateCounter {
            if let counter = reading.updateCounter {
                let raw = updateCounter.type == .u16 ? Double(counter & 0xFFFF) : Double(counter)
                image.set(updateCounter.table, updateCounter.address, words: updateCounter.words(forRaw: raw))
            } else {
                fillIfAbsent(updateCounter, raw: 0, in: &image)
            }
        }
        for (name, field) in auxiliary {
            if let value = reading.auxiliary[name] {
                let raw = field.clampedToRange(field.avoidingNoValue(field.raw(forSIValue: value)))
                image.set(field.table, field.address, words: field.words(forRaw: raw))
            } else if let noValue = field.noValue.first {
                image.set(field.table, field.address, words: field.words(forRaw: noValue))
            } else {
                fillIfAbsent(field, raw: 0, in: &image)
            }
        }
    }

    // MARK: - Measured values

    private func decodeMeasured(_ field: RegisterField, named name: String, in image: RegisterImage) throws
        -> MeasuredValue
    {
        let raw = field.rawValue(from: try words(field.block, field: name, in: image))
        var validity = Validity.actual
        if let source = field.validity {
            let word = try words(RegisterBlock(table: source.table, address: source.address, count: 1),
                                 field: "\(name).validity", in: image)[0]
            validity = source.codes[(word & source.mask) >> UInt16(source.shift)] ?? .invalid
        }
        // Non-finite floats carry no value; 0 keeps the reading Equatable (NaN ≠ NaN).
        guard raw.isFinite else { return MeasuredValue(0, validity: .invalid) }
        if field.isNoValue(raw) { validity = .invalid }
        if validity == .actual, let range = field.range {
            if raw <= range.min {
                validity = .belowRange
            } else if raw >= range.max {
                validity = .aboveRange
            }
        }
        return MeasuredValue(field.siValue(raw: raw), validity: validity)
    }

    private func encodeMeasured(_ value: MeasuredValue?, field: RegisterField, into image: inout RegisterImage) {
        var validity = value?.validity ?? .invalid
        var raw: Double
        if let value, validity != .invalid {
            raw = field.raw(forSIValue: value.value)
            if let range = field.range {
                if raw <= range.min {
                    (raw, validity) = (range.min, .belowRange)
                } else if raw >= range.max {
                    (raw, validity) = (range.max, .aboveRange)
                } else if field.validity == nil, validity == .belowRange {
                    // Without validity bits, "< x" can only be said with the display limit.
                    raw = range.min
                } else if field.validity == nil, validity == .aboveRange {
                    raw = range.max
                }
            }
            raw = field.avoidingNoValue(raw)
        } else if let noValue = field.noValue.first {
            raw = noValue
        } else if field.type == .f32, field.validity == nil {
            raw = .nan
        } else if field.validity != nil {
            raw = value.map { field.avoidingNoValue(field.raw(forSIValue: $0.value)) } ?? 0
        } else {
            // The device has no way to say "no value": like the real one it keeps showing the
            // last value it had.
            fillIfAbsent(field, raw: 0, in: &image)
            return
        }
        image.set(field.table, field.address, words: field.words(forRaw: raw))
        if let source = field.validity, let code = source.code(for: validity) {
            let shifted = (code << UInt16(source.shift)) & source.mask
            let word = image[source.table, source.address] ?? 0
            image[source.table, source.address] = (word & ~source.mask) | shifted
        }
    }

    private func fillIfAbsent(_ field: RegisterField, raw: Double, in image: inout RegisterImage) {
        guard image.words(field.block) == nil else { return }
        image.set(field.table, field.address, words: field.words(forRaw: raw))
    }

    func words(_ block: RegisterBlock, field: String, in image: RegisterImage) throws(RegisterDecodingError)
        -> [UInt16]
    {
        guard let words = image.words(block) else {
            throw RegisterDecodingError(profileID: id, field: field, block: block)
        }
        return words
    }
}

extension RegisterField {
    /// `raw` moved the least amount needed so that it is not a "no value" code, because a value
    /// that happens to land on one (after saturation, typically) must not read back as missing.
    func avoidingNoValue(_ raw: Double) -> Double {
        guard isNoValue(raw) else { return raw }
        for step in 1...64 {
            for candidate in [raw - Double(step), raw + Double(step)] where type.rawLimits.contains(candidate) {
                if !isNoValue(candidate) { return candidate }
            }
        }
        return raw
    }

    func clampedToRange(_ raw: Double) -> Double {
        guard let range, !raw.isNaN else { return raw }
        return Swift.min(Swift.max(raw, range.min), range.max)
    }
}
