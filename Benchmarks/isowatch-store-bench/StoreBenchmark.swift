import Foundation
import IsoWatchCore
import IsoWatchStore

// History benchmark (scripts/bench-store): a synthetic week of one IT system at 1 Hz goes through
// the service's own writer and maintenance (raw window 24 h, then one-minute buckets), then the
// queries the API and the dashboard make are timed. Prints the figures for BENCHMARKS.md.
//
// usage: isowatch-store-bench [DIRECTORY] [DAYS]

@main
struct StoreBenchmark {
    static func main() throws {
        let arguments = CommandLine.arguments
        let directory = URL(fileURLWithPath: arguments.count > 1 ? arguments[1] : NSTemporaryDirectory())
            .appendingPathComponent("isowatch-store-bench-\(getpid())")
        let days = arguments.count > 2 ? Int(arguments[2]) ?? 7 : 7
        let file = directory.appendingPathComponent("history.sqlite")
        let store = try HistoryStore(settings: StoreSettings(databaseFile: file, rawRetentionSeconds: 86400))
        let writer = StoreWriter(store: store, maintenanceInterval: 1e9)
        let start = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86400).rounded(.down) * 86400 - Double(days) * 86400)
        var generator = SystemRandomNumberGenerator()
        let clock = ContinuousClock()
        var sizes: [Int64] = []
        let inserting = clock.now
        for day in 0..<days {
            for second in 0..<86400 {
                let time = start.addingTimeInterval(Double(day * 86400 + second))
                // A healthy system with noise, a daily load cycle and one short fault a day.
                let fault = second >= 36000 && second < 36300
                let ohms = fault ? 30_000 : 600_000 + Double.random(in: -20_000...20_000, using: &generator)
                let load = 30 + 25 * sin(Double(second) / 86400 * 2 * .pi) + Double.random(in: -1...1, using: &generator)
                writer.reading(
                    DecodedReading(
                        timestamp: time,
                        values: [
                            .insulationResistanceOhms: MeasuredValue(ohms),
                            .leakageCapacitanceFarads: MeasuredValue(0.8e-6 + Double.random(in: -1e-8...1e-8, using: &generator)),
                            .loadCurrentAmperes: MeasuredValue(load * 0.348), .loadPercent: MeasuredValue(load),
                            .windingTemperatureCelsius: MeasuredValue(40 + load / 5),
                        ],
                        faults: fault ? [.insulation] : []),
                    system: "or-1")
                if second % 3600 == 3599 { writer.flush() }
            }
            writer.flush()
            try store.maintain(now: start.addingTimeInterval(Double((day + 1) * 86400)))
            sizes.append(try store.usedBytes())
        }
        writer.close()
        let insertSeconds = seconds(inserting.duration(to: clock.now))
        let end = start.addingTimeInterval(Double(days * 86400))

        func timed(_ label: String, repeats: Int = 20, _ body: () throws -> Int) rethrows {
            var samples: [Double] = []
            var points = 0
            for _ in 0..<repeats {
                let began = clock.now
                points = try body()
                samples.append(seconds(began.duration(to: clock.now)) * 1000)
            }
            samples.sort()
            print(String(format: "%@: median %.1f ms, max %.1f ms (%d points, %d runs)", label, samples[samples.count / 2], samples.last ?? 0, points, repeats))
        }
        print("synthetic history: \(days) days of 1 system at 1 Hz (\(days * 86400) readings) in \(String(format: "%.1f", insertSeconds)) s through the writer")
        try timed("week, 10-minute buckets (history?span=week)") {
            try store.history(system: "or-1", from: end.addingTimeInterval(-7 * 86400), to: end, bucketSeconds: 600).points.count
        }
        try timed("week, 5-minute buckets (readings?from=-7d, ~2000 points)") {
            try store.history(system: "or-1", from: end.addingTimeInterval(-7 * 86400), to: end, bucketSeconds: 300).points.count
        }
        try timed("day, 1-minute buckets (history?span=day)") {
            try store.history(system: "or-1", from: end.addingTimeInterval(-86400), to: end, bucketSeconds: 60).points.count
        }
        try timed("hour, raw (history?span=hour)") {
            try store.history(system: "or-1", from: end.addingTimeInterval(-3600), to: end, bucketSeconds: 0).points.count
        }
        try timed("week, raw rows still kept + buckets, CSV export", repeats: 5) {
            HistoryExport.csv(try store.history(system: "or-1", from: end.addingTimeInterval(-7 * 86400), to: end, bucketSeconds: 60)).split(separator: "\n").count - 1
        }
        let rawDay = sizes.first ?? 0
        let perDay = sizes.count > 2 ? Double(sizes[sizes.count - 1] - sizes[1]) / Double(sizes.count - 2) : 0
        print("database after each day (live pages, bytes): \(sizes.map(String.init).joined(separator: " "))")
        print(String(format: "growth per system per day beyond the raw window: %.1f kB (one-minute buckets)", perDay / 1000))
        print(String(format: "raw window (24 h at 1 Hz) per system: %.1f MB", Double(rawDay) / 1e6))
        print(String(format: "file on disk (database + WAL): %.1f MB", Double(store.fileBytes()) / 1e6))
        try? FileManager.default.removeItem(at: directory)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
