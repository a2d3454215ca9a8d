import ArgumentParser
import Foundation
import IsoWatchCore
import IsoWatchService
import Logging
import ServiceLifecycle

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the monitoring service.")

    @Option(name: .long, help: "The configuration file (YAML).")
    var config: String

    @Option(name: .long, help: "The log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: "Write the process id here (for isowatch reload); removed at exit.")
    var pidFile: String?

    func run() async throws {
        // Under systemd stderr is the journal: priorities as <N> prefixes, no timestamps of our own.
        let toJournal = JournaldLogHandler.standardErrorIsJournal()
        LoggingSystem.bootstrap { label in
            if toJournal {
                var handler = JournaldLogHandler(label: label)
                handler.logLevel = logLevel
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "isowatch")
        let (configuration, profiles) = try loadConfiguration(config)
        let runtime = try await IsoWatchRuntime.make(
            configuration: configuration, profiles: profiles, logger: logger,
            onListening: { port in
                logger.notice("live readings at http://\(configuration.http.host):\(port)/api/v1/systems")
            })
        if let pidFile {
            try Data("\(ProcessInfo.processInfo.processIdentifier)\n".utf8).write(to: URL(fileURLWithPath: pidFile))
        }
        defer { if let pidFile { try? FileManager.default.removeItem(atPath: pidFile) } }
        let group = ServiceGroup(
            services: runtime.services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
            logger: logger)
        try await group.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Loads and validates a configuration and the profiles it names; on error prints every problem
/// with file, line and field, and exits non-zero.
func loadConfiguration(_ path: String) throws -> (Configuration, ProfileLibrary) {
    let file = URL(fileURLWithPath: path)
    do {
        let configuration = try ConfigurationLoader.load(file: file)
        return (configuration, try ProfileLibrary.load(directory: configuration.profilesDirectory))
    } catch let errors {
        for error in errors.errors {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
        }
        FileHandle.standardError.write(Data("isowatch: \(path) is not valid (\(errors.errors.count) error(s)); not starting\n".utf8))
        throw ExitCode(2)
    }
}
