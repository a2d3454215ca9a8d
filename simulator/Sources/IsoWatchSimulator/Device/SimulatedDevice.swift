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
    }

    private let truth: Mutex<Truth>

    /// A device whose registers hold `state` from the start. Every register a poll of the profile
    /// reads exists in the image (gaps of merged reads included, as zeros), so a client that reads
    /// the profile's blocks never gets exception 02.
    public init(
        profile: DeviceProfile, unitID: UInt8, state: DeviceState = DeviceState(),
        measurementIntervalSeconds: Double = 1.0, online: Bool = true
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
        let truth = Truth(state: state, timestamp: Date())
        profile.encode(Self.reading(truth), into: &image)
        self.truth = Mutex(truth)
        self.unit = ServedUnit(unitID: unitID, image: image, online: online)
        unit.setWriteHandler { [weak self] writes, image in self?.adopt(writes, from: image) }
    }

    public var unitID: UInt8 { unit.unitID }

    public var state: DeviceState { truth.withLock { $0.state } }

    public var updateCounter: UInt32 { truth.withLock { $0.updateCounter } }

    /// The state as a poll of the registers would decode it, before the profile's resolution.
    public var reading: DecodedReading { truth.withLock { Self.reading($0) } }

    /// Changes the truth; the registers follow at once. The update counter does not move: only a
    /// completed measurement (`completeMeasurement`) tells a reader the value is fresh.
    public func update(_ body: (inout DeviceState) -> Void) {
        unit.updateImage { image in
            truth.withLock { truth in
                body(&truth.state)
                profile.encode(Self.reading(truth), into: &image)
            }
        }
    }

    /// The device finished a measurement: the counter moves and the registers are rewritten.
    public func completeMeasurement(at timestamp: Date = Date()) {
        unit.updateImage { image in
            truth.withLock { truth in
                truth.updateCounter &+= 1
                truth.timestamp = timestamp
                profile.encode(Self.reading(truth), into: &image)
            }
        }
    }

    private static func reading(_ truth: Truth) -> DecodedReading {
        DecodedReading(
            timestamp: truth.timestamp, values: truth.state.values, faults: truth.state.faults,
            updateCounter: truth.updateCounter, auxiliary: truth.state.auxiliary)
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
