import Foundation
import IsoWatchCore
import IsoWatchHTTP
import IsoWatchSimulator
import IsoWatchStore
import IsoWatchTesting
import IsoWatchThreads
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `isowatch` binary as an operator runs it.
@Suite(.serialized)
struct CommandLineTests {
    func isowatch() throws -> String {
        try RepositoryPaths.requiredProduct("isowatch").path
    }

    @Test func test_readPrintsDecodedQuantitiesAsJSONWithUnitsInTheKeys() async throws {
        let simulator = try TestSimulator(
            rtuUnits: [
                UnitDescription(
                    unit: 4, profileID: "acrel-aim-m10",
                    state: DeviceState(
                        values: [
                            .insulationResistanceOhms: MeasuredValue(45_000), .loadCurrentAmperes: MeasuredValue(14.2),
                            .windingTemperatureCelsius: MeasuredValue(67),
                        ], faults: [.insulation, .temperatureSensor]))
            ],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let binary = try isowatch()
        let path = simulator.ptyPath
        let result = try await onOwnThread {
            try ExternalPeer.run(
                binary,
                [
                    "read", "--profile", "acrel-aim-m10", "--rtu", path, "--baud", "19200", "--parity", "E", "--unit", "4",
                    "--json", "--profiles", RepositoryPaths.profiles.path,
                ])
        }
        #expect(result.status == 0, "\(result.output)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any], "\(result.output)")
        #expect(object["insulation_resistance_ohms"] as? Double == 45_000)
        #expect(object["load_current_amperes"] as? Double == 14.2)
        #expect(object["winding_temperature_celsius"] as? Double == 67)
        #expect(object["faults"] as? [String] == ["insulation", "temperature_sensor"])
        // The Acrel map has no capacitance: an absent quantity is omitted, never zero.
        #expect(object["leakage_capacitance_farads"] == nil)
    }

    @Test func test_readFromAnAbsentDeviceFailsWithTheReason() async throws {
        let port = try freeTCPPort()
        let binary = try isowatch()
        let result = try await onOwnThread {
            try ExternalPeer.run(
                binary,
                ["read", "--profile", "trafox-im01-med", "--tcp", "127.0.0.1:\(port)", "--profiles", RepositoryPaths.profiles.path])
        }
        #expect(result.status == 1)
        #expect(result.output.contains("cannot connect"))
        #expect(result.output.contains("refused"))
    }

    @Test func test_checkConfigAcceptsTheDemoConfiguration() async throws {
        let binary = try isowatch()
        let file = RepositoryPaths.root.appending(path: "hardware/demo/isowatch.yaml").path
        let result = try await onOwnThread { try ExternalPeer.run(binary, ["check-config", file]) }
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("valid, 6 IT system(s)"))
    }

    @Test func test_checkConfigNamesFileLineAndFieldOfEveryError() async throws {
        let scratch = try ScratchDirectory("isowatch-cli")
        defer { scratch.remove() }
        let file = try scratch.write("""
            site: { name: "Test" }
            http: { listen: "127.0.0.1:8080" }
            gpio: { backend: simulated }
            profiles_directory: \(RepositoryPaths.profiles.path)
            systems:
              - id: or-1
                name: "OR 1"
                location: "OR 1"
                transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
                device:
                  profile: acrel-aim-m10
                  transport: { tcp: { host: 127.0.0.1, port: 502 } }
                  unit: 0
                thresholds: { insulation_response_ohms: 20000 }
            """, to: "bad.yaml")
        let binary = try isowatch()
        let result = try await onOwnThread { try ExternalPeer.run(binary, ["check-config", file.path]) }
        #expect(result.status != 0)
        #expect(result.output.contains("bad.yaml:13:"))
        #expect(result.output.contains("systems[0].device.unit"))
        #expect(result.output.contains("bad.yaml:14:"))
        #expect(result.output.contains("systems[0].thresholds.insulation_response_ohms"))
        #expect(result.output.contains("not starting"))
    }

    /// Issue 13 §8: `user add` replaces the users file atomically (a new file renamed into place:
    /// the inode changes, and a reader parsing it all along never sees half a file), mode 0640,
    /// owned by root:isowatch when run as root and the group exists, else keeping its owner.
    @Test func test_userAddReplacesTheUsersFileAtomicallyWithMode0640() async throws {
        let scratch = try ScratchDirectory("isowatch-users")
        defer { scratch.remove() }
        let file = scratch.url.appending(path: "users.yaml")
        let binary = try isowatch()
        func add(_ name: String) async throws -> (status: Int32, output: String) {
            try await onOwnThread {
                try AuthTests.run(
                    binary, ["user", "add", name, "--role", "operator", "--users", file.path, "--cost", "4"], input: "pw-\(name)\n")
            }
        }
        func status(_ path: String) -> stat? {
            var info = stat()
            return stat(path, &info) == 0 ? info : nil
        }

        let first = try await add("nina")
        let created = try #require(status(file.path), "\(first.output)")
        let isowatchGroup = getgrnam("isowatch").map { $0.pointee.gr_gid }
        // Another group than root's, to see that a rewrite keeps it where no isowatch group exists.
        let keptGroup: gid_t = 65534
        if isowatchGroup == nil { #expect(chown(file.path, 0, keptGroup) == 0) }
        // Held open across the rewrites: its inode stays allocated (so its number cannot be reused),
        // and it must still hold the whole first version.
        let heldOpen = try FileHandle(forReadingFrom: file)
        defer { try? heldOpen.close() }

        // A reader parses the file over and over while it is rewritten.
        let reads = ReadTally()
        let reader = OwnedThread.essential(name: "test-users-read") {
            while !reads.stopped {
                guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                    reads.withLock { $0.broken.append("unreadable") }
                    continue
                }
                do {
                    let directory = try UserDirectory.parse(yaml: text, fileName: file.path)
                    if directory.account(named: "nina") == nil {
                        reads.withLock { $0.broken.append("nina lost: \(text)") }
                    } else {
                        reads.withLock { $0.complete += 1 }
                    }
                } catch {
                    reads.withLock { $0.broken.append("\(error)") }
                }
            }
        }
        var results: [(status: Int32, output: String)] = []
        for name in ["olga", "victor", "erik", "ada"] { results.append(try await add(name)) }
        reads.stop()
        await reader.join()
        let replaced = try #require(status(file.path))
        var held = stat()
        #expect(fstat(heldOpen.fileDescriptor, &held) == 0)
        let firstVersion = try UserDirectory.parse(
            yaml: String(decoding: try heldOpen.readToEnd() ?? Data(), as: UTF8.self), fileName: "held open")
        let directory = try UserDirectory.load(file: file)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.url.path).filter { $0 != "users.yaml" }
        _ = try await eventually { reads.withLock { $0.complete } > 0 }

        #expect(first.status == 0, "\(first.output)")
        #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.output))")
        #expect(created.st_mode & 0o777 == 0o640)
        #expect(replaced.st_mode & 0o777 == 0o640)
        #expect(held.st_ino == created.st_ino)
        #expect(replaced.st_ino != held.st_ino, "the file is replaced by a rename, not rewritten in place")
        #expect(firstVersion.accounts.map(\.name) == ["nina"], "the old file is left whole for whoever has it open")
        #expect(directory.accounts.map(\.name) == ["nina", "olga", "victor", "erik", "ada"])
        #expect(leftovers.isEmpty, "no temporary file is left: \(leftovers)")
        let seen = reads.withLock { $0 }
        #expect(seen.broken.isEmpty, "a reader saw a partial file: \(seen.broken.prefix(3))")
        #expect(seen.complete > 0)
        if let isowatchGroup {
            #expect(replaced.st_uid == 0 && replaced.st_gid == isowatchGroup)
        } else {
            #expect(replaced.st_uid == created.st_uid && replaced.st_gid == keptGroup, "the owner and group are kept")
        }
        let help = try await onOwnThread { try ExternalPeer.run(binary, ["user", "add", "--help"]) }
        #expect(help.output.contains("0640") && help.output.contains("root:isowatch"), "\(help.output)")
    }

    /// Issue 13 §7: `isowatch journal verify` on a real database, intact and then tampered with
    /// by the sqlite3 tool (triggers dropped first, as a tamperer would).
    @Test func test_journalVerifyPassesAnIntactJournalAndNamesTheFirstBrokenEntry() async throws {
        let scratch = try ScratchDirectory("isowatch-journal")
        defer { scratch.remove() }
        let binary = try isowatch()
        func journal(_ name: String) throws -> URL {
            let file = scratch.url.appending(path: "\(name).sqlite")
            let store = try HistoryStore(settings: StoreSettings(databaseFile: file))
            for index in 0..<6 {
                try store.append(
                    kind: index % 2 == 0 ? "alarm.raised" : "user.action", system: "or-1", user: index % 2 == 0 ? nil : "olga",
                    detail: ["index": .number(Double(index))], time: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)))
            }
            return file
        }
        func tamper(_ file: URL, _ statement: String) throws {
            let result = try ExternalPeer.run(
                "/usr/bin/sqlite3",
                [
                    "-cmd", ".timeout 10000", file.path,
                    "DROP TRIGGER event_is_append_only; DROP TRIGGER event_is_not_deleted; DROP INDEX event_chain; \(statement)",
                ])
            #expect(result.status == 0, "\(result.output)")
        }
        func verify(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await onOwnThread { try ExternalPeer.run(binary, ["journal", "verify"] + arguments) }
        }

        let intact = try journal("intact")
        let ok = try await verify(["--database", intact.path])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("journal OK, 6 entries checked"), "\(ok.output)")
        #expect(ok.output.contains("chain starts at id 1"))

        // The database named by the configuration, as `run` finds it.
        let config = try scratch.write(
            """
            site: { name: "Journal site" }
            gpio: { backend: simulated }
            profiles_directory: \(RepositoryPaths.profiles.path)
            storage: { path: "\(intact.path)" }
            systems:

            """
                + WalkingSkeletonTests.theatreAndICUSystems
                .replacingOccurrences(of: "{TCP_PORT}", with: "502").replacingOccurrences(of: "{RTU_PATH}", with: "/dev/ttyUSB0"),
            to: "isowatch.yaml")
        let viaConfig = try await verify(["--config", config.path])
        #expect(viaConfig.status == 0, "\(viaConfig.output)")
        #expect(viaConfig.output.contains("6 entries checked"))

        let edited = try journal("edited")
        try tamper(edited, "UPDATE event SET user = 'mallory' WHERE id = 4")
        let editedResult = try await verify(["--database", edited.path])
        #expect(editedResult.status == 1)
        #expect(editedResult.output.contains("BROKEN"))
        #expect(
            editedResult.output.contains("first broken entry: id 4, time 2027-01-15T08:00:03.000Z, kind user.action: content altered"),
            "\(editedResult.output)")
        #expect(editedResult.output.contains("3 of 6 entries checked OK"))

        let deleted = try journal("deleted")
        try tamper(deleted, "DELETE FROM event WHERE id = 3")
        let deletedResult = try await verify(["--database", deleted.path])
        #expect(deletedResult.status == 1)
        #expect(deletedResult.output.contains("id 4"), "\(deletedResult.output)")
        #expect(deletedResult.output.contains("entry 3 is missing"))

        let renumbered = try journal("renumbered")
        try tamper(renumbered, "UPDATE event SET id = id + 10 WHERE id >= 5")
        let renumberedResult = try await verify(["--database", renumbered.path])
        #expect(renumberedResult.status == 1)
        #expect(renumberedResult.output.contains("first broken entry: id 15"), "\(renumberedResult.output)")
        #expect(renumberedResult.output.contains("content altered"))

        let missing = try await verify(["--database", scratch.url.appending(path: "absent.sqlite").path])
        #expect(missing.status == 2)
    }
}

/// What a reader of the users file saw while it was rewritten.
final class ReadTally: Sendable {
    private let state = Mutex((complete: 0, broken: [String](), stopped: false))
    var stopped: Bool { state.withLock { $0.stopped } }
    func stop() { state.withLock { $0.stopped = true } }
    func withLock<T: Sendable>(_ body: (inout (complete: Int, broken: [String], stopped: Bool)) -> T) -> T {
        state.withLock { body(&$0) }
    }
}
