import Foundation

/// One slot of a decoded sample window.
public struct WindowSample: Sendable, Equatable {
    /// Number of the sample since the device started, modulo 2^32.
    public var sequence: UInt32
    /// SI value (scale applied); nil when the device marked the slot "no value" (overrange,
    /// blanking after a polarity edge, pulse stopped).
    public var value: Double?
    /// True when the measuring voltage was positive; nil when the profile has no polarity bitmap.
    public var positivePolarity: Bool?

    public init(sequence: UInt32, value: Double?, positivePolarity: Bool? = nil) {
        self.sequence = sequence
        self.value = value
        self.positivePolarity = positivePolarity
    }
}

/// The samples a poll found in a device's ring, oldest first.
public struct SampleWindowReading: Sendable, Equatable {
    /// Samples produced since the device started (its update counter), modulo 2^32.
    public var samplesProduced: UInt32
    /// The last `length` samples, oldest first. Sequence numbers are modulo 2^32, so the ring
    /// reads the same across the counter's wrap; slots a freshly started device has not filled
    /// yet hold its "no value" code and decode with a nil value (their sequence numbers are
    /// those the counter had before 0, i.e. near 2^32).
    public var samples: [WindowSample]

    public init(samplesProduced: UInt32, samples: [WindowSample]) {
        self.samplesProduced = samplesProduced
        self.samples = samples
    }
}

extension DeviceProfile {
    /// The sample ring as of this poll, or nil when the profile has none. Throws when a register
    /// of the ring, its bitmap or the counter is missing from the image.
    public func decodeSampleWindow(_ image: RegisterImage) throws -> SampleWindowReading? {
        guard let window = sampleWindow, let updateCounter else { return nil }
        let counterRaw = updateCounter.rawValue(from: try words(updateCounter.block, field: "update_counter", in: image))
        let produced = UInt32(exactly: counterRaw) ?? 0
        let slots = try words(window.sampleBlock, field: "sample_window", in: image)
        let bitmap = try window.polarityBlock.map { block in
            try words(block, field: "sample_window.polarity_bitmap", in: image)
        }
        var samples: [WindowSample] = []
        samples.reserveCapacity(window.length)
        for age in stride(from: window.length, through: 1, by: -1) {
            let sequence = produced &- UInt32(age)
            let slot = Int(sequence % UInt32(window.length))
            let width = window.sample.type.width
            let raw = window.sample.rawValue(from: Array(slots[(slot * width)..<(slot * width + width)]))
            let value = raw.isFinite && !window.sample.isNoValue(raw) ? window.sample.siValue(raw: raw) : nil
            let polarity = bitmap.map { $0[slot / 16] & (1 << UInt16(slot % 16)) != 0 }
            samples.append(WindowSample(sequence: sequence, value: value, positivePolarity: polarity))
        }
        return SampleWindowReading(samplesProduced: produced, samples: samples)
    }

    /// Writes samples into their ring slots (and polarity bits) and the counter into the update
    /// counter, as a device does after producing `window.samplesProduced` samples. Samples older
    /// than the ring's length are overwritten by newer ones, as on the device. A ring not yet in
    /// the image is first filled with the "no value" code, as the device does at power-up.
    public func encodeSampleWindow(_ window: SampleWindowReading, into image: inout RegisterImage) {
        guard let ring = sampleWindow, let updateCounter else { return }
        let width = ring.sample.type.width
        if let polarity = ring.polarityBlock, image.words(polarity) == nil {
            image.set(ring.table, polarity.address, words: Array(repeating: 0, count: Int(polarity.count)))
        }
        if image.words(ring.sampleBlock) == nil {
            let empty = ring.sample.noValue.first ?? 0
            for slot in 0..<ring.length {
                let address = ring.sample.address &+ UInt16(slot * width)
                image.set(ring.table, address, words: ring.sample.words(forRaw: empty))
            }
        }
        for sample in window.samples {
            let slot = Int(sample.sequence % UInt32(ring.length))
            let raw: Double
            if let value = sample.value {
                raw = ring.sample.avoidingNoValue(ring.sample.raw(forSIValue: value))
            } else {
                raw = ring.sample.noValue.first ?? (ring.sample.type == .f32 ? .nan : 0)
            }
            image.set(ring.table, ring.sample.address &+ UInt16(slot * width), words: ring.sample.words(forRaw: raw))
            if let bitmapAddress = ring.polarityBitmapAddress, let positive = sample.positivePolarity {
                let address = bitmapAddress &+ UInt16(slot / 16)
                let mask: UInt16 = 1 << UInt16(slot % 16)
                let word = image[ring.table, address] ?? 0
                image[ring.table, address] = positive ? word | mask : word & ~mask
            }
        }
        let counterRaw = updateCounter.type == .u16 ? Double(window.samplesProduced & 0xFFFF) : Double(window.samplesProduced)
        image.set(updateCounter.table, updateCounter.address, words: updateCounter.words(forRaw: counterRaw))
    }
}

/// A parameter value the device would not accept.
public struct ParameterWriteError: Error, Sendable, Equatable, CustomStringConvertible {
    public var profileID: String
    public var parameter: String
    public var reason: String

    public var description: String { "profile '\(profileID)', parameter '\(parameter)': \(reason)" }
}

/// What to send to set a parameter: function code 16 (or 6) for holding registers, 5 (or 15) for coils.
public struct ParameterWrite: Sendable, Equatable {
    public var table: RegisterTable
    public var address: UInt16
    /// Register words, or 0/1 for a coil.
    public var words: [UInt16]

    public init(table: RegisterTable, address: UInt16, words: [UInt16]) {
        self.table = table
        self.address = address
        self.words = words
    }
}

extension DeviceProfile {
    /// The registers to write to set parameter `name` to `value` (SI units). Refuses values the
    /// profile's range excludes rather than clamping them: a commanded setting that silently
    /// became another one is worse than a refusal the operator sees.
    public func write(parameter name: String, value: Double) throws(ParameterWriteError) -> ParameterWrite {
        guard let field = parameters[name] else {
            let known = parameters.keys.sorted().joined(separator: ", ")
            throw ParameterWriteError(
                profileID: id, parameter: name, reason: "no such parameter (this profile has: \(known.isEmpty ? "none" : known))")
        }
        guard value.isFinite else {
            throw ParameterWriteError(profileID: id, parameter: name, reason: "value must be finite, got \(value)")
        }
        let limits = field.range.map { $0.min...$0.max } ?? field.type.rawLimits
        let exact = (value - field.offset) / field.scale
        let raw = field.type == .f32 ? exact : exact.rounded(.toNearestOrAwayFromZero)
        guard limits.contains(raw), field.type.rawLimits.contains(raw) else {
            let low = field.siValue(raw: limits.lowerBound)
            let high = field.siValue(raw: limits.upperBound)
            throw ParameterWriteError(profileID: id, parameter: name, reason: "must be \(low)...\(high), got \(value)")
        }
        return ParameterWrite(table: field.table, address: field.address, words: field.words(forRaw: raw))
    }
}
