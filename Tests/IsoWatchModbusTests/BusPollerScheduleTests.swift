import Foundation
import IsoWatchCore
import IsoWatchTesting
import Testing

@testable import IsoWatchModbus

/// The schedule when a poll takes longer than a unit's interval: the unit is polled back to back
/// (the slots it missed are skipped, not queued), and a unit polled that way never holds back a
/// neighbour on the same bus, whose own due time comes first once it has passed.
@Suite(.serialized)
struct BusPollerScheduleTests {
    @Test func test_aUnitPolledBackToBackDoesNotStarveItsNeighbour() async throws {
        let port = Int(try freeTCPPort())
        let server = try ThirdPartyServerTests.startServer(["--tcp", "127.0.0.1:\(port)"])
        defer { server.stop() }
        let profile = try #require(ThirdPartyServerTests.profiles["acrel-aim-m10"])
        func device(_ unit: UInt8, interval: Double) -> PolledDevice {
            PolledDevice(
                id: "unit\(unit)", unit: unit, blocks: profile.readBlocks(), pollIntervalSeconds: interval,
                timeoutSeconds: 1, retries: 1, decode: { image, time in try profile.decode(image, at: time) })
        }
        let recorder = BusPollerTests.Recorder()
        // One microsecond: every poll overruns hundreds of slots of unit 1.
        let poller = BusPoller(
            endpoint: .tcp(host: "127.0.0.1", port: port), devices: [device(1, interval: 0.000_001), device(2, interval: 0.2)],
            onOutcome: recorder.record)
        poller.start()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, recorder.successes("unit2") < 5 || recorder.successes("unit1") < 50 {
            try await Task.sleep(for: .milliseconds(50))
        }
        await poller.stop()

        let outcomes = recorder.all
        #expect(recorder.successes("unit2") >= 5)
        #expect(recorder.successes("unit1") >= 50)
        #expect(recorder.failures("unit1").isEmpty)
        #expect(recorder.failures("unit2").isEmpty)
        // Back to back on one thread: each poll is reported after the one before it.
        #expect(zip(outcomes, outcomes.dropFirst()).allSatisfy { $0.receivedAt < $1.receivedAt })
        // Unit 1 is polled far more often than unit 2, yet unit 2 is polled between runs of unit 1.
        let unit2Positions = outcomes.indices.filter { outcomes[$0].deviceID == "unit2" }
        #expect(unit2Positions.count >= 5)
        #expect(recorder.successes("unit1") > recorder.successes("unit2"))
        #expect(zip(unit2Positions, unit2Positions.dropFirst()).contains { $1 - $0 > 1 })
    }
}
