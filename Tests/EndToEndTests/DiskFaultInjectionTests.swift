import Foundation
import IsoWatchTesting
import Testing

/// The fault suite's disk faults are real: Tests/FaultInjection/diskfault.c, compiled the way the
/// harness compiles it and preloaded into a real SQLite (Python's sqlite3 module, in WAL mode
/// like GRDB), slows and fills the disk under one directory only, switched while the child runs;
/// and the harness's TmpfsVolume (Tests/FaultSuite/DiskFaults.swift, compiled here with a small
/// driver) gives the kernel's own full disk.
@Suite(.serialized)
struct DiskFaultInjectionTests {
    /// The shim compiled into a scratch directory, a control file, a directory under the fault
    /// and one beside it.
    struct Rig {
        let scratch: ScratchDirectory
        let library: URL
        let control: URL
        var faultDirectory: URL { scratch.url.appending(path: "faulty") }
        var healthyDirectory: URL { scratch.url.appending(path: "healthy") }

        /// Runs cc, which blocks: make it on a thread of its own (`onOwnThread`).
        init() throws {
            scratch = try ScratchDirectory("isowatch-diskfault")
            library = scratch.url.appending(path: "libdiskfault.so")
            control = scratch.url.appending(path: "diskfault.control")
            for directory in [faultDirectory, healthyDirectory] {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            let source = RepositoryPaths.root.appending(path: "Tests/FaultInjection/diskfault.c")
            let compile = try ExternalPeer.run(
                try TestTools.tool("cc"), ["-shared", "-fPIC", "-O2", "-o", library.path, source.path, "-ldl"])
            guard compile.status == 0 else { throw RigError("diskfault.c did not compile:\n\(compile.output)") }
            try setMode("healthy")
        }

        /// Replaces the control file by a rename, as DiskFaultShim.set does.
        func setMode(_ line: String) throws {
            let temporary = scratch.url.appending(path: ".control-\(UUID().uuidString)")
            try Data((line + "\n").utf8).write(to: temporary)
            guard rename(temporary.path, control.path) == 0 else {
                throw RigError("cannot replace \(control.path): errno \(errno)")
            }
        }

        var environment: [String: String] {
            ProcessInfo.processInfo.environment.merging([
                "LD_PRELOAD": library.path,
                "ISOWATCH_DISKFAULT_DIR": faultDirectory.path,
                "ISOWATCH_DISKFAULT_CONTROL": control.path,
            ]) { _, ours in ours }
        }
    }

    struct RigError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A child process spoken to one line at a time: a command on its stdin, one line back.
    final class LineChild {
        private let process = Process()
        private let input = Pipe()
        private let output = Pipe()
        private var pending = Data()
        private let watchdog: DispatchWorkItem

        /// The child is ended after `timeoutSeconds` whatever it is doing, so a hang fails the
        /// test (its next read sees end of file) instead of blocking the run.
        init(_ executable: String, _ arguments: [String], environment: [String: String], timeoutSeconds: Double = 60)
            throws
        {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.environment = environment
            process.standardInput = input
            process.standardOutput = output
            process.standardError = output
            try process.run()
            watchdog = DispatchWorkItem { [process] in
                if process.isRunning { process.terminate() }
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds, execute: watchdog)
        }

        /// The next line the child prints; nil once it has exited.
        func line() -> String? {
            while true {
                if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let text = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    return text
                }
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { return nil }
                pending.append(chunk)
            }
        }

        func ask(_ command: String) -> String {
            input.fileHandleForWriting.write(Data((command + "\n").utf8))
            return line() ?? "<child exited>"
        }

        /// Closes its stdin and waits for it to exit.
        func finish() {
            try? input.fileHandleForWriting.close()
            process.waitUntilExit()
            watchdog.cancel()
        }
    }

    /// One SQLite connection per database, each INSERT its own transaction (autocommit), in WAL
    /// mode like GRDB. Commands: `insert faulty|healthy TEXT` answers `ok MILLISECONDS` or
    /// `error MESSAGE`; `rows faulty|healthy` the texts in order; `check faulty` the integrity check.
    static let sqliteClient = """
        import sqlite3, sys, time
        databases = {}
        for name, path in (("faulty", sys.argv[1]), ("healthy", sys.argv[2])):
            db = sqlite3.connect(path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("CREATE TABLE IF NOT EXISTS entry(id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
            databases[name] = db
        print("ready", flush=True)
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            command, name, argument = (line.strip().split(" ", 2) + ["", ""])[:3]
            db = databases[name]
            if command == "insert":
                started = time.monotonic()
                try:
                    db.execute("INSERT INTO entry(text) VALUES (?)", (argument,))
                    print("ok %.1f" % ((time.monotonic() - started) * 1000), flush=True)
                except sqlite3.Error as error:
                    print("error " + str(error), flush=True)
            elif command == "rows":
                print("rows " + ",".join(t for (t,) in db.execute("SELECT text FROM entry ORDER BY id")), flush=True)
            elif command == "check":
                print("check " + db.execute("PRAGMA integrity_check").fetchone()[0], flush=True)
        """

    /// Runs the SQLite client under the shim and `conversation` with it, on a thread of its own.
    static func withSQLiteClient(
        _ rig: Rig, _ conversation: @escaping @Sendable (LineChild) throws -> [String]
    ) async throws -> [String] {
        let python = try TestTools.tool("python3")
        let faultyDatabase = rig.faultDirectory.appending(path: "journal.sqlite").path
        let healthyDatabase = rig.healthyDirectory.appending(path: "journal.sqlite").path
        let environment = rig.environment
        return try await onOwnThread {
            let child = try LineChild(
                python, ["-c", sqliteClient, faultyDatabase, healthyDatabase], environment: environment)
            defer { child.finish() }
            guard let greeting = child.line(), greeting == "ready" else {
                throw RigError("the SQLite client did not start")
            }
            return try conversation(child)
        }
    }

    static func milliseconds(_ reply: String) -> Double? {
        guard reply.hasPrefix("ok ") else { return nil }
        return Double(reply.dropFirst(3))
    }

    @Test func test_fullDiskRefusesTheCommitAndKeepsEveryCommittedRow() async throws {
        let rig = try await onOwnThread { try Rig() }
        defer { rig.scratch.remove() }
        let replies = try await Self.withSQLiteClient(rig) { child in
            var replies = [child.ask("insert faulty before-1"), child.ask("insert faulty before-2")]
            try rig.setMode("full")
            replies += [
                child.ask("insert faulty during-1"), child.ask("insert faulty during-2"),
                child.ask("insert healthy beside-1"), child.ask("rows faulty"),
            ]
            try rig.setMode("healthy")
            replies += [child.ask("insert faulty after-1"), child.ask("rows faulty"), child.ask("check faulty")]
            return replies
        }
        try #require(replies.count == 9, "\(replies)")
        #expect(replies[0].hasPrefix("ok "), "\(replies)")
        #expect(replies[1].hasPrefix("ok "), "\(replies)")
        #expect(replies[2] == "error database or disk is full", "\(replies)")
        #expect(replies[3] == "error database or disk is full", "a full disk stays full until told otherwise")
        #expect(replies[4].hasPrefix("ok "), "a database outside the fault directory is unaffected: \(replies[4])")
        #expect(replies[5] == "rows before-1,before-2", "committed rows stay readable while the disk is full")
        #expect(replies[6].hasPrefix("ok "), "the same connection commits once the disk is healthy: \(replies[6])")
        #expect(replies[7] == "rows before-1,before-2,after-1")
        #expect(replies[8] == "check ok")
    }

    @Test func test_slowDiskDelaysEverySyncAndEveryWriteByAtLeastTheSetTime() async throws {
        let syncMilliseconds = 400.0
        let writeMilliseconds = 150.0
        let rig = try await onOwnThread { try Rig() }
        defer { rig.scratch.remove() }
        let replies = try await Self.withSQLiteClient(rig) { child in
            var replies = [child.ask("insert faulty healthy-1")]
            // Writes undelayed: only the sync can make the commit take this long.
            try rig.setMode("slow 0 \(Int(syncMilliseconds))")
            replies += [child.ask("insert faulty sync-slow-1"), child.ask("insert faulty sync-slow-2")]
            try rig.setMode("slow \(Int(writeMilliseconds)) 0")
            replies += [child.ask("insert faulty write-slow-1")]
            try rig.setMode("healthy")
            replies += [child.ask("insert faulty healthy-2"), child.ask("rows faulty")]
            return replies
        }
        try #require(replies.count == 6, "\(replies)")
        let times = replies.prefix(5).map(Self.milliseconds)
        try #require(times.allSatisfy { $0 != nil }, "every commit succeeds on a slow disk: \(replies)")
        let commitMilliseconds = times.compactMap { $0 }
        // Lower bounds only: a loaded machine may make any commit slower, never faster than this.
        #expect(commitMilliseconds[1] >= syncMilliseconds, "\(replies)")
        #expect(commitMilliseconds[2] >= syncMilliseconds, "\(replies)")
        #expect(commitMilliseconds[3] >= writeMilliseconds, "\(replies)")
        #expect(replies[5] == "rows healthy-1,sync-slow-1,sync-slow-2,write-slow-1,healthy-2")
        print(
            "diskfault slow mode, commit with synchronous=FULL in WAL mode (ms): healthy \(commitMilliseconds[0]),"
                + " then \(commitMilliseconds[4]); slow 0 \(Int(syncMilliseconds)): \(commitMilliseconds[1]),"
                + " \(commitMilliseconds[2]); slow \(Int(writeMilliseconds)) 0: \(commitMilliseconds[3])")
    }

    /// The driver keeps one TmpfsVolume and does what its stdin says, so the test can write to
    /// the volume itself between the steps. It unmounts when its stdin closes.
    static let tmpfsDriver = """
        import Foundation
        func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\\n").utf8)) }
        let directory = URL(fileURLWithPath: CommandLine.arguments[1])
        guard let volume = TmpfsVolume.mount(at: directory, sizeBytes: Int(CommandLine.arguments[2])!) else {
            say("refused")
            exit(0)
        }
        say("mounted")
        while let command = readLine() {
            do {
                switch command {
                case "fill": try volume.fill()
                case "drain": try volume.drain()
                default: break
                }
                say("done \\(command)")
            } catch {
                say("failed \\(command): \\(error)")
            }
        }
        volume.unmount()
        say("unmounted")
        """

    static func swiftCompiler() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/opt/swift/usr/bin"]
        guard let found = directories.map({ "\($0)/swiftc" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw ExternalPeer.PeerError.missingTool("swiftc is neither on the PATH nor in /opt/swift/usr/bin")
        }
        return found
    }

    /// errno of writing 64 KiB to a new file, 0 when all of it is written.
    static func writeErrno(_ file: URL) -> Int32 {
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        let bytes = [UInt8](repeating: 1, count: 65_536)
        var offset = 0
        while offset < bytes.count {
            let wrote = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if wrote < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += wrote
        }
        return 0
    }

    @Test func test_filledTmpfsVolumeRefusesWritesWithENOSPCUntilDrained() async throws {
        let scratch = try ScratchDirectory("isowatch-tmpfs")
        defer { scratch.remove() }
        let driverSource = try scratch.write(Self.tmpfsDriver, to: "main.swift")
        let driver = scratch.url.appending(path: "tmpfs-driver")
        let compile = try await onOwnThread {
            try ExternalPeer.run(
                try Self.swiftCompiler(),
                [
                    "-swift-version", "6", "-o", driver.path,
                    RepositoryPaths.root.appending(path: "Tests/FaultSuite/DiskFaults.swift").path, driverSource.path,
                ], timeoutSeconds: 300)
        }
        try #require(compile.status == 0, "DiskFaults.swift with the driver did not compile:\n\(compile.output)")

        let volumeDirectory = scratch.url.appending(path: "volume")
        let results = try await onOwnThread { () -> [String] in
            let child = try LineChild(
                driver.path, [volumeDirectory.path, "\(1 << 20)"], environment: ProcessInfo.processInfo.environment)
            defer { child.finish() }
            let greeting = child.line() ?? "<driver exited>"
            guard greeting == "mounted" else { return [greeting] }
            // A new file each time: rewriting one written before would reuse its own pages.
            func write(_ name: String) -> String {
                "\(name) write errno \(Self.writeErrno(volumeDirectory.appending(path: name)))"
            }
            var results = [greeting, write("empty"), child.ask("fill"), write("full"), child.ask("drain")]
            results.append(write("drained"))
            child.finish()
            results.append(child.line() ?? "<no word on unmounting>")
            return results
        }
        if results.first == "refused" {
            withKnownIssue("mounting a tmpfs is not permitted on this machine: the suite uses the shim's full mode") {
                Issue.record("TmpfsVolume.mount returned nil")
            }
            return
        }
        #expect(
            results == [
                "mounted", "empty write errno 0", "done fill", "full write errno \(ENOSPC)", "done drain",
                "drained write errno 0", "unmounted",
            ])
        #expect(
            !FileManager.default.fileExists(atPath: volumeDirectory.appending(path: "empty").path),
            "the volume is unmounted, its files gone")
    }
}
