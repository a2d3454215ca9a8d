import Foundation
import IsoWatchCore

/// The parts of service configuration files that the end-to-end suites share; the files are
/// written with IsoWatchCore's `ServiceConfigurationYAML`, the one generator of that text.
extension ServiceConfigurationYAML {
    /// The fast polling end-to-end tests use, so a changed value reaches the API within a second.
    public static let fastPolling = """
        unit: 1
        poll_interval_seconds: 0.25
        timeout_seconds: 0.2
        retries: 1
        """

    /// The green and yellow lamps and the buzzer on lines 20, 21 and 22 of gpiochip0: the theatre
    /// panel as the end-to-end suites wire it and read it back.
    public static let theatreOutputs = """
        outputs:
          green: \(line(chip: "gpiochip0", offset: 20))
          yellow: \(line(chip: "gpiochip0", offset: 21))
          buzzer: \(line(chip: "gpiochip0", offset: 22))
        """
}

/// A fresh directory under the temporary directory, for configuration files and databases a
/// test hands to a real process; `remove()` it in a `defer`.
public struct ScratchDirectory: Sendable {
    public let url: URL

    public init(_ prefix: String) throws {
        url = FileManager.default.temporaryDirectory.appending(path: "\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `text` to a file in the directory and returns where.
    public func write(_ text: String, to name: String) throws -> URL {
        let file = url.appending(path: name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
