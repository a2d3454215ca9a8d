import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// Commercial IMDs driven by the IT system's physics, checked against closed-form results and
/// read back through the profile's decoder from the registers the wire servers serve.
@Suite struct PhysicsDrivenDeviceTests {
    /// A commercial monitor with a PT100 input, a status word, a self-test command and state, laid
    /// out as such devices are; parsed by the same parser as the shipped profiles.
    static let monitorYAML = """
        id: test-pt100-monitor
        vendor: Test
        model: PT100 monitor
        description: insulation and transformer monitor with a PT100 input and a self-test
        transport: { unit: 1, max_registers_per_request: 125, allow_gaps: true, max_gap: 8 }
        update_counter: { table: holding, address: 8, type: u32, word_order: ABCD }
        fields:
          insulation_resistance_ohms: { table: holding, address: 0, type: u32, word_order: ABCD, native_unit: Ω }
          leakage_capacitance_farads: { table: holding, address: 2, type: u16, scale: 1.0e-9, native_unit: nF }
          load_current_amperes: { table: holding, address: 3, type: u16, scale: 0.01, native_unit: 0.01 A }
          winding_temperature_celsius:
            { table: holding, address: 4, type: s16, scale: 0.1, native_unit: 0.1 °C, no_value: 0x8000 }
        faults:
          - { fault: insulation,         table: holding, address: 5, bit: 0 }
          - { fault: overload,           table: holding, address: 5, bit: 1 }
          - { fault: overtemperature,    table: holding, address: 5, bit: 2 }
          - { fault: earth_connection,   table: holding, address: 5, bit: 3 }
          - { fault: temperature_sensor, table: holding, address: 5, bit: 4 }
          - { fault: device,             table: holding, address: 5, bit: 5 }
        auxiliary:
          self_test_state: { table: holding, address: 6, type: u16 }
        parameters:
          self_test: { table: holding, address: 7, type: u16, range: { min: 0, max: 1 } }
        """

    static func profiles() throws -> ProfileLibrary {
        let monitor = try DeviceProfile.parse(yaml: monitorYAML, fileName: "test-pt100-monitor.yaml")
        let shipped = try TestSimulator.shippedProfiles()
        return ProfileLibrary(shipped.ids.compactMap { shipped[$0] } + [monitor])
    }

    /// A simulator whose physics time moves only when the test says so.
    static func simulator(_ units: [UnitDescription]) throws -> TestSimulator {
        try TestSimulator(
            site: SiteDescription(endpoints: [.tcp(units: units)]), profiles: try profiles(),
            clock: SimulationClock(.manual))
    }

    static func decoded(_ device: SimulatedDevice) throws -> DecodedReading {
        try device.profile.decode(device.unit.image, at: Date())
    }

    static func system(
        ohms: Double = 1_000_000, farads: Double = 1e-6, loadAmperes: Double = 10, ratingVA: Double = 5_000
    ) -> ITSystemModel {
        ITSystemModel(
            ratingVoltAmperes: ratingVA, loadProfile: .constant(amperes: loadAmperes),
            line1: ConductorInsulation(insulationResistanceOhms: 2 * ohms, leakageCapacitanceFarads: farads / 2),
            line2: ConductorInsulation(insulationResistanceOhms: 2 * ohms, leakageCapacitanceFarads: farads / 2))
    }

    @Test func test_publishedInsulationFollowsTheTruthWithAResponseTimeThatGrowsWithCapacitance() throws {
        let simulator = try Self.simulator([
            UnitDescription(unit: 1, profileID: "bender-isometer", system: Self.system(farads: 1e-6)),
            UnitDescription(unit: 2, profileID: "bender-isometer", system: Self.system(farads: 5e-6)),
        ])
        defer { simulator.stop() }
        for unit: UInt8 in [1, 2] {
            try PhysicsPatch(insulationResistanceOhms: 100_000).apply(to: simulator.device(unit: unit))
        }
        let stepSeconds = 3.0
        simulator.simulator.advancePhysics(bySeconds: stepSeconds)

        var errors: [Double] = []
        for (unit, farads) in [(UInt8(1), 1e-6), (2, 5e-6)] {
            // τ = 1 s + 20·(Re ∥ Rs)·Ce with the new Re; first order on the conductance.
            let parallel = 100_000.0 * 120_000 / 220_000
            let tau = 1 + 20 * parallel * farads
            let conductance = 1 / 100_000.0 + (1 / 1_000_000.0 - 1 / 100_000.0) * exp(-stepSeconds / tau)
            let reading = try Self.decoded(simulator.device(unit: unit))
            let published = try #require(reading.values[.insulationResistanceOhms])
            #expect(published.validity == .actual)
            #expect(abs(published.value - 1 / conductance) < 1e-4 * published.value, "unit \(unit): τ \(tau) s")
            #expect(simulator.device(unit: unit).updateCounter == 3, "one counter step per measurement")
            errors.append(published.value - 100_000)
        }
        #expect(errors[0] > 0 && errors[1] > 3 * errors[0], "the larger capacitance lags further behind")

        // Long after the change both show the truth, and the device's own alarm (≤ 50 kΩ) is off.
        simulator.simulator.advancePhysics(bySeconds: 120)
        for unit: UInt8 in [1, 2] {
            let reading = try Self.decoded(simulator.device(unit: unit))
            #expect(abs(reading.values[.insulationResistanceOhms]!.value - 100_000) < 1)
            #expect(abs(reading.values[.leakageCapacitanceFarads]!.value - (unit == 1 ? 1e-6 : 5e-6)) < 1e-12)
            #expect(!reading.faults.contains(.insulation))
        }
    }

    @Test func test_lumpedInsulationIsTheParallelOfL1AndL2AndCapacitanceTheirSum() throws {
        let simulator = try Self.simulator([
            UnitDescription(unit: 1, profileID: "bender-isometer", system: Self.system())
        ])
        defer { simulator.stop() }
        let device = simulator.device(unit: 1)
        try PhysicsPatch(
            insulationL1Ohms: 40_000, insulationL2Ohms: 5_000_000, capacitanceL1Farads: 0.3e-6, capacitanceL2Farads: 1.2e-6
        ).apply(to: device)
        simulator.simulator.advancePhysics(bySeconds: 600)
        let reading = try Self.decoded(device)
        let expectedOhms = 40_000.0 * 5_000_000 / 5_040_000
        #expect(abs(reading.values[.insulationResistanceOhms]!.value - expectedOhms) < 1e-3 * expectedOhms)
        #expect(abs(reading.values[.leakageCapacitanceFarads]!.value - 1.5e-6) < 1e-12)
        #expect(reading.faults.contains(.insulation), "below the 50 kΩ response value, the device alarms")
    }

    @Test func test_windingTemperatureFollowsTheFirstOrderThermalModelToItsSteadyState() throws {
        // 5 kVA at 230 V: In = 21.74 A; starts settled at 10 A, then 1.4·In.
        let simulator = try Self.simulator([
            UnitDescription(unit: 3, profileID: "test-pt100-monitor", system: Self.system(loadAmperes: 10))
        ])
        defer { simulator.stop() }
        let device = simulator.device(unit: 3)
        let thermal = TransformerThermalModel.calibratedToOverloadCapability()
        let ratedAmperes = 5_000.0 / 230
        let startCelsius = thermal.steadyStateCelsius(loadFactor: 10 / ratedAmperes)
        let overload = 1.4 * ratedAmperes
        let settledCelsius = thermal.steadyStateCelsius(loadFactor: 1.4)
        try PhysicsPatch(loadAmperes: overload).apply(to: device)

        let tau = thermal.timeConstantSeconds
        simulator.simulator.advancePhysics(bySeconds: 3000)
        let expected = settledCelsius + (startCelsius - settledCelsius) * exp(-3000 / tau)
        var reading = try Self.decoded(device)
        #expect(abs(reading.values[.windingTemperatureCelsius]!.value - expected) <= 0.05 + 1e-9)
        #expect(abs(reading.values[.loadCurrentAmperes]!.value - overload) <= 0.005 + 1e-9)
        #expect(reading.faults.contains(.overload))

        // Ten time constants later it sits at ambient + rated rise × 1.4² (above 120 °C: alarm).
        simulator.simulator.advancePhysics(bySeconds: 10 * tau)
        reading = try Self.decoded(device)
        #expect(abs(reading.values[.windingTemperatureCelsius]!.value - settledCelsius) <= 0.05 + 1e-9)
        #expect(settledCelsius > 120 && reading.faults.contains(.overtemperature))
        #expect(device.updateCounter == UInt32((3000 + 10 * tau).rounded(.down)), "one step per physics second")
    }

    @Test func test_aBrokenTemperatureSensorSetsTheFaultBitAndPublishesNoValue() throws {
        let simulator = try Self.simulator([
            UnitDescription(unit: 1, profileID: "test-pt100-monitor", system: Self.system())
        ])
        defer { simulator.stop() }
        let device = simulator.device(unit: 1)
        simulator.simulator.advancePhysics(bySeconds: 1)
        var reading = try Self.decoded(device)
        #expect(reading.values[.windingTemperatureCelsius]?.validity == .actual)
        #expect(!reading.faults.contains(.temperatureSensor))

        try PhysicsPatch(sensorWiring: "broken").apply(to: device)
        simulator.simulator.advancePhysics(bySeconds: 1)
        reading = try Self.decoded(device)
        #expect(reading.values[.windingTemperatureCelsius]?.validity == .invalid)
        #expect(device.unit.image[.holding, 4] == 0x8000, "the profile's no-value code")
        #expect(reading.faults.contains(.temperatureSensor))
        #expect(!reading.faults.contains(.overtemperature), "an open PT100 is not a hot winding")

        try PhysicsPatch(sensorWiring: "intact").apply(to: device)
        simulator.simulator.advancePhysics(bySeconds: 1)
        reading = try Self.decoded(device)
        #expect(reading.values[.windingTemperatureCelsius]?.validity == .actual)
        #expect(!reading.faults.contains(.temperatureSensor))
    }

    @Test func test_anOpenEarthLeadFlagsTheConnectionAndInvalidatesTheInsulationValue() throws {
        let simulator = try Self.simulator([
            UnitDescription(unit: 1, profileID: "bender-isometer", system: Self.system())
        ])
        defer { simulator.stop() }
        let device = simulator.device(unit: 1)
        try PhysicsPatch(earthConnected: false).apply(to: device)
        simulator.simulator.advancePhysics(bySeconds: 1)
        let reading = try Self.decoded(device)
        #expect(reading.values[.insulationResistanceOhms]?.validity == .invalid)
        #expect(reading.values[.leakageCapacitanceFarads]?.validity == .invalid)
        // The Bender map has no earth-connection bit: its insulation value says it instead.
        let monitor = try Self.simulator([
            UnitDescription(unit: 1, profileID: "test-pt100-monitor", system: Self.system())
        ])
        defer { monitor.stop() }
        try PhysicsPatch(earthConnected: false).apply(to: monitor.device(unit: 1))
        monitor.simulator.advancePhysics(bySeconds: 1)
        #expect(try Self.decoded(monitor.device(unit: 1)).faults.contains(.earthConnection))

        // An open line lead: Bender says it through the value's validity, the system voltage too.
        try PhysicsPatch(earthConnected: true, lineConnected: false).apply(to: device)
        simulator.simulator.advancePhysics(bySeconds: 1)
        let lineOpen = try Self.decoded(device)
        #expect(lineOpen.values[.insulationResistanceOhms]?.validity == .invalid)
        #expect(lineOpen.values[.systemVoltageVolts]?.validity == .invalid)
        try PhysicsPatch(lineConnected: true).apply(to: device)
        simulator.simulator.advancePhysics(bySeconds: 1)
        #expect(try Self.decoded(device).values[.insulationResistanceOhms]?.validity == .actual)
    }

    @Test(arguments: [false, true])
    func test_aSelfTestSignalsAnInsulationAlarmThenPassesOrFails(fails: Bool) async throws {
        let simulator = try Self.simulator([
            UnitDescription(unit: 1, profileID: "test-pt100-monitor", system: Self.system())
        ])
        defer { simulator.stop() }
        let device = simulator.device(unit: 1)
        if fails { try PhysicsPatch(selfTestResult: "fail").apply(to: device) }
        simulator.simulator.advancePhysics(bySeconds: 1)
        #expect(try Self.decoded(device).auxiliary[SelfTestRun.stateFieldName] == 0)

        // A client writes 1 to the self_test register (function code 6) over TCP.
        let client = try RawModbusTCPClient(port: simulator.tcpPort)
        let written = try await client.request(unit: 1, pdu: [0x06, 0x00, 0x07, 0x00, 0x01])
        #expect(written.bytes?.suffix(5) == [0x06, 0x00, 0x07, 0x00, 0x01], "echoed: the write was taken")
        simulator.simulator.advancePhysics(bySeconds: 1)
        var reading = try Self.decoded(device)
        #expect(reading.auxiliary[SelfTestRun.stateFieldName] == 1)
        #expect(reading.faults.contains(.insulation), "the test drives the device's own insulation alarm")
        #expect(device.unit.image[.holding, 7] == 0, "the device took the command")

        simulator.simulator.advancePhysics(bySeconds: SelfTestRun.durationSeconds)
        reading = try Self.decoded(device)
        #expect(reading.auxiliary[SelfTestRun.stateFieldName] == (fails ? 3 : 2))
        #expect(!reading.faults.contains(.insulation))
        #expect(reading.faults.contains(.device) == fails)
    }

    @Test func test_anAcceleratedClockDrivesThePhysicsOnTheMeasurementGridFactorTimesFasterThanTheWall() async throws {
        let factor = 600.0
        let started = ContinuousClock.now
        let simulator = try TestSimulator(
            site: SiteDescription(endpoints: [
                .tcp(units: [UnitDescription(unit: 1, profileID: "test-pt100-monitor", system: Self.system(loadAmperes: 10))])
            ]),
            profiles: try Self.profiles(), clock: SimulationClock(.accelerated(factor: factor)))
        defer { simulator.stop() }
        let device = simulator.device(unit: 1)
        let ratedAmperes = 5_000.0 / 230
        try PhysicsPatch(loadAmperes: 1.5 * ratedAmperes).apply(to: device)
        // 1200 physics seconds: 2 s of wall time at ×600; the bound only stops a hung run.
        while device.updateCounter < 1200, started.duration(to: .now) < .seconds(120) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let wall = started.duration(to: .now)
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        let reading = try Self.decoded(device)
        let counter = try #require(reading.updateCounter)
        #expect(counter >= 1200)
        #expect(Double(counter) <= factor * wallSeconds + 1, "physics never runs ahead of factor × wall time")

        // The registers hold the temperature of exactly `counter` one-second steps, however the
        // wake-ups fell: closed form from the settled start at 10 A. The load was patched before
        // the first measurement, so every step ran at 1.5·In.
        let thermal = TransformerThermalModel.calibratedToOverloadCapability()
        let start = thermal.steadyStateCelsius(loadFactor: 10 / ratedAmperes)
        let settled = thermal.steadyStateCelsius(loadFactor: 1.5)
        let expected = settled + (start - settled) * exp(-Double(counter) / thermal.timeConstantSeconds)
        #expect(abs(reading.values[.windingTemperatureCelsius]!.value - expected) <= 0.05 + 1e-9)
    }

    @Test func test_aTheatreDayRunIsReproducedFromTheSiteSeedHoweverTheClockIsStepped() throws {
        func site(seed: Int) throws -> SiteDescription {
            try SiteFile.parse(
                yaml: """
                    seed: \(seed)
                    endpoints:
                      - listen: 127.0.0.1:0
                        units:
                          - unit: 1
                            profile: test-pt100-monitor
                            system: { rating_kva: 8, load: { theatre_day: 40, start_hour: 7 }, insulation_resistance_ohms: 800000 }
                    """, fileName: "seeded.yaml")
        }
        func run(seed: Int, steps: [Double]) throws -> [UInt16] {
            let simulator = try TestSimulator(site: try site(seed: seed), profiles: try Self.profiles(), clock: SimulationClock(.manual))
            defer { simulator.stop() }
            for step in steps { simulator.simulator.advancePhysics(bySeconds: step) }
            let image = simulator.device(unit: 1).unit.image
            return (0..<10).map { image[.holding, UInt16($0)] ?? 0 }
        }
        // Six hours of a theatre day from 07:00, in one jump or in uneven steps.
        let once = try run(seed: 7, steps: [21_600])
        let stepped = try run(seed: 7, steps: Array(repeating: 7.5, count: 480) + [18_000])
        #expect(once == stepped)
        #expect(once != (try run(seed: 8, steps: [21_600])), "another seed, another day")
    }

    @Test func test_aSiteFileSystemIsCheckedFieldByField() throws {
        let yaml = """
            endpoints:
              - listen: 127.0.0.1:0
                units:
                  - unit: 1
                    profile: bender-isometer
                    values: { insulation_resistance_ohms: 1000 }
                    system:
                      rating_kva: 12
                      sensor: thermocouple
                      insulation_resistance_ohms: 1.0e6
                      insulation_l1_ohms: 2.0e6
                      load: { watts: 3 }
                      earth_conected: true
            """
        #expect {
            try SiteFile.parse(yaml: yaml, fileName: "bench.yaml")
        } throws: { error in
            let fields = Set((error as? ConfigurationErrors)?.errors.map(\.field) ?? [])
            return fields == [
                "endpoints[0].units[0].values", "endpoints[0].units[0].system.rating_kva",
                "endpoints[0].units[0].system.sensor", "endpoints[0].units[0].system.insulation_resistance_ohms",
                "endpoints[0].units[0].system.load.watts", "endpoints[0].units[0].system.load",
                "endpoints[0].units[0].system.earth_conected",
            ]
        }
        let good = try SiteFile.parse(
            yaml: """
                endpoints:
                  - listen: 127.0.0.1:0
                    units:
                      - unit: 1
                        profile: bender-isometer
                        system: { rating_kva: 6.3, frequency_hz: 60, sensor: ptc_chain, insulation_l1_ohms: 40000, insulation_l2_ohms: 4.0e6, dc_offset_volts: 24 }
                """, fileName: "bench.yaml")
        let system = try #require(good.endpoints[0].units[0].system)
        #expect(system.ratingVoltAmperes == 6_300 && system.frequencyHz == 60 && system.dcOffsetVolts == 24)
        #expect(system.line1.insulationResistanceOhms == 40_000 && system.line2.insulationResistanceOhms == 4e6)
        #expect(system.sensor == .ptcChain(PTCThermistorChain()))
    }

    @Test func test_aTheatreDayLoadIsTheSameForTheSameSeedAndDiffersForAnother() {
        let profile = LoadProfile.theatreDay(peakAmperes: 20, seed: 42, startSecondsOfDay: 0)
        let again = LoadProfile.theatreDay(peakAmperes: 20, seed: 42, startSecondsOfDay: 0)
        let other = LoadProfile.theatreDay(peakAmperes: 20, seed: 43, startSecondsOfDay: 0)
        let surgery = stride(from: 8.0 * 3600, to: 12 * 3600, by: 300).map { $0 + 150 }
        #expect(surgery.map(profile.amperes) == surgery.map(again.amperes))
        #expect(surgery.map(profile.amperes) != surgery.map(other.amperes))
        #expect(profile.amperes(atSeconds: 3 * 3600) == 20 * 0.08, "night base load")
        #expect(surgery.allSatisfy { (0.45 * 20...20).contains(profile.amperes(atSeconds: $0)) })
    }
}
