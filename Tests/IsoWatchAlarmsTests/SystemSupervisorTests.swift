import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchTesting
import Testing

/// The per-system supervisor on a made-up clock: no simulator, no threads, no waiting.
@Suite struct SystemSupervisorTests {
    static func system(responseOhms: Int = 50_000, selfTestTimeoutSeconds: Int = 10) throws -> SystemConfiguration {
        let yaml = ServiceConfigurationYAML.file(
            site: "Supervisor test",
            systems: [
                ServiceConfigurationYAML.tcpSystem(
                    id: "or-1", name: "OR 1", port: "1502", device: "unit: 1",
                    sections: """
                        thresholds: { insulation_response_ohms: \(responseOhms), stale_after_seconds: 3 }
                        alarms:
                          insulation: { response_delay_seconds: 1, release_delay_seconds: 2 }
                          self_test_timeout_seconds: \(selfTestTimeoutSeconds)
                        """)
            ])
        return try #require(
            try ConfigurationLoader.parse(yaml: yaml, fileName: "supervisor.yaml", baseDirectory: RepositoryPaths.root.appending(path: "hardware"), profiles: nil)
                .systems.first)
    }

    static func at(_ seconds: Double) -> AlarmTime {
        AlarmTime(monotonic: .milliseconds(Int(seconds * 1000)), wall: Date(timeIntervalSince1970: 1_800_000_000 + seconds))
    }

    static func reading(_ ohms: Double) -> DecodedReading {
        DecodedReading(timestamp: Date(), values: [.insulationResistanceOhms: MeasuredValue(ohms)])
    }

    /// Feeds a reading every `step` seconds from `from` to `to` (inclusive), ticking between them.
    static func feed(
        _ supervisor: inout SystemSupervisor, _ ohms: Double, from: Double, to: Double, step: Double = 0.5
    ) -> [SystemSupervisor.Action] {
        var actions: [SystemSupervisor.Action] = []
        var time = from
        while time <= to + 1e-9 {
            actions += supervisor.handle(.polled(reading(ohms), polledAt: Date()), at: at(time))
            actions += supervisor.handle(.tick, at: at(time + step / 2))
            time += step
        }
        return actions
    }

    static func lastOutputs(_ actions: [SystemSupervisor.Action]) -> AlarmOutputs? {
        actions.compactMap { if case let .setOutputs(outputs) = $0 { outputs } else { nil } }.last
    }

    @Test func test_startsInAlarmAndGoesGreenOnTheFirstValidMeasurement() throws {
        var supervisor = try SystemSupervisor(
            Self.system(), mapped: [.insulationResistanceOhms], frontEnd: false, deviceCanSelfTest: false, now: Self.at(0))
        #expect(Self.lastOutputs(supervisor.startActions())?.yellow == true, "in alarm until measured")
        let actions = Self.feed(&supervisor, 1_000_000, from: 0.5, to: 1)
        #expect(Self.lastOutputs(actions)?.green == true)
        #expect(actions.contains { if case .storeReading = $0 { true } else { false } })
    }

    @Test func test_noReplyForTheStaleTimeRaisesCommunicationAndAReplyRestoresIt() throws {
        var supervisor = try SystemSupervisor(
            Self.system(), mapped: [.insulationResistanceOhms], frontEnd: false, deviceCanSelfTest: false, now: Self.at(0))
        _ = Self.feed(&supervisor, 1_000_000, from: 0.5, to: 2)
        _ = supervisor.handle(.pollFailed(reason: "no reply"), at: Self.at(3))
        let lost = supervisor.handle(.tick, at: Self.at(5.1))
        #expect(lost.contains(.communicationChanged(restored: false, reason: "no reply")))
        #expect(supervisor.machine.activeConditions.contains(.communication))
        let back = supervisor.handle(.polled(Self.reading(1_000_000), polledAt: Date()), at: Self.at(6))
        #expect(back.contains(.communicationChanged(restored: true, reason: nil)))
    }

    @Test func test_newThresholdsKeepTheAlarmEpisodeAndAChangedVerdictFollowsTheReleaseDelay() throws {
        var supervisor = try SystemSupervisor(
            Self.system(responseOhms: 100_000), mapped: [.insulationResistanceOhms], frontEnd: false, deviceCanSelfTest: false,
            now: Self.at(0))
        _ = Self.feed(&supervisor, 90_000, from: 0.5, to: 3)
        let episodes = supervisor.machine.activeEpisodes
        #expect(episodes.map(\.condition) == [.insulation])

        // A lower response value: 90 kΩ is now healthy (past 60 kΩ + 25 %), but only after the release delay.
        _ = try supervisor.reconfigure(Self.system(responseOhms: 60_000), mapped: [.insulationResistanceOhms], at: Self.at(3.2))
        #expect(supervisor.machine.activeEpisodes.map(\.id) == episodes.map(\.id), "the episode carries over")
        _ = Self.feed(&supervisor, 90_000, from: 3.5, to: 4.5)
        #expect(supervisor.machine.activeConditions.contains(.insulation), "still within the 2 s release delay")
        _ = Self.feed(&supervisor, 90_000, from: 5, to: 7)
        #expect(supervisor.machine.activeConditions.isEmpty, "released after the delay")
        #expect(supervisor.configuration.thresholds.insulationResponseOhms == 60_000)
    }

    @Test func test_aSelfTestWithoutAResultEndsAtTheMachinesTimeoutAsAFailure() throws {
        var supervisor = try SystemSupervisor(
            Self.system(selfTestTimeoutSeconds: 10), mapped: [.insulationResistanceOhms], frontEnd: false, deviceCanSelfTest: true,
            now: Self.at(0))
        _ = Self.feed(&supervisor, 1_000_000, from: 0.5, to: 2)
        let (start, actions) = supervisor.requestTest(user: "alice", at: Self.at(2.2))
        #expect(start == .started)
        #expect(actions.contains(.startDeviceSelfTest))
        _ = supervisor.handle(.selfTestCommandAccepted(at: Date()), at: Self.at(2.3))
        #expect(supervisor.deviceSelfTestRunning)
        let later = Self.feed(&supervisor, 1_000_000, from: 2.5, to: 13)
        #expect(!supervisor.deviceSelfTestRunning)
        #expect(later.contains { if case let .note(note) = $0 { note.message == "device self-test failed" } else { false } })
        #expect(supervisor.machine.activeConditions.contains(.selfTestFailed))
    }
}
