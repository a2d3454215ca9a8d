import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting

@testable import IsoWatchModbus

/// The project's simulator serving AIM-M10 units on one endpoint (a pty for RTU, a loopback TCP
/// gateway), polled by `BusPoller`s: the setup the poller's end-to-end tests share. Units the
/// simulator does not serve stay silent on RTU and answer 0x0B on TCP.
struct SimulatedBus {
    static var profile: DeviceProfile { ThirdPartyServerTests.profiles["acrel-aim-m10"]! }
    static let healthy = DeviceState(values: [.insulationResistanceOhms: MeasuredValue(400_000)])

    enum Link { case rtu, tcp }

    let simulator: TestSimulator
    let endpoint: Transport

    /// `faults[unit]` is the wire fault that unit starts with. Call `stop()` when done.
    init(_ link: Link, units: [UInt8], faults: [UInt8: WireFault] = [:]) throws {
        let described = units.map { unit in
            UnitDescription(unit: unit, profileID: "acrel-aim-m10", state: Self.healthy, wireFault: faults[unit])
        }
        switch link {
        case .rtu:
            simulator = try TestSimulator(rtuUnits: described, serialLine: SerialLine(baud: 19200, parity: .even))
            endpoint = .rtu(SerialSettings(device: simulator.ptyPath, baud: 19200, parity: .even))
        case .tcp:
            simulator = try TestSimulator(tcpUnits: described)
            endpoint = .tcp(host: "127.0.0.1", port: Int(simulator.tcpPort))
        }
    }

    func stop() { simulator.stop() }

    func setFault(_ fault: WireFault?, unit: UInt8) {
        simulator.device(unit: unit).unit.wireFault = fault
    }

    static func device(
        _ unit: UInt8, interval: Double, timeout: Double, retries: Int, patience: Double = 0
    ) -> PolledDevice {
        let profile = Self.profile
        return PolledDevice(
            id: "unit\(unit)", unit: unit, blocks: profile.readBlocks(), pollIntervalSeconds: interval,
            timeoutSeconds: timeout, retries: retries, patienceSeconds: patience,
            decode: { image, time in try profile.decode(image, at: time) })
    }

    /// Runs a fresh poller until `condition` holds or `seconds` have passed (a deadline for a run
    /// that is stuck, not a measuring window), and stops it. The simulator keeps running.
    func poll(
        _ devices: [PolledDevice], backoff: BackoffPolicy = BackoffPolicy(), atMost seconds: Double,
        until condition: (BusPollerTests.Recorder) -> Bool
    ) async throws -> (BusPollerTests.Recorder, BusStatistics) {
        let recorder = BusPollerTests.Recorder()
        let poller = BusPoller(endpoint: endpoint, devices: devices, backoff: backoff, onOutcome: recorder.record)
        poller.start()
        try await BusPollerTests().waitUntil(seconds: seconds) { condition(recorder) }
        await poller.stop()
        return (recorder, poller.statistics)
    }
}
