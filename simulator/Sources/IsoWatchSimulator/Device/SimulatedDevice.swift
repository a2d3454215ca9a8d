import Foundation
import IsoWatchCore
import Synchronization

/// One simulated device behind one unit id: a profile, the device's true state, and the register
/// image the profile encodes from it. Thread-safe.
///
/// Locking: the unit's lock is always taken before the device's (a client write arrives under
/// the unit's lock; a state change re-encodes inside `ServedUnit.updateImage`), so the two can
/// never deadlock.
public final class SimulatedDevice: Sendable {
    public let profile: DeviceProfile
    /// The unit as the wire servers see it: image, on-line flag, injected wire fault.
    public let unit: ServedUnit
    /// How often the device completes a measurement and its update counter moves.
    public let measurementIntervalSeconds: Double

    private struct Truth {
        var state: DeviceState
        var updateCounter: UInt32 = 0
        var timestamp: Date
        /// The IT system behind the device, when its values follow physics rather than being set.
        var physics: DevicePhysics?
        var selfTest = SelfTestRun()
        /// Measurements completed on the physics clock (`measure(untilPhysicsSeconds:)`).
        var measurementIndex: Int64 = 0
    }

    private let truth: Mutex<Truth>

    /// A device whose registers hold `state` from the start. Every register a poll of the profile
    /// reads exists in the image (gaps of merged reads included, as zeros), so a client that reads
    /// the profile's blocks never gets exception 02.
    public init(
        profile: DeviceProfile, unitID: UInt8, state: DeviceState = DeviceState(),
        measurementIntervalSeconds: Double = 1.0, online: Bool = true, physics: DevicePhysics? = nil
    ) throws(ParameterWriteError) {
        self.profile = profile
        self.measurementIntervalSeconds = measurementIntervalSeconds
        var image = RegisterImage()
        for block in profile.readBlocks() {
            image.set(block.table, block.address, words: Array(repeating: 0, count: Int(block.count)))
        }
        for field in profile.parameters.values {
            image.set(field.table, field.address, words: Array(repeating: 0, count: field.type.width))
        }
        for (name, value) in state.parameters.sorted(by: { $0.key < $1.key }) {
            let write = try profile.write(parameter: name, value: value)
            image.set(write.table, write.address, words: write.words)
        }
        var truth = Truth(state: state, timestamp: Date(), physics: physics)
        Self.publishPhysics(&truth, profile: profile)
        profile.encode(Self.reading(truth, profile: profile), into: &image)
        self.truth = Mutex(truth)
        self.unit = ServedUnit(unitID: unitID, image: image, online: online)
        unit.setWriteHandler { [weak self] writes, image in self?.adopt(writes, from: image) }
    }

    public var unitID: UInt8 { unit.unitID }

    public var state: DeviceState { truth.withLock { $0.state } }

    public var updateCounter: UInt32 { truth.withLock { $0.updateCounter } }

    /// The state as a poll of the registers would decode it, before the profile's resolution.
    public var reading: DecodedReading { truth.withLock { Self.reading($0, profile: profile) } }

    /// Changes the truth; the registers follow at once. The update counter does not move: only a
    /// completed measurement (`completeMeasurement`) tells a reader the value is fresh.
    public func update(_ body: (inout DeviceState) -> Void) {
        unit.updateImage { image in
            truth.withLock { truth in
                body(&truth.state)
                profile.encode(Self.reading(truth, profile: profile), into: &image)
            }
        }
    }

    /// One sample of a device that produces a stream (the front-end): the state change, the
    /// counter's move and `edit` of the image (the ring slot the new count covers) happen under
    /// one lock, so a poll never sees the counter ahead of its slot.
    public func produceSample(
        _ body: (inout DeviceState) -> Void, edit: (_ counter: UInt32, _ image: inout RegisterImage) -> Void
    ) {
        unit.updateImage { image in
            truth.withLock { truth in
                body(&truth.state)
                truth.updateCounter &+= 1
                truth.timestamp = Date()
                profile.encode(Self.reading(truth, profile: profile), into: &image)
                edit(truth.updateCounter, &image)
            }
        }
    }

    /// The device finished a measurement: the counter moves and the registers are rewritten.
    public func completeMeasurement(at timestamp: Date = Date()) {
        unit.updateImage { image in
            truth.withLock { truth in
                truth.updateCounter &+= 1
                truth.timestamp = timestamp
                profile.encode(Self.reading(truth, profile: profile), into: &image)
            }
        }
    }

    private static func reading(_ truth: Truth, profile: DeviceProfile? = nil) -> DecodedReading {
        var shown = truth.state
        if let profile { truth.selfTest.overlay(&shown, profile: profile) }
        return DecodedReading(
            timestamp: truth.timestamp, values: shown.values, faults: shown.faults,
            updateCounter: truth.updateCounter, auxiliary: shown.auxiliary)
    }

    // MARK: Physics

    /// The IT system behind the device and the device's own measurement of it; nil for a device
    /// whose values are set directly.
    public var physics: DevicePhysics? { truth.withLock { $0.physics } }

    public var selfTest: SelfTestRun { truth.withLock { $0.selfTest } }

    /// Changes the true physics. What the device publishes follows at its next measurement, as
    /// a real device's display does. Returns false (and changes nothing) for a device without
    /// physics.
    @discardableResult
    public func updatePhysics(_ body: (inout DevicePhysics) -> Void) -> Bool {
        truth.withLock { truth in
            guard var physics = truth.physics else { return false }
            body(&physics)
            truth.physics = physics
            return true
        }
    }

    /// Sets whether the device's next (or running) self-test fails.
    public func setSelfTestFails(_ fails: Bool) {
        truth.withLock { $0.selfTest.resultFails = fails }
    }

    /// Whether the profile has the self-test fields (`self_test` parameter, `self_test_state`).
    public var supportsSelfTest: Bool {
        profile.parameters[SelfTestRun.parameterName] != nil && profile.auxiliary[SelfTestRun.stateFieldName] != nil
    }

    /// Completes every measurement due by physics time `seconds` (one per measurement interval,
    /// on a fixed grid, so the result does not depend on how often this is called): the physics
    /// advances one interval per measurement, the update counter moves once per measurement,
    /// and the registers are rewritten once at the end. Returns how many measurements ran.
    @discardableResult
    public func measure(untilPhysicsSeconds seconds: Double, at timestamp: Date = Date()) -> Int {
        let interval = measurementIntervalSeconds
        let selfTestField = supportsSelfTest ? profile.parameters[SelfTestRun.parameterName] : nil
        var ran = 0
        unit.updateImage { image in
            truth.withLock { truth in
                let due = Int64((seconds / interval + 1e-9).rounded(.down))
                guard due > truth.measurementIndex else { return }
                for _ in truth.measurementIndex..<due {
                    truth.physics?.advance(bySeconds: interval)
                    truth.selfTest.advance(bySeconds: interval)
                    if selfTestField != nil, (truth.state.parameters[SelfTestRun.parameterName] ?? 0) >= 1 {
                        // The device takes the command and clears it, so a client sees it was taken.
                        truth.state.parameters[SelfTestRun.parameterName] = 0
                        if let write = try? profile.write(parameter: SelfTestRun.parameterName, value: 0) {
                            image.set(write.table, write.address, words: write.words)
                        }
                        truth.selfTest.start()
                    }
                    truth.updateCounter &+= 1
                    ran += 1
                }
                truth.measurementIndex = due
                truth.timestamp = timestamp
                Self.publishPhysics(&truth, profile: profile)
                profile.encode(Self.reading(truth, profile: profile), into: &image)
            }
        }
        return ran
    }

    private static func publishPhysics(_ truth: inout Truth, profile: DeviceProfile) {
        guard let physics = truth.physics else { return }
        let published = physics.publish(profile: profile, parameters: truth.state.parameters)
        truth.state.values = published.values
        truth.state.faults = published.faults
    }

    /// Takes what a client wrote into the profile's parameters and auxiliary fields into the
    /// truth, so the next re-encoding keeps it (a device keeps a setting it was given) and a
    /// physics model can act on it. Called under the unit's lock, with the image after the write.
    private func adopt(_ writes: [RegisterWrite], from image: RegisterImage) {
        func touched(_ field: RegisterField) -> Bool {
            writes.contains { write in
                write.table == field.table && Int(write.address) < field.block.end
                    && Int(field.address) < Int(write.address) + write.values.count
            }
        }
        func value(_ field: RegisterField) -> Double? {
            image.words(field.block).map { field.siValue(raw: field.rawValue(from: $0)) }
        }
        truth.withLock { truth in
            for (name, field) in profile.parameters where touched(field) {
                truth.state.parameters[name] = value(field)
            }
            for (name, field) in profile.auxiliary where touched(field) {
                truth.state.auxiliary[name] = value(field)
            }
        }
    }
}
