import Foundation

/// Completes a measurement on every device at the device's own interval, on one thread the
/// simulator owns, so update counters move the way a real device's do while nobody polls it.
final class MeasurementClock: Sendable {
    private let stopSignal: StopSignal
    private let thread: OwnedThread

    init(devices: [SimulatedDevice]) throws(SystemCallError) {
        let stopSignal = try StopSignal()
        self.stopSignal = stopSignal
        let start = monotonicSeconds()
        self.thread = try OwnedThread {
            guard !devices.isEmpty else { return }
            var due = devices.map { start + $0.measurementIntervalSeconds }
            while true {
                let next = due.indices.min { due[$0] < due[$1] }!
                guard stopSignal.sleep(until: due[next]) else { return }
                devices[next].completeMeasurement()
                // Scheduled from the previous due time, not from now, so the count does not drift.
                due[next] += devices[next].measurementIntervalSeconds
            }
        }
    }

    func stop() {
        stopSignal.fire()
        thread.join()
    }
}
