import Foundation
import IsoWatchCore
import IsoWatchSnapshot
import IsoWatchTesting
import Logging
import Testing

@testable import IsoWatchModbus
@testable import IsoWatchService

/// Issue 13 §5: a system's `stale` says whether its insulation value, the value shown for the
/// system, is current. `stale_data` is raised for a lost load or temperature function too, while
/// the insulation reading is fresh; that stays visible as the condition and leaves `stale` alone.
/// The real monitor with its alarm machine, fed poll outcomes as the pollers hand them over.
@Suite struct StaleStatusTests {
    static let configurationYAML = ServiceConfigurationYAML.file(
        site: "Stale test site",
        systems: [
            ServiceConfigurationYAML.tcpSystem(
                id: "or-1", name: "OR 1", profile: "acrel-aim-m10", port: "1502",
                device: "unit: 1\npoll_interval_seconds: 0.1\ntimeout_seconds: 0.05",
                sections: "thresholds: { stale_after_seconds: 0.5 }")
        ])

    /// A monitor whose device publishes insulation and load: both are monitored functions.
    static func monitor() throws -> SystemMonitor {
        let configuration = try ConfigurationLoader.parse(
            yaml: configurationYAML, fileName: "stale.yaml", baseDirectory: RepositoryPaths.profiles,
            profiles: TestSimulator.shippedProfiles())
        return try SystemMonitor(
            configuration: configuration, drivers: [:], logger: Logger(label: "stale-test"),
            mappedQuantities: ["or-1": [.insulationResistanceOhms, .loadPercent]])
    }

    static func outcome(_ values: [Quantity: MeasuredValue]) -> PollOutcome {
        PollOutcome(
            deviceID: "or-1", endpoint: .tcp(host: "127.0.0.1", port: 1502), unit: 1, timestamp: Date(),
            receivedAt: .now, latencySeconds: 0.01, result: .success(DecodedReading(timestamp: Date(), values: values)))
    }

    /// Feeds readings like a device polled every 50 ms, ticking like the service, until `done`
    /// holds for the status or the bound (which only keeps a broken run from hanging) passes.
    static func feed(
        _ monitor: SystemMonitor, _ values: [Quantity: MeasuredValue], until done: (SystemStatus) -> Bool
    ) async throws -> SystemStatus? {
        let bound = ContinuousClock.now + .seconds(60)
        var status: SystemStatus?
        repeat {
            await monitor.handle(outcome(values))
            await monitor.tick()
            status = await monitor.systems().first
            if let status, done(status) { return status }
            try await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < bound
        return status
    }

    @Test func test_aLostLoadFunctionRaisesStaleDataButTheFreshInsulationValueIsNotStale() async throws {
        let monitor = try Self.monitor()
        await monitor.start()
        let status = try await Self.feed(monitor, [.insulationResistanceOhms: MeasuredValue(800_000)]) {
            $0.alarm.conditions.contains(.staleData)
        }
        #expect(status?.alarm.conditions.contains(.staleData) == true, "the lost load function is an alarm")
        #expect(status?.stale == false, "the insulation value is fresh")
        #expect(status?.reading?.values[.insulationResistanceOhms] == 800_000)
    }

    @Test func test_anInsulationValueWithNoFreshValidMeasurementIsStaleWhileTheDeviceAnswers() async throws {
        let monitor = try Self.monitor()
        await monitor.start()
        let healthy: [Quantity: MeasuredValue] = [.insulationResistanceOhms: MeasuredValue(800_000), .loadPercent: MeasuredValue(40)]
        let fresh = try await Self.feed(monitor, healthy) { $0.alarm.state == .normal }
        #expect(fresh?.alarm.state == .normal)
        #expect(fresh?.stale == false)

        let invalid: [Quantity: MeasuredValue] = [
            .insulationResistanceOhms: MeasuredValue(800_000, validity: .invalid), .loadPercent: MeasuredValue(40),
        ]
        let status = try await Self.feed(monitor, invalid) { $0.stale }
        #expect(status?.stale == true)
        #expect(status?.alarm.conditions.contains(.staleData) == true)
        #expect(status?.communication.ok == true, "the device answers: stale for its insulation value alone")
    }
}
