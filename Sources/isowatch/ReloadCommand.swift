import ArgumentParser
import Foundation
import IsoWatchCore
import IsoWatchStore

#if canImport(Glibc)
import Glibc
#endif

/// `isowatch reload`: checks the configuration file as the service will, then asks the running
/// service to apply it (SIGHUP) and reports what the service did, from its journal.
struct ReloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Apply the changed configuration file to the running service.",
        discussion: """
            Validates the file first (errors with file, line and field; exit status 2, the service \
            is not disturbed), then sends SIGHUP to the service and waits for its answer in the \
            journal: exit status 0 when applied or unchanged, 1 when the service rejected it or \
            it needs a restart (nothing changed). `systemctl reload isowatch` does the same without \
            the report.
            """)

    @Option(name: .long, help: "The configuration file (YAML) the service runs from.")
    var config: String

    @Option(name: .long, help: "The service's pid file (isowatch run --pid-file).")
    var pidFile: String = "/run/isowatch/isowatch.pid"

    @Option(name: .long, help: "Seconds to wait for the service's answer.")
    var timeout: Double = 30

    func run() async throws {
        let (configuration, _) = try loadConfiguration(config)
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else {
            FileHandle.standardError.write(Data("isowatch reload: no service pid in \(pidFile)\n".utf8))
            throw ExitCode(2)
        }
        let store = configuration.storage.flatMap { try? HistoryStore(settings: StoreSettings(databaseFile: $0.databaseFile)) }
        let before = (try? store?.journalCount().lastID) ?? nil
        guard kill(pid, SIGHUP) == 0 else {
            FileHandle.standardError.write(Data("isowatch reload: cannot signal process \(pid): \(String(cString: strerror(errno)))\n".utf8))
            throw ExitCode(2)
        }
        guard let store else {
            print("isowatch reload: the service (pid \(pid)) is reading \(config) again; it has no journal to report from, see its log")
            return
        }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let entries =
                (try? await store.events(JournalQuery(kindPrefix: "configuration.", limit: 10, newestFirst: false, afterID: before))) ?? []
            if let answer = entries.first(where: { $0.kind == "configuration.applied" || $0.kind == "configuration.rejected" }) {
                var lines: [String] = []
                if case let .object(detail)? = answer.detail, case let .array(changes)? = detail["changes"] {
                    lines = changes.compactMap { if case let .string(line) = $0 { line } else { nil } }
                }
                print("\(answer.kind == "configuration.applied" ? "applied" : "NOT applied, nothing changed"):")
                for line in lines { print("  \(line)") }
                if answer.kind != "configuration.applied" { throw ExitCode(1) }
                return
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        print("isowatch reload: no answer in the journal within \(Int(timeout)) s (an unchanged file is not journalled)")
    }
}
