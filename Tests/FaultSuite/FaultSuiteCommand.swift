import ArgumentParser
import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchStore

/// `isowatch-faults`: the fault and soak suite (issue 7). One command runs every phase against
/// the simulator and the real service, prints the figures, writes them as JSON and Markdown, and
/// exits non-zero if an alarm was missed, a false alarm raised or a journal entry lost.
@main
struct FaultSuiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "isowatch-faults",
        abstract: "Wire, disk and process faults and an accelerated soak against a simulated 16-system wing.")

    @Option(
        help: "full (what BENCHMARKS.md reports) or short (the CI variant); attack or attack-short for the hostile-client suite (SECURITY.md).")
    var profile = "full"

    @Option(help: "The isowatch executable to test (default: the one built beside this one).")
    var isowatch: String?

    @Option(help: "The repository root (default: found from the current directory).")
    var repository: String?

    @Option(help: "Write the figures here as JSON (and beside it as .md).")
    var report: String?

    @Option(help: "Seeds the soak's random faults and the wire faults' draws.")
    var seed: UInt64 = 1

    @Option(help: "Keep the scratch directory (database, configuration, service log) here instead of deleting it.")
    var keep: String?

    func run() async throws {
        let attackProfile = AttackProfile.named(self.profile)
        guard let profile = SuiteProfile.named(self.profile) ?? (attackProfile == nil ? nil : .short) else {
            throw ValidationError("unknown profile '\(self.profile)': use full, short, attack or attack-short")
        }
        let root = try repository.map { URL(fileURLWithPath: $0) } ?? Self.findRepository()
        let executable = isowatch.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("isowatch")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw ValidationError("no isowatch executable at \(executable.path): build it (swift build) or pass --isowatch")
        }
        let scratch: URL
        if let keep {
            scratch = URL(fileURLWithPath: keep)
            try? FileManager.default.removeItem(at: scratch)
        } else {
            scratch = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-faults-\(getpid())")
        }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { if keep == nil { try? FileManager.default.removeItem(at: scratch) } }

        if let attackProfile {
            try await runAttackSuite(attackProfile, repository: root, isowatch: executable, scratch: scratch)
            return
        }
        let suite = try await FaultSuite(
            profile: profile, repository: root, isowatch: executable, scratch: scratch, seed: seed)
        let outcome = await suite.run()
        let text = SuiteReport.markdown(outcome)
        print(text)
        _ = try writeReport(outcome, markdown: text)
        try finish(aborted: outcome.aborted, passed: outcome.evaluation.passed)
    }

    /// The hostile-client suite (issue 13): prints the seed first and the report's path last.
    func runAttackSuite(_ profile: AttackProfile, repository: URL, isowatch: URL, scratch: URL) async throws {
        print("hostile-client suite: profile \(profile.name), seed \(seed)")
        let suite = try await AttackSuite(profile: profile, repository: repository, isowatch: isowatch, scratch: scratch, seed: seed)
        let outcome = await suite.run()
        let text = outcome.markdown
        print(text)
        if let url = try writeReport(outcome, markdown: text) {
            print("report: \(url.path) and \(url.deletingPathExtension().appendingPathExtension("md").path)")
        }
        try finish(aborted: outcome.aborted, passed: outcome.passed)
    }

    /// Writes `outcome` as JSON to `--report` and `markdown` beside it as .md; the JSON's URL, or
    /// nil without `--report`.
    func writeReport(_ outcome: some Encodable, markdown: String) throws -> URL? {
        guard let report else { return nil }
        let url = URL(fileURLWithPath: report)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(outcome).write(to: url)
        try Data(markdown.utf8).write(to: url.deletingPathExtension().appendingPathExtension("md"))
        return url
    }

    /// Exit 2 for an aborted run, 1 for a failed one.
    func finish(aborted: String?, passed: Bool) throws {
        if let aborted {
            print("ABORTED: \(aborted)")
            if keep == nil { print("(rerun with --keep DIR to keep the service log and database)") }
            throw ExitCode(2)
        }
        if !passed { throw ExitCode(1) }
    }

    static func findRepository() throws -> URL {
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("simulator/sites").path) { return directory }
            directory.deleteLastPathComponent()
        }
        throw ValidationError("run from inside the isowatch repository, or pass --repository")
    }
}
