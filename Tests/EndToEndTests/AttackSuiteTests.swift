import Foundation
import IsoWatchTesting
import Testing

/// CI's run of the hostile-client suite (`isowatch-faults --profile attack-short`, about 90 s):
/// every attack of the full suite (path tricks, 1 MB sign-ins and a sign-in flood from 20
/// addresses, slowloris, idle connections, live-stream clients that never read, a BMS client that
/// never reads, lamp-test presses on a real fault), each for a few seconds, against the real
/// `isowatch` binary watching the 16-system wing while insulation faults come and go.
/// SECURITY.md has the full run.
@Suite(.serialized)
struct AttackSuiteTests {
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
        }
        struct Attack: Decodable {
            struct PathTrick: Decodable {
                var path: String
                var statuses: [Int]
                var refused: Bool
            }
            var attack: String
            var pathTricks: [PathTrick]?
        }
        var evaluation: Evaluation
        var attacks: [Attack]
        var lampNotLit: [String]
        var heartbeatAgeMaxSeconds: Double?
        var watchdogTimeoutSeconds: Double
        var watchdogTrips: Int
        var serviceStayedUp: Bool
        var faultsInjected: Int
        var aborted: String?
    }

    @Test(.timeLimit(.minutes(10)))
    func test_hostileClientsHideNoAlarmLoseNoJournalEntryAndCannotStopTheMonitor() throws {
        let (report, log) = try FaultSuiteTests.runSuite(
            profile: "attack-short", decoding: Report.self, timeoutSeconds: 8 * 60) { $0.aborted }

        // Every attack ran.
        let attacks = Set(report.attacks.map(\.attack))
        for attack in [
            "path tricks", "sign-in abuse", "slowloris", "idle connections", "live-stream clients that never read",
            "BMS client that never reads", "lamp test on a real fault",
        ] {
            #expect(attacks.contains(attack), "attack '\(attack)' did not run")
        }
        // Alarms were due while the attacks ran: a suite that injected nothing would pass the rest.
        #expect(report.faultsInjected > 0)
        let expectedUnderAttack = report.evaluation.phases.filter { attacks.contains($0.phase) }.reduce(0) { $0 + $1.alarmsExpected }
        #expect(expectedUnderAttack > 0, "no alarm was due during the attacks")

        for phase in report.evaluation.phases {
            #expect(phase.missed.isEmpty, "missed in \(phase.phase): \(phase.missed)")
            #expect(phase.falseAlarms.isEmpty, "false alarms in \(phase.phase): \(phase.falseAlarms)")
        }
        #expect(report.lampNotLit.isEmpty, "\(report.lampNotLit)")
        #expect(report.evaluation.journalLost.isEmpty, "\(report.evaluation.journalLost)")
        #expect(report.evaluation.journalEntries > 0)
        #expect(report.serviceStayedUp, "\(log.suffix(4000))")
        // The safety requirement itself: the watchdog relay never saw the heartbeat stop for its timeout.
        let age = try #require(report.heartbeatAgeMaxSeconds)
        #expect(age < report.watchdogTimeoutSeconds)
        #expect(report.watchdogTrips == 0)

        let tricks = try #require(report.attacks.first { $0.attack == "path tricks" }?.pathTricks)
        #expect(tricks.count > 10)
        for trick in tricks {
            #expect(trick.refused, "\(trick.path) answered \(trick.statuses) without a session")
        }
    }
}
