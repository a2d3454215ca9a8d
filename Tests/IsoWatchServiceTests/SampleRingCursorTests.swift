import IsoWatchCore
import IsoWatchService
import IsoWatchTesting
import Testing

/// New samples of the front-end's ring, found by its counter, through the real profile's codec.
struct SampleRingCursorTests {
    static let profile = try! ProfileLibrary.load(directory: RepositoryPaths.profiles)["isowatch-frontend"]!

    /// The ring as a poll reads it after a device produced samples `first..<end` (value = its
    /// sequence number in µA, so each sample says who it is).
    static func poll(producing first: UInt32, through end: UInt32, into image: inout RegisterImage) -> SampleWindowReading {
        var sequence = first
        var samples: [WindowSample] = []
        while sequence != end {
            samples.append(WindowSample(sequence: sequence, value: Double(sequence % 300) * 1e-6, positivePolarity: sequence % 2 == 0))
            sequence &+= 1
        }
        profile.encodeSampleWindow(SampleWindowReading(samplesProduced: end, samples: samples), into: &image)
        return try! profile.decodeSampleWindow(image)!
    }

    static func values(_ batch: SampleRingCursor.Batch) -> [Double?] {
        batch.samples.map { $0.value.map { ($0 * 1e6).rounded() } }
    }

    @Test func test_eachPollYieldsOnlyTheSamplesProducedSinceTheLastOne() {
        var image = RegisterImage()
        var cursor = SampleRingCursor()
        let first = cursor.advance(Self.poll(producing: 0, through: 10, into: &image))
        // After power-up the unfilled slots carry no value.
        #expect(first.samples.count == 64)
        #expect(first.samples.compactMap(\.value).count == 10)
        let second = cursor.advance(Self.poll(producing: 10, through: 35, into: &image))
        #expect(Self.values(second) == (10..<35).map { Double($0) })
        #expect(second.samples.map(\.index) == Array(64..<89))
        #expect(second.missed == 0 && second.gapIndex == nil)
        #expect(cursor.advance(Self.poll(producing: 35, through: 35, into: &image)).samples.isEmpty)
    }

    @Test func test_theCounterWrapAt2To32LosesNoSampleAndRepeatsNone() {
        var image = RegisterImage()
        var cursor = SampleRingCursor()
        let start = UInt32.max - 40
        _ = cursor.advance(Self.poll(producing: start &- 64, through: start, into: &image))
        let across = cursor.advance(Self.poll(producing: start, through: 20, into: &image))
        #expect(across.samples.count == 61)
        #expect(across.missed == 0)
        let expected = (0..<61).map { Double((start &+ UInt32($0)) % 300) }
        #expect(Self.values(across) == expected)
        let indices = across.samples.map(\.index)
        #expect(indices == Array(indices[0]..<(indices[0] + 61)))
    }

    @Test func test_samplesThatLeftTheRingBeforeThePollAreCountedAsMissed() {
        var image = RegisterImage()
        var cursor = SampleRingCursor()
        _ = cursor.advance(Self.poll(producing: 0, through: 64, into: &image))
        let late = cursor.advance(Self.poll(producing: 64, through: 164, into: &image))
        #expect(late.missed == 36)
        #expect(late.gapIndex == 64)
        #expect(late.samples.count == 64)
        #expect(late.samples.first?.index == 100)
        #expect(Self.values(late).first == 100)
    }

    @Test func test_aCounterThatWentBackwardsIsARestartNotFourBillionSamples() {
        var image = RegisterImage()
        var cursor = SampleRingCursor()
        _ = cursor.advance(Self.poll(producing: 0, through: 500, into: &image))
        var fresh = RegisterImage()
        let restarted = cursor.advance(Self.poll(producing: 0, through: 5, into: &fresh))
        #expect(restarted.restarted)
        #expect(Self.values(restarted) == [0, 1, 2, 3, 4])
        #expect(restarted.samples.first!.index > restarted.gapIndex!)
    }
}
