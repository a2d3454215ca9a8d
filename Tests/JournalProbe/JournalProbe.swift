import Foundation
import IsoWatchStore

// The child of the kill -9 test: appends journal entries through the same writer the monitor
// uses and prints "stored ID" for each entry once the writer reports it stored. The test kills
// this process at an arbitrary moment and checks that every printed id is in the database.
//
// usage: isowatch-journal-probe DATABASE [COUNT]

@main
struct JournalProbe {
    /// Unbuffered (write(2)): a line the test reads was written before the kill, not lost in a buffer.
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(Data("usage: isowatch-journal-probe DATABASE [COUNT]\n".utf8))
            exit(2)
        }
        let count = arguments.count >= 3 ? Int(arguments[2]) ?? 100_000 : 100_000
        do {
            let store = try HistoryStore(settings: StoreSettings(databaseFile: URL(fileURLWithPath: arguments[1])))
            let writer = StoreWriter(store: store)
            let output = NSLock()
            say("ready")
            for index in 0..<count {
                // Bursts like an alarm storm: many systems raising and clearing at once.
                writer.journal(
                    JournalDraft(kind: "alarm.raised", system: "or-\(index % 16)", detail: ["sequence": .number(Double(index))])
                ) { result in
                    if case let .success(id) = result {
                        output.lock()
                        say("stored \(id) \(index)")
                        output.unlock()
                    }
                }
                if index % 50 == 49 { usleep(2000) }
            }
            writer.close()
            say("done")
        } catch {
            FileHandle.standardError.write(Data("journal probe: \(error)\n".utf8))
            exit(1)
        }
    }
}
