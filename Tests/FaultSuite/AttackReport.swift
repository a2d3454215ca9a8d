import Foundation

/// Reading → relay latencies of one set of probes.
struct LatencyFigure: Sendable, Codable {
    var samples = 0
    var p50Seconds: Double?
    var p99Seconds: Double?
    var maxSeconds: Double?

    init(_ values: [Double] = []) {
        let sorted = values.sorted()
        samples = sorted.count
        guard !sorted.isEmpty else { return }
        func rank(_ quantile: Double) -> Double { sorted[min(sorted.count - 1, Int((quantile * Double(sorted.count)).rounded(.up)) - 1)] }
        p50Seconds = rank(0.5)
        p99Seconds = rank(0.99)
        maxSeconds = sorted.last
    }
}

/// One attack: what the hostile clients did and got, and whether the well-behaved ones were still
/// served while it lasted.
struct AttackFigure: Sendable, Codable {
    var attack: String
    /// The attack's own must-hold condition (no trick served, no storage grown, …).
    var ownHeld: Bool
    var counts: [String: Int] = [:]
    var findings: [String] = []
    /// Well-behaved clients that must have been answered (≥ 90 % of their requests) while it lasted.
    var requiresHealthz = false
    var requiresBMS = false
    /// Storage the phase may grow by at most (the quiet phase's rate is far below it).
    var storageBudgetBytes: Int64?
    var pathTricks: [PathTrick]?
    var held = false
    var verdict = ""

    struct PathTrick: Sendable, Codable {
        var path: String
        var statuses: [Int]
        var refused: Bool
    }

    static let availabilityRequired = 0.9

    mutating func judge(_ phase: AttackOutcome.Phase?) {
        var reasons = findings
        if let phase {
            func share(_ answered: Int, _ asked: Int) -> Double { asked == 0 ? 0 : Double(answered) / Double(asked) }
            if requiresHealthz, share(phase.healthzAnswered, phase.healthzAsked) < Self.availabilityRequired {
                reasons.append("a well-behaved client got /healthz answered \(phase.healthzAnswered) of \(phase.healthzAsked) times")
            }
            if requiresBMS, share(phase.bmsAnswered, phase.bmsAsked) < Self.availabilityRequired {
                reasons.append("a well-behaved BMS client was answered \(phase.bmsAnswered) of \(phase.bmsAsked) times")
            }
            if let budget = storageBudgetBytes, phase.storageBytesEnd - phase.storageBytesStart > budget {
                reasons.append("storage grew by \(phase.storageBytesEnd - phase.storageBytesStart) bytes (budget \(budget))")
            }
        } else {
            reasons.append("the attack did not run")
        }
        held = ownHeld && reasons.isEmpty
        verdict = reasons.isEmpty ? (ownHeld ? "held" : "failed") : reasons.joined(separator: "; ")
    }
}

/// What one run of the hostile-client suite did and found; the JSON report.
struct AttackOutcome: Sendable, Codable {
    struct Phase: Sendable, Codable {
        var name: String
        var isAttack: Bool
        var start: Double
        var end: Double
        var storageBytesStart: Int64
        var storageBytesEnd: Int64
        var heartbeatAgeMaxSeconds: Double?
        var latencySeconds: [Double] = []
        var healthzAnswered = 0
        var healthzAsked = 0
        var bmsAnswered = 0
        var bmsAsked = 0
        var residentBytesMax: Int64?
        var descriptorsMax: Int?

        init(name: String, isAttack: Bool, start: Double, end: Double, storageBytesStart: Int64, storageBytesEnd: Int64) {
            self.name = name
            self.isAttack = isAttack
            self.start = start
            self.end = end
            self.storageBytesStart = storageBytesStart
            self.storageBytesEnd = storageBytesEnd
        }
    }

    struct Check: Sendable, Codable {
        var name: String
        var passed: Bool
        var detail: String
    }

    var profile: AttackProfile
    var seed: UInt64
    var startedAt: Date
    var wallSeconds = 0.0
    var systems: [String] = []
    var phases: [Phase] = []
    var attacks: [AttackFigure] = []
    var faultsInjected = 0
    var evaluation = Evaluation()
    var lampNotLit: [String] = []
    var watchdogTimeoutSeconds = 0.0
    var heartbeatAgeMaxSeconds: Double?
    var heartbeatAgeMaxQuietSeconds: Double?
    var watchdogTrips = 0
    var latencyQuiet = LatencyFigure()
    var latencyUnderAttack = LatencyFigure()
    var latencyP99Ratio: Double?
    var latencySamplesDiscarded = 0
    var storageBytesBeforeAttacks: Int64 = 0
    var storageBytesAfterAttacks: Int64 = 0
    /// What the attack phases' duration would have added at the quiet phase's rate.
    var storageBytesExpectedWithoutAttacks: Int64 = 0
    var serviceStayedUp = false
    var pidAtStart: Int32?
    var pidAtEnd: Int32?
    var healthzAtEnd = false
    var serviceStarts = 0
    var unexpectedExit: String?
    var serviceDescriptorLimit = 0
    var metricsScrapes = 0
    var metricsScrapesFailed = 0
    var checks: [Check] = []
    var notes: [String] = []
    var aborted: String?

    var passed: Bool { aborted == nil && !checks.isEmpty && checks.allSatisfy(\.passed) }
}

extension AttackOutcome {
    var markdown: String {
        let n = SuiteReport.number
        func optional(_ value: Double?) -> String { value.map(n) ?? "–" }
        func milliseconds(_ value: Double?) -> String { value.map { String(format: "%.0f", $0 * 1000) } ?? "–" }
        func megabytes(_ bytes: Int64?) -> String { bytes.map { String(format: "%.1f", Double($0) / 1_048_576) } ?? "–" }
        let grown = storageBytesAfterAttacks - storageBytesBeforeAttacks
        var text = """
            ### Hostile-client suite: profile `\(profile.name)`, seed \(seed)

            \(systems.count) systems (simulator/sites/surgical-wing-physics.yaml), physics ×240, \(faultsInjected) insulation faults \
            injected on a seeded schedule during the quiet phase and the attacks; wall time \(n(wallSeconds)) s; service descriptor limit \
            \(serviceDescriptorLimit).

            **Verdict: \(passed ? "PASS" : "FAIL")**

            | Figure | Value |
            |---|---|
            | Heartbeat age max (panel's heartbeat line), attacks and quiet | \(optional(heartbeatAgeMaxSeconds)) s (quiet \(optional(heartbeatAgeMaxQuietSeconds)) s); watchdog timeout \(n(watchdogTimeoutSeconds)) s; watchdog trips \(watchdogTrips) |
            | Reading → relay latency p99, quiet | \(milliseconds(latencyQuiet.p99Seconds)) ms (p50 \(milliseconds(latencyQuiet.p50Seconds)) ms, \(latencyQuiet.samples) samples) |
            | Reading → relay latency p99, under attack | \(milliseconds(latencyUnderAttack.p99Seconds)) ms (p50 \(milliseconds(latencyUnderAttack.p50Seconds)) ms, max \(milliseconds(latencyUnderAttack.maxSeconds)) ms, \(latencyUnderAttack.samples) samples) |
            | p99 ratio, attack / quiet | \(latencyP99Ratio.map { String(format: "%.2f", $0) } ?? "–") (\(latencySamplesDiscarded) probe samples discarded) |
            | Missed alarms (API/metrics; yellow lamp) | \(evaluation.totalMissed); \(lampNotLit.count) |
            | False alarms | \(evaluation.totalFalse) |
            | Journal entries lost | \(evaluation.journalLost.count) of \(evaluation.journalEntries) |
            | Storage grown by the attacks (database + WAL) | \(megabytes(grown)) MiB (\(megabytes(storageBytesBeforeAttacks)) → \(megabytes(storageBytesAfterAttacks)) MiB; the quiet rate would give \(megabytes(storageBytesExpectedWithoutAttacks)) MiB) |
            | Service stayed up | \(serviceStayedUp ? "yes" : "no") (pid \(pidAtStart.map(String.init) ?? "–") → \(pidAtEnd.map(String.init) ?? "–"), /healthz at the end \(healthzAtEnd ? "200" : "no answer")) |
            | /metrics scrapes answered | \(metricsScrapes) of \(metricsScrapes + metricsScrapesFailed) |

            | Phase | Seconds | Heartbeat age max (s) | Latency p99 (ms), samples | /healthz answered | BMS answered | Service RSS max (MiB) | Descriptors max | Storage grown (KiB) |
            |---|---:|---:|---|---:|---:|---:|---:|---:|

            """
        for phase in phases {
            let latency = LatencyFigure(phase.latencySeconds)
            text +=
                "| \(phase.name) | \(n(phase.end - phase.start)) | \(optional(phase.heartbeatAgeMaxSeconds)) | "
                + "\(milliseconds(latency.p99Seconds)), \(latency.samples) | \(phase.healthzAnswered)/\(phase.healthzAsked) | "
                + "\(phase.bmsAnswered)/\(phase.bmsAsked) | \(megabytes(phase.residentBytesMax)) | \(phase.descriptorsMax.map(String.init) ?? "–") | "
                + "\((phase.storageBytesEnd - phase.storageBytesStart) / 1024) |\n"
        }
        text += "\n| Attack | Held | What the clients did and got |\n|---|---|---|\n"
        for attack in attacks {
            let counts = attack.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            text += "| \(attack.attack) | \(attack.held ? "yes" : "**no**: \(attack.verdict)") | \(counts) |\n"
        }
        if let tricks = attacks.compactMap(\.pathTricks).first {
            text += "\nPath tricks (statuses seen, without a session):\n\n"
            text += tricks.map { "- `\($0.path)`: \($0.statuses.map(String.init).joined(separator: ", "))\($0.refused ? "" : " **served**")" }
                .joined(separator: "\n") + "\n"
        }
        text += "\nMust hold:\n\n" + checks.map { "- \($0.passed ? "pass" : "**FAIL**"): \($0.name) (\($0.detail))" }.joined(separator: "\n") + "\n"
        let problems =
            evaluation.phases.flatMap { phase in phase.missed.map { "missed in \(phase.phase): \($0)" } }
            + evaluation.phases.flatMap { phase in phase.falseAlarms.map { "false alarm in \(phase.phase): \($0)" } }
            + lampNotLit.map { "yellow lamp never lit: \($0)" }
            + evaluation.journalLost.map { "journal: \($0)" }
            + attacks.flatMap { attack in attack.findings.map { "\(attack.attack): \($0)" } }
            + notes + (aborted.map { ["aborted: \($0)"] } ?? []) + (unexpectedExit.map { [$0] } ?? [])
        if !problems.isEmpty {
            text += "\nFindings:\n\n" + problems.map { "- \($0)" }.joined(separator: "\n") + "\n"
        }
        return text
    }
}
