import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@testable import IsoWatchModbus

/// What the fault suite found about coming back after a fault: a line a killed process left
/// behind, and a unit that fails now and then.
@Suite(.serialized)
struct LineRecoveryTests {
    @Test func test_lineLeftWithParityByAKilledClientIsOpenedAgain() throws {
        let simulator = try TestSimulator(
            rtuUnits: [UnitDescription(unit: 1, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 420_000])],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let settings = SerialSettings(device: simulator.ptyPath, baud: 19200, parity: .even)
        // The client before: it set the line up (even parity) and never put it back, as a killed
        // process never does. It stays open here; what matters is the settings it leaves.
        let killed = ModbusConnection(endpoint: .rtu(settings))
        try killed.connect()
        defer { killed.close() }

        // A pty cannot keep parity: glibc reads the settings back, finds PARENB gone and reports
        // EINVAL, and before the reset every restart of the service failed here.
        let connection = ModbusConnection(endpoint: .rtu(settings))
        defer { connection.close() }
        try connection.connect()
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let block = try #require(profile.readBlocks().first)
        let words = try connection.read(unit: 1, block: block, timeoutSeconds: 0.5)
        #expect(words.count == Int(block.count))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Whether two instants are the same to a nanosecond (durations made from decimal seconds
    /// are not exact).
    static func same(_ a: ContinuousClock.Instant, _ b: ContinuousClock.Instant) -> Bool {
        abs(seconds(a.duration(to: b))) < 1e-9
    }

    /// The waits the schedule sets between the polls of a unit that fails every time, each poll
    /// costing `timeout`, on a clock the test drives.
    static func waitsWhileFailing(
        interval: Double, timeout: Double, patience: Double, polls: Int, backoff: BackoffPolicy = BackoffPolicy()
    ) -> [Double] {
        let origin = ContinuousClock().now
        var schedule = PollSchedule(firstDue: origin)
        var waits: [Double] = []
        for _ in 0..<polls {
            let failedAt = schedule.nextDue + .seconds(timeout)
            schedule.recordFailure(at: failedAt, intervalSeconds: interval, patienceSeconds: patience, backoff: backoff)
            waits.append(seconds(failedAt.duration(to: schedule.nextDue)))
        }
        return waits
    }

    /// A unit is asked at its interval until its communication alarm would be due, so a few lost
    /// replies never stretch into a gap longer than the stale time; only then does it back off.
    /// (`BusPollerTests.test_offlineUnitOnAnRTUBusDoesNotStallTheOthers` sees the same over a pty.)
    @Test func test_failingUnitIsAskedAtItsIntervalUntilItsPatienceRunsOut() {
        // One poll per 0.3 s: the first ten failures come within 2.7 s of the first, inside a
        // patience of 2.95 s; the eleventh (3.0 s) is the first beyond it.
        let patient = Self.waitsWhileFailing(interval: 0.2, timeout: 0.1, patience: 2.95, polls: 16)
        #expect(patient.prefix(10).allSatisfy { abs($0 - 0.2) < 1e-9 }, "\(patient)")
        #expect(zip(patient.dropFirst(10), [0.2, 0.4, 0.8, 1.6, 3.2, 4.0]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(patient)")

        // Without patience the backoff starts with the first failure.
        let impatient = Self.waitsWhileFailing(interval: 0.2, timeout: 0.1, patience: 0, polls: 7)
        #expect(zip(impatient, [0.2, 0.4, 0.8, 1.6, 3.2, 4.0, 4.0]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(impatient)")

        // A unit whose interval is longer than the backoff's ceiling is never asked less often than that.
        let slow = Self.waitsWhileFailing(interval: 10, timeout: 0.1, patience: 0, polls: 3)
        #expect(slow == [10, 10, 10])
    }

    @Test func test_aSuccessEndsTheBackoffAndRestartsThePatience() {
        let origin = ContinuousClock().now
        let backoff = BackoffPolicy()
        var schedule = PollSchedule(firstDue: origin)
        var now = origin
        for _ in 0..<5 {
            now = schedule.nextDue + .milliseconds(100)
            schedule.recordFailure(at: now, intervalSeconds: 0.2, patienceSeconds: 0, backoff: backoff)
        }
        #expect(abs(Self.seconds(now.duration(to: schedule.nextDue)) - 3.2) < 1e-9)
        now = schedule.nextDue + .milliseconds(10)
        schedule.recordSuccess(at: now, intervalSeconds: 0.2)
        #expect(!schedule.isFailing)
        let phase = schedule.nextDue
        now = phase + .milliseconds(100)
        schedule.recordFailure(at: now, intervalSeconds: 0.2, patienceSeconds: 1, backoff: backoff)
        #expect(Self.same(schedule.nextDue, now + .milliseconds(200)))
    }

    @Test func test_aLatePollKeepsThePhaseAndSkipsTheSlotsItMissed() {
        let origin = ContinuousClock().now
        var schedule = PollSchedule(firstDue: origin)
        schedule.recordSuccess(at: origin + .milliseconds(50), intervalSeconds: 0.2)
        #expect(Self.same(schedule.nextDue, origin + .milliseconds(200)))
        // 0.5 s late: the slots at 0.4 and 0.6 s are gone, the next is the one at 0.8 s.
        schedule.recordSuccess(at: origin + .milliseconds(700), intervalSeconds: 0.2)
        #expect(Self.same(schedule.nextDue, origin + .milliseconds(800)))
        // Back to back: due again at once.
        schedule.recordSuccess(at: origin + .milliseconds(900), intervalSeconds: 0)
        #expect(schedule.nextDue == origin + .milliseconds(900))
    }
}

/// A reloaded configuration replaces a bus's device list (issue 14 §2): units that stay keep their
/// schedule (phase and backoff), a new one is due at once, a removed one is gone.
@Suite struct DeviceListReplacementTests {
    static func device(_ id: String) -> PolledDevice {
        PolledDevice(id: id, unit: 1, blocks: []) { _, time in DecodedReading(timestamp: time) }
    }

    @Test func test_unitsThatStayKeepTheirScheduleAndNewOnesAreDueNow() {
        let origin = ContinuousClock().now
        var staying = PollSchedule(firstDue: origin)
        staying.recordSuccess(at: origin + .milliseconds(30), intervalSeconds: 0.5)
        var failing = PollSchedule(firstDue: origin)
        failing.recordFailure(at: origin + .milliseconds(40), intervalSeconds: 0.5, patienceSeconds: 0, backoff: BackoffPolicy())
        let now = origin + .milliseconds(100)

        let carried = BusPoller.carryOver(
            [staying, failing, PollSchedule(firstDue: origin)], of: [Self.device("a"), Self.device("b"), Self.device("c")],
            to: [Self.device("b"), Self.device("new"), Self.device("a")], now: now)

        #expect(carried.count == 3)
        #expect(carried[0] == failing, "b keeps its backoff")
        #expect(carried[1] == PollSchedule(firstDue: now), "a new unit is asked at once")
        #expect(carried[2] == staying, "a keeps its phase")
    }
}
