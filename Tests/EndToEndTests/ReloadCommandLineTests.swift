import Foundation
import IsoWatchSimulator
import IsoWatchTesting
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 14 §2, as an operator changes a running site: `isowatch run` as its own process beside
/// the simulator's panel, the file edited on disk, then SIGHUP (what `systemctl reload` sends) and
/// `isowatch reload`. An invalid file changes nothing, the service keeps running, the panel keeps
/// its state, and both ways name file, line and field.
@Suite(.serialized)
struct ReloadCommandLineTests {
    /// `isowatch` with `arguments`, to completion, on a thread of its own.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let executable = try RepositoryPaths.requiredProduct("isowatch").path
        return try await onOwnThread { try ExternalPeer.run(executable, arguments, timeoutSeconds: 60) }
    }

    @Test func test_sighupAndReloadRefuseAnInvalidFileAndApplyAValidOneWithoutDisturbingThePanel() async throws {
        let bench = try HeartbeatWatchdogTests.Bench()
        defer { bench.stop() }
        // A history, so that `isowatch reload` can report what the service did.
        let original = try String(contentsOf: bench.configuration, encoding: .utf8)
            + "\nstorage: { path: \(bench.directory.appending(path: "history.sqlite").path) }\n"
        try original.write(to: bench.configuration, atomically: true, encoding: .utf8)
        let pidFile = bench.directory.appending(path: "isowatch.pid")
        let service = try HeartbeatWatchdogTests.ServiceChild(
            configuration: bench.configuration, log: bench.directory.appending(path: "isowatch.log"),
            extraArguments: ["--pid-file", pidFile.path])
        defer { if service.process.isRunning { service.signal(SIGKILL) } }
        _ = try await eventually(within: 90, poll: .milliseconds(50)) { bench.panelShowsNormal || !service.process.isRunning }
        try #require(bench.panelShowsNormal, "green\n\(service.transcript)")
        try #require(FileManager.default.fileExists(atPath: pidFile.path))
        let lines = [bench.lines.green, bench.lines.yellow, bench.lines.buzzer, bench.lines.commonAlarm]
        let changesBefore = lines.map { bench.panel.line("\(ScenarioServiceConfiguration.outputChip):\($0)")?.changes ?? -1 }

        // An invalid stale time, on a line the test finds.
        let invalid = original.replacingOccurrences(
            of: #"stale_after_seconds: [0-9.]+"#, with: "stale_after_seconds: -1", options: .regularExpression)
        try #require(invalid != original)
        try invalid.write(to: bench.configuration, atomically: true, encoding: .utf8)
        let lineNumber = try #require(
            invalid.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("stale_after_seconds: -1") }) + 1

        // `isowatch reload` checks the file itself and does not signal the service.
        let refused = try await Self.run(["reload", "--config", bench.configuration.path, "--pid-file", pidFile.path])
        #expect(refused.status == 2, "\(refused.output)")
        #expect(refused.output.contains("\(bench.configuration.path):\(lineNumber):"), "\(refused.output)")
        #expect(refused.output.contains("thresholds.stale_after_seconds"), "\(refused.output)")

        // SIGHUP reads it anyway (systemctl reload does not check first): the service refuses it.
        service.signal(SIGHUP)
        let logged = try await eventually(within: 30, poll: .milliseconds(50)) {
            service.transcript.contains("configuration not applied")
        }
        #expect(logged, "\(service.transcript)")
        #expect(service.transcript.contains("\(bench.configuration.path):\(lineNumber):"), "\(service.transcript)")
        #expect(service.process.isRunning, "SIGHUP does not end the service")

        // A valid change: applied in place, reported by `isowatch reload` from the journal.
        let valid = original.replacingOccurrences(
            of: #"stale_after_seconds: [0-9.]+"#, with: "stale_after_seconds: 7", options: .regularExpression)
        try valid.write(to: bench.configuration, atomically: true, encoding: .utf8)
        let applied = try await Self.run(["reload", "--config", bench.configuration.path, "--pid-file", pidFile.path])
        #expect(applied.status == 0, "\(applied.output)")
        #expect(applied.output.contains("applied"), "\(applied.output)")
        #expect(applied.output.contains("updated (thresholds.stale_after_seconds)"), "\(applied.output)")

        try await Task.sleep(for: .seconds(1))
        let changesAfter = lines.map { bench.panel.line("\(ScenarioServiceConfiguration.outputChip):\($0)")?.changes ?? -1 }
        #expect(changesAfter == changesBefore, "no relay of the theatre moved")
        #expect(bench.panelShowsNormal && !bench.panel.watchdogTripped)
        #expect(service.process.isRunning)
        service.signal(SIGTERM)
        #expect(try await service.exited())
        #expect(!FileManager.default.fileExists(atPath: pidFile.path), "the pid file is removed at exit")
    }
}
