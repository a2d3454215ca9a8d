import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import IsoWatchSnapshot
import IsoWatchTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import IsoWatchService

/// The test button end to end on a device that can test itself: a simulated ISOMETER whose
/// profile, for this test, gains the `self_test` parameter and `self_test_state` field (the
/// simulator runs a 5 s self-test that simulates an insulation fault). The press lights the
/// yellow lamp and sounds the buzzer, the service starts the device's test over Modbus TCP,
/// follows its state and records the result; a failed test raises `self_test_failed`.
@Suite(.serialized)
struct SelfTestEndToEndTests {
    static let green = LineAddress(chip: "gpiochip0", offset: 20)
    static let yellow = LineAddress(chip: "gpiochip0", offset: 21)
    static let buzzer = LineAddress(chip: "gpiochip0", offset: 22)
    static let testButton = LineAddress(chip: "gpiochip0", offset: 11)

    /// The shipped Bender profile with a remote self-test at two spare holding registers.
    static func library() throws -> ProfileLibrary {
        let shipped = try String(
            contentsOf: RepositoryPaths.profiles.appending(path: "bender-isometer.yaml"), encoding: .utf8)
        let text = shipped.replacingOccurrences(of: "id: bender-isometer", with: "id: bender-selftest") + """

            auxiliary:
              self_test_state: { table: holding, address: 2000, type: u16 }
            parameters:
              self_test: { table: holding, address: 2001, type: u16, range: { min: 0, max: 1 } }

            """
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-selftest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try text.write(to: directory.appending(path: "bender-selftest.yaml"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try ProfileLibrary.load(directory: directory)
    }

    /// Collects what the service logs: the alarm records' journal until the durable one.
    final class CollectedLog: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
        func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
    }

    struct CollectingHandler: LogHandler {
        let log: CollectedLog
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let system = event.metadata?["system"].map { "[\($0)] " } ?? ""
            log.append("\(system)\(event.message)")
        }
    }

    struct Running {
        let simulator: Simulator
        let gpio: SimulatedGPIOBackend
        let runtime: IsoWatchRuntime
        let group: ServiceGroup
        let task: Task<Void, any Error>
        let log: CollectedLog

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
            simulator.stop()
        }

        func state() async -> (state: AlarmState, conditions: [AlarmCondition], yellow: Bool, buzzer: Bool)? {
            guard let status = await runtime.systems().first else { return nil }
            return (status.alarm.state, status.alarm.conditions, status.outputs.yellow, status.outputs.buzzer)
        }

        /// Polls until `condition` holds or the time is up; returns the last state seen.
        @discardableResult
        func waitFor(seconds: Double, _ condition: ((state: AlarmState, conditions: [AlarmCondition], yellow: Bool, buzzer: Bool)) -> Bool)
            async throws -> (state: AlarmState, conditions: [AlarmCondition], yellow: Bool, buzzer: Bool)?
        {
            let deadline = Date().addingTimeInterval(seconds)
            var last = await state()
            while Date() < deadline {
                if let last, condition(last) { return last }
                try await Task.sleep(for: .milliseconds(100))
                last = await state()
            }
            return last
        }

        func waitForLog(_ text: String, seconds: Double) async throws -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if log.contains(text) { return true }
                try await Task.sleep(for: .milliseconds(100))
            }
            return log.contains(text)
        }
    }

    static func start() async throws -> Running {
        let library = try library()
        let site = SiteDescription(endpoints: [
            .tcp(
                id: "gw1",
                units: [
                    UnitDescription(
                        unit: 1, profileID: "bender-selftest", state: .healthy(publishedBy: library["bender-selftest"]!),
                        measurementIntervalSeconds: 0.25)
                ])
        ])
        let simulator = try Simulator(site: site, profiles: library)
        let port = simulator.endpoints.compactMap(\.tcpPort).first.map(Int.init) ?? 0
        let yaml = ServiceConfigurationYAML.file(
            site: "Self-test site",
            systems: [
                ServiceConfigurationYAML.tcpSystem(
                    id: "or-8", name: "Operating theatre 8", profile: "bender-selftest", port: "\(port)",
                    device: ServiceConfigurationYAML.fastPolling,
                    sections: ServiceConfigurationYAML.theatreOutputs + """

                        alarms:
                          test_duration_seconds: 2
                          self_test_timeout_seconds: 60
                        inputs:
                          test: { chip: gpiochip0, line: 11, active_low: true }
                        """)
            ])
        let configuration = try ConfigurationLoader.parse(
            yaml: yaml, fileName: "self-test.yaml", baseDirectory: RepositoryPaths.root, profiles: library)
        let gpio = SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0")])
        let log = CollectedLog()
        let logger = Logger(label: "isowatch-self-test") { _ in CollectingHandler(log: log) }
        let runtime = try await IsoWatchRuntime.make(
            configuration: configuration, profiles: library, gpio: gpio, logger: logger)
        let group = ServiceGroup(services: runtime.services, logger: logger)
        let task = Task { [group] in try await group.run() }
        return Running(simulator: simulator, gpio: gpio, runtime: runtime, group: group, task: task, log: log)
    }

    static func pressTest(_ gpio: SimulatedGPIOBackend) throws {
        try gpio.press(testButton)
        gpio.advanceClock(bySeconds: 0.25)
        try gpio.release(testButton)
        gpio.advanceClock(bySeconds: 0.25)
    }

    @Test func test_testButtonRunsTheDeviceSelfTestLampsFollowAndThePassIsRecorded() async throws {
        let running = try await Self.start()
        let normal = try await running.waitFor(seconds: 15) { $0.state == .normal }
        try Self.pressTest(running.gpio)
        let testing = try await running.waitFor(seconds: 5) { $0.state == .test }
        let testLevels = try await FailSafeOutputTests.waitForLevels(
            running.gpio, [Self.green: false, Self.yellow: false, Self.buzzer: false])
        let passed = try await running.waitForLog("device self-test passed", seconds: 40)
        let back = try await running.waitFor(seconds: 20) { $0.state == .normal }
        let backLevels = try await FailSafeOutputTests.waitForLevels(
            running.gpio, [Self.green: true, Self.yellow: true, Self.buzzer: true])
        let lines = running.log.all
        try await running.stop()

        #expect(normal?.state == .normal)
        #expect(testing?.yellow == true && testing?.buzzer == true)
        #expect(testLevels == [Self.green: false, Self.yellow: false, Self.buzzer: false])
        #expect(passed, "\(lines)")
        #expect(lines.contains { $0.contains("device self-test started") })
        // The device simulated an insulation fault for 5 s: it must not have become an alarm.
        #expect(!lines.contains { $0.contains("raised insulation") }, "\(lines)")
        #expect(!lines.contains { $0.contains("raised stale_data") }, "\(lines)")
        #expect(back?.conditions.isEmpty == true)
        #expect(backLevels == [Self.green: true, Self.yellow: true, Self.buzzer: true])
    }

    @Test func test_failedDeviceSelfTestRaisesSelfTestFailedAndKeepsTheYellowLampLit() async throws {
        let running = try await Self.start()
        try await running.waitFor(seconds: 15) { $0.state == .normal }
        running.simulator.device(endpoint: "gw1", unit: 1)?.setSelfTestFails(true)
        try Self.pressTest(running.gpio)
        let failed = try await running.waitFor(seconds: 40) { $0.conditions.contains(.selfTestFailed) }
        // After the 2 s test the lamps stay: a failed test is a fault.
        let after = try await running.waitFor(seconds: 10) { $0.state == .alarm }
        let levels = try await FailSafeOutputTests.waitForLevels(
            running.gpio, [Self.green: false, Self.yellow: false, Self.buzzer: false])
        let lines = running.log.all
        try await running.stop()

        #expect(failed?.conditions.contains(.selfTestFailed) == true, "\(lines)")
        #expect(lines.contains { $0.contains("device self-test FAILED") })
        #expect(after?.conditions == [.selfTestFailed])
        #expect(levels == [Self.green: false, Self.yellow: false, Self.buzzer: false])
    }

    @Test func test_automaticFunctionTestRunsTheSelfTestWithoutLampsOrBuzzerAndRecordsTheResult() async throws {
        let running = try await Self.start()
        try await running.waitFor(seconds: 15) { $0.state == .normal }
        // What the schedule does when the interval has passed (hours: too long to wait for here).
        await running.runtime.monitor.runFunctionTest(system: "or-8")
        let recorded = try await running.waitForLog("device self-test passed", seconds: 40)
        let after = await running.state()
        let lines = running.log.all
        let levels = try await FailSafeOutputTests.waitForLevels(
            running.gpio, [Self.green: true, Self.yellow: true, Self.buzzer: true])
        try await running.stop()

        #expect(lines.contains { $0.contains("automatic function test: device self-test started") })
        #expect(recorded, "\(lines)")
        #expect(lines.contains { $0.contains("automatic function test passed") })
        #expect(!lines.contains { $0.contains("test started") && !$0.contains("self-test") }, "no lamp test: \(lines)")
        #expect(
            !lines.contains { $0.contains("raised") && !$0.contains("awaiting_first_measurement") },
            "the test raised nothing: \(lines)")
        #expect(after?.state == .normal && after?.yellow == false && after?.buzzer == false)
        #expect(levels == [Self.green: true, Self.yellow: true, Self.buzzer: true])
    }
}
