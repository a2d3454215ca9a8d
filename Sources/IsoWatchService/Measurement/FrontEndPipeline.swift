import Foundation
import IsoWatchCore
import IsoWatchEstimator
import IsoWatchModbus
import Logging
import Synchronization

/// The live path of an isowatch-frontend: each poll's new ring samples → the estimator → the
/// insulation resistance and leakage capacitance in the reading the alarm machine sees; and the
/// adaptive loop, the pulse half-period commanded back over Modbus when it changes.
///
/// Runs inside the poller's decode step, on the bus thread that owns the device (the estimator is
/// plain arithmetic, microseconds per poll), so samples are handled in poll order with no queue.
final class FrontEndPipeline: Sendable {
    static let halfPeriodParameter = "pulse_half_period_seconds"

    private let systemID: String
    private let unit: UInt8
    private let profile: DeviceProfile
    private let responseValueOhms: Double
    private let maximumHalfPeriodSeconds: Double
    private let logger: Logger
    private let state = Mutex(State())
    private let poller = Mutex<BusPoller?>(nil)

    private struct State: Sendable {
        var cursor = SampleRingCursor()
        var estimator: InsulationEstimator?
        var controller: PulseController?
        /// Rs, U0 and sample period the estimator was made for; a change makes a new one.
        var calibration: [Double] = []
        /// Half-periods published so far: the reading's update counter, so the alarm machine
        /// counts one new measurement per estimate and not one per poll.
        var published: UInt32 = 0
        /// Milliseconds last written (or being written); nil: write at the next chance.
        var commandedMilliseconds: Int?
    }

    init(system: SystemConfiguration, profile: DeviceProfile, logger: Logger) {
        systemID = system.id
        unit = system.device.unit
        self.profile = profile
        responseValueOhms = system.thresholds.insulationResponseOhms
        // Every half-period publishes an estimate; one must come well within the stale time or a
        // long pulse alone would raise "stale data".
        maximumHalfPeriodSeconds = min(10, 0.8 * system.thresholds.staleAfterSeconds)
        self.logger = logger
    }

    /// The bus the writes go through; set once the poller exists.
    func attach(_ bus: BusPoller) {
        poller.withLock { $0 = bus }
    }

    /// Decodes one poll: the profile's reading, with the estimate in place of the values the
    /// front-end does not publish itself.
    func decode(_ image: RegisterImage, at time: Date) throws -> DecodedReading {
        var reading = try profile.decode(image, at: time)
        guard let window = try profile.decodeSampleWindow(image) else { return reading }
        let (estimate, command, published) = state.withLock { state in
            let (estimate, command) = process(window, auxiliary: reading.auxiliary, state: &state)
            return (estimate, command, state.published)
        }
        reading.updateCounter = published
        if let estimate {
            let validity: Validity = estimate.quality == .good ? .actual : .invalid
            if let ohms = estimate.insulationResistanceOhms {
                reading[.insulationResistanceOhms] = MeasuredValue(ohms, validity: validity)
            }
            if let farads = estimate.leakageCapacitanceFarads {
                reading[.leakageCapacitanceFarads] = MeasuredValue(farads, validity: validity)
            }
        }
        if let command { send(halfPeriodSeconds: command) }
        return reading
    }

    /// Returns the estimate to publish (nil before the first) and a half-period to command.
    private func process(_ window: SampleWindowReading, auxiliary: [String: Double], state: inout State)
        -> (InsulationEstimate?, Double?)
    {
        guard let rs = auxiliary["coupling_resistance_ohms"], rs > 0,
            let u0 = auxiliary["measuring_voltage_volts"], u0 > 0,
            let period = auxiliary["sample_period_seconds"], period > 0
        else { return (state.estimator?.published, nil) }
        let calibration = [rs, u0, period]
        if state.calibration != calibration || state.estimator == nil {
            if !state.calibration.isEmpty {
                logger.notice(
                    "front-end calibration changed: estimator restarted", metadata: ["system": "\(systemID)"])
            }
            state.calibration = calibration
            state.estimator = InsulationEstimator(
                EstimatorConfiguration(
                    couplingResistanceOhms: rs, measuringVoltageVolts: u0, mainsFrequencyHertz: 1 / period,
                    responseValueOhms: responseValueOhms))
            state.controller = PulseController(
                minimumSeconds: 0.2, maximumSeconds: max(0.2, maximumHalfPeriodSeconds), mainsFrequencyHertz: 1 / period)
            state.commandedMilliseconds = nil
        }
        guard var estimator = state.estimator, var controller = state.controller else { return (nil, nil) }

        let batch = state.cursor.advance(window)
        let stopped = auxiliary["pulse_polarity"] == 0
        var completed: [InsulationEstimate] = []
        if let gap = batch.gapIndex {
            // Lost samples (or a restart) break the half-period under way: a stopped-pulse marker
            // ends it and keeps the estimator from pairing across the gap.
            completed += estimator.append(PulseSample(timeSeconds: Double(gap) * period, pulseVolts: 0, currentAmperes: .nan))
            logger.warning(
                "front-end samples lost", metadata: ["system": "\(systemID)", "missed": "\(batch.missed)",
                    "restarted": "\(batch.restarted)"])
        }
        for sample in batch.samples {
            let volts: Double
            if sample.value == nil, stopped {
                volts = 0
            } else if let positive = sample.positivePolarity {
                volts = positive ? u0 : -u0
            } else {
                continue
            }
            completed += estimator.append(
                PulseSample(timeSeconds: Double(sample.index) * period, pulseVolts: volts, currentAmperes: sample.value ?? .nan))
        }
        var command: Double?
        for estimate in completed {
            state.published &+= 1
            command = controller.next(after: estimate)
        }
        if state.commandedMilliseconds == nil { command = controller.halfPeriodSeconds }
        if let seconds = command {
            let milliseconds = Int((seconds * 1000).rounded())
            command = milliseconds == state.commandedMilliseconds ? nil : seconds
            if command != nil { state.commandedMilliseconds = milliseconds }
        }
        state.estimator = estimator
        state.controller = controller
        return (estimator.published, command)
    }

    private func send(halfPeriodSeconds seconds: Double) {
        let write: ParameterWrite
        do {
            write = try profile.write(parameter: Self.halfPeriodParameter, value: seconds)
        } catch {
            logger.error("pulse half-period not commanded", metadata: ["system": "\(systemID)", "error": "\(error)"])
            return
        }
        guard let bus = poller.withLock({ $0 }) else {
            state.withLock { $0.commandedMilliseconds = nil }
            return
        }
        let unit = self.unit
        Task { [self] in
            do {
                try await bus.write(unit: unit, table: write.table, address: write.address, words: write.words)
                logger.info(
                    "pulse half-period commanded", metadata: ["system": "\(systemID)", "seconds": "\(seconds)"])
            } catch {
                // Asked again with the next estimate.
                state.withLock { $0.commandedMilliseconds = nil }
                logger.warning(
                    "pulse half-period write failed", metadata: ["system": "\(systemID)", "error": "\(error)"])
            }
        }
    }
}
