import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@Suite struct SimulatedDeviceTests {
    static let profiles = Result { try TestSimulator.shippedProfiles() }

    static func profile(_ id: String) throws -> DeviceProfile {
        try #require(try profiles.get()[id], "profile \(id) is shipped")
    }

    @Test(arguments: ["acrel-aim-m10", "bender-isometer", "trafox-im01-med", "isowatch-frontend"])
    func test_everyReadBlockOfTheProfileIsServed(profileID: String) throws {
        let profile = try Self.profile(profileID)
        let device = try SimulatedDevice(profile: profile, unitID: 1, state: .healthy(publishedBy: profile))
        for block in profile.readBlocks() {
            #expect(device.unit.image.words(block) != nil, "\(block) of \(profileID)")
        }
        // What the service would decode is what the device holds.
        let decoded = try profile.decode(device.unit.image, at: Date())
        for (quantity, value) in device.state.values {
            let read = try #require(decoded.values[quantity])
            #expect(read.validity == value.validity)
            let resolution = profile.fields[quantity]!.scale
            #expect(abs(read.value - value.value) <= resolution / 2 + abs(value.value) * 1e-6, "\(quantity.rawValue)")
        }
    }

    @Test func test_updateRewritesTheRegistersWithoutMovingTheCounter() throws {
        let profile = try Self.profile("acrel-aim-m10")
        let device = try SimulatedDevice(profile: profile, unitID: 1, state: .healthy(publishedBy: profile))
        device.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
            $0.faults = [.insulation, .earthConnection]
        }
        let decoded = try profile.decode(device.unit.image, at: Date())
        #expect(decoded.values[.insulationResistanceOhms] == MeasuredValue(30_000))
        #expect(decoded.faults == [.insulation, .earthConnection])
        #expect(device.updateCounter == 0)
    }

    @Test func test_completedMeasurementMovesTheCounterInTheRegisters() throws {
        let profile = try Self.profile("isowatch-frontend")
        try #require(profile.updateCounter != nil)
        let device = try SimulatedDevice(profile: profile, unitID: 1)
        device.completeMeasurement()
        device.completeMeasurement()
        #expect(try profile.decode(device.unit.image, at: Date()).updateCounter == 2)
    }

    @Test func test_aClientWrittenParameterIsKeptAcrossMeasurements() async throws {
        let profile = try Self.profile("trafox-im01-med")
        let field = try #require(profile.parameters["insulation_response_ohms"])
        let device = try SimulatedDevice(
            profile: profile, unitID: 1, state: DeviceState(parameters: ["insulation_response_ohms": 50_000]))
        #expect(device.unit.image[field.table, field.address] == 50)
        let writes = device.unit.writes()
        // FC 6 as the service would send it: 80 kΩ.
        let disposition = device.unit.handle(function: 0x06, data: [0, UInt8(field.address), 0, 80][...])
        #expect(disposition == .reply(pdu: [0x06, 0, UInt8(field.address), 0, 80], distortion: nil, extraDelaySeconds: 0))
        #expect(device.state.parameters["insulation_response_ohms"] == 80_000)
        device.completeMeasurement()
        #expect(device.unit.image[field.table, field.address] == 80)
        var iterator = writes.makeAsyncIterator()
        #expect(await iterator.next() == RegisterWrite(table: field.table, address: field.address, values: [80]))
    }

    @Test func test_measurementClockCountsAtTheUnitsInterval() async throws {
        let started = ContinuousClock.now
        let simulator = try TestSimulator(
            tcpUnits: [UnitDescription(unit: 1, profileID: "acrel-aim-m10", values: [:], measurementIntervalSeconds: 0.1)])
        defer { simulator.stop() }
        try await Task.sleep(for: .milliseconds(550))
        let count = simulator.device(unit: 1).updateCounter
        let elapsed = started.duration(to: .now)
        let intervals = Int((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / 0.1)
        // It counts, and never faster than its interval, however long a loaded machine took to
        // wake this test up (a wall-clock bound on the count itself would flake).
        #expect(count >= 1)
        #expect(count <= UInt32(intervals))
    }
}
