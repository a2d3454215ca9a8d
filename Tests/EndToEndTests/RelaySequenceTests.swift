import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import Testing

/// The order in which the service switches one theatre's relays, read back from the simulated
/// chip's change history, with a neighbouring theatre on the same gateway that must not move.
///
/// Relays are written one at a time, so between two writes the panel shows a mix of the old and
/// the new state. The service switches make-before-break: whatever comes on is written before
/// whatever goes off, so the mix always still shows an alarm (green and yellow together) and the
/// panel is never dark, which would look like a dead supply rather than a signalled fault.
@Suite(.serialized)
struct RelaySequenceTests {
    struct Panel {
        let green: LineAddress
        let yellow: LineAddress
        let buzzer: LineAddress
        let commonAlarm: LineAddress
        var all: [LineAddress] { [green, yellow, buzzer, commonAlarm] }

        init(firstLine: UInt32) {
            green = LineAddress(chip: "gpiochip0", offset: firstLine)
            yellow = LineAddress(chip: "gpiochip0", offset: firstLine + 1)
            buzzer = LineAddress(chip: "gpiochip0", offset: firstLine + 2)
            commonAlarm = LineAddress(chip: "gpiochip0", offset: firstLine + 3)
        }

        /// Energise-to-normal relays: in normal every relay is energised (active), in alarm every
        /// relay is dropped.
        func levels(normal: Bool) -> [LineAddress: Bool] {
            Dictionary(uniqueKeysWithValues: all.map { ($0, normal) })
        }
    }

    static let watched = Panel(firstLine: 20)
    static let neighbour = Panel(firstLine: 24)

    static let configuration = """
        site: { name: "Relay sequence test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        systems:
          - id: or-5
            name: "Operating theatre 5"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: bender-isometer
              transport: { tcp: { host: 127.0.0.1, port: {TCP_PORT} } }
              unit: 1
              poll_interval_seconds: 0.5
              # Longer than the gateway takes to report an absent unit (0.2 s): a reply that
              # arrives after the timeout would be read as the neighbour's answer.
              timeout_seconds: 0.4
              retries: 1
            thresholds: { stale_after_seconds: 2 }
            outputs:
              green: { chip: gpiochip0, line: 20 }
              yellow: { chip: gpiochip0, line: 21 }
              buzzer: { chip: gpiochip0, line: 22 }
              common_alarm: { chip: gpiochip0, line: 23 }
          - id: or-6
            name: "Operating theatre 6"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: bender-isometer
              transport: { tcp: { host: 127.0.0.1, port: {TCP_PORT} } }
              unit: 2
              poll_interval_seconds: 0.5
              # Longer than the gateway takes to report an absent unit (0.2 s): a reply that
              # arrives after the timeout would be read as the neighbour's answer.
              timeout_seconds: 0.4
              retries: 1
            thresholds: { stale_after_seconds: 2 }
            outputs:
              green: { chip: gpiochip0, line: 24 }
              yellow: { chip: gpiochip0, line: 25 }
              buzzer: { chip: gpiochip0, line: 26 }
              common_alarm: { chip: gpiochip0, line: 27 }
        """

    static func site() -> SiteDescription {
        let bender = ServiceHarness.profiles["bender-isometer"]!
        return SiteDescription(endpoints: [
            .tcp(
                id: "gw1",
                units: [1, 2].map {
                    UnitDescription(
                        unit: $0, profileID: bender.id, state: .healthy(publishedBy: bender), measurementIntervalSeconds: 0.25)
                })
        ])
    }

    /// Starts the service and waits until both theatres show normal on their relays.
    static func startInNormal() async throws -> ServiceHarness {
        let harness = try await ServiceHarness(site: site(), configurationYAML: configuration)
        for id in ["or-5", "or-6"] {
            try await harness.waitFor(id, seconds: 15) { $0.alarm.state == "normal" }
        }
        _ = try await FailSafeOutputTests.waitForLevels(
            harness.gpio, watched.levels(normal: true).merging(neighbour.levels(normal: true)) { $1 })
        return harness
    }

    /// The relays that changed state after `mark`, in the order they were written.
    static func changes(of panel: Panel, in gpio: SimulatedGPIOBackend, after mark: Int) -> [LineAddress] {
        gpio.outputChanges.dropFirst(mark).filter { $0.kind == .changed && panel.all.contains($0.address) }.map(\.address)
    }

    static func activeLevels(of panel: Panel, in gpio: SimulatedGPIOBackend) -> [LineAddress: Bool] {
        Dictionary(uniqueKeysWithValues: panel.all.map { ($0, gpio.isActive($0) ?? false) })
    }

    @Test func test_insulationFaultLightsAlarmIndicationsBeforeGreenGoesOutAndGreenReturnsFirst() async throws {
        let harness = try await Self.startInNormal()
        let gateway = harness.simulator.device(endpoint: "gw1", unit: 1)
        let beforeFault = harness.gpio.outputChanges.count

        gateway?.update { $0.values[.insulationResistanceOhms] = MeasuredValue(30_000) }
        try await harness.waitFor("or-5", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        let alarmLevels = try await FailSafeOutputTests.waitForLevels(harness.gpio, Self.watched.levels(normal: false))
        let raised = Self.changes(of: Self.watched, in: harness.gpio, after: beforeFault)
        let neighbourDuringFault = Self.changes(of: Self.neighbour, in: harness.gpio, after: beforeFault)
        let beforeClearing = harness.gpio.outputChanges.count

        // Above the release value (response + 25 %), held past the 5 s release delay.
        gateway?.update { $0.values[.insulationResistanceOhms] = MeasuredValue(500_000) }
        try await harness.waitFor("or-5", seconds: 15) { $0.alarm.state == "normal" }
        let normalLevels = try await FailSafeOutputTests.waitForLevels(harness.gpio, Self.watched.levels(normal: true))
        let cleared = Self.changes(of: Self.watched, in: harness.gpio, after: beforeClearing)
        let neighbourAfterwards = Self.activeLevels(of: Self.neighbour, in: harness.gpio)
        let neighbourChanges = Self.changes(of: Self.neighbour, in: harness.gpio, after: beforeFault)
        try await harness.stop()

        #expect(alarmLevels == Self.watched.levels(normal: false).mapValues { $0 as Bool? })
        #expect(normalLevels == Self.watched.levels(normal: true).mapValues { $0 as Bool? })
        let watched = Self.watched
        // Make: yellow, buzzer and common alarm come on; then break: green goes out.
        #expect(raised == [watched.yellow, watched.buzzer, watched.commonAlarm, watched.green])
        // Make: green comes on while yellow is still lit; then the alarm indications go off.
        #expect(cleared == [watched.green, watched.yellow, watched.buzzer, watched.commonAlarm])
        #expect(neighbourDuringFault.isEmpty, "or-6 relays moved during or-5's fault: \(neighbourDuringFault)")
        #expect(neighbourChanges.isEmpty, "or-6 relays moved: \(neighbourChanges)")
        #expect(neighbourAfterwards == Self.neighbour.levels(normal: true))
    }

    @Test func test_communicationLossLightsAlarmIndicationsBeforeGreenGoesOut() async throws {
        let harness = try await Self.startInNormal()
        let beforeLoss = harness.gpio.outputChanges.count

        // The IMD stops answering; the gateway reports it absent.
        harness.simulator.device(endpoint: "gw1", unit: 1)?.unit.isOnline = false
        let lost = try await harness.waitFor("or-5", seconds: 10) { $0.alarm.conditions.contains("communication") }
        let alarmLevels = try await FailSafeOutputTests.waitForLevels(harness.gpio, Self.watched.levels(normal: false))
        // Long enough for the neighbour's next polls through the same gateway to be handled.
        try await Task.sleep(for: .seconds(1))
        let raised = Self.changes(of: Self.watched, in: harness.gpio, after: beforeLoss)
        let neighbourChanges = Self.changes(of: Self.neighbour, in: harness.gpio, after: beforeLoss)
        let neighbourLevels = Self.activeLevels(of: Self.neighbour, in: harness.gpio)
        let neighbourView = try await harness.system("or-6")
        try await harness.stop()

        #expect(lost?.outputs.green == false && lost?.outputs.yellow == true)
        #expect(alarmLevels == Self.watched.levels(normal: false).mapValues { $0 as Bool? })
        let watched = Self.watched
        #expect(raised == [watched.yellow, watched.buzzer, watched.commonAlarm, watched.green])
        #expect(neighbourChanges.isEmpty, "or-6 relays moved when or-5 went silent: \(neighbourChanges)")
        #expect(neighbourLevels == Self.neighbour.levels(normal: true))
        #expect(neighbourView?.alarm.state == "normal")
    }
}
