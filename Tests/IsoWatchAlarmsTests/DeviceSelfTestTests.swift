import IsoWatchAlarms
import IsoWatchCore
import Testing

/// The IMD's own self-test, started through its profile: it simulates an insulation fault and
/// publishes no real value while it runs. The automatic function test uses it without lamps.
@Suite struct DeviceSelfTestTests {
    @Test func test_deviceSelfTestLightsNothingByItself() throws {
        var panel = try greenPanel()
        panel.send(.deviceTestStarted, at: 10)
        #expect(panel.outputs.green && !panel.outputs.yellow && !panel.outputs.buzzer && !panel.outputs.testInProgress)
        panel.send(.testFinished(passed: true), at: 20)
        #expect(panel.outputs.green)
        #expect(panel.journal.last?.kind == .selfTestResult(passed: true))
    }

    @Test func test_deviceSelfTestsSimulatedInsulationFaultIsNotAnAlarm() throws {
        var panel = try greenPanel()
        panel.send(.deviceTestStarted, at: 10)
        for second in stride(from: 11.0, through: 25, by: 1) {
            panel.read(at: second, insulationOhms: 5_000, faults: [.insulation])
        }
        panel.send(.testFinished(passed: true), at: 26)
        panel.readHealthy(from: 27, through: 40)
        #expect(panel.raised(.insulation).isEmpty)
        #expect(panel.outputHistory.allSatisfy { $0.seconds < 10 || $0.outputs.green })
    }

    @Test func test_staleTimerWaitsWhileTheDeviceTestsItself() throws {
        var panel = try greenPanel()
        let stale = panel.settings.staleAfterSeconds
        panel.send(.deviceTestStarted, at: 10)
        // No fresh value for much longer than the stale time: the device is busy testing.
        panel.wait(until: 10 + 3 * stale)
        #expect(panel.raised(.staleData).isEmpty)
        panel.send(.testFinished(passed: true), at: 10 + 3 * stale)
        // The stale time starts again at the end of the test.
        panel.wait(until: 10 + 4 * stale - 0.001)
        #expect(panel.raised(.staleData).isEmpty)
        panel.wait(until: 10 + 4 * stale)
        #expect(panel.raised(.staleData).count == 1, "with no value after the test the system goes stale")
    }

    @Test func test_realInsulationFaultAfterTheDeviceTestIsRaised() throws {
        var panel = try greenPanel()
        panel.send(.deviceTestStarted, at: 10)
        panel.read(at: 11, insulationOhms: 5_000, faults: [.insulation])
        panel.send(.testFinished(passed: true), at: 12)
        panel.read(at: 13, insulationOhms: 30_000)
        panel.read(at: 14, insulationOhms: 30_000)
        panel.read(at: 15, insulationOhms: 30_000)
        #expect(panel.raised(.insulation).count == 1)
        #expect(panel.outputs.yellow && panel.outputs.buzzer)
    }

    @Test func test_failedDeviceSelfTestRaisesSelfTestFailedAndSounds() throws {
        var panel = try greenPanel()
        panel.send(.deviceTestStarted, at: 10)
        panel.send(.testFinished(passed: false), at: 15)
        #expect(panel.outputs.indicators == [.selfTestFailed])
        #expect(panel.outputs.yellow && panel.outputs.buzzer)
    }

    @Test func test_deviceSelfTestWithoutAResultFailsAtItsTimeout() throws {
        var settings = AlarmSettings(staleAfter: storyStaleAfter)
        settings.deviceTestTimeout = .seconds(30)
        var panel = try greenPanel(settings)
        panel.send(.deviceTestStarted, at: 10)
        panel.wait(until: 39.999)
        #expect(panel.raised(.selfTestFailed).isEmpty && panel.raised(.staleData).isEmpty)
        panel.wait(until: 40)
        #expect(panel.raised(.selfTestFailed).count == 1, "no result in 30 s is a failed self-test")
        #expect(panel.journal.contains { $0.kind == .selfTestResult(passed: false) })
        #expect(panel.outputs.yellow && panel.outputs.buzzer)
        #expect(!panel.machine.deviceTestInProgress)
    }

    @Test func test_deviceSelfTestTimeoutMustBePositive() {
        var settings = AlarmSettings(staleAfter: storyStaleAfter)
        settings.deviceTestTimeout = .zero
        #expect(settings.validate() == ["device self-test timeout must be positive"])
    }
}
