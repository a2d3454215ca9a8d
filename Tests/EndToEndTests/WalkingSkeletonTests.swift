import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// One thin but real path: simulated IMDs → libmodbus over loopback TCP and a pseudo-terminal →
/// decoding → alarm machine → relays on a (simulated) GPIO chip and the HTTP API.
@Suite(.serialized)
struct WalkingSkeletonTests {
    /// One IT system of the test site; its lamps and buzzer on three consecutive GPIO lines.
    static func system(
        _ id: String, location: String, profile: String, transport: String, unit: Int, timeout: Double, firstLine: Int
    ) -> String {
        """
          - id: \(id)
            name: "\(location)"
            location: "\(location)"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: \(profile)
              transport: \(transport)
              unit: \(unit)
              poll_interval_seconds: 0.5
              timeout_seconds: \(timeout)
              retries: 1
            thresholds: { insulation_response_ohms: 50000, stale_after_seconds: 3 }
            outputs:
              green: { chip: gpiochip0, line: \(firstLine) }
              yellow: { chip: gpiochip0, line: \(firstLine + 1) }
              buzzer: { chip: gpiochip0, line: \(firstLine + 2) }

        """
    }

    static let rtu = #"{ rtu: { device: "{RTU_PATH}", baud: 19200, parity: E } }"#
    static let configuration = """
        site: { name: "End-to-end test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        systems:

        """
        + system("or-1", location: "OR 1", profile: "acrel-aim-m10", transport: rtu, unit: 1, timeout: 0.2, firstLine: 0)
        + system("or-2", location: "OR 2", profile: "acrel-aim-m10", transport: rtu, unit: 2, timeout: 0.2, firstLine: 4)
        // OR 3's monitor is switched off: configured here, absent from the bus.
        + system("or-3", location: "OR 3", profile: "acrel-aim-m10", transport: rtu, unit: 3, timeout: 0.2, firstLine: 8)
        + system(
            "icu-1", location: "ICU 1", profile: "bender-isometer", transport: "{ tcp: { host: 127.0.0.1, port: {TCP_PORT} } }",
            unit: 1, timeout: 0.4, firstLine: 12)

    static func site() -> SiteDescription {
        let unit = healthyUnit
        return SiteDescription(endpoints: [
            // Unit 3 is configured in the service but absent from the bus: it must stay silent.
            .rtu(id: "rtu0", serialLine: SerialLine(baud: 19200, parity: .even), units: [unit(1, "acrel-aim-m10"), unit(2, "acrel-aim-m10")]),
            .tcp(id: "gw1", units: [unit(1, "bender-isometer")]),
        ])
    }

    static let or1Yellow = LineAddress(chip: "gpiochip0", offset: 1)
    static let or1Green = LineAddress(chip: "gpiochip0", offset: 0)
    static let or1Buzzer = LineAddress(chip: "gpiochip0", offset: 2)
    static let or3Yellow = LineAddress(chip: "gpiochip0", offset: 9)

    @Test func test_healthySystemsTurnGreenWithTheirLiveReadings() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration)
        let or1 = try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        let icu = try await harness.waitFor("icu-1", seconds: 15) { $0.alarm.state == "normal" }
        try await harness.stop()

        #expect(or1?.outputs.green == true)
        #expect(or1?.outputs.yellow == false)
        #expect(or1?.stale == false)
        // The acrel profile publishes whole kΩ: 650 kΩ healthy default.
        #expect(or1?.reading?["insulation_resistance_ohms"]?.number == 650_000)
        #expect(or1?.reading?["winding_temperature_celsius"]?.number == 42)
        #expect(or1?.reading?["faults"]?.list == [])
        #expect(icu?.outputs.green == true)
        #expect(icu?.reading?["insulation_resistance_ohms"]?.number == 650_000)
        #expect(abs((icu?.reading?["leakage_capacitance_farads"]?.number ?? 0) - 0.8e-6) < 1e-9)
    }

    @Test func test_insulationFaultLightsYellowAndSoundsBuzzerOnTheRelays() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        try await harness.waitFor("or-2", seconds: 15) { $0.alarm.state == "normal" }
        // Relays are energised to normal (the default): in normal operation all of them hold.
        #expect(try await eventually { harness.gpio.isActive(Self.or1Green) == true })
        #expect(try await eventually { harness.gpio.isActive(Self.or1Yellow) == true })

        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        let faulted = try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        // In alarm every relay drops: yellow and buzzer sound through their rest contacts. The
        // output driver writes the lines just after the state changes, so wait for them.
        let dropped = try await eventually {
            harness.gpio.isActive(Self.or1Yellow) == false && harness.gpio.isActive(Self.or1Green) == false
                && harness.gpio.isActive(Self.or1Buzzer) == false
        }
        let or2 = try await harness.system("or-2")
        try await harness.stop()

        #expect(faulted?.alarm.conditions.contains("insulation") == true)
        #expect(faulted?.reading?["insulation_resistance_ohms"]?.number == 30_000)
        #expect(dropped, "OR 1's yellow, green and buzzer relays did not all drop")
        // The neighbouring theatre on the same bus is untouched.
        #expect(or2?.alarm.state == "normal")
    }

    @Test func test_silentUnitRaisesCommunicationAlarmWithoutStallingTheBus() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration)
        let or3 = try await harness.waitFor("or-3", seconds: 15) { $0.alarm.conditions.contains("communication") }
        let or1 = try await harness.waitFor("or-1", seconds: 10) { $0.alarm.state == "normal" }
        let or3YellowDropped = try await eventually { harness.gpio.isActive(Self.or3Yellow) == false }
        try await harness.stop()

        #expect(or3?.alarm.conditions.contains("communication") == true)
        #expect(or3?.stale == true)
        #expect(or3?.outputs.green == false)
        // Energised to normal: OR 3's yellow relay has dropped, its lamp lit by the rest contact.
        #expect(or3YellowDropped)
        #expect(or1?.alarm.state == "normal")
    }

    @Test func test_droppedGatewayConnectionRecovers() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration)
        try await harness.waitFor("icu-1", seconds: 15) { $0.alarm.state == "normal" }
        guard case let .tcp(server) = harness.simulator.endpoint("gw1")?.server else {
            Issue.record("the gateway endpoint is not TCP")
            return
        }
        let dropped = server.dropConnections()
        #expect(dropped >= 1)
        // Readings resume on a new connection: the insulation value changes and the service sees it.
        harness.simulator.device(endpoint: "gw1", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(480_000)
        }
        let after = try await harness.waitFor("icu-1", seconds: 10) {
            $0.reading?["insulation_resistance_ohms"]?.number == 480_000
        }
        try await harness.stop()
        #expect(after?.reading?["insulation_resistance_ohms"]?.number == 480_000)
        #expect(after?.alarm.state == "normal")
    }
}
