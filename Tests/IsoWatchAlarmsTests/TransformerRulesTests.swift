import IsoWatchAlarms
import IsoWatchCore
import Testing

/// The isolating transformer may not be tripped on overload (IEC 60364-7-710 clause 710.53.1), so
/// its load and winding temperature are alarmed instead.
@Suite struct TransformerRulesTests {
    @Test func test_overloadRaisedFromLoadPercent() throws {
        var panel = try greenPanel()
        let level = panel.settings.overload
        let responseDelay = level.delays.responseDelay.secondsValue
        panel.read(at: 10, values: [.loadPercent: MeasuredValue(level.responsePercent)])
        panel.wait(until: 10 + responseDelay - 0.001)
        #expect(panel.outputs.green)
        panel.wait(until: 10 + responseDelay)
        #expect(panel.outputs.indicators == [.overload])
    }

    @Test func test_overloadReleaseNeedsHysteresis() throws {
        var panel = try greenPanel()
        let level = panel.settings.overload
        #expect(level.releasePercent < level.responsePercent)
        for second in stride(from: 10.0, through: 29, by: 1) {
            panel.read(at: second, values: [.loadPercent: MeasuredValue(level.responsePercent + 20)])
        }
        for second in stride(from: 30.0, through: 60, by: 1) {
            panel.read(at: second, values: [.loadPercent: MeasuredValue(level.releasePercent + 1)])
        }
        #expect(panel.outputs.indicators == [.overload])
        for second in stride(from: 61.0, through: 80, by: 1) {
            panel.read(at: second, values: [.loadPercent: MeasuredValue(level.releasePercent)])
        }
        #expect(panel.outputs.green)
    }

    @Test func test_overloadComputedFromLoadCurrentAndRatedCurrent() throws {
        let rated = 27.5
        var panel = try greenPanel(AlarmSettings(overload: OverloadLevel(ratedCurrentAmperes: rated), staleAfter: storyStaleAfter))
        let amperes = rated * 1.2
        for second in stride(from: 10.0, through: 20, by: 1) {
            panel.read(at: second, values: [.loadCurrentAmperes: MeasuredValue(amperes)])
        }
        #expect(panel.outputs.indicators == [.overload])
        let episode = try #require(panel.raised(.overload).first)
        let percent = try #require(episode.worstValues[.loadPercent]?.value)
        #expect(abs(percent - amperes / rated * 100) < 1e-9)
    }

    @Test func test_overloadFlaggedByDeviceClearsWithTheFlagWhenLoadCannotBeJudged() throws {
        // Amperes but no rated current configured: the device's own verdict is all there is.
        var panel = try greenPanel()
        for second in stride(from: 10.0, through: 20, by: 1) {
            panel.read(at: second, values: [.loadCurrentAmperes: MeasuredValue(40)], faults: [.overload])
        }
        #expect(panel.outputs.indicators == [.overload])
        for second in stride(from: 21.0, through: 40, by: 1) {
            panel.read(at: second, values: [.loadCurrentAmperes: MeasuredValue(40)])
        }
        #expect(panel.outputs.green)
    }

    @Test func test_overtemperatureFromWindingTemperature() throws {
        var panel = try greenPanel()
        let level = panel.settings.overtemperature
        let between = (level.responseCelsius + level.releaseCelsius) / 2
        for second in stride(from: 10.0, through: 20, by: 1) {
            panel.read(at: second, values: [.windingTemperatureCelsius: MeasuredValue(level.responseCelsius)])
        }
        #expect(panel.outputs.indicators == [.overtemperature])
        for second in stride(from: 21.0, through: 40, by: 1) {
            panel.read(at: second, values: [.windingTemperatureCelsius: MeasuredValue(between)])
        }
        #expect(panel.outputs.indicators == [.overtemperature])
        for second in stride(from: 41.0, through: 60, by: 1) {
            panel.read(at: second, values: [.windingTemperatureCelsius: MeasuredValue(level.releaseCelsius)])
        }
        #expect(panel.outputs.green)
    }

    @Test func test_overtemperatureFromPTCChainUsesResponseAndReleaseResistances() throws {
        var panel = try greenPanel()
        let level = panel.settings.overtemperature
        for second in stride(from: 10.0, through: 20, by: 1) {
            panel.read(at: second, values: [.temperatureSensorOhms: MeasuredValue(level.sensorResponseOhms - 1)])
        }
        #expect(panel.outputs.green, "a warm PTC chain below its response resistance")
        for second in stride(from: 21.0, through: 30, by: 1) {
            panel.read(at: second, values: [.temperatureSensorOhms: MeasuredValue(level.sensorResponseOhms)])
        }
        #expect(panel.outputs.indicators == [.overtemperature])
        for second in stride(from: 31.0, through: 50, by: 1) {
            panel.read(at: second, values: [.temperatureSensorOhms: MeasuredValue(level.sensorReleaseOhms + 1)])
        }
        #expect(panel.outputs.indicators == [.overtemperature])
        for second in stride(from: 51.0, through: 70, by: 1) {
            panel.read(at: second, values: [.temperatureSensorOhms: MeasuredValue(level.sensorReleaseOhms)])
        }
        #expect(panel.outputs.green)
    }

    @Test func test_eitherTemperatureSourceRaisesAndBothMustRelease() throws {
        var panel = try greenPanel()
        let level = panel.settings.overtemperature
        let hot: [Quantity: MeasuredValue] = [
            .windingTemperatureCelsius: MeasuredValue(level.releaseCelsius - 5),
            .temperatureSensorOhms: MeasuredValue(level.sensorResponseOhms * 2),
        ]
        for second in stride(from: 10.0, through: 20, by: 1) { panel.read(at: second, values: hot) }
        #expect(panel.outputs.indicators == [.overtemperature])
        let oneCalm: [Quantity: MeasuredValue] = [
            .windingTemperatureCelsius: MeasuredValue(level.releaseCelsius - 5),
            .temperatureSensorOhms: MeasuredValue(0, validity: .invalid),
        ]
        for second in stride(from: 21.0, through: 40, by: 1) { panel.read(at: second, values: oneCalm) }
        #expect(panel.outputs.indicators == [.overtemperature], "a sensor in doubt keeps the alarm")
    }

    @Test func test_valueThatDisappearsNeverReleasesAnAlarm() throws {
        var panel = try greenPanel()
        let hot = panel.settings.overtemperature.responseCelsius + 10
        for second in stride(from: 10.0, through: 20, by: 1) {
            panel.read(at: second, values: [.windingTemperatureCelsius: MeasuredValue(hot)])
        }
        #expect(panel.outputs.indicators == [.overtemperature])
        panel.readHealthy(from: 21, through: 120)
        #expect(panel.outputs.indicators == [.overtemperature], "a gap in the data is not a cooled winding")
    }

    static let deviceOnlyFaults: [(Fault, AlarmCondition)] = [
        (.earthConnection, .earthConnection), (.lineConnection, .lineConnection),
        (.temperatureSensor, .temperatureSensor), (.device, .device),
    ]

    @Test(arguments: deviceOnlyFaults)
    func test_deviceOnlyFaultRaisesItsOwnCondition(fault: Fault, condition: AlarmCondition) throws {
        var panel = try greenPanel()
        let timing = panel.settings.deviceFaultDelays
        panel.read(at: 10, faults: [fault])
        panel.read(at: 10.5, faults: [fault], repeatedMeasurement: true)
        panel.wait(until: 10 + timing.responseDelay.secondsValue)
        #expect(panel.outputs.indicators == [condition])
        #expect(panel.outputs.buzzer)
        panel.read(at: 20)
        panel.wait(until: 20 + timing.releaseDelay.secondsValue - 0.001)
        #expect(panel.outputs.indicators == [condition])
        panel.read(at: 20 + timing.releaseDelay.secondsValue)
        #expect(panel.outputs.green)
    }
}
