import Foundation
import IsoWatchCore
import IsoWatchAlarms
import Testing

/// The filter between a commercial IMD's poll and the alarm machine (issue 4 §3).
struct CommercialReadingFilterTests {
    static let settings = CommercialReadingFilter.Settings(
        neverHoldAtOrBelowOhms: 100_000, plausibleRatio: 10, staleAfterSeconds: 5)

    static func reading(ohms: Double, counter: UInt32?, validity: Validity = .actual, faults: Set<Fault> = [])
        -> DecodedReading
    {
        DecodedReading(
            timestamp: Date(timeIntervalSince1970: 0),
            values: [.insulationResistanceOhms: MeasuredValue(ohms, validity: validity), .loadPercent: MeasuredValue(40)],
            faults: faults, updateCounter: counter)
    }

    @Test func test_aReadingWhoseCounterDidNotMoveIsPassedOnUnchangedAsARepeat() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 600_000, counter: 7), nowSeconds: 0)
        let repeated = Self.reading(ohms: 600_000, counter: 7)
        let (out, verdict) = filter.filter(repeated, nowSeconds: 1)
        #expect(verdict == .repeated)
        #expect(out == repeated)
    }

    @Test func test_valuesWhoseCounterHasNotMovedForTheStaleTimeAreMarkedInvalid() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 600_000, counter: 7), nowSeconds: 10)
        let early = filter.filter(Self.reading(ohms: 600_000, counter: 7), nowSeconds: 14.9)
        #expect(early.verdict == .repeated)
        let late = filter.filter(Self.reading(ohms: 600_000, counter: 7), nowSeconds: 15)
        #expect(late.verdict == .stale)
        #expect(late.reading[.insulationResistanceOhms] == MeasuredValue(600_000, validity: .invalid))
        #expect(late.reading[.loadPercent]?.validity == .invalid)
        // A moving counter makes the values measurements again.
        let fresh = filter.filter(Self.reading(ohms: 610_000, counter: 8), nowSeconds: 16)
        #expect(fresh.verdict == .accepted)
        #expect(fresh.reading[.insulationResistanceOhms] == MeasuredValue(610_000))
    }

    @Test func test_anImplausibleJumpIsHeldAsInvalidUntilASecondFreshValueConfirmsIt() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 5_000_000, counter: 1), nowSeconds: 0)
        let jump = filter.filter(Self.reading(ohms: 300_000, counter: 2), nowSeconds: 1)
        #expect(jump.verdict == .held(insulationResistanceOhms: 300_000))
        #expect(jump.reading[.insulationResistanceOhms] == MeasuredValue(300_000, validity: .invalid))
        #expect(filter.acceptedInsulationOhms == 5_000_000)
        // Between measurements the doubt stays.
        let between = filter.filter(Self.reading(ohms: 300_000, counter: 2), nowSeconds: 1.5)
        #expect(between.verdict == .repeated)
        #expect(between.reading[.insulationResistanceOhms]?.validity == .invalid)
        let confirmation = filter.filter(Self.reading(ohms: 320_000, counter: 3), nowSeconds: 2)
        #expect(confirmation.verdict == .confirmed)
        #expect(confirmation.reading[.insulationResistanceOhms] == MeasuredValue(320_000))
        #expect(filter.acceptedInsulationOhms == 320_000)
    }

    @Test func test_aJumpTheNextMeasurementDoesNotRepeatIsDroppedAsAGlitch() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 400_000, counter: 1), nowSeconds: 0)
        let glitch = filter.filter(Self.reading(ohms: 9_000_000, counter: 2), nowSeconds: 1)
        #expect(glitch.verdict == .held(insulationResistanceOhms: 9_000_000))
        let back = filter.filter(Self.reading(ohms: 410_000, counter: 3), nowSeconds: 2)
        #expect(back.verdict == .accepted)
        #expect(filter.heldInsulationOhms == nil)
        #expect(filter.acceptedInsulationOhms == 410_000)
    }

    @Test func test_anAlarmLevelValueIsNeverHeldHoweverFarItFell() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 5_000_000, counter: 1), nowSeconds: 0)
        let fault = filter.filter(Self.reading(ohms: 25_000, counter: 2), nowSeconds: 1)
        #expect(fault.verdict == .accepted)
        #expect(fault.reading[.insulationResistanceOhms] == MeasuredValue(25_000))
        // "< 10 kΩ" from the device is alarm-level whatever the number.
        var below = CommercialReadingFilter(settings: Self.settings)
        _ = below.filter(Self.reading(ohms: 5_000_000, counter: 1), nowSeconds: 0)
        #expect(below.filter(Self.reading(ohms: 10_000, counter: 2, validity: .belowRange), nowSeconds: 1).verdict == .accepted)
    }

    @Test func test_aJumpTheDeviceExplainsWithItsOwnFaultFlagIsNotHeld() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 8_000_000, counter: 1), nowSeconds: 0)
        let flagged = filter.filter(Self.reading(ohms: 150_000, counter: 2, faults: [.insulation]), nowSeconds: 1)
        #expect(flagged.verdict == .accepted)
        #expect(flagged.reading[.insulationResistanceOhms]?.validity == .actual)
    }

    @Test func test_aRiseOutOfAnAlarmIsHeldLikeAnyJump() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 30_000, counter: 1), nowSeconds: 0)
        let rise = filter.filter(Self.reading(ohms: 900_000, counter: 2), nowSeconds: 1)
        #expect(rise.verdict == .held(insulationResistanceOhms: 900_000))
        #expect(rise.reading[.insulationResistanceOhms]?.validity == .invalid)
    }

    @Test func test_aDeviceWithoutCounterGivesAFreshValueEveryPoll() {
        var filter = CommercialReadingFilter(settings: Self.settings)
        _ = filter.filter(Self.reading(ohms: 600_000, counter: nil), nowSeconds: 0)
        let later = filter.filter(Self.reading(ohms: 600_000, counter: nil), nowSeconds: 60)
        #expect(later.verdict == .accepted)
        #expect(later.reading[.insulationResistanceOhms]?.validity == .actual)
    }
}
