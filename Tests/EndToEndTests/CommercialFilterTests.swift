import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchService
import IsoWatchSimulator
import IsoWatchSnapshot
import IsoWatchTesting
import Logging
import ServiceLifecycle
import Testing

/// The commercial-IMD filter in the running service: a simulated IMD with an update counter on
/// loopback TCP, a manual physics clock so the test decides when the device completes a
/// measurement, and the service's live state.
@Suite(.serialized)
struct CommercialFilterTests {
    /// A device like the commercial ones, with a measurement counter (none of the shipped
    /// commercial profiles has one yet).
    static let profileYAML = """
        id: counted-imd
        vendor: isowatch tests
        model: IMD with an update counter
        fields:
          insulation_resistance_ohms: { table: holding, address: 0, type: u32, native_unit: Ω }
        update_counter: { table: holding, address: 2, type: u16 }

        """

    static let configurationYAML = """
        site: { name: "Filter test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        systems:
          - id: or-9
            name: "OR 9"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: counted-imd
              transport: { tcp: { host: 127.0.0.1, port: {TCP_PORT} } }
              unit: 1
              poll_interval_seconds: 0.25
              timeout_seconds: 0.2
            thresholds: { insulation_response_ohms: 50000, stale_after_seconds: 2 }

        """

    /// Simulator and service for one test; `body` gets the device and a way to read the system.
    static func withService(
        _ body: (SimulatedDevice, Simulator, @escaping @Sendable () async -> SystemStatus?) async throws -> Void
    ) async throws {
        let scratch = try ScratchDirectory("isowatch-filter")
        defer { scratch.remove() }
        let directory = scratch.url
        try profileYAML.write(to: directory.appending(path: "counted-imd.yaml"), atomically: true, encoding: .utf8)
        let profiles = try ProfileLibrary.load(directory: directory)

        let site = SiteDescription(endpoints: [
            .tcp(id: "gw1", units: [UnitDescription(unit: 1, profileID: "counted-imd", values: [.insulationResistanceOhms: 5_000_000])])
        ])
        let simulator = try Simulator(site: site, profiles: profiles, clock: SimulationClock(.manual))
        defer { simulator.stop() }
        let port = simulator.endpoints.compactMap(\.tcpPort).first!
        let configuration = try ConfigurationLoader.parse(
            yaml: configurationYAML.replacingOccurrences(of: "{TCP_PORT}", with: String(port)), fileName: "filter.yaml",
            baseDirectory: directory, profiles: profiles)
        var logger = Logger(label: "isowatch-filter-e2e")
        logger.logLevel = .warning
        let runtime = try await IsoWatchRuntime.make(
            configuration: configuration, profiles: profiles,
            gpio: SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0")]), logger: logger)
        let group = ServiceGroup(services: runtime.services, logger: logger)
        let task = Task { try await group.run() }
        let device = simulator.device(endpoint: "gw1", unit: 1)!
        do {
            try await body(device, simulator, { await runtime.systems().first })
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await task.value
    }

    /// Polls the live state until `condition` holds, for at most `seconds`; returns the last state.
    static func waitFor(
        _ read: () async -> SystemStatus?, seconds: Double = 20, _ condition: (SystemStatus) -> Bool
    ) async throws -> SystemStatus? {
        let deadline = Date().addingTimeInterval(seconds)
        var last: SystemStatus?
        repeat {
            last = await read()
            if let last, condition(last) { return last }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        return last
    }

    static func ohms(_ status: SystemStatus?) -> Double? { status?.reading?.values[.insulationResistanceOhms] }
    static func validity(_ status: SystemStatus?) -> Validity? {
        guard let reading = status?.reading, reading.values[.insulationResistanceOhms] != nil else { return nil }
        return reading.validity[.insulationResistanceOhms] ?? .actual
    }

    @Test func test_anImplausibleJumpIsHeldUntilTheNextMeasurementConfirmsIt() async throws {
        try await Self.withService { device, simulator, read in
            simulator.advancePhysics(bySeconds: 1)
            let healthy = try await Self.waitFor(read) { $0.alarm.state == .normal && $0.reading?.updateCounter == 1 }
            #expect(Self.ohms(healthy) == 5_000_000)

            // 5 MΩ → 300 kΩ: a factor of 16.7 with no device flag, above every alarm level.
            try UnitPatch(values: ["insulation_resistance_ohms": 300_000]).apply(to: device)
            simulator.advancePhysics(bySeconds: 1)
            let held = try await Self.waitFor(read) { $0.reading?.updateCounter == 2 }
            #expect(Self.ohms(held) == 300_000)
            #expect(Self.validity(held) == .invalid)

            simulator.advancePhysics(bySeconds: 1)
            let confirmed = try await Self.waitFor(read) { $0.reading?.updateCounter == 3 }
            #expect(Self.ohms(confirmed) == 300_000)
            #expect(Self.validity(confirmed) == .actual)
            #expect(confirmed?.alarm.state == .normal)
        }
    }

    @Test func test_aDropIntoTheAlarmRangeIsNotHeldButAlarmsAtTheFirstMeasurement() async throws {
        try await Self.withService { device, simulator, read in
            simulator.advancePhysics(bySeconds: 1)
            _ = try await Self.waitFor(read) { $0.alarm.state == .normal && $0.reading?.updateCounter == 1 }
            try UnitPatch(values: ["insulation_resistance_ohms": 20_000]).apply(to: device)
            simulator.advancePhysics(bySeconds: 1)
            let first = try await Self.waitFor(read) { $0.reading?.updateCounter == 2 }
            #expect(Self.validity(first) == .actual)
            // No further measurement: the single fresh value raises the alarm after its response delay.
            let alarm = try await Self.waitFor(read) { $0.alarm.conditions.contains(.insulation) }
            #expect(alarm?.alarm.state == .alarm)
            #expect(alarm?.reading?.updateCounter == 2)
        }
    }

    @Test func test_aValueWhoseCounterDoesNotMoveGoesStale() async throws {
        try await Self.withService { _, simulator, read in
            simulator.advancePhysics(bySeconds: 1)
            let fresh = try await Self.waitFor(read) { $0.alarm.state == .normal && $0.reading?.updateCounter == 1 }
            #expect(fresh?.stale == false)
            #expect(Self.validity(fresh) == .actual)
            // The device keeps answering with the same counter: polls succeed, nothing is new.
            let stale = try await Self.waitFor(read) { $0.stale && Self.validity($0) == .invalid }
            #expect(stale?.stale == true)
            #expect(stale?.alarm.conditions.contains(.staleData) == true)
            #expect(stale?.communication.ok == true)
            #expect(Self.validity(stale) == .invalid)
        }
    }
}
