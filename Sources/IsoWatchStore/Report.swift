import Foundation
import IsoWatchCore

/// CSV of a history, for spreadsheets and the periodic inspection file.
public enum HistoryExport {
    public static func csv(_ history: History) -> String {
        let iso = ISO8601DateFormatter()
        let quantities = HistoryStore.quantities.map(\.rawValue)
        var lines: [String] = []
        if history.bucketSeconds == 0 {
            lines.append((["timestamp"] + quantities + ["faults"]).joined(separator: ","))
            for point in history.points {
                let values = HistoryStore.quantities.map { point.statistics[$0].map { number($0.mean) } ?? "" }
                lines.append(([iso.string(from: point.time)] + values + [point.faults.sorted().map(\.rawValue).joined(separator: " ")]).joined(separator: ","))
            }
        } else {
            let columns = quantities.flatMap { ["\($0)_min", "\($0)_mean", "\($0)_max"] }
            lines.append((["timestamp", "samples", "faulted_samples"] + columns).joined(separator: ","))
            for point in history.points {
                let values = HistoryStore.quantities.flatMap { quantity -> [String] in
                    guard let statistics = point.statistics[quantity] else { return ["", "", ""] }
                    return [number(statistics.min), number(statistics.mean), number(statistics.max)]
                }
                lines.append(([iso.string(from: point.time), "\(point.samples)", "\(point.faultedSamples)"] + values).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

/// The printable inspection report of one IT system for a period (IEC 60364-6 periodic
/// verification, IEC 60364-7-710's records): alarm episodes with their worst values and who
/// silenced and acknowledged them, tests and their results, extremes of every quantity.
public struct InspectionReport: Sendable {
    public var site: String
    public var system: String
    public var name: String
    public var location: String
    public var from: Date
    public var to: Date
    public var alarms: [StoredAlarm]
    public var tests: [JournalEntry]
    public var extremes: [Quantity: QuantityStatistics]
    public var communicationEvents: Int

    public static func gather(
        store: HistoryStore, site: String, system: String, name: String, location: String, from: Date, to: Date
    ) async throws -> InspectionReport {
        let alarms = try await store.alarms(AlarmQuery(system: system, from: from, to: to, limit: 10_000))
        let events = try await store.events(JournalQuery(system: system, from: from, to: to, limit: 100_000, newestFirst: false))
        let tests = events.filter { $0.kind.hasPrefix("test.") || $0.kind == "user.test" }
        // Every read here is one of the store's async variants: a report over 400 days must not
        // hold a thread of the cooperative pool while SQLite works.
        let extremes = try await store.extremes(system: system, from: from, to: to)
        return InspectionReport(
            site: site, system: system, name: name, location: location, from: from, to: to, alarms: alarms.reversed(),
            tests: tests, extremes: extremes,
            communicationEvents: alarms.filter { $0.condition == "communication" }.count)
    }

    public func html() -> String {
        let time = ISO8601DateFormatter()
        func text(_ date: Date?) -> String { date.map { time.string(from: $0) } ?? "—" }
        func worst(_ value: JSONValue?) -> String {
            guard case let .object(members)? = value else { return "—" }
            return members.keys.sorted().filter { !$0.hasSuffix("_validity") }.map { key in
                let prefix = members[key + "_validity"]?.stringValue == "below_range" ? "< " : ""
                return "\(key) = \(prefix)\(members[key]?.numberValue.map(HistoryExport.number) ?? "?")"
            }.joined(separator: "; ")
        }
        var rows = ""
        for alarm in alarms {
            rows += """
                <tr><td>\(escape(alarm.condition))</td><td>\(text(alarm.raised))</td>\
                <td>\(alarm.interrupted ? "service stopped" : text(alarm.cleared))</td>\
                <td>\(escape(worst(alarm.worst)))</td><td>\(escape(alarm.silencedBy ?? "—"))</td>\
                <td>\(escape(alarm.acknowledgedBy ?? "—"))</td></tr>

                """
        }
        var testRows = ""
        for test in tests {
            var outcome = ""
            if case let .bool(passed)? = test.detail?["passed"] { outcome = passed ? "passed" : "FAILED" }
            testRows += """
                <tr><td>\(text(test.time))</td><td>\(escape(test.kind))</td><td>\(escape(test.user ?? "—"))</td>\
                <td>\(outcome)</td></tr>

                """
        }
        var extremeRows = ""
        for quantity in HistoryStore.quantities {
            guard let statistics = extremes[quantity] else { continue }
            extremeRows += """
                <tr><td>\(quantity.rawValue)</td><td>\(HistoryExport.number(statistics.min))</td>\
                <td>\(HistoryExport.number(statistics.mean))</td><td>\(HistoryExport.number(statistics.max))</td></tr>

                """
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Inspection report \(escape(system))</title>
            <style>
            body { font-family: sans-serif; margin: 2em; }
            table { border-collapse: collapse; width: 100%; margin-bottom: 1.5em; }
            th, td { border: 1px solid #999; padding: 0.3em 0.5em; text-align: left; font-size: 0.9em; }
            @media print { body { margin: 0; } h2 { page-break-after: avoid; } tr { page-break-inside: avoid; } }
            </style></head><body>
            <h1>Inspection report: \(escape(name))</h1>
            <p>Site: \(escape(site)) · IT system: \(escape(system)) · Location: \(escape(location))<br>
            Period: \(text(from)) to \(text(to)) · Generated \(text(Date()))</p>
            <h2>Faults and alarms (\(alarms.count))</h2>
            <table><tr><th>Condition</th><th>Raised</th><th>Cleared</th><th>Worst value</th><th>Silenced by</th><th>Acknowledged by</th></tr>
            \(rows)</table>
            <h2>Tests (\(tests.count))</h2>
            <table><tr><th>Time</th><th>Event</th><th>User</th><th>Result</th></tr>
            \(testRows)</table>
            <h2>Measured values</h2>
            <table><tr><th>Quantity</th><th>Lowest</th><th>Mean</th><th>Highest</th></tr>
            \(extremeRows)</table>
            <p>Communication losses: \(communicationEvents)</p>
            </body></html>

            """
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
