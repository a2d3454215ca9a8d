import ArgumentParser
import Foundation
import IsoWatchCore

struct CheckConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file; every error names the file, line, column and field.")

    @Argument(help: "The configuration file (YAML).")
    var file: String

    func run() async throws {
        let (configuration, _) = try loadConfiguration(file)
        print("\(file): valid, \(configuration.systems.count) IT system(s)")
    }
}
