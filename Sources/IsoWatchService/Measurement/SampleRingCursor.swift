import IsoWatchCore

/// Which samples of a front-end's ring are new since the last poll, by the device's sample
/// counter: across the counter's 2^32 wrap (64 divides 2^32, so slots stay consistent), after
/// polls that came too late for the ring (samples lost), and after a device restart (the counter
/// went backwards).
public struct SampleRingCursor: Sendable {
    /// One new sample, numbered on an unwrapped axis that only ever increases.
    public struct NewSample: Sendable, Equatable {
        public var index: Int64
        /// SI value; nil for the device's "no value" (overrange, blanking, pulse stopped).
        public var value: Double?
        public var positivePolarity: Bool?
    }

    public struct Batch: Sendable, Equatable {
        public var samples: [NewSample]
        /// Samples produced since the last poll that the ring no longer held.
        public var missed: Int
        /// The counter went backwards: the device restarted, what came before is another run.
        public var restarted: Bool
        /// The unwrapped index of the first sample not delivered, when samples were lost or the
        /// device restarted (a gap before `samples`).
        public var gapIndex: Int64?
    }

    private var nextSequence: UInt32?
    private var nextIndex: Int64 = 0

    public init() {}

    public mutating func advance(_ window: SampleWindowReading) -> Batch {
        let produced = window.samplesProduced
        let length = window.samples.count
        guard let expected = nextSequence else {
            // First poll: whatever the ring holds (unfilled slots carry no value).
            nextSequence = produced
            let samples = window.samples.enumerated().map { offset, sample in
                NewSample(index: Int64(offset), value: sample.value, positivePolarity: sample.positivePolarity)
            }
            nextIndex = Int64(length)
            return Batch(samples: samples, missed: 0, restarted: false, gapIndex: nil)
        }
        let available = produced &- expected
        // More than half the counter's range ahead is read as behind: a restart, not 2^31 samples.
        if available > UInt32(Int32.max) {
            let gap = nextIndex
            nextIndex += 1
            let fresh = window.samples.suffix(Int(min(UInt32(length), produced)))
            let samples = fresh.enumerated().map { offset, sample in
                NewSample(index: nextIndex + Int64(offset), value: sample.value, positivePolarity: sample.positivePolarity)
            }
            nextIndex += Int64(fresh.count)
            nextSequence = produced
            return Batch(samples: samples, missed: 0, restarted: true, gapIndex: gap)
        }
        let taken = Int(min(available, UInt32(length)))
        let missed = Int(available) - taken
        let first = nextIndex + Int64(missed)
        let samples = window.samples.suffix(taken).enumerated().map { offset, sample in
            NewSample(index: first + Int64(offset), value: sample.value, positivePolarity: sample.positivePolarity)
        }
        let gap = missed > 0 ? nextIndex : nil
        nextIndex += Int64(available)
        nextSequence = produced
        return Batch(samples: samples, missed: missed, restarted: false, gapIndex: gap)
    }
}
