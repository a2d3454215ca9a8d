import IsoWatchAlarms
import IsoWatchCore
import Testing

/// IEC 60364-7-710 asks for a test device; the test exercises the lamps, the buzzer and the
/// common alarm but must never be taken for a fault.
@Suite struct TestButtonTests {
    @Test func test_testButtonLightsYellowAndSoundsBuzzerForTestDuration() throws {
        var panel = try greenPanel()
        let duration = panel.settings.testDuration.secondsValue
        panel.send(.testStarted(user: "technician"), at: 10)
        #expect(panel.outputs.yellow && panel.outputs.buzzer && panel.outputs.commonAlarm)
        #expect(!panel.outputs.green)
        #expect(panel.outputs.testInProgress)
        #expect(panel.outputs.indicators.isEmpty)
        panel.read(at: 11)
        panel.wait(until: 10 + duration - 0.001)
        #expect(panel.outputs.yellow)
        panel.wait(until: 10 + duration)
        #expect(panel.outputs.green && !panel.outputs.testInProgress && !panel.outputs.buzzer)
        let testRecords = panel.journal.filter(\.isTest).map(\.kind)
        #expect(testRecords == [.testStarted(user: "technician"), .testEnded(user: "technician")])
    }

    @Test func test_lampTestDoesNotHoldTheStaleTimer() throws {
        var panel = try greenPanel(AlarmSettings(staleAfter: .seconds(3), testDuration: .seconds(8)))
        panel.send(.testStarted(user: "technician"), at: 2.5)
        // The lamp test changes nothing in the measurement: without a value the system goes
        // stale at 2 + 3 s, test or no test.
        panel.wait(until: 5 - 0.001)
        #expect(panel.raised(.staleData).isEmpty)
        panel.wait(until: 5)
        #expect(panel.raised(.staleData).count == 1)
        #expect(panel.outputs.testInProgress && panel.outputs.indicators == [.staleData])
    }

    @Test func test_deviceSelfTestIsNeverConfusedWithAFault() throws {
        var panel = try greenPanel()
        let journalBefore = panel.journal.count
        panel.send(.testStarted(user: nil), at: 10)
        panel.send(.deviceTestStarted, at: 10)
        // An IMD simulates an insulation fault during its self-test.
        panel.read(at: 10.5, insulationOhms: 5_000, faults: [.insulation])
        panel.read(at: 11.5, insulationOhms: 5_000, faults: [.insulation])
        panel.read(at: 12.5, insulationOhms: 5_000, faults: [.insulation])
        panel.send(.testFinished(passed: true), at: 13)
        panel.readHealthy(from: 14, through: 40)
        #expect(panel.outputs.green)
        #expect(panel.raised.isEmpty || panel.raised.allSatisfy { $0.condition == .awaitingFirstMeasurement })
        #expect(panel.machine.episodes.isEmpty)
        #expect(panel.outputs.oldAlarms.isEmpty)
        #expect(panel.journal.dropFirst(journalBefore).allSatisfy { $0.isTest })
        #expect(panel.outputHistory.allSatisfy { $0.outputs.indicators.isEmpty || $0.seconds < 10 })
    }

    @Test func test_failedSelfTestRaisesAlarmUntilATestPasses() throws {
        var panel = try greenPanel()
        panel.send(.testStarted(user: "technician"), at: 10)
        panel.send(.testFinished(passed: false), at: 12)
        panel.readHealthy(from: 13, through: 60)
        #expect(panel.outputs.indicators == [.selfTestFailed])
        #expect(panel.outputs.yellow && !panel.outputs.testInProgress)
        panel.send(.testStarted(user: "technician"), at: 61)
        panel.send(.testFinished(passed: true), at: 63)
        panel.readHealthy(from: 64, through: 80)
        #expect(panel.outputs.green)
        #expect(panel.cleared(.selfTestFailed).count == 1)
    }

    @Test func test_silenceDuringTestStopsOnlyTheBuzzer() throws {
        var panel = try greenPanel()
        panel.send(.testStarted(user: nil), at: 10)
        panel.send(.silence(user: "nurse"), at: 11)
        #expect(!panel.outputs.buzzer)
        #expect(panel.outputs.yellow && panel.outputs.testInProgress)
    }

    @Test func test_testDuringAFaultLeavesTheFaultAsItWas() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 30_000)
        panel.wait(until: 11)
        panel.send(.silence(user: "nurse"), at: 12)
        panel.send(.testStarted(user: "technician"), at: 13)
        #expect(panel.outputs.buzzer, "the test sounds the buzzer")
        panel.read(at: 14, insulationOhms: 30_000)
        panel.wait(until: 13 + panel.settings.testDuration.secondsValue)
        panel.read(at: 19, insulationOhms: 30_000)
        #expect(panel.outputs.indicators == [.insulation])
        #expect(!panel.outputs.buzzer, "after the test the fault is still silenced")
        #expect(panel.raised(.insulation).count == 1)
    }
}
