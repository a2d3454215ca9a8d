import Foundation
import IsoWatchThreads

/// Completes a measurement on every device at the device's own interval of physics time, on one
/// thread the simulator owns, so update counters move the way a real device's do while nobody
/// polls it. With an accelerated clock several measurements may fall between two wake-ups; the
/// device runs them all (its physics steps stay on a fixed grid) and rewrites its registers once.
final class MeasurementClock: Sendable {
    /// No device is woken more often than this (wall seconds), whatever the time factor: a
    /// Modbus poll cannot see more register changes than that anyway.
    static let minimumWallPeriodSeconds = 0.02

    private let stopSignal: StopSignal
    private let thread: OwnedThread?

    init(devices: [SimulatedDevice], clock: SimulationClock) throws(SystemCallError) {
        let stopSignal = try StopSignal()
        self.stopSignal = stopSignal
        guard clock.mode != .manual, !devices.isEmpty else {
            thread = nil
            return
        }
        self.thread = try startThread(name: "sim-measure") {
            var due = devices.map { $0.measurementIntervalSeconds }
            while true {
                let next = due.indices.min { due[$0] < due[$1] }!
                guard let wall = clock.wallSeconds(atPhysicsSeconds: due[next]),
                    stopSignal.sleep(until: wall)
                else { return }
                let now = clock.physicsSeconds
                let floor = now + clock.timeFactor * Self.minimumWallPeriodSeconds
                for index in devices.indices where due[index] <= now {
                    let device = devices[index]
                    device.measure(untilPhysicsSeconds: now)
                    // The next measurement on the device's grid, but not sooner than the floor.
                    let interval = device.measurementIntervalSeconds
                    due[index] = max(((now / interval).rounded(.down) + 1) * interval, floor)
                }
            }
        }
    }

    func stop() {
        stopSignal.fire()
        thread?.join()
    }
}
