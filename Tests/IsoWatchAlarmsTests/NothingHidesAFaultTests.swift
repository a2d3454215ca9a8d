import IsoWatchAlarms
import IsoWatchCore
import Testing

/// Issue 13: a test never hides a fault, and a monitoring function that delivers no valid value
/// is itself an alarm.
@Suite struct LampTestTests {
    @Test func test_lampTestNeverHidesARealInsulationFault() throws {
        var panel = try greenPanel()
        panel.send(.testStarted(user: "nurse"), at: 10)
        panel.read(at: 10.5, insulationOhms: 20_000)
        panel.read(at: 11.5, insulationOhms: 20_000)
        // Raised after the 1 s response delay, while the 5 s test still runs.
        #expect(panel.raised(.insulation).count == 1)
        #expect(panel.raised(.insulation).first?.raised.monotonic == .milliseconds(11_500))
        #expect(panel.outputs.testInProgress)
        #expect(panel.outputs.indicators == [.insulation])
        #expect(panel.outputs.yellow && panel.outputs.buzzer)
    }

    @Test func test_testRequestDuringATestDoesNotExtendIt() throws {
        var panel = try greenPanel()
        let duration = panel.settings.testDuration.secondsValue
        panel.send(.testStarted(user: "a"), at: 10)
        #expect(panel.machine.testRefusal(at: instant(12)) == .running(until: .seconds(10 + duration)))
        panel.send(.testStarted(user: "b"), at: 12)
        panel.read(at: 13)
        panel.wait(until: 10 + duration)
        #expect(!panel.outputs.testInProgress, "the test ends at its first start plus its duration")
        #expect(panel.outputs.green)
        #expect(panel.journal.filter(\.isTest).map(\.kind) == [.testStarted(user: "a"), .testEnded(user: "a")])
    }

    @Test func test_testsAreRateLimitedPerSystem() throws {
        var panel = try greenPanel(AlarmSettings(testDuration: .seconds(5), testRestInterval: .seconds(30)))
        panel.send(.testStarted(user: "a"), at: 10)
        panel.readHealthy(from: 11, through: 20)
        #expect(panel.machine.testRefusal(at: instant(20)) == .tooSoon(allowedFrom: .seconds(45)))
        panel.send(.testStarted(user: "a"), at: 20)
        #expect(!panel.outputs.testInProgress)
        panel.readHealthy(from: 21, through: 44)
        #expect(panel.machine.testRefusal(at: instant(45)) == nil)
        panel.send(.testStarted(user: "a"), at: 45)
        #expect(panel.outputs.testInProgress)
        #expect(panel.journal.filter { $0.kind == .testStarted(user: "a") }.count == 2)
    }

    @Test func test_repeatedPressesDoNotKeepAFaultAsATest() throws {
        // The reproduction of issue 13: a press every 3 s while the insulation fails.
        var panel = try greenPanel()
        var second = 10.0
        while second < 60 {
            panel.send(.testStarted(user: "operator"), at: second)
            panel.read(at: second + 1, insulationOhms: 20_000)
            panel.read(at: second + 2, insulationOhms: 20_000)
            second += 3
        }
        #expect(panel.raised(.insulation).count == 1)
        #expect(panel.raised(.insulation).first.map { $0.raised.monotonic <= .seconds(12) } == true)
        #expect(panel.outputs.indicators.contains(.insulation))
        // Two tests at most in 50 s (one start, then the rest interval), not one per press.
        #expect(panel.journal.filter { $0.kind == .testStarted(user: "operator") }.count == 2)
    }

    @Test func test_deviceSelfTestGatesInsulationOnlyUntilItsTimeout() throws {
        var panel = try greenPanel(AlarmSettings(deviceTestTimeout: .seconds(20)))
        panel.send(.deviceTestStarted, at: 10)
        // A device stuck in its self-test (or one that keeps "testing") shows its simulated
        // fault; it is ignored until the timeout at 30 s, then judged.
        for second in stride(from: 11.0, through: 29, by: 1) { panel.read(at: second, insulationOhms: 20_000) }
        #expect(panel.raised(.insulation).isEmpty)
        for second in stride(from: 30.0, through: 33, by: 1) { panel.read(at: second, insulationOhms: 20_000) }
        #expect(panel.raised(.insulation).count == 1)
        #expect(panel.raised(.selfTestFailed).count == 1)
    }
}

@Suite struct LostMonitoringFunctionTests {
    static let temperatureOK: [Quantity: MeasuredValue] = [
        .windingTemperatureCelsius: MeasuredValue(60), .loadPercent: MeasuredValue(40),
    ]

    func panel(_ monitored: Set<MonitoredQuantity>) throws -> Panel {
        var panel = try Panel(AlarmSettings(staleAfter: .seconds(5), monitored: monitored))
        panel.read(at: 1, values: Self.temperatureOK)
        panel.read(at: 2, values: Self.temperatureOK)
        #expect(panel.outputs.green)
        return panel
    }

    @Test func test_openTemperatureSensorRaisesTemperatureSensor() throws {
        var panel = try panel([.load, .windingTemperature])
        // 65535 Ω / 0x8000: the profile's "no value" codes decode as invalid.
        let open: [Quantity: MeasuredValue] = [
            .windingTemperatureCelsius: MeasuredValue(-3276.8, validity: .invalid),
            .temperatureSensorOhms: MeasuredValue(65_535, validity: .invalid), .loadPercent: MeasuredValue(40),
        ]
        for second in stride(from: 3.0, through: 6.5, by: 0.5) { panel.read(at: second, values: open) }
        #expect(panel.raised(.temperatureSensor).isEmpty, "not before the stale time since the last valid value")
        for second in stride(from: 7.0, through: 10, by: 0.5) { panel.read(at: second, values: open) }
        #expect(panel.raised(.temperatureSensor).count == 1)
        #expect(panel.raised(.staleData).isEmpty)
        #expect(panel.outputs.yellow && panel.outputs.indicators == [.temperatureSensor])
        // A valid value again releases it after the release delay.
        panel.readHealthy(from: 11, through: 20, values: Self.temperatureOK)
        #expect(panel.cleared(.temperatureSensor).count == 1)
        #expect(panel.outputs.indicators.isEmpty)
    }

    @Test func test_missingLoadValueRaisesStaleDataNamingIt() throws {
        var panel = try panel([.load, .windingTemperature])
        let noLoad: [Quantity: MeasuredValue] = [.windingTemperatureCelsius: MeasuredValue(60)]
        for second in stride(from: 3.0, through: 10, by: 1) { panel.read(at: second, values: noLoad) }
        let raised = panel.raised(.staleData)
        #expect(raised.count == 1)
        #expect(raised.first?.raised.monotonic == .seconds(7))
        #expect(raised.first?.detail?.contains("load_percent") == true)
        #expect(raised.first?.detail?.contains("insulation") == false)
    }

    @Test func test_noAlarmForASensorTheSystemDoesNotHave() throws {
        var panel = try panel([.load])
        let open: [Quantity: MeasuredValue] = [
            .temperatureSensorOhms: MeasuredValue(65_535, validity: .invalid), .loadPercent: MeasuredValue(40),
        ]
        for second in stride(from: 3.0, through: 30, by: 1) { panel.read(at: second, values: open) }
        #expect(panel.outputs.green)
        #expect(panel.raised.allSatisfy { $0.condition == .awaitingFirstMeasurement })
    }

    @Test func test_lostFunctionRaisedByTimeAloneWithoutReadings() throws {
        var panel = try panel([.windingTemperature])
        panel.send(.reading(DecodedReading(timestamp: instant(3).wall, values: [
            .insulationResistanceOhms: MeasuredValue(500_000),
            .windingTemperatureCelsius: MeasuredValue(-3276.8, validity: .invalid),
        ], updateCounter: 1000)), at: 3)
        // Time alone: the tick at 7 s (2 + 5) finds the sensor lost, and 1 s later it is raised.
        panel.wait(until: 8)
        #expect(panel.raised(.temperatureSensor).count == 1)
    }
}
