import IsoWatchCore
import IsoWatchGPIO
import Logging
import IsoWatchTesting
import Testing

@testable import IsoWatchService

/// The heartbeat line for the watchdog relay follows the monitor's `Heartbeat`, the same proof of
/// life the systemd watchdog uses, on a simulated chip in real time.
@Suite struct HeartbeatOutputTests {
    static let address = LineAddress(chip: "gpiochip0", offset: 31)

    /// Level changes of the heartbeat line so far.
    static func edges(_ backend: SimulatedGPIOBackend) -> Int {
        backend.outputChanges.filter { $0.address == address && $0.kind == .changed }.count
    }

    /// Waits for `condition`; the bound only keeps a broken run from hanging.
    @Test func test_heartbeatLineTogglesOnlyWhileTheMonitorHeartbeatIsFresh() async throws {
        let backend = SimulatedGPIOBackend(chips: [SimulatedChip()], timing: .realTime)
        let heartbeat = Heartbeat()
        let maximumAge = Duration.milliseconds(300)
        let output = try await HeartbeatOutput.claim(
            HeartbeatLineSettings(chip: "gpiochip0", offset: 31, periodSeconds: 0.1), backend: backend, heartbeat: heartbeat,
            maximumHeartbeatAge: maximumAge, logger: Logger(label: "test"))
        #expect(backend.lineState(Self.address)?.role == .output)
        #expect(backend.isActive(Self.address) == false, "claimed low")
        output.start()

        // No beat yet: a monitor that never came round is no sign of life.
        try await Task.sleep(for: .milliseconds(600))
        #expect(Self.edges(backend) == 0)

        let beating = Task {
            while !Task.isCancelled {
                heartbeat.beat()
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(try await eventually(within: 60, poll: .milliseconds(10)) { Self.edges(backend) >= 4 }, "toggles while the monitor beats")
        let levels = backend.outputChanges.filter { $0.address == Self.address && $0.kind == .changed }.map(\.active)
        #expect(zip(levels, levels.dropFirst()).allSatisfy { $0 != $1 }, "every write is an edge")

        // A hung monitor: the beats stop, and once the heartbeat is older than the maximum age
        // no edge follows.
        beating.cancel()
        _ = await beating.value
        #expect(try await eventually(within: 60, poll: .milliseconds(10)) { (heartbeat.age() ?? .zero) > maximumAge })
        try await Task.sleep(for: .seconds(1))
        let frozen = Self.edges(backend)
        try await Task.sleep(for: .seconds(1))
        #expect(Self.edges(backend) == frozen, "no edge while the heartbeat is stale")

        #expect(
            try await eventually(within: 60, poll: .milliseconds(10)) {
                heartbeat.beat()
                return Self.edges(backend) > frozen
            }, "fresh beats resume the toggling")

        await output.stop()
        #expect(backend.lineState(Self.address)?.role == .unclaimed, "released at the stop")
        let released = Self.edges(backend)
        heartbeat.beat()
        try await Task.sleep(for: .milliseconds(500))
        #expect(Self.edges(backend) == released, "no edge after the stop")
    }
}
