import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@testable import IsoWatchModbus

/// What the fault suite found about coming back after a fault: a line a killed process left
/// behind, and a unit that fails now and then.
@Suite(.serialized)
struct LineRecoveryTests {
    @Test func test_lineLeftWithParityByAKilledClientIsOpenedAgain() throws {
        let simulator = try TestSimulator(
            rtuUnits: [UnitDescription(unit: 1, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 420_000])],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let settings = SerialSettings(device: simulator.ptyPath, baud: 19200, parity: .even)
        // The client before: it set the line up (even parity) and never put it back, as a killed
        // process never does. It stays open here; what matters is the settings it leaves.
        let killed = ModbusConnection(endpoint: .rtu(settings))
        try killed.connect()
        defer { killed.close() }

        // A pty cannot keep parity: glibc reads the settings back, finds PARENB gone and reports
        // EINVAL, and before the reset every restart of the service failed here.
        let connection = ModbusConnection(endpoint: .rtu(settings))
        defer { connection.close() }
        try connection.connect()
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let block = try #require(profile.readBlocks().first)
        let words = try connection.read(unit: 1, block: block, timeoutSeconds: 0.5)
        #expect(words.count == Int(block.count))
    }

    /// Polls of one unit whose every request is lost, in `seconds`, with a given patience.
    func failedPolls(patienceSeconds: Double, seconds: Double) async throws -> Int {
        let simulator = try TestSimulator(
            rtuUnits: [
                UnitDescription(
                    unit: 1, profileID: "acrel-aim-m10", state: DeviceState(values: [.insulationResistanceOhms: MeasuredValue(400_000)]),
                    wireFault: WireFault(.noReply))
            ],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let recorder = BusPollerTests.Recorder()
        let poller = BusPoller(
            endpoint: .rtu(SerialSettings(device: simulator.ptyPath, baud: 19200, parity: .even)),
            devices: [
                PolledDevice(
                    id: "unit1", unit: 1, blocks: profile.readBlocks(), pollIntervalSeconds: 0.2, timeoutSeconds: 0.1,
                    retries: 0, patienceSeconds: patienceSeconds, decode: { image, time in try profile.decode(image, at: time) })
            ],
            onOutcome: recorder.record)
        poller.start()
        try await Task.sleep(for: .seconds(seconds))
        await poller.stop()
        return recorder.failures("unit1").count
    }

    /// A unit is asked at its interval until its communication alarm would be due, so a few lost
    /// replies never stretch into a gap longer than the stale time; only then does it back off.
    @Test func test_failingUnitIsAskedAtItsIntervalUntilItsPatienceRunsOut() async throws {
        // 4 s at one poll per 0.3 s (0.2 s interval + 0.1 s timeout) is about 13 polls; backing
        // off at once (0.2, 0.4, 0.8, 1.6 s) gives 5.
        let patient = try await failedPolls(patienceSeconds: 10, seconds: 4)
        let impatient = try await failedPolls(patienceSeconds: 0, seconds: 4)
        #expect(patient >= 9)
        #expect(impatient <= 6)
        #expect(patient > impatient)
    }
}
