import Foundation
import IsoWatchThreads

/// A third-party program a test talks to (a pymodbus server, socat, mbpoll), started as a child
/// process and stopped when the test is done.
public final class ExternalPeer: @unchecked Sendable {
    // @unchecked: `process` and the pipes are only touched under `lock` or before `run()` returns.
    private let process = Process()
    private let output = Pipe()
    private let lock = NSLock()
    private var collected = Data()
    public let commandLine: String

    /// Starts `executable` with `arguments`, and waits until a line of its output (stdout and
    /// stderr together) satisfies `readyWhen`, or fails after `timeoutSeconds`.
    public init(
        executable: String, arguments: [String], readyWhen: @escaping @Sendable (String) -> Bool,
        timeoutSeconds: Double = 20
    ) throws {
        commandLine = ([executable] + arguments).joined(separator: " ")
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let ready = DispatchSemaphore(value: 0)
        try process.run()
        // A thread of its own reads the child's output until EOF: blocking reads, no run loop needed.
        let handle = output.fileHandleForReading
        OwnedThread.essential(name: "test-peer-out") { [weak self] in
            var signalled = false
            while true {
                let chunk = handle.availableData
                guard !chunk.isEmpty, let self else { break }
                let text: String = self.lock.withLock {
                    self.collected.append(chunk)
                    return String(decoding: self.collected, as: UTF8.self)
                }
                if !signalled, text.split(whereSeparator: \.isNewline).contains(where: { readyWhen(String($0)) }) {
                    signalled = true
                    ready.signal()
                }
            }
        }
        if ready.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            stop()
            throw PeerError.notReady(commandLine: commandLine, output: transcript)
        }
    }

    /// Everything the peer printed so far.
    public var transcript: String {
        lock.withLock { String(decoding: collected, as: UTF8.self) }
    }

    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then SIGKILL if the peer is still there after two seconds: a test must never
    /// hang on a third-party program's shutdown (pymodbus's server can linger on open clients).
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline {
            usleep(20_000)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    deinit {
        stop()
    }

    public enum PeerError: Error, CustomStringConvertible {
        case notReady(commandLine: String, output: String)
        case missingTool(String)

        public var description: String {
            switch self {
            case let .notReady(commandLine, output):
                return "\(commandLine) did not become ready; it printed:\n\(output)"
            case let .missingTool(hint):
                return hint
            }
        }
    }

    /// Runs a program to completion and returns its exit status and output.
    public static func run(_ executable: String, _ arguments: [String], timeoutSeconds: Double = 30) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // A hung child is ended after the timeout; reading to EOF then returns.
        let watchdog = DispatchWorkItem { [process] in
            if process.isRunning { process.terminate() }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds, execute: watchdog)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        watchdog.cancel()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Locations of tools and files the tests use.
public enum TestTools {
    /// The Python with pinned pymodbus that `scripts/setup` creates.
    public static func python() throws -> String {
        let candidates = [
            ProcessInfo.processInfo.environment["ISOWATCH_PYTHON"],
            RepositoryPaths.root.appending(path: ".venv/bin/python").path,
        ].compactMap { $0 }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ExternalPeer.PeerError.missingTool("no Python with pymodbus: run ./scripts/setup (looked at \(candidates))")
        }
        return found
    }

    public static func interopScript(_ name: String) -> String {
        RepositoryPaths.root.appending(path: "Tests/interop/\(name)").path
    }

    public static func tool(_ name: String) throws -> String {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"] {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw ExternalPeer.PeerError.missingTool("\(name) is not installed: run ./scripts/setup")
    }
}

/// Two connected pseudo-terminals made by socat: a virtual null-modem cable, so a third-party RTU
/// server can sit on one end and isowatch's libmodbus client on the other.
public final class PseudoTerminalPair: Sendable {
    public let first: String
    public let second: String
    private let peer: ExternalPeer

    public init() throws {
        let socat = try TestTools.tool("socat")
        let peer = try ExternalPeer(
            executable: socat, arguments: ["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
            readyWhen: { $0.contains("starting data transfer loop") })
        let paths = peer.transcript.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            guard let range = line.range(of: "PTY is ") else { return nil }
            return String(line[range.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard paths.count == 2 else {
            peer.stop()
            throw ExternalPeer.PeerError.notReady(commandLine: peer.commandLine, output: peer.transcript)
        }
        self.peer = peer
        first = paths[0]
        second = paths[1]
    }

    public func close() {
        peer.stop()
    }
}
