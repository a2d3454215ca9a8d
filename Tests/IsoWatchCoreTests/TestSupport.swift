import Foundation
import IsoWatchCore

/// The repository's shipped profiles, found from this file's location so tests run from any
/// working directory.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // IsoWatchCoreTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    static let profilesDirectory = root.appendingPathComponent("hardware/profiles")

    static func library() throws -> ProfileLibrary {
        try ProfileLibrary.load(directory: profilesDirectory)
    }

    static func profile(_ id: String) throws -> DeviceProfile {
        guard let profile = try library()[id] else {
            throw MissingProfile(id: id)
        }
        return profile
    }

    struct MissingProfile: Error { var id: String }
}

/// A reproducible generator (SplitMix64) so a failing random case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let epoch = Date(timeIntervalSince1970: 1_700_000_000)
