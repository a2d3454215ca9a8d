import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchModbus
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
import Testing

@testable import IsoWatchService

/// Issue 14 §2: a changed configuration is applied system by system while the service runs. Four
/// theatres on one gateway; one reload changes or-1's threshold, leaves or-2 alone (in alarm, to
/// show that its episode goes on), removes or-3, changes or-4's device, and adds or-5.
@Suite(.serialized)
struct ReloadTests {
    static let pollIntervalSeconds = 0.5

    static func system(_ id: String, unit: Int, firstLine: Int, responseOhms: Int = 50_000, pollInterval: Double = pollIntervalSeconds)
        -> String
    {
        """
          - id: \(id)
            name: "Theatre \(id)"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: bender-isometer
              transport: { tcp: { host: 127.0.0.1, port: {TCP_PORT} } }
              unit: \(unit)
              poll_interval_seconds: \(pollInterval)
              timeout_seconds: 0.4
              retries: 1
            thresholds: { insulation_response_ohms: \(responseOhms), stale_after_seconds: 3 }
            outputs:
              green: { chip: gpiochip0, line: \(firstLine) }
              yellow: { chip: gpiochip0, line: \(firstLine + 1) }
              buzzer: { chip: gpiochip0, line: \(firstLine + 2) }
              common_alarm: { chip: gpiochip0, line: \(firstLine + 3) }
        """
    }

    static func configuration(_ systems: [String]) -> String {
        """
        site: { name: "Reload test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        profiles_directory: \(RepositoryPaths.profiles.path)
        systems:
        \(systems.joined(separator: "\n"))
        """
    }

    static let before = configuration([
        system("or-1", unit: 1, firstLine: 20), system("or-2", unit: 2, firstLine: 24),
        system("or-3", unit: 3, firstLine: 28), system("or-4", unit: 4, firstLine: 32),
    ])
    static let after = configuration([
        system("or-1", unit: 1, firstLine: 20, responseOhms: 100_000), system("or-2", unit: 2, firstLine: 24),
        system("or-4", unit: 4, firstLine: 32, pollInterval: 0.45), system("or-5", unit: 5, firstLine: 36),
    ])

    static func lines(from first: UInt32) -> [LineAddress] {
        (first..<first + 4).map { LineAddress(chip: "gpiochip0", offset: $0) }
    }

    static func site() -> SiteDescription {
        let bender = ServiceHarness.profiles["bender-isometer"]!
        return SiteDescription(endpoints: [
            .tcp(
                id: "gw1",
                units: (1...5).map {
                    UnitDescription(
                        unit: $0, profileID: bender.id, state: .healthy(publishedBy: bender), measurementIntervalSeconds: 0.25)
                })
        ])
    }

    /// When each system's polls succeeded, as the pollers handed them over.
    final class PollLog: Sendable {
        private let times = Mutex<[String: [ContinuousClock.Instant]]>([:])
        func record(_ outcome: PollOutcome) {
            guard case .success = outcome.result else { return }
            times.withLock { $0[outcome.deviceID, default: []].append(outcome.receivedAt) }
        }
        func times(of id: String, from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> [ContinuousClock.Instant] {
            times.withLock { $0[id, default: []] }.filter { $0 >= start && $0 <= end }
        }
    }

    static func temporaryFile() -> URL {
        FileManager.default.temporaryDirectory.appending(path: "isowatch-reload-\(UUID().uuidString).yaml")
    }

    @Test func test_reloadChangesOnlyTheSystemsThatChangedAndLeavesTheOthersUntouched() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let polls = PollLog()
        let harness = try await ServiceHarness(
            site: Self.site(), configurationYAML: Self.before, configurationFile: file, observeOutcome: { polls.record($0) })
        // or-2 in alarm, so that "its episode goes on" means something.
        harness.simulator.device(endpoint: "gw1", unit: 2)?.update { $0.values[.insulationResistanceOhms] = MeasuredValue(30_000) }
        try await harness.waitFor("or-2", seconds: 15) { $0.alarm.conditions == ["insulation"] }
        for id in ["or-1", "or-3", "or-4"] {
            try await harness.waitFor(id, seconds: 15) { $0.alarm.state == "normal" }
        }
        let normal = Dictionary(uniqueKeysWithValues: Self.lines(from: 20).map { ($0, true) })
        let alarm = Dictionary(uniqueKeysWithValues: Self.lines(from: 24).map { ($0, false) })
        _ = try await FailSafeOutputTests.waitForLevels(harness.gpio, normal.merging(alarm) { $1 })
        let episodesBefore = await harness.runtime.monitor.supervisor(of: "or-2")?.machine.activeEpisodes ?? []
        // A few polls before the change, so that a gap at the change would show.
        try await Task.sleep(for: .seconds(2))
        let mark = harness.gpio.outputChanges.count
        let start = ContinuousClock.now - .seconds(2)
        let connectsBefore = await harness.runtime.installation.busStatistics().values.map(\.connects).reduce(0, +)

        // The file edited on disk and read again, as SIGHUP and `isowatch reload` do.
        let yaml = Self.after.replacingOccurrences(
            of: "{TCP_PORT}", with: String(harness.simulator.endpoints.compactMap(\.tcpPort).first ?? 0))
        try Data(yaml.utf8).write(to: file)
        let result = await harness.runtime.changes.reloadFile(origin: .cli)

        #expect(result.outcome == .applied, "\(result.summary)")
        let changes = Dictionary(uniqueKeysWithValues: (result.diff?.systems ?? []).map { ($0.id, $0.change) })
        #expect(changes == ["or-1": .updated, "or-2": .unchanged, "or-3": .removed, "or-4": .restarted, "or-5": .added])

        let or5 = try await harness.waitFor("or-5", seconds: 15) { $0.alarm.state == "normal" }
        let or4 = try await harness.waitFor("or-4", seconds: 15) { $0.alarm.state == "normal" }
        try await Task.sleep(for: .seconds(2))
        let end = ContinuousClock.now
        let systems = try await harness.systems().map(\.id)
        let episodesAfter = await harness.runtime.monitor.supervisor(of: "or-2")?.machine.activeEpisodes ?? []
        let or1Threshold = await harness.runtime.monitor.supervisor(of: "or-1")?.configuration.thresholds.insulationResponseOhms
        let touched = Set(harness.gpio.outputChanges.dropFirst(mark).map(\.address))
        let removedLines = Self.lines(from: 28).map { harness.gpio.lineState($0) }
        let or2Polls = polls.times(of: "or-2", from: start, to: end)
        let connectsAfter = await harness.runtime.installation.busStatistics().values.map(\.connects).reduce(0, +)
        try await harness.stop()

        #expect(or5 != nil && or4 != nil, "the added and the restarted system come to normal")
        #expect(systems == ["or-1", "or-2", "or-4", "or-5"], "the API lists the new configuration in its order")
        #expect(or1Threshold == 100_000, "the new threshold is in force")
        // Unchanged (or-2) and changed in place with the same verdict (or-1): not one write on their lines.
        for line in Self.lines(from: 20) + Self.lines(from: 24) {
            #expect(!touched.contains(line), "line \(line) of an unchanged system moved")
        }
        #expect(episodesAfter.map(\.id) == episodesBefore.map(\.id) && !episodesBefore.isEmpty, "or-2's alarm episode goes on")
        #expect(episodesAfter.map(\.raised) == episodesBefore.map(\.raised))
        // The removed system's lines: left in the alarm state (energise-to-normal: low) and released.
        for state in removedLines {
            #expect(state?.electricalHigh == false, "a removed system's relay is left in alarm: \(String(describing: state))")
            #expect(state?.role == .unclaimed, "a removed system's line is released: \(String(describing: state))")
        }
        // The gateway's connection stayed open: the units that stay were not reconnected.
        #expect(connectsAfter == connectsBefore, "no reconnect: \(connectsBefore) → \(connectsAfter)")
        // Every poll of or-2 came at its interval across the change. The schedule keeps its phase
        // and skips a slot only when a poll is a whole interval late, so a missed poll shows as a
        // gap of two intervals; a gap below 1.9 intervals is a poll in its slot, however late.
        let gaps = zip(or2Polls, or2Polls.dropFirst()).map { $0.duration(to: $1) }
        #expect(or2Polls.count >= 8, "or-2 was polled through the change: \(or2Polls.count)")
        #expect(gaps.allSatisfy { $0 < .seconds(Self.pollIntervalSeconds * 1.9) }, "or-2's poll gaps: \(gaps)")
        print("ReloadTests: or-2's largest poll gap across the reload \(gaps.max() ?? .zero) (interval \(Self.pollIntervalSeconds) s)")
    }

    @Test func test_anInvalidConfigurationChangesNothingAndNamesFileLineAndField() async throws {
        let file = Self.temporaryFile()
        defer { try? FileManager.default.removeItem(at: file) }
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.before, configurationFile: file)
        for id in ["or-1", "or-2", "or-3", "or-4"] {
            try await harness.waitFor(id, seconds: 15) { $0.alarm.state == "normal" }
        }
        let mark = harness.gpio.outputChanges.count
        let port = String(harness.simulator.endpoints.compactMap(\.tcpPort).first ?? 0)
        // A valid file but for one value, in the seventh system line: the threshold below 50 kΩ.
        let invalid = Self.after.replacingOccurrences(of: "{TCP_PORT}", with: port)
            .replacingOccurrences(of: "insulation_response_ohms: 100000", with: "insulation_response_ohms: 10000")
        try Data(invalid.utf8).write(to: file)
        let fromFile = await harness.runtime.changes.reloadFile(origin: .cli)
        let uploaded = await harness.runtime.changes.apply(yaml: invalid, origin: .api, author: "eve", comment: nil)
        let listenChanged = await harness.runtime.changes.apply(
            yaml: Self.before.replacingOccurrences(of: "{TCP_PORT}", with: port)
                .replacingOccurrences(of: "127.0.0.1:0", with: "127.0.0.1:8099"),
            origin: .api, author: "eve", comment: nil)
        try await Task.sleep(for: .seconds(1))
        let systems = try await harness.systems()
        let touched = harness.gpio.outputChanges.dropFirst(mark).count
        try await harness.stop()

        let line = invalid.split(separator: "\n", omittingEmptySubsequences: false)
            .firstIndex { $0.contains("insulation_response_ohms: 10000,") }.map { $0 + 1 }
        for result in [fromFile, uploaded] {
            #expect(result.outcome == .rejected)
            let error = result.errors.first
            #expect(error?.field == "systems[0].thresholds.insulation_response_ohms", "\(result.summary)")
            #expect(error?.line == line, "\(result.summary)")
        }
        #expect(fromFile.errors.first?.file == file.path)
        #expect(listenChanged.outcome == .restartRequired)
        #expect(listenChanged.diff?.restartRequired.contains { $0.hasPrefix("http") } == true, "\(listenChanged.summary)")
        #expect(systems.map(\.id) == ["or-1", "or-2", "or-3", "or-4"], "nothing changed")
        #expect(systems.allSatisfy { $0.alarm.state == "normal" })
        #expect(touched == 0, "no relay moved")
    }
}
