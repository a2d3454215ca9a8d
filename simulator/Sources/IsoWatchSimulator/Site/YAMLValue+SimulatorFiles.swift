import IsoWatchCore
import Yams

/// The values that site and scenario files both hold, read with the project's one YAML reader
/// (`YAMLValue`): the same words, numbers and booleans as the service's configuration.
extension YAMLValue {
    /// A bare number, or `{value, validity}` for a reading the device flags out of range.
    func measuredValue() -> MeasuredValue? {
        guard case .mapping = node else { return number().map { MeasuredValue($0) } }
        guard let fields = mapping(allowedKeys: ["value", "validity"]) else { return nil }
        let value = fields.required("value", "the reading, in the quantity's SI unit")?.number()
        let validity = fields["validity"].map { $0.choice(Validity.allCases.map { ($0.rawValue, $0) }) } ?? .actual
        guard let value, let validity else { return nil }
        return MeasuredValue(value, validity: validity)
    }

    /// `{kind: …, …}` in the control API's form (`WireFault`'s Codable form, shared with its JSON).
    func wireFault() -> WireFault? {
        guard mapping(allowedKeys: WireFault.fieldNames) != nil else { return nil }
        do {
            return try YAMLDecoder().decode(WireFault.self, from: node)
        } catch let DecodingError.dataCorrupted(context) {
            report(context.debugDescription)
        } catch let DecodingError.keyNotFound(key, _) {
            diagnostics.report("\(path).\(key.stringValue)", at: mark, "is required for this kind")
        } catch {
            report("must be {kind: \(WireFault.Kind.names.joined(separator: "|")), …}: \(error)")
        }
        return nil
    }

    /// HOST:PORT where a simulated endpoint or panel listens.
    func listenAddress() -> HostPort? {
        guard let text = string() else { return nil }
        guard let address = HostPort(text) else {
            report("must be HOST:PORT (port 0...65535, 0 for any free port), got '\(text)'")
            return nil
        }
        return address
    }
}
