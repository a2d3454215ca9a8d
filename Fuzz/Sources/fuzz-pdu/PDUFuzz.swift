import FuzzSupport
import IsoWatchCore
import IsoWatchSimulator

/// Input: bytes as the simulator's servers receive them. The same bytes go through MBAP frame
/// parsing (Modbus TCP), RTU request framing and CRC checking, and, as a PDU, through the
/// engine that answers every unit. Promises: the engine answers every request with either the
/// function code or its exception form; a parsed MBAP frame re-encodes to the bytes it came from.
@main
enum PDUFuzz {
    static func main() {
        var seed = RegisterImage()
        seed.set(.holding, 0, words: (0..<200).map { UInt16($0) })
        seed.set(.input, 0, words: (0..<200).map { UInt16($0) &* 7 })
        seed.set(.coil, 0, words: (0..<64).map { UInt16($0 & 1) })
        seed.set(.discrete, 0, words: (0..<64).map { UInt16(($0 >> 1) & 1) })
        let image = seed
        Fuzzer.run { input in
            let bytes = Array(input)

            switch MBAPFrame.parse(bytes) {
            case let .frame(frame, consumed):
                if frame.bytes != Array(bytes[..<consumed]) {
                    Fuzzer.violated("an MBAP frame re-encodes to its bytes", "\(bytes)")
                }
            case .incomplete:
                break
            case let .invalid(reason):
                Fuzzer.requireClearMessage(text: reason)
            }

            if let length = RTUFraming.requestLength(bytes), length < 4 {
                Fuzzer.violated("an RTU request is at least address, function and CRC", "\(length) for \(bytes)")
            }
            if bytes.count >= 4, ModbusCRC.isIntact(bytes) != (ModbusCRC.sealed(Array(bytes.dropLast(2))) == bytes) {
                Fuzzer.violated("isIntact agrees with sealing", "\(bytes)")
            }

            // The transports never hand the engine more than a PDU's 253 bytes (MBAP length field at
            // most 254 with the unit id; RTU frame at most 256 with address and CRC), and the
            // diagnostics echo returns what it got, so longer input proves nothing.
            guard let function = bytes.first, bytes.count <= 253 else { return }
            var served = image
            let outcome = ModbusPDUEngine.respond(function: function, data: bytes.dropFirst(), image: &served)
            guard let answered = outcome.response.first else {
                Fuzzer.violated("every request gets a response", "\(bytes)")
            }
            if answered != function && answered != function | 0x80 {
                Fuzzer.violated("the response echoes the function code", "\(bytes) → \(outcome.response)")
            }
            // A Modbus PDU is at most 253 bytes (MODBUS Application Protocol V1.1b3, §4.1).
            if outcome.response.count > 253 {
                Fuzzer.violated("a response PDU fits 253 bytes", "\(bytes) → \(outcome.response.count) bytes")
            }
        }
    }
}
