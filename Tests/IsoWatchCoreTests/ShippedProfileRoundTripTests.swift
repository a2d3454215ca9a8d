import Foundation
import Testing

@testable import IsoWatchCore

/// Property-style checks over every shipped profile with seeded random readings: what the
/// simulator encodes, the service decodes, up to the profile's resolution and range.
@Suite struct ShippedProfileRoundTripTests {
    static let ids = ["acrel-aim-m10", "bender-isometer", "trafox-im01-med", "isowatch-frontend"]

    @Test(arguments: ids)
    func test_decodeOfEncodeReturnsTheReading(id: String) throws {
        let profile = try Repository.profile(id)
        var generator = SeededGenerator(seed: UInt64(Self.ids.firstIndex(of: id)!) + 0xC0DE)
        let mappedFaults = Set(profile.faultFlags.map(\.fault))
        for _ in 0..<300 {
            var reading = DecodedReading(timestamp: epoch)
            for (quantity, field) in profile.fields {
                reading[quantity] = randomValue(for: field, using: &generator)
            }
            reading.faults = Set(mappedFaults.filter { _ in Bool.random(using: &generator) })
            if let counter = profile.updateCounter {
                let value = UInt32.random(in: 0...UInt32.max, using: &generator)
                reading.updateCounter = counter.type == .u16 ? value & 0xFFFF : value
            }
            for (name, field) in profile.auxiliary {
                reading.auxiliary[name] = field.siValue(raw: randomRawInside(field, using: &generator))
            }

            var image = RegisterImage()
            profile.encode(reading, into: &image)
            let decoded = try profile.decode(image, at: epoch)

            #expect(decoded.faults == reading.faults)
            #expect(decoded.updateCounter == reading.updateCounter)
            for (quantity, field) in profile.fields {
                let sent = reading[quantity]!
                let got = try #require(decoded[quantity])
                #expect(got.validity == sent.validity, "\(id) \(quantity): \(sent) → \(got)")
                guard sent.validity != .invalid else { continue }
                if sent.validity != .actual, field.validity == nil, let range = field.range {
                    // Without validity bits, "beyond range" reads back as the display limit.
                    let limit = field.siValue(raw: sent.validity == .belowRange ? range.min : range.max)
                    #expect(abs(got.value - limit) <= field.scale * 1e-9)
                } else {
                    #expect(abs(got.value - sent.value) <= tolerance(field, sent.value), "\(id) \(quantity): \(sent) → \(got)")
                }
            }
            for (name, field) in profile.auxiliary {
                let sent = reading.auxiliary[name]!
                let got = try #require(decoded.auxiliary[name])
                #expect(abs(got - sent) <= tolerance(field, sent), "\(id) \(name)")
            }
        }
    }

    /// Everything encode writes (values, validity words, flags, counter) is inside the blocks a
    /// poll reads, so the service sees all of it.
    @Test(arguments: ids)
    func test_readBlocksCoverEveryRegisterTheDeviceFills(id: String) throws {
        let profile = try Repository.profile(id)
        var image = RegisterImage()
        profile.encode(DecodedReading(timestamp: epoch, faults: Set(Fault.allCases), updateCounter: 7), into: &image)
        if profile.sampleWindow != nil {
            profile.encodeSampleWindow(SampleWindowReading(samplesProduced: 7, samples: []), into: &image)
        }
        let blocks = profile.readBlocks()
        var polled = RegisterImage()
        for table in RegisterTable.allCases {
            for address in image.addresses(in: table) {
                #expect(
                    blocks.contains { $0.table == table && $0.address <= address && Int(address) < $0.end },
                    "\(id): \(table) \(address) is filled but never polled")
                polled[table, address] = image[table, address]
            }
        }
        #expect(try profile.decode(polled, at: epoch) == profile.decode(image, at: epoch))
    }

    @Test func test_shippedProfilesReadInOneRequestEach() throws {
        #expect(try Repository.profile("acrel-aim-m10").readBlocks() == [RegisterBlock(table: .holding, address: 8, count: 4)])
        #expect(try Repository.profile("bender-isometer").readBlocks() == [RegisterBlock(table: .holding, address: 1000, count: 15)])
        #expect(try Repository.profile("isowatch-frontend").readBlocks() == [RegisterBlock(table: .input, address: 0, count: 84)])
    }

    private func tolerance(_ field: RegisterField, _ value: Double) -> Double {
        field.type == .f32 ? abs(value) * 1e-6 + 1e-12 : field.scale / 2 + abs(value) * 1e-12
    }

    private func randomRawInside(_ field: RegisterField, using generator: inout SeededGenerator) -> Double {
        var low = field.type == .f32 ? -1e7 : field.type.rawLimits.lowerBound
        var high = field.type == .f32 ? 1e7 : field.type.rawLimits.upperBound
        if let range = field.range {
            low = range.min + 1
            high = range.max - 1
        }
        while true {
            var raw = Double.random(in: low...high, using: &generator)
            if field.type != .f32 { raw = raw.rounded() }
            if !field.isNoValue(raw) { return raw }
        }
    }

    private func randomValue(for field: RegisterField, using generator: inout SeededGenerator) -> MeasuredValue {
        var choices: [Validity] = [.actual]
        let codes = Set(field.validity?.codes.values.map { $0 } ?? [])
        if field.range != nil || codes.contains(.belowRange) { choices += [.belowRange, .aboveRange] }
        if !field.noValue.isEmpty || field.type == .f32 || codes.contains(.invalid) { choices.append(.invalid) }
        let validity = choices.randomElement(using: &generator)!
        let raw = randomRawInside(field, using: &generator)
        return MeasuredValue(field.siValue(raw: raw), validity: validity)
    }
}
