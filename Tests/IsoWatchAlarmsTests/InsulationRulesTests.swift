import IsoWatchAlarms
import IsoWatchCore
import Testing

/// IEC 60364-7-710 / IEC 61557-8: the yellow lamp when Re has fallen to the response value,
/// released only above the response value plus hysteresis.
@Suite struct InsulationRulesTests {
    let threeSecondResponse = AlarmSettings(
        insulation: InsulationLevel(responseOhms: 50_000, delays: delays(response: 3, release: 5)), staleAfter: storyStaleAfter)

    @Test func test_insulationAlarmNotRaisedBeforeResponseDelay() throws {
        var panel = try greenPanel(threeSecondResponse)
        for second in [10.0, 11, 12] { panel.read(at: second, insulationOhms: 40_000) }
        panel.wait(until: 12.999)
        #expect(panel.outputs.green)
        #expect(panel.raised(.insulation).isEmpty)

        panel.wait(until: 13)
        #expect(panel.outputs.indicators == [.insulation])
        #expect(panel.outputs.yellow && panel.outputs.buzzer && !panel.outputs.green)
    }

    @Test func test_alarmWhenResistanceHasFallenToTheResponseValue() throws {
        let response = AlarmSettings(staleAfter: storyStaleAfter).insulation.responseOhms
        var atResponse = try greenPanel()
        atResponse.read(at: 10, insulationOhms: response)
        atResponse.wait(until: 20)
        #expect(atResponse.outputs.indicators.contains(.insulation))

        var justAbove = try greenPanel()
        justAbove.read(at: 10, insulationOhms: response + 1)
        justAbove.read(at: 15, insulationOhms: response + 1)
        justAbove.wait(until: 20)
        #expect(justAbove.raised(.insulation).isEmpty)
    }

    @Test func test_responseDelayRestartsWhenResistanceRecovers() throws {
        var panel = try greenPanel(threeSecondResponse)
        panel.read(at: 10, insulationOhms: 40_000)
        panel.read(at: 11, insulationOhms: 55_000)
        panel.read(at: 12, insulationOhms: 40_000)
        panel.wait(until: 14.999)
        #expect(panel.raised(.insulation).isEmpty, "a delay that started at 10 s was cancelled at 11 s")
        panel.wait(until: 15)
        #expect(panel.outputs.indicators == [.insulation])
    }

    @Test func test_doubtDoesNotCancelAnAlarmOnItsWay() throws {
        var panel = try greenPanel(threeSecondResponse)
        panel.read(at: 10, insulationOhms: 40_000)
        panel.read(at: 11, insulationOhms: 0, validity: .invalid)
        panel.read(at: 12, insulationOhms: nil)
        panel.wait(until: 13)
        #expect(panel.outputs.indicators == [.insulation])
    }

    @Test func test_releaseNeedsHysteresis() throws {
        var panel = try greenPanel()
        let release = panel.settings.insulation.releaseOhms
        #expect(release == panel.settings.insulation.responseOhms * 1.25)
        panel.read(at: 10, insulationOhms: 40_000)
        panel.wait(until: 11)
        #expect(panel.outputs.indicators == [.insulation])

        for second in stride(from: 12.0, through: 120, by: 1) {
            panel.read(at: second, insulationOhms: release - 1)
        }
        #expect(panel.outputs.indicators == [.insulation], "above the response value but inside the hysteresis")

        panel.read(at: 121, insulationOhms: release)
        panel.wait(until: 121 + panel.settings.insulationReleaseDelaySeconds)
        #expect(panel.outputs.indicators.isEmpty)
        #expect(panel.outputs.green)
    }

    @Test func test_releaseMustPersistForReleaseDelay() throws {
        var panel = try greenPanel()
        let release = panel.settings.insulation.releaseOhms
        let releaseDelay = panel.settings.insulationReleaseDelaySeconds
        panel.read(at: 10, insulationOhms: 40_000)
        panel.wait(until: 11)
        panel.read(at: 20, insulationOhms: release + 10_000)
        panel.read(at: 22, insulationOhms: release - 1)
        panel.read(at: 23, insulationOhms: release + 10_000)
        panel.wait(until: 20 + releaseDelay)
        #expect(panel.outputs.indicators == [.insulation], "the release that began at 20 s was contradicted at 22 s")
        panel.wait(until: 23 + releaseDelay - 0.001)
        #expect(panel.outputs.indicators == [.insulation])
        panel.wait(until: 23 + releaseDelay)
        #expect(panel.outputs.indicators.isEmpty)
    }

    @Test func test_doubtNeverReleasesAnAlarm() throws {
        var panel = try greenPanel()
        let release = panel.settings.insulation.releaseOhms
        panel.read(at: 10, insulationOhms: 40_000)
        panel.wait(until: 11)
        panel.read(at: 20, insulationOhms: release + 10_000)
        panel.read(at: 21, insulationOhms: release + 10_000, validity: .invalid)
        for second in stride(from: 22.0, through: 60, by: 1) {
            panel.read(at: second, insulationOhms: 0, validity: .invalid)
        }
        #expect(panel.outputs.indicators.contains(.insulation))
        #expect(panel.outputs.indicators.contains(.staleData))
    }

    @Test func test_belowRangeAtOrUnderResponseValueIsAnAlarmIndication() throws {
        var panel = try greenPanel()
        // An IMD whose display bottoms out at 10 kΩ shows "< 10 kΩ": certainly an insulation fault.
        for second in stride(from: 10.0, through: 60, by: 1) {
            panel.read(at: second, insulationOhms: 10_000, validity: .belowRange)
        }
        #expect(panel.outputs.indicators == [.insulation], "a conclusive value keeps the data fresh: no stale alarm")
    }

    @Test func test_belowRangeAboveResponseValueIsNoVerdict() throws {
        var panel = try greenPanel()
        let lastFresh = 2.0
        for second in stride(from: 3.0, through: 60, by: 1) {
            panel.read(at: second, insulationOhms: 80_000, validity: .belowRange)
        }
        #expect(panel.raised(.insulation).isEmpty, "\"< 80 kΩ\" does not say Re reached 50 kΩ")
        let stale = try #require(panel.raised(.staleData).first)
        #expect(stale.raised.monotonic == instant(lastFresh + panel.settings.staleAfterSeconds).monotonic)
        #expect(!panel.wasGreen(from: lastFresh + panel.settings.staleAfterSeconds))
    }

    @Test func test_aboveRangeAboveResponseValueIsHealthy() throws {
        var panel = try Panel()
        for second in stride(from: 1.0, through: 60, by: 1) {
            panel.read(at: second, insulationOhms: 1_000_000, validity: .aboveRange)
        }
        #expect(panel.outputs.green)
        #expect(panel.outputHistory.map(\.outputs.green) == [false, true], "green from the first poll, never a change since")
    }

    @Test func test_aboveRangeReleasesOnlyPastTheReleaseValue() throws {
        var panel = try greenPanel()
        let settings = panel.settings.insulation
        panel.read(at: 10, insulationOhms: 40_000)
        panel.wait(until: 11)
        for second in stride(from: 12.0, through: 40, by: 1) {
            panel.read(at: second, insulationOhms: (settings.responseOhms + settings.releaseOhms) / 2, validity: .aboveRange)
        }
        #expect(panel.outputs.indicators == [.insulation], "\"> x\" inside the hysteresis is fresh but does not release")
        panel.read(at: 41, insulationOhms: settings.releaseOhms, validity: .aboveRange)
        panel.wait(until: 41 + panel.settings.insulationReleaseDelaySeconds)
        #expect(panel.outputs.green)
    }

    @Test func test_deviceInsulationFlagIsASecondOpinion() throws {
        var panel = try greenPanel()
        panel.read(at: 10, insulationOhms: 200_000, faults: [.insulation])
        panel.read(at: 11, insulationOhms: 200_000, faults: [.insulation])
        #expect(panel.outputs.indicators == [.insulation])
        panel.read(at: 12, insulationOhms: 200_000)
        panel.wait(until: 12 + panel.settings.insulationReleaseDelaySeconds)
        #expect(panel.outputs.green)
        let episode = try #require(panel.cleared(.insulation).first)
        #expect(episode.worstValues[.insulationResistanceOhms] == MeasuredValue(200_000))
    }

    @Test func test_alarmRaisedByTheDeviceIsReleasedByOurHysteresis() throws {
        var panel = try greenPanel()
        let settings = panel.settings.insulation
        let insideHysteresis = (settings.responseOhms + settings.releaseOhms) / 2
        panel.read(at: 10, insulationOhms: insideHysteresis, faults: [.insulation])
        panel.wait(until: 11)
        for second in stride(from: 12.0, through: 60, by: 1) {
            panel.read(at: second, insulationOhms: insideHysteresis)
        }
        #expect(panel.outputs.indicators == [.insulation])
        panel.read(at: 61, insulationOhms: settings.releaseOhms)
        panel.wait(until: 61 + panel.settings.insulationReleaseDelaySeconds)
        #expect(panel.outputs.green)
    }

    @Test func test_unchangedUpdateCounterIsNotAFreshValue() throws {
        var panel = try greenPanel()
        for second in stride(from: 3.0, through: 40, by: 1) {
            panel.read(at: second, repeatedMeasurement: true)
        }
        let stale = try #require(panel.raised(.staleData).first)
        #expect(stale.raised.monotonic == instant(2 + panel.settings.staleAfterSeconds).monotonic)
        panel.read(at: 41)
        #expect(panel.outputs.green, "a new measurement ends the stale alarm")
    }

    @Test func test_repeatedMeasurementNeitherStartsNorCancelsADelay() throws {
        var panel = try greenPanel(threeSecondResponse)
        panel.read(at: 10, insulationOhms: 40_000)
        // Polled faster than the device measures: the same measurement again, whatever it shows.
        panel.read(at: 11, insulationOhms: 40_000, repeatedMeasurement: true)
        panel.read(at: 12, insulationOhms: 400_000, repeatedMeasurement: true)
        panel.wait(until: 13)
        #expect(panel.outputs.indicators == [.insulation])
    }
}

@Suite struct InsulationPrewarningTests {
    let settings = AlarmSettings(insulationPrewarning: InsulationLevel(responseOhms: 100_000), staleAfter: storyStaleAfter)

    @Test func test_prewarningIsRaisedBeforeTheAlarmLevel() throws {
        var panel = try greenPanel(settings)
        panel.read(at: 10, insulationOhms: 80_000)
        panel.wait(until: 12)
        #expect(panel.outputs.indicators == [.insulationPrewarning])
        #expect(panel.outputs.yellow)
        panel.read(at: 13, insulationOhms: 40_000)
        panel.wait(until: 15)
        #expect(panel.outputs.indicators == [.insulationPrewarning, .insulation])
    }

    @Test func test_stepFromPrewarningToAlarmResoundsASilencedBuzzer() throws {
        var panel = try greenPanel(settings)
        panel.read(at: 10, insulationOhms: 80_000)
        panel.wait(until: 12)
        panel.send(.silence(user: "anaesthetist"), at: 12)
        #expect(!panel.outputs.buzzer)
        panel.read(at: 13, insulationOhms: 40_000)
        panel.wait(until: 15)
        #expect(panel.outputs.buzzer)
        #expect(panel.resoundCauses == [.newCondition(.insulation)])
    }
}
