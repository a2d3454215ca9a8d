import ArgumentParser
import Foundation
import IsoWatchStore

struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Check the event journal, the record of alarms and of who did what.",
        subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the journal's hash chain and name the first broken entry.",
            discussion: """
                Opens the database read-only (a copy, or the live one while the service runs) and \
                recomputes every entry's SHA-256 from its fields and the hash of the entry before it. \
                Exit status 0: the chain is intact; 1: an entry was altered, re-numbered or removed \
                (the first such entry is named); 2: the journal could not be read or has no chain. \
                The canonical encoding is described in the README ("The journal as evidence").
                """)

        @Option(help: "The history database (storage.path of the configuration).")
        var database: String?

        @Option(help: "The configuration file (YAML): its storage.path is the database.")
        var config: String?

        func validate() throws {
            if (database == nil) == (config == nil) {
                throw ValidationError("give exactly one of --database FILE or --config FILE")
            }
        }

        func run() async throws {
            let file: URL
            if let database {
                file = URL(fileURLWithPath: database)
            } else {
                let (configuration, _) = try loadConfiguration(config ?? "")
                guard let storage = configuration.storage else {
                    FileHandle.standardError.write(Data("isowatch journal verify: \(config ?? "") has no storage: section\n".utf8))
                    throw ExitCode(2)
                }
                file = storage.databaseFile
            }
            guard FileManager.default.fileExists(atPath: file.path) else {
                FileHandle.standardError.write(Data("isowatch journal verify: no database at \(file.path)\n".utf8))
                throw ExitCode(2)
            }
            let result: JournalVerification
            do {
                result = try HistoryStore.verifyJournal(databaseFile: file)
            } catch {
                FileHandle.standardError.write(Data("isowatch journal verify: \(file.path): \(error)\n".utf8))
                throw ExitCode(2)
            }
            let time = ISO8601DateFormatter()
            time.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let broken = result.broken {
                print("\(file.path): journal BROKEN")
                print(
                    "first broken entry: id \(broken.id), time \(time.string(from: broken.time)), kind \(broken.kind): \(broken.problem)"
                )
                print("\(result.checked) of \(result.total) entries checked OK before it")
                throw ExitCode(1)
            }
            print("\(file.path): journal OK, \(result.checked) entries checked")
            if let first = result.firstID, let last = result.lastID, let hash = result.lastHash {
                switch result.start {
                case let .afterTrimming(throughID, recordedBy):
                    print(
                        "chain starts at id \(first): entries through id \(throughID) were removed by retention "
                            + "(recorded in entry \(recordedBy))")
                default:
                    print("chain starts at id \(first) from the genesis value")
                }
                print("last entry: id \(last), hash \(hash)")
            }
        }
    }
}
