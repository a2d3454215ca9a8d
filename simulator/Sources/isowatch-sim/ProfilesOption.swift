import ArgumentParser
import Foundation
import IsoWatchCore

/// `--profiles`, shared by the commands that build devices from profiles.
struct ProfilesOption: ParsableArguments {
    @Option(name: .customLong("profiles"), help: "Profiles directory (default: $ISOWATCH_PROFILES, else ./hardware/profiles).")
    var directory: String?

    /// The directory given, else the environment's, else the repository's.
    var resolvedDirectory: String {
        directory ?? ProcessInfo.processInfo.environment["ISOWATCH_PROFILES"] ?? "hardware/profiles"
    }

    /// The library, or a usage error naming the directory when it does not load.
    func load() throws -> ProfileLibrary {
        let directory = resolvedDirectory
        do {
            return try ProfileLibrary.load(directory: URL(fileURLWithPath: directory))
        } catch {
            throw ValidationError("profiles (\(directory)):\n\(error)")
        }
    }
}
