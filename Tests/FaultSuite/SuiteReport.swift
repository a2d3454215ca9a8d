import Foundation

/// The figures of a run as Markdown, for the terminal and BENCHMARKS.md.
enum SuiteReport {
    static func markdown(_ outcome: SuiteOutcome) -> String {
        let evaluation = outcome.evaluation
        var text = """
            ### Fault and soak suite: profile `\(outcome.profile.name)`, seed \(outcome.seed)

            \(outcome.systems.count) systems (simulator/sites/surgical-wing-physics.yaml: 2 Modbus TCP gateways and an RS-485 bus), \
            physics ×\(number(outcome.profile.timeFactor)), wall time \(number(outcome.wallSeconds)) s, \
            soak \(number(outcome.soakSimulatedHours)) simulated hours, service started \(outcome.serviceStarts) times.
            Disk faults: \(outcome.diskFaults).

            **Verdict: \(evaluation.passed && outcome.aborted == nil ? "PASS" : "FAIL")**: missed alarms \(evaluation.totalMissed), \
            false alarms \(evaluation.totalFalse), journal entries lost \(evaluation.journalLost.count) \
            (of \(evaluation.journalEntries) in the journal), raised alarms without the yellow lamp \(evaluation.yellowNotLitForRaisedAlarm.count).

            | Phase | Faults | Alarms expected | Raised | Missed | False | Comm./stale alarms explained by a real gap | Raise latency p50 / max (s) | Recovery: fresh reading p50 / max (s) | Recovery: green p50 / max (s) | Longest gap without a successful poll (s) |
            |---|---:|---:|---:|---:|---:|---:|---|---|---|---:|

            """
        for phase in evaluation.phases {
            text +=
                "| \(phase.phase) | \(phase.faults) | \(phase.alarmsExpected) | \(phase.alarmsRaised) | \(phase.missed.count) | "
                + "\(phase.falseAlarms.count) | \(phase.justifiedCommunicationAlarms) | \(spread(phase.raiseLatencySeconds)) | "
                + "\(spread(phase.recoveryFreshSeconds)) | \(spread(phase.recoveryGreenSeconds)) | \(number(phase.longestGapSeconds)) |\n"
        }
        if !outcome.kills.isEmpty {
            text += """

                Kills (SIGKILL during an alarm burst; restarted, as `Restart=always` would, once every panel was in alarm):

                | Kill at (s) | Alarms raised at the kill | Journal entries stored at the kill | Kill → every panel in alarm (s) | Restart → every system read (s) | Restart → faults raised again (s) |
                |---:|---:|---:|---:|---:|---:|

                """
            for kill in outcome.kills {
                text +=
                    "| \(number(kill.atSeconds)) | \(kill.alarmsRaisedAtKill) | \(kill.journalEntriesStoredAtKill) | "
                    + "\(kill.killToAllPanelsInAlarmSeconds.map(number) ?? "never") | \(kill.restartToAllFreshSeconds.map(number) ?? "never") | "
                    + "\(kill.restartToFaultsRaisedSeconds.map(number) ?? "never") |\n"
            }
        }
        text += "\nLongest time without a successful poll, per system (over the whole run, kills included):\n\n"
        text += "| " + outcome.systems.joined(separator: " | ") + " |\n"
        text += "|" + String(repeating: "---:|", count: outcome.systems.count) + "\n"
        text += "| " + outcome.systems.map { number(evaluation.longestGapPerSystem[$0] ?? 0) }.joined(separator: " | ") + " |\n"
        let problems =
            evaluation.phases.flatMap { phase in phase.missed.map { "missed in \(phase.phase): \($0)" } }
            + evaluation.phases.flatMap { phase in phase.falseAlarms.map { "false alarm in \(phase.phase): \($0)" } }
            + evaluation.journalLost.map { "journal: \($0)" }
            + evaluation.yellowNotLitForRaisedAlarm.map { "yellow lamp not lit: \($0)" }
            + outcome.notes + (outcome.aborted.map { ["aborted: \($0)"] } ?? [])
        if !problems.isEmpty {
            text += "\nFindings:\n\n" + problems.map { "- \($0)" }.joined(separator: "\n") + "\n"
        }
        return text
    }

    static func number(_ value: Double) -> String {
        value.isFinite ? String(format: value >= 100 ? "%.0f" : "%.2f", value) : "∞"
    }

    static func spread(_ values: [Double]) -> String {
        guard !values.isEmpty else { return "–" }
        let sorted = values.sorted()
        return "\(number(sorted[sorted.count / 2])) / \(number(sorted.last!))"
    }
}
