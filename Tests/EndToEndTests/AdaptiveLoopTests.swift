import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The adaptive loop end to end: a simulated isowatch-frontend on an RS-485 pseudo-terminal at
/// 19200 8E1, its ring filled by the simulator's physics in real time; the service reads the
/// samples, estimates Re and Ce, raises alarms from the estimate and commands the pulse.
@Suite(.serialized)
struct AdaptiveLoopTests {
    static let configuration = """
        site: { name: "Front-end test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        systems:
          - id: or-7
            name: "OR 7"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: isowatch-frontend
              transport: { rtu: { device: "{RTU_PATH}", baud: 19200, parity: E } }
              unit: 1
              poll_interval_seconds: 0.5
              timeout_seconds: 0.3
              retries: 1
            thresholds: { insulation_response_ohms: 50000, stale_after_seconds: 5 }
            outputs:
              green: { chip: gpiochip0, line: 0 }
              yellow: { chip: gpiochip0, line: 1 }
              buzzer: { chip: gpiochip0, line: 2 }

        """

    static func site(ohms: Double, farads: Double) -> SiteDescription {
        let truth = DeviceState(values: [
            .insulationResistanceOhms: MeasuredValue(ohms), .leakageCapacitanceFarads: MeasuredValue(farads),
        ])
        return SiteDescription(endpoints: [
            .rtu(
                id: "rtu0", serialLine: SerialLine(baud: 19200, parity: .even),
                units: [UnitDescription(unit: 1, profileID: "isowatch-frontend", state: truth)])
        ])
    }

    /// The live reading as JSON, with its `validity` map (the harness's view drops objects).
    static func reading(_ harness: ServiceHarness) async throws -> (ohms: Double?, farads: Double?, actual: Bool) {
        let (_, body) = try await harness.get("/api/v1/systems/or-7")
        let object = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        let reading = object?["reading"] as? [String: Any]
        let validity = reading?["validity"] as? [String: String] ?? [:]
        return (
            reading?["insulation_resistance_ohms"] as? Double, reading?["leakage_capacitance_farads"] as? Double,
            validity["insulation_resistance_ohms"] == nil
        )
    }

    /// Waits until the published Re is an actual measurement within 15 % of `ohms`.
    static func converge(_ harness: ServiceHarness, to ohms: Double, seconds: Double) async throws -> Double? {
        let deadline = Date().addingTimeInterval(seconds)
        var last: Double?
        repeat {
            let reading = try await reading(harness)
            last = reading.ohms
            if reading.actual, let value = reading.ohms, abs(value - ohms) / ohms <= 0.15 { return value }
            try await Task.sleep(for: .milliseconds(200))
        } while Date() < deadline
        return last
    }

    /// The half-period in the device's holding register: what the service last commanded.
    static func commandedHalfPeriodSeconds(_ device: SimulatedDevice) -> Double? {
        guard let field = device.profile.parameters["pulse_half_period_seconds"],
            let words = device.unit.image.words(field.block)
        else { return nil }
        return field.siValue(raw: field.rawValue(from: words))
    }

    @Test func test_theServiceConvergesOnTheTrueResistanceAndAlarmsWhenItFallsTo25Kiloohms() async throws {
        let harness = try await ServiceHarness(
            site: Self.site(ohms: 500_000, farads: 0.5e-6), configurationYAML: Self.configuration)
        let device = harness.simulator.device(endpoint: "rtu0", unit: 1)!
        let converged = try await Self.converge(harness, to: 500_000, seconds: 60)
        let normal = try await harness.waitFor("or-7", seconds: 30) { $0.alarm.state == "normal" }

        // The control interface's own path: `isowatch-sim set ... insulation_resistance_ohms=25000`.
        try UnitPatch(values: ["insulation_resistance_ohms": 25_000]).apply(to: device)
        let alarm = try await harness.waitFor("or-7", seconds: 60) { $0.alarm.conditions.contains("insulation") }
        let fault = try await Self.converge(harness, to: 25_000, seconds: 60)
        try await harness.stop()

        #expect(converged.map { abs($0 - 500_000) / 500_000 <= 0.15 } == true, "estimate \(String(describing: converged))")
        #expect(normal?.outputs.green == true)
        #expect(alarm?.alarm.state == "alarm")
        #expect(alarm?.outputs.yellow == true)
        #expect(fault.map { abs($0 - 25_000) / 25_000 <= 0.15 } == true, "estimate \(String(describing: fault))")
    }

    @Test func test_aLargerLeakageCapacitanceLengthensTheCommandedPulse() async throws {
        let harness = try await ServiceHarness(
            site: Self.site(ohms: 1_000_000, farads: 0.5e-6), configurationYAML: Self.configuration)
        let device = harness.simulator.device(endpoint: "rtu0", unit: 1)!
        let converged = try await Self.converge(harness, to: 1_000_000, seconds: 60)
        // Give the loop a few half-periods on the converged estimate.
        try await Task.sleep(for: .seconds(2))
        let small = Self.commandedHalfPeriodSeconds(device)

        try UnitPatch(values: ["leakage_capacitance_farads": 5e-6]).apply(to: device)
        // The loop settles on the new τ: Ce estimated as an actual value near 5 µF.
        let deadline = Date().addingTimeInterval(90)
        var capacitance: Double?
        repeat {
            try await Task.sleep(for: .milliseconds(250))
            let reading = try await Self.reading(harness)
            capacitance = reading.actual ? reading.farads : nil
        } while Date() < deadline && !(capacitance.map { abs($0 - 5e-6) / 5e-6 <= 0.3 } ?? false)
        try await Task.sleep(for: .seconds(3))
        let large = Self.commandedHalfPeriodSeconds(device)
        let inForce = device.state.auxiliary["pulse_half_period_seconds"]
        try await harness.stop()

        #expect(converged.map { abs($0 - 1_000_000) / 1_000_000 <= 0.15 } == true)
        #expect(capacitance.map { abs($0 - 5e-6) / 5e-6 <= 0.3 } == true, "capacitance \(String(describing: capacitance))")
        // τ = Ce·(Rs ∥ Re) = 54 ms at 0.5 µF and 540 ms at 5 µF: the pulse follows τ.
        let before = try #require(small)
        let after = try #require(large)
        #expect(after >= 4 * before, "half-period \(before) s → \(after) s")
        #expect(inForce.map { $0 >= after - 1e-6 } == true, "in force \(String(describing: inForce)), commanded \(after)")
    }

    @Test func test_samplesLostWhileTheFrontEndWasSilentDoNotSpoilTheEstimate() async throws {
        let harness = try await ServiceHarness(
            site: Self.site(ohms: 200_000, farads: 1e-6), configurationYAML: Self.configuration)
        let device = harness.simulator.device(endpoint: "rtu0", unit: 1)!
        let before = try await Self.converge(harness, to: 200_000, seconds: 60)
        let counterBefore = try await harness.system("or-7")?.reading?["update_counter"]?.number

        // Silent for 3 s: 150 samples, more than the ring's 64, are gone when polls resume.
        try UnitPatch(online: false).apply(to: device)
        try await Task.sleep(for: .seconds(3))
        try UnitPatch(online: true).apply(to: device)
        let resumed = try await harness.waitFor("or-7", seconds: 30) {
            ($0.reading?["update_counter"]?.number ?? 0) > (counterBefore ?? .infinity) + 4
        }
        let after = try await Self.converge(harness, to: 200_000, seconds: 60)
        let final = try await harness.system("or-7")
        try await harness.stop()

        #expect(before.map { abs($0 - 200_000) / 200_000 <= 0.15 } == true)
        #expect(resumed != nil)
        #expect(after.map { abs($0 - 200_000) / 200_000 <= 0.15 } == true, "estimate \(String(describing: after))")
        #expect(final?.alarm.conditions.contains("insulation") == false)
    }

    // MARK: - The simulated front-end, as a reader no one here wrote sees it

    /// mbpoll prints `[REF]: VALUE` lines, a signed reading in brackets after values above 32767:
    /// `[21]: 65533 (-3)`. Values in reference order, signed.
    static func mbpollRegisters(_ output: String) -> [Int] {
        var values: [(Int, Int)] = []
        for line in output.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("["), parts[0].hasSuffix("]"),
                let reference = Int(parts[0].dropFirst().dropLast())
            else { continue }
            let words = parts[1].split(whereSeparator: \.isWhitespace)
            let signed = words.count > 1 ? Int(words[1].trimmingCharacters(in: CharacterSet(charactersIn: "()"))) : nil
            guard let value = signed ?? words.first.flatMap({ Int($0) }) else { continue }
            values.append((reference, value))
        }
        return values.sorted { $0.0 < $1.0 }.map(\.1)
    }

    static func mbpoll(_ port: UInt16, _ arguments: [String]) async throws -> [Int] {
        let tool = try TestTools.tool("mbpoll")
        let result = try await onOwnThread {
            try ExternalPeer.run(tool, ["-m", "tcp", "-p", String(port), "-a", "1", "-0", "-1"] + arguments)
        }
        #expect(result.status == 0, "\(result.output)")
        return mbpollRegisters(result.output)
    }

    /// Input registers 0x0000-0x000B (counter, period, polarity, half-period, U0, Rs, ..., self-test).
    static func status(_ port: UInt16) async throws -> [Int] {
        try await mbpoll(port, ["-t", "3", "-r", "0", "-c", "12", "127.0.0.1"])
    }

    static func waitForStatus(_ port: UInt16, seconds: Double, _ condition: ([Int]) -> Bool) async throws -> [Int] {
        let deadline = Date().addingTimeInterval(seconds)
        var last: [Int] = []
        repeat {
            last = try await status(port)
            if last.count == 12, condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        return last
    }

    @Test func test_mbpollSeesTheFrontEndProduceSamplesAndObeyItsPulseAndSelfTestCommands() async throws {
        let simulator = try TestSimulator(tcpUnits: [
            UnitDescription(
                unit: 1, profileID: "isowatch-frontend",
                state: DeviceState(values: [
                    .insulationResistanceOhms: MeasuredValue(500_000), .leakageCapacitanceFarads: MeasuredValue(0.5e-6),
                ]))
        ])
        defer { simulator.stop() }
        let port = simulator.tcpPort

        let first = try await Self.status(port)
        try #require(first.count == 12)
        // 20000 µs per sample (50 Hz), power-up half-period 400 ms, U0 = 12.00 V, Rs = 120 kΩ.
        let published: [Int] = [first[2], first[4], first[5], first[6]]
        #expect(published == [20000, 400, 1200, 12000])
        #expect(first[3] == 1 || first[3] == -1)
        func counter(_ registers: [Int]) -> Int { (registers[0] & 0xFFFF) << 16 | (registers[1] & 0xFFFF) }
        // Wait for a full ring, so every slot has been written since power-up.
        let later = try await Self.waitForStatus(port, seconds: 20) { counter($0) > max(64, counter(first) + 10) }
        #expect(counter(later) > max(64, counter(first) + 10))

        // Each slot's current has the sign its polarity bit says (Uoff = 0: |ue| < U0 always).
        let ring = try await Self.mbpoll(port, ["-t", "3", "-r", "16", "-c", "68", "127.0.0.1"])
        try #require(ring.count == 68)
        var checked = 0
        for slot in 0..<64 {
            let positive = (ring[slot / 16] >> (slot % 16)) & 1 == 1
            let counts = ring[4 + slot]
            guard counts != -32768 else { continue }
            #expect((counts > 0) == positive, "slot \(slot): \(counts) counts, positive \(positive)")
            checked += 1
        }
        #expect(checked >= 60)

        // 150 ms commanded: the firmware rounds up to 8 samples of 20 ms.
        _ = try await Self.mbpoll(port, ["-t", "4", "-r", "0", "127.0.0.1", "150"])
        let commanded = try await Self.waitForStatus(port, seconds: 10) { $0[4] == 160 }
        #expect(commanded[4] == 160)

        // Self-test: running with the pulse stopped, then passed, and the pulse back.
        _ = try await Self.mbpoll(port, ["-t", "4", "-r", "1", "127.0.0.1", "1"])
        let running = try await Self.waitForStatus(port, seconds: 10) { $0[11] == 1 }
        #expect(running[11] == 1)
        #expect(running[3] == 0)
        // The last sample of the test reports "passed" with the pulse still stopped; the pulse is
        // back from the next sample on (one sample period later), so wait for both.
        let passed = try await Self.waitForStatus(port, seconds: 20) { $0[11] == 2 && $0[3] != 0 }
        #expect(passed[11] == 2)
        #expect(passed[3] == 1 || passed[3] == -1)
    }
}
