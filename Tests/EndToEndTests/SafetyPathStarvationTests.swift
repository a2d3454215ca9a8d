import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
import Testing

/// Issue 13 §3: the safety path (reading → alarm machine → relays, and the heartbeat) runs on the
/// monitor's own thread, so it keeps working while every thread of Swift's cooperative pool is
/// busy: the misuse it protects against is a burst of CPU-heavy requests, or a blocking call on
/// the pool by mistake.
@Suite(.serialized)
struct SafetyPathStarvationTests {
    static let yellow = LineAddress(chip: "gpiochip0", offset: 21)
    static let heartbeatLine = LineAddress(chip: "gpiochip0", offset: 31)

    static let configuration = ServiceConfigurationYAML.file(
        site: "Starvation test site",
        topLevel: [],
        systems: [
            ServiceConfigurationYAML.tcpSystem(
                id: "or-1", name: "OR 1", port: "{TCP_PORT}", device: ServiceConfigurationYAML.fastPolling,
                sections: ServiceConfigurationYAML.theatreOutputs + """

                    alarms:
                      insulation: { response_delay_seconds: 0 }
                    """)
        ]
    ).replacingOccurrences(
        of: "gpio: { backend: simulated }",
        with: "gpio: { backend: simulated, heartbeat: { chip: gpiochip0, line: 31, period_seconds: 0.1 } }")

    /// What the tasks that occupy the pool saw, on the monotonic clock.
    struct Blockade {
        var started = 0
        /// Every pool thread is occupied from here on; the insulation fault is set at this instant.
        var allBlockedAt: ContinuousClock.Instant?
        /// The first occupying task let its thread go here.
        var firstReleaseAt: ContinuousClock.Instant?
        /// A task started at `allBlockedAt` ran here: the pool really had no thread before.
        var probeRanAt: ContinuousClock.Instant?
    }

    final class Shared<Value: Sendable>: Sendable {
        private let value: Mutex<Value>
        init(_ value: Value) { self.value = Mutex(value) }
        func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
    }

    /// The monitor's maximum heartbeat age (`SystemdWatchdogService.maximumHeartbeatAge`): an edge
    /// later than this after the pool was taken proves the monitor's tick itself came round.
    static let maximumHeartbeatAge = Duration.seconds(2)

    @Test func test_aReadingStillReachesTheRelaysAndTheHeartbeatBeatsWhileThePoolIsBlocked() async throws {
        let site = SiteDescription(endpoints: [
            .tcp(id: "gw1", units: [WalkingSkeletonTests.healthyUnit(1, "bender-isometer")])
        ])
        let harness = try await ServiceHarness(site: site, configurationYAML: Self.configuration)
        let gpio = harness.gpio
        let device = try #require(harness.simulator.device(endpoint: "gw1", unit: 1))
        let normal = try await harness.waitFor("or-1", seconds: 30) { $0.alarm.state == "normal" }
        try #require(normal?.alarm.state == "normal")
        try #require(try await eventually(within: 60) { Self.edges(gpio, of: Self.heartbeatLine, after: nil).count >= 3 })

        // The occupying tasks look for the evidence themselves (`evidence(_:since:)`), as nothing
        // else on the pool can run; they give up after a bound that only keeps a broken run from
        // hanging.
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let blockade = Shared(Blockade())
        let bound = ContinuousClock.now + .seconds(60)
        var occupiers: [Task<Void, Never>] = []
        for _ in 0..<threads {
            occupiers.append(
                Task.detached {
                    // No suspension point below: this task holds its pool thread until it returns.
                    let last = blockade.withLock { state in
                        state.started += 1
                        return state.started == threads
                    }
                    if last {
                        let now = ContinuousClock.now
                        blockade.withLock { $0.allBlockedAt = now }
                        // 20 kΩ: below the 50 kΩ response value, with no response delay.
                        device.update { $0.values[Quantity.insulationResistanceOhms] = MeasuredValue(20_000) }
                        Task.detached { blockade.withLock { $0.probeRanAt = ContinuousClock.now } }
                    }
                    while ContinuousClock.now < bound {
                        if let start = blockade.withLock({ $0.allBlockedAt }), Self.evidence(gpio, since: start) { break }
                    }
                    let now = ContinuousClock.now
                    blockade.withLock { $0.firstReleaseAt = $0.firstReleaseAt ?? now }
                })
        }
        for occupier in occupiers { await occupier.value }
        try #require(try await eventually(within: 60) { blockade.withLock { $0.probeRanAt } != nil })
        let seen = blockade.withLock { $0 }
        let after = try await harness.waitFor("or-1", seconds: 30) { $0.alarm.conditions.contains("insulation") }
        try await harness.stop()

        let blockedAt = try #require(seen.allBlockedAt)
        let releasedAt = try #require(seen.firstReleaseAt)
        let probe = try #require(seen.probeRanAt)
        // The pool was really taken: a task queued when the last thread was taken ran only once
        // an occupying task let go.
        #expect(probe >= releasedAt, "the pool had a free thread: the test proves nothing on this machine")
        let alarmEdges = Self.edges(gpio, of: Self.yellow, after: blockedAt).filter { !$0.active }
        #expect(alarmEdges.contains { $0.instant <= releasedAt }, "the yellow relay changed only after the pool was free")
        let lateBeats = Self.edges(gpio, of: Self.heartbeatLine, after: blockedAt + Self.maximumHeartbeatAge)
        #expect(lateBeats.filter { $0.instant <= releasedAt }.count >= 2, "the heartbeat stopped while the pool was blocked")
        #expect(after?.alarm.conditions.contains("insulation") == true)
    }

    /// Evidence of a working safety path since `start`: the yellow relay changed to the alarm
    /// (energised to normal, so its line goes inactive), and the heartbeat line toggled later than
    /// the heartbeat's maximum age after `start`.
    static func evidence(_ gpio: SimulatedGPIOBackend, since start: ContinuousClock.Instant) -> Bool {
        let alarm = edges(gpio, of: yellow, after: start).contains { !$0.active }
        let beat = edges(gpio, of: heartbeatLine, after: start + maximumHeartbeatAge).count >= 2
        return alarm && beat
    }

    static func edges(
        _ gpio: SimulatedGPIOBackend, of line: LineAddress, after start: ContinuousClock.Instant?
    ) -> [SimulatedOutputChange] {
        gpio.outputChanges.filter { change in
            change.address == line && change.kind == .changed && start.map { change.instant > $0 } ?? true
        }
    }
}
