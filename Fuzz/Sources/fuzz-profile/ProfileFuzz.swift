import FuzzSupport
import Foundation
import IsoWatchCore

/// Input: profile YAML, a NUL byte, then register words (big-endian byte pairs). Text that does
/// not parse must fail with located errors; a profile that parses (or, for inputs without a
/// NUL, a shipped profile picked by the first byte) must decode any register image without
/// trapping, and its sample window too.
@main
enum ProfileFuzz {
    static func main() {
        let shipped: [DeviceProfile]
        do {
            let library = try ProfileLibrary.load(directory: Fuzzer.repositoryRoot.appending(path: "hardware/profiles"))
            shipped = library.ids.compactMap { library[$0] }
        } catch {
            fatalError("cannot load the shipped profiles: \(error)")
        }
        Fuzzer.run { input in
            let bytes = Array(input)
            let profile: DeviceProfile
            let words: ArraySlice<UInt8>
            if let separator = bytes.firstIndex(of: 0) {
                let yaml = String(decoding: bytes[..<separator], as: UTF8.self)
                words = bytes[(separator + 1)...]
                do throws(ConfigurationErrors) {
                    profile = try DeviceProfile.parse(yaml: yaml, fileName: "fuzz.yaml")
                } catch {
                    if error.errors.isEmpty { Fuzzer.violated("a rejected profile has errors", yaml) }
                    for problem in error.errors { Fuzzer.requireClearMessage(problem) }
                    return
                }
            } else {
                guard let first = bytes.first else { return }
                profile = shipped[Int(first) % shipped.count]
                words = bytes.dropFirst()
            }
            decodeEverything(profile, words: words)
        }
    }

    /// Fills every block the profile reads from the input's words (cycled), then decodes.
    static func decodeEverything(_ profile: DeviceProfile, words raw: ArraySlice<UInt8>) {
        let source = stride(from: raw.startIndex, to: raw.endIndex - 1, by: 2).map {
            UInt16(raw[$0]) << 8 | UInt16(raw[$0 + 1])
        }
        var image = RegisterImage()
        var next = 0
        let blocks = profile.readBlocks()
        // A parsed profile may ask for a huge sample window; the cap keeps one input fast.
        guard blocks.reduce(0, { $0 + Int($1.count) }) <= 70_000 else { return }
        for block in blocks {
            let values = (0..<Int(block.count)).map { _ -> UInt16 in
                defer { next += 1 }
                if source.isEmpty { return 0 }
                let word = source[next % source.count]
                return block.table.isBitTable ? word & 1 : word
            }
            image.set(block.table, block.address, words: values)
        }
        let timestamp = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let reading = try profile.decode(image, at: timestamp)
            for (quantity, value) in reading.values where value.validity == .actual && !value.value.isFinite {
                Fuzzer.violated("an actual measurement is finite", "\(profile.id) \(quantity): \(value.value)")
            }
        } catch {
            // Every register the profile names was filled: decode has no reason to fail.
            Fuzzer.violated("decode succeeds when every block the profile reads is present", "\(profile.id): \(error)")
        }
        do {
            _ = try profile.decodeSampleWindow(image)
        } catch {
            Fuzzer.requireClearMessage(error)
        }
    }
}
