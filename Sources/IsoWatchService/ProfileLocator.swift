import Foundation
import IsoWatchCore

/// Where the device profiles are, when nobody said: `$ISOWATCH_PROFILES`, then `hardware/profiles`
/// below the working directory, then beside a source checkout's build folder, then the installed
/// location.
public enum ProfileLocator {
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        var candidates: [URL] = []
        if let variable = environment["ISOWATCH_PROFILES"], !variable.isEmpty {
            return URL(fileURLWithPath: variable)
        }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appending(path: "hardware/profiles"))
        // .build/debug/isowatch → the checkout's hardware/profiles
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(
            executable.deletingLastPathComponent().appending(path: "../../../hardware/profiles").standardizedFileURL)
        candidates.append(URL(fileURLWithPath: "/usr/share/isowatch/profiles"))
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
    }
}
