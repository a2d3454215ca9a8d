import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `isowatch run` as a child process: started, killed with SIGKILL as a crash would end
/// it, started again on the same configuration and database as systemd's `Restart=always` would.
/// Its standard error (the log) is appended to one file across every start, for the post-mortem.
final class ServiceProcess: @unchecked Sendable {
    // @unchecked: `process` is only touched by the suite's single driving task.
    let executable: URL
    let configuration: URL
    let logFile: URL
    let environment: [String: String]
    private var process: Process?
    private(set) var starts = 0

    init(executable: URL, configuration: URL, logFile: URL, environment: [String: String]) {
        self.executable = executable
        self.configuration = configuration
        self.logFile = logFile
        self.environment = environment
    }

    var isRunning: Bool { process?.isRunning ?? false }
    var pid: Int32? { process.map(\.processIdentifier) }

    func start() throws {
        precondition(!isRunning, "the service is already running")
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        log.write(Data("---- start \(starts + 1) at \(Date())\n".utf8))
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run", "--config", configuration.path, "--log-level", "notice"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            .merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        starts += 1
    }

    /// SIGKILL: no handler runs, no relay is driven, nothing is flushed.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, as systemd stops it; waits up to `seconds`, then SIGKILL.
    func stop(seconds: Double = 20) {
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill() }
        process.waitUntilExit()
    }

    /// Whether the process ended on its own (a crash), and how.
    var unexpectedExit: String? {
        guard let process, !process.isRunning else { return nil }
        return "isowatch exited by itself: status \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit"))"
    }
}

struct SuiteError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
