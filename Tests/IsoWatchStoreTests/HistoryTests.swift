import Foundation
import IsoWatchCore
import IsoWatchStore
import Synchronization
import Testing

private func reading(at time: Date, ohms: Double, load: Double? = nil, faults: Set<Fault> = []) -> DecodedReading {
    var values: [Quantity: MeasuredValue] = [.insulationResistanceOhms: MeasuredValue(ohms)]
    if let load { values[.loadPercent] = MeasuredValue(load) }
    return DecodedReading(timestamp: time, values: values, faults: faults)
}

@Suite struct HistoryTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)  // on a minute boundary

    @Test func test_invalidValuesAreStoredAsAbsentNeverAsNumbers() throws {
        let store = try HistoryStore(settings: StoreSettings(databaseFile: temporaryDatabase()))
        var measuring = reading(at: start, ohms: 0)
        measuring[.insulationResistanceOhms] = MeasuredValue(0, validity: .invalid)
        measuring[.loadPercent] = MeasuredValue(12.5)
        try store.insert(reading: measuring, system: "or-1")
        let history = try store.history(system: "or-1", from: start, to: start + 1, bucketSeconds: 0)
        #expect(history.points.count == 1)
        #expect(history.points[0].statistics[.insulationResistanceOhms] == nil)
        #expect(history.points[0].statistics[.loadPercent]?.mean == 12.5)
    }

    @Test func test_readingsBeyondTheRawWindowBecomeMinuteMinMeanMax() throws {
        let settings = StoreSettings(databaseFile: temporaryDatabase(), rawRetentionSeconds: 3600)
        let store = try HistoryStore(settings: settings)
        // Two hours at 1 Hz; insulation falls 1 kΩ per second from 1 MΩ, one device fault.
        for second in 0..<7200 {
            let ohms = 1_000_000 - Double(second) * 100
            try store.insert(
                reading: reading(at: start + Double(second), ohms: ohms, faults: second == 30 ? [.insulation] : []),
                system: "or-1")
        }
        let now = start + 7200
        try store.maintain(now: now)
        // The first hour is folded into minutes; the last hour is still raw.
        let raw = try store.history(system: "or-1", from: start, to: now, bucketSeconds: 0)
        #expect(raw.points.count == 3600)
        #expect(raw.points.first?.time == start + 3600)
        let minutes = try store.history(system: "or-1", from: start, to: start + 3600, bucketSeconds: 60)
        #expect(minutes.points.count == 60)
        let first = try #require(minutes.points.first)
        #expect(first.samples == 60)
        #expect(first.faultedSamples == 1)
        let insulation = try #require(first.statistics[.insulationResistanceOhms])
        #expect(insulation.max == 1_000_000)
        #expect(insulation.min == 1_000_000 - 59 * 100)
        #expect(abs(insulation.mean - (1_000_000 - 29.5 * 100)) < 1e-6)
        // Ten-minute buckets across both halves agree with the raw arithmetic.
        let tens = try store.history(system: "or-1", from: start, to: now, bucketSeconds: 600)
        #expect(tens.points.count == 12)
        #expect(tens.points.allSatisfy { $0.samples == 600 })
        let seventh = try #require(tens.points[6].statistics[.insulationResistanceOhms])
        #expect(seventh.max == 1_000_000 - 3600 * 100.0)
        let extremes = try #require(try store.extremes(system: "or-1", from: start, to: now)[.insulationResistanceOhms])
        #expect(extremes.min == 1_000_000 - 7199 * 100.0)
        #expect(extremes.max == 1_000_000)
    }

    @Test func test_aReadingArrivingLateMergesIntoItsMinute() throws {
        let store = try HistoryStore(settings: StoreSettings(databaseFile: temporaryDatabase(), rawRetentionSeconds: 60))
        try store.insert(reading: reading(at: start, ohms: 500_000), system: "or-1")
        try store.maintain(now: start + 600)
        try store.insert(reading: reading(at: start + 10, ohms: 300_000), system: "or-1")
        try store.maintain(now: start + 600)
        let minute = try store.history(system: "or-1", from: start, to: start + 60, bucketSeconds: 60)
        #expect(minute.points.count == 1)
        #expect(minute.points[0].samples == 2)
        #expect(minute.points[0].statistics[.insulationResistanceOhms] == QuantityStatistics(min: 300_000, mean: 400_000, max: 500_000))
    }

    @Test func test_sizeLimitKeepsTheDatabaseBoundedWhileReadingsKeepComing() throws {
        let limit: Int64 = 1 << 20
        let store = try HistoryStore(
            settings: StoreSettings(databaseFile: temporaryDatabase(), rawRetentionSeconds: 365 * 86400, maximumSizeBytes: limit))
        let journalID = try store.append(kind: "alarm.raised", system: "or-1", time: start)
        let writer = StoreWriter(store: store, maintenanceInterval: 3600)
        // About three times the limit in all, in steps small enough that one step cannot pass the
        // hard cap before maintenance trims.
        let steps = 20
        let perStep = 5000
        var peak: Int64 = 0
        for step in 0..<steps {
            for index in 0..<perStep {
                let second = step * perStep + index
                writer.reading(reading(at: start + Double(second), ohms: 1e6, load: 40), system: "or-\(second % 4)")
            }
            writer.flush()
            peak = max(peak, try store.usedBytes())
            try store.maintain(now: start + Double((step + 1) * perStep))
            // Readings are trimmed to the limit less the journal's reserve (issue 13 §2).
            #expect(try store.usedBytes() <= store.settings.readingsLimitBytes, "after step \(step)")
        }
        writer.close()
        #expect(peak > store.settings.readingsLimitBytes, "the test must overfill the readings' limit (peak \(peak) bytes)")
        let total = steps * perStep
        let newest = try store.history(system: "or-3", from: start + Double(total - 60), to: start + Double(total), bucketSeconds: 0)
        #expect(newest.points.count == 15)
        let oldest = try store.history(system: "or-0", from: start, to: start + 60, bucketSeconds: 0)
        #expect(oldest.points.isEmpty)
        #expect(try store.events(JournalQuery()).map(\.id) == [journalID])
    }

    @Test func test_fullDatabaseIsAnErrorReportedNotACrash() throws {
        // The hard cap (SQLITE_FULL) stands in for a full disk: the same error path.
        let store = try HistoryStore(
            settings: StoreSettings(databaseFile: temporaryDatabase(), rawRetentionSeconds: 365 * 86400, maximumSizeBytes: 1 << 20))
        let errors = Mutex<[String]>([])
        let writer = StoreWriter(store: store, maintenanceInterval: 3600, onError: { error in
            errors.withLock { $0.append("\(error)") }
        })
        for second in 0..<80_000 {
            writer.reading(reading(at: start + Double(second), ohms: 1e6, load: 40), system: "or-1")
        }
        let outcome = Mutex<Result<Int64, any Error>?>(nil)
        writer.journal(JournalDraft(kind: "alarm.raised", system: "or-1")) { result in outcome.withLock { $0 = result } }
        writer.close()
        let messages = errors.withLock { $0 }
        #expect(messages.contains { $0.contains("full") }, "\(messages.prefix(3))")
        #expect(try store.usedBytes() <= (1 << 20) + (1 << 18))
    }
}
