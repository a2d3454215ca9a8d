import Foundation
import IsoWatchCore
import IsoWatchService
import IsoWatchTesting
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Log output fit for journald: syslog priorities as `<N>` prefixes on every line, chosen only
/// when stderr is the journal stream systemd set up (JOURNAL_STREAM names its device and inode).
@Suite struct DeployJournaldLogTests {
    /// A pipe whose read end is drained after the writes; small messages fit its buffer.
    final class CapturedOutput {
        let pipe = Pipe()
        var writeDescriptor: Int32 { pipe.fileHandleForWriting.fileDescriptor }
        func text() -> String {
            try? pipe.fileHandleForWriting.close()
            return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
    }

    static func deviceAndInode(_ fileDescriptor: Int32) -> String {
        var status = stat()
        _ = fstat(fileDescriptor, &status)
        return "\(status.st_dev):\(status.st_ino)"
    }

    @Test func test_eachLevelCarriesItsSyslogPriorityOnEveryLine() {
        let output = CapturedOutput()
        var logger = Logger(label: "isowatch.monitor") { label in
            JournaldLogHandler(label: label, fileDescriptor: output.writeDescriptor)
        }
        logger.logLevel = .trace
        logger.debug("polling")
        logger.info("or-3 green")
        logger.notice("listening")
        logger.warning("retrying unit 4")
        logger.error("insulation alarm\nor-3 at 30 kΩ", metadata: ["system": "or-3"])
        logger.critical("relay write failed")
        let lines = output.text().split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "<7>isowatch.monitor: polling",
                "<6>isowatch.monitor: or-3 green",
                "<5>isowatch.monitor: listening",
                "<4>isowatch.monitor: retrying unit 4",
                "<3>isowatch.monitor: insulation alarm",
                "<3>or-3 at 30 kΩ system=or-3",
                "<2>isowatch.monitor: relay write failed",
            ])
    }

    @Test func test_journalIsRecognisedOnlyByTheStreamsDeviceAndInode() {
        let output = CapturedOutput()
        let other = CapturedOutput()
        let identity = Self.deviceAndInode(output.writeDescriptor)
        #expect(JournaldLogHandler.isJournal(fileDescriptor: output.writeDescriptor, journalStream: identity))
        #expect(!JournaldLogHandler.isJournal(fileDescriptor: other.writeDescriptor, journalStream: identity))
        #expect(!JournaldLogHandler.isJournal(fileDescriptor: output.writeDescriptor, journalStream: nil))
        #expect(!JournaldLogHandler.isJournal(fileDescriptor: output.writeDescriptor, journalStream: "garbage"))
        _ = output.text()
        _ = other.text()
    }

    /// The real binary under a journal-like stderr: the service's start-up notice arrives as a
    /// `<5>` line; with the same environment but stderr elsewhere it keeps the plain format.
    @Test func test_runningServiceWritesPrioritisedLinesWhenItsStderrIsTheJournal() async throws {
        let binary = try RepositoryPaths.requiredProduct("isowatch")
        let directory = try ScratchDirectory("isowatch-journal")
        defer { directory.remove() }
        let port = try freeTCPPort()
        // A device nobody serves: the service starts, logs, and raises a communication alarm.
        let configuration = try directory.write(
            ServiceConfigurationYAML.file(
                site: "Journal test", topLevel: ["profiles_directory: \(RepositoryPaths.profiles.path)"],
                systems: [ServiceConfigurationYAML.tcpSystem(id: "or-1", name: "OR 1", port: "\(port)")]),
            to: "isowatch.yaml")

        func run(journal: Bool) async throws -> String {
            let process = Process()
            let stderr = Pipe()
            process.executableURL = binary
            process.arguments = ["run", "--config", configuration.path]
            var environment = ProcessInfo.processInfo.environment
            let streamIdentity = Self.deviceAndInode(stderr.fileHandleForWriting.fileDescriptor)
            // Without the journal: the variable names a different stream, as after `2>file`.
            environment["JOURNAL_STREAM"] = journal ? streamIdentity : "1:1"
            environment.removeValue(forKey: "NOTIFY_SOCKET")
            process.environment = environment
            process.standardError = stderr
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            try? stderr.fileHandleForWriting.close()
            let collected = try await onOwnThread { () -> String in
                var text = ""
                let handle = stderr.fileHandleForReading
                let deadline = Date().addingTimeInterval(60)
                while Date() < deadline {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    text += String(decoding: chunk, as: UTF8.self)
                    if text.contains("live readings at") { break }
                }
                return text
            }
            process.terminate()
            process.waitUntilExit()
            return collected
        }

        let toJournal = try await run(journal: true)
        let listening = toJournal.split(separator: "\n").first { $0.contains("live readings at") }
        #expect(listening?.hasPrefix("<5>isowatch: live readings at http://127.0.0.1:") == true, "\(toJournal)")
        #expect(toJournal.split(separator: "\n").allSatisfy { $0.wholeMatch(of: /<[0-7]>.*/) != nil }, "\(toJournal)")

        let toTerminal = try await run(journal: false)
        let plain = toTerminal.split(separator: "\n").first { $0.contains("live readings at") }
        #expect(plain != nil, "\(toTerminal)")
        #expect(plain?.hasPrefix("<") == false, "\(toTerminal)")
    }
}
