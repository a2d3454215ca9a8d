import Foundation
import IsoWatchTesting
import Testing

/// CI's run of the fault and soak suite (`isowatch-faults --profile short`, about two and a half minutes):
/// every phase of the full suite (wire faults at rising rates, total outages, a vanished serial
/// adapter, slow and full disk, SIGKILL during alarm bursts, a soak of two simulated hours across
/// the 16-system wing), against the real `isowatch` binary. BENCHMARKS.md has the full run.
@Suite(.serialized)
struct FaultSuiteTests {
    struct Report: Decodable {
        struct Evaluation: Decodable {
            struct Phase: Decodable {
                var phase: String
                var alarmsExpected: Int
                var alarmsRaised: Int
                var missed: [String]
                var falseAlarms: [String]
            }
            var phases: [Phase]
            var journalEntries: Int
            var journalLost: [String]
            var yellowNotLitForRaisedAlarm: [String]
        }
        struct Kill: Decodable {
            var killToAllPanelsInAlarmSeconds: Double?
            var restartToAllFreshSeconds: Double?
            var restartToFaultsRaisedSeconds: Double?
        }
        var evaluation: Evaluation
        var kills: [Kill]
        var soakSimulatedHours: Double
        var aborted: String?
    }

    @Test(.timeLimit(.minutes(20)))
    func test_shortFaultSuiteMissesNoAlarmRaisesNoFalseOneAndLosesNoJournalEntry() throws {
        let (report, _) = try Self.runSuite(profile: "short", decoding: Report.self, timeoutSeconds: 15 * 60) { $0.aborted }

        let phases = Set(report.evaluation.phases.map(\.phase))
        #expect(phases.filter { $0.hasPrefix("wire faults, ") }.count == 2, "\(phases)")
        for phase in [
            "total wire outages", "vanished serial adapter", "slow disk", "full disk",
            "kill -9 during alarm bursts", "soak",
        ] {
            #expect(phases.contains(phase), "phase '\(phase)' did not run")
        }
        for phase in report.evaluation.phases {
            #expect(phase.missed.isEmpty, "missed in \(phase.phase): \(phase.missed)")
            #expect(phase.falseAlarms.isEmpty, "false alarms in \(phase.phase): \(phase.falseAlarms)")
            #expect(phase.alarmsRaised == phase.alarmsExpected)
        }
        // The phases that inject faults the service must report did expect alarms: a suite that
        // injected nothing would pass the checks above.
        let expected = Dictionary(uniqueKeysWithValues: report.evaluation.phases.map { ($0.phase, $0.alarmsExpected) })
        for phase in ["total wire outages", "vanished serial adapter", "slow disk", "full disk", "kill -9 during alarm bursts", "soak"] {
            #expect((expected[phase] ?? 0) > 0, "\(phase) expected no alarm")
        }
        #expect(report.evaluation.journalLost.isEmpty, "\(report.evaluation.journalLost)")
        #expect(report.evaluation.journalEntries > 0)
        #expect(report.evaluation.yellowNotLitForRaisedAlarm.isEmpty)
        #expect(report.soakSimulatedHours >= 2)
        #expect(report.kills.count == 2)
        for kill in report.kills {
            #expect(kill.killToAllPanelsInAlarmSeconds != nil, "a panel stayed green after the service was killed")
            #expect(kill.restartToAllFreshSeconds != nil)
            #expect(kill.restartToFaultsRaisedSeconds != nil)
        }
    }

    /// Runs `isowatch-faults --profile PROFILE` against the built `isowatch`, records an issue if
    /// it aborted (with the tails of its output and of the service log), and returns its JSON
    /// report decoded, and the service's log.
    static func runSuite<Report: Decodable>(
        profile: String, decoding: Report.Type, timeoutSeconds: Double, aborted: (Report) -> String?
    ) throws -> (report: Report, serviceLog: String) {
        let scratch = try ScratchDirectory("isowatch-\(profile)-suite")
        defer { scratch.remove() }
        let reportFile = scratch.url.appending(path: "report.json")
        let run = try ExternalPeer.run(
            try RepositoryPaths.requiredProduct("isowatch-faults").path,
            [
                "--profile", profile, "--repository", RepositoryPaths.root.path,
                "--isowatch", try RepositoryPaths.requiredProduct("isowatch").path,
                "--report", reportFile.path, "--keep", scratch.url.appending(path: "run").path,
            ],
            timeoutSeconds: timeoutSeconds)
        let data = try Data(contentsOf: reportFile)
        let report = try JSONDecoder().decode(Report.self, from: data)
        let log = (try? String(contentsOf: scratch.url.appending(path: "run/isowatch.log"), encoding: .utf8)) ?? ""
        let failure = aborted(report)
        #expect(failure == nil, "\(failure ?? "")\n\(run.output.suffix(4000))\n\(log.suffix(4000))")
        return (report, log)
    }
}
