import Testing

@testable import IsoWatchGPIO

@Suite("Debouncer")
struct DebouncerTests {
    @Test func test_aLevelHeldForTheDebounceTimeBecomesStable() {
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: 0.05)
        #expect(debouncer.sample(true, atSeconds: 1.00) == nil)
        #expect(debouncer.advance(toSeconds: 1.049) == nil)
        #expect(debouncer.stableLevel == false)
        #expect(debouncer.advance(toSeconds: 1.05) == true)
        #expect(debouncer.stableLevel == true)
        // Reported once: more time changes nothing.
        #expect(debouncer.advance(toSeconds: 2.0) == nil)
    }

    @Test func test_aBounceShorterThanTheDebounceTimeIsIgnored() {
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: 0.05)
        #expect(debouncer.sample(true, atSeconds: 0.000) == nil)
        #expect(debouncer.sample(false, atSeconds: 0.004) == nil)
        #expect(debouncer.deadlineSeconds == nil)
        #expect(debouncer.advance(toSeconds: 1.0) == nil)
        #expect(debouncer.stableLevel == false)
    }

    @Test func test_eachBounceRestartsTheDebounceTime() {
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: 0.05)
        _ = debouncer.sample(true, atSeconds: 0.00)
        _ = debouncer.sample(false, atSeconds: 0.01)
        _ = debouncer.sample(true, atSeconds: 0.02)
        #expect(debouncer.deadlineSeconds == 0.02 + 0.05)
        #expect(debouncer.advance(toSeconds: 0.06) == nil)
        #expect(debouncer.advance(toSeconds: 0.07) == true)
    }

    @Test func test_repeatedSamplesOfThePendingLevelDoNotRestartTheDebounceTime() {
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: 0.05)
        _ = debouncer.sample(true, atSeconds: 0.00)
        #expect(debouncer.sample(true, atSeconds: 0.03) == nil)
        #expect(debouncer.sample(true, atSeconds: 0.05) == true)
    }

    @Test func test_aSampleAfterTheDeadlineFirstSettlesThePendingLevel() {
        // No advance() between the two samples: the level that held long enough still counts.
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: 0.05)
        _ = debouncer.sample(true, atSeconds: 0.00)
        #expect(debouncer.sample(false, atSeconds: 0.20) == true)
        #expect(debouncer.rawLevel == false)
        #expect(debouncer.deadlineSeconds == 0.25)
        #expect(debouncer.advance(toSeconds: 0.25) == false)
    }

    @Test func test_zeroDebounceTimeReportsEveryChangeAtOnce() {
        var debouncer = Debouncer(initialLevel: true, debounceSeconds: 0)
        #expect(debouncer.sample(false, atSeconds: 0.0) == false)
        #expect(debouncer.sample(true, atSeconds: 0.0) == true)
        #expect(debouncer.sample(true, atSeconds: 0.0) == nil)
    }

    @Test func test_aClockStepBackwardsCannotShortenTheDebounceTime() {
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: 0.05, startSeconds: 10)
        _ = debouncer.sample(true, atSeconds: 10.0)
        _ = debouncer.sample(false, atSeconds: 10.01)
        // A timestamp from before the last one is taken as the last one.
        _ = debouncer.sample(true, atSeconds: 9.0)
        #expect(debouncer.deadlineSeconds == 10.01 + 0.05)
        #expect(debouncer.advance(toSeconds: 10.05) == nil)
        #expect(debouncer.advance(toSeconds: 10.06) == true)
    }

    /// Against random bouncing, compared with the rule itself: a level is reported exactly when it
    /// has been the raw level for longer than the debounce time and differs from the last report.
    @Test(arguments: [UInt64(1), 7, 42, 2024])
    func test_aLevelIsReportedExactlyWhenItHeldForTheDebounceTime(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        // Not a multiple of the half-millisecond grid below, so no comparison sits on the boundary.
        let debounceSeconds = 0.03025
        var debouncer = Debouncer(initialLevel: false, debounceSeconds: debounceSeconds)
        var time = 0.0
        var raw = false
        var rawSince = 0.0
        var reported = false
        var reportCount = 0
        for _ in 0..<2000 {
            // Gaps from 1 ms to 60 ms: many bounces, some levels that hold.
            let gap = 0.001 + Double(random.next() % 60) * 0.001

            let midpoint = time + gap / 2
            let settlesByMidpoint = midpoint - rawSince > debounceSeconds && raw != reported
            let advanced = debouncer.advance(toSeconds: midpoint)
            #expect(advanced == (settlesByMidpoint ? raw : nil))
            if settlesByMidpoint { reported = raw; reportCount += 1 }

            time += gap
            let level = random.next() % 2 == 0
            let settlesBySample = time - rawSince > debounceSeconds && raw != reported
            let sampled = debouncer.sample(level, atSeconds: time)
            #expect(sampled == (settlesBySample ? raw : nil))
            if settlesBySample { reported = raw; reportCount += 1 }
            if level != raw {
                raw = level
                rawSince = time
            }
            #expect(debouncer.stableLevel == reported)
        }
        // The sequence must have exercised both outcomes.
        #expect(reportCount > 10)
    }
}

/// A small deterministic generator, so a failing seed can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
