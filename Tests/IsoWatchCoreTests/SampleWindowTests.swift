import Foundation
import Testing

@testable import IsoWatchCore

@Suite struct SampleWindowTests {
    @Test func test_frontendRingReturnsTheLastSamplesOldestFirst() throws {
        let frontend = try Repository.profile("isowatch-frontend")
        let ring = try #require(frontend.sampleWindow)
        var generator = SeededGenerator(seed: 7)
        var image = RegisterImage()
        var produced: UInt32 = 0
        var history: [WindowSample] = []
        // Feed the ring in bursts, as the device does between polls, and decode after each.
        for _ in 0..<40 {
            let burst = Int.random(in: 1...50, using: &generator)
            var fresh: [WindowSample] = []
            for _ in 0..<burst {
                let overrange = Int.random(in: 0..<20, using: &generator) == 0
                let amperes = (Double(Int.random(in: -30000...30000, using: &generator))) * 1e-8
                fresh.append(WindowSample(
                    sequence: produced, value: overrange ? nil : amperes,
                    positivePolarity: Bool.random(using: &generator)))
                produced &+= 1
            }
            history += fresh
            frontend.encodeSampleWindow(SampleWindowReading(samplesProduced: produced, samples: fresh), into: &image)
            let decoded = try #require(try frontend.decodeSampleWindow(image))
            let expected = Array(history.suffix(ring.length))
            #expect(decoded.samplesProduced == produced)
            #expect(decoded.samples.count == ring.length)
            let unfilled = decoded.samples.prefix(ring.length - expected.count)
            #expect(unfilled.allSatisfy { $0.value == nil }, "slots not yet written are no value")
            let filled = Array(decoded.samples.suffix(expected.count))
            #expect(filled.map(\.sequence) == expected.map(\.sequence))
            #expect(filled.map(\.positivePolarity) == expected.map(\.positivePolarity))
            for (got, sent) in zip(filled, expected) {
                if let sentValue = sent.value {
                    #expect(abs(got.value! - sentValue) < 1e-12)
                } else {
                    #expect(got.value == nil)
                }
            }
        }
    }

    @Test func test_ringStaysAlignedWhenTheCounterWraps() throws {
        let frontend = try Repository.profile("isowatch-frontend")
        var image = RegisterImage()
        let start = UInt32.max - 40
        let samples = (0..<100).map { offset in
            WindowSample(sequence: start &+ UInt32(offset), value: Double(offset) * 1e-8, positivePolarity: offset % 2 == 0)
        }
        frontend.encodeSampleWindow(SampleWindowReading(samplesProduced: start &+ 100, samples: samples), into: &image)
        let decoded = try #require(try frontend.decodeSampleWindow(image))
        #expect(decoded.samples.count == 64)
        #expect(decoded.samples.first?.sequence == start &+ 36)
        #expect(decoded.samples.last?.sequence == start &+ 99)
        #expect(decoded.samples.last?.sequence == 58, "the counter wrapped past 2^32")
        for sample in decoded.samples {
            let offset = Int(sample.sequence &- start)
            #expect(abs(sample.value! - Double(offset) * 1e-8) < 1e-12)
            #expect(sample.positivePolarity == (offset % 2 == 0))
        }
    }

    @Test func test_slotsAFreshDeviceHasNotFilledHaveNoValue() throws {
        let frontend = try Repository.profile("isowatch-frontend")
        var image = RegisterImage()
        frontend.encode(DecodedReading(timestamp: epoch), into: &image)
        let samples = (0..<3).map { WindowSample(sequence: UInt32($0), value: 1e-6, positivePolarity: true) }
        frontend.encodeSampleWindow(SampleWindowReading(samplesProduced: 3, samples: samples), into: &image)
        let decoded = try #require(try frontend.decodeSampleWindow(image))
        #expect(Array(decoded.samples.suffix(3)) == samples)
        #expect(decoded.samples.dropLast(3).allSatisfy { $0.value == nil })
        #expect(decoded.samples.first?.sequence == UInt32.max - 60, "the 61 older slots predate sample 0")
        #expect(try frontend.decode(image, at: epoch).updateCounter == 3)
    }

    @Test func test_profilesWithoutARingDecodeNone() throws {
        #expect(try Repository.profile("acrel-aim-m10").decodeSampleWindow(RegisterImage()) == nil)
    }
}
