import Foundation

/// The JSON form of a reading, shared by the HTTP API and `isowatch read --json`: one key per
/// quantity with its unit in the name, `faults` from the `Fault` vocabulary, and a `validity` map
/// that lists only the quantities whose value is not an actual measurement.
public struct ReadingDocument: Sendable, Equatable, Codable {
    public var timestamp: Date?
    public var values: [Quantity: Double]
    public var validity: [Quantity: Validity]
    public var faults: [Fault]
    public var updateCounter: UInt32?

    public init(_ reading: DecodedReading) {
        timestamp = reading.timestamp
        values = reading.values.mapValues(\.value)
        validity = reading.values.filter { $0.value.validity != .actual }.mapValues(\.validity)
        faults = reading.faults.sorted()
        updateCounter = reading.updateCounter
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        if let timestamp { try container.encode(timestamp, forKey: Key("timestamp")) }
        for quantity in Quantity.allCases {
            guard let value = values[quantity] else { continue }
            // JSON has no NaN or infinity; a non-finite value is no measurement. A value the device
            // marks invalid is its "no value" code (65535 Ω, -3276.8 °C), never a number to show:
            // null, with the validity map saying why.
            if value.isFinite, validity[quantity] != .invalid {
                try container.encode(value, forKey: Key(quantity.rawValue))
            } else {
                try container.encodeNil(forKey: Key(quantity.rawValue))
            }
        }
        try container.encode(faults.map(\.rawValue), forKey: Key("faults"))
        if !validity.isEmpty {
            let map = Dictionary(uniqueKeysWithValues: validity.map { ($0.key.rawValue, $0.value.rawValue) })
            try container.encode(map, forKey: Key("validity"))
        }
        if let updateCounter { try container.encode(updateCounter, forKey: Key("update_counter")) }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        timestamp = try container.decodeIfPresent(Date.self, forKey: Key("timestamp"))
        var values: [Quantity: Double] = [:]
        for quantity in Quantity.allCases {
            if let value = try container.decodeIfPresent(Double.self, forKey: Key(quantity.rawValue)) {
                values[quantity] = value
            }
        }
        self.values = values
        let faultNames = try container.decodeIfPresent([String].self, forKey: Key("faults")) ?? []
        faults = try faultNames.map { name in
            guard let fault = Fault(rawValue: name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: Key("faults"), in: container, debugDescription: "unknown fault '\(name)'")
            }
            return fault
        }
        let validityNames = try container.decodeIfPresent([String: String].self, forKey: Key("validity")) ?? [:]
        var validity: [Quantity: Validity] = [:]
        for (key, value) in validityNames {
            if let quantity = Quantity(rawValue: key), let parsed = Validity(rawValue: value) {
                validity[quantity] = parsed
            }
        }
        self.validity = validity
        updateCounter = try container.decodeIfPresent(UInt32.self, forKey: Key("update_counter"))
    }
}

extension JSONEncoder {
    /// The encoder every JSON surface of isowatch uses: ISO 8601 times, stable key order.
    public static var isowatch: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

extension JSONDecoder {
    public static var isowatch: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
