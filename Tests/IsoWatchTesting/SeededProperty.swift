import Foundation
import Synchronization
import IsoWatchSimulator
import PropertyBased
import Testing

/// Property checks that draw the same cases on every run.
///
/// `propertyCheck` from swift-property-based seeds itself from the system's randomness, so a
/// suite that uses it draws new systems on every run and CI can fail for a case no change
/// caused (issue 12). `seededPropertyCheck` draws its cases from a fixed seed instead; fresh
/// seeds are for exploration (`scripts/explore`), which sets `ISOWATCH_PROPERTY_SEED`:
/// - unset: the test's own seed (what CI runs);
/// - a number: that seed, to reproduce what exploration found;
/// - `random`: a fresh seed, printed with every failing case.
public func seededPropertyCheck<InputValue, ResultValue>(
    seed: UInt64,
    count: Int,
    input: Generator<ResultValue, some Sequence<InputValue>>,
    perform body: (ResultValue) async throws -> Void,
    isolation: isolated (any Actor)? = #isolation,
    sourceLocation: SourceLocation = #_sourceLocation
) async {
    let runSeed = PropertySeed.resolve(fixed: seed)
    var generator = PropertySeed.Generator(seed: runSeed)
    for index in 0..<count {
        // Each case starts from its own state, so case N is reproduced without drawing 0..<N again.
        let caseSeed = generator.currentSeed
        let value = input.run(using: &generator)
        let failed = await PropertySeed.recordsIssue {
            do {
                try await body(value)
            } catch {
                Issue.record(error, sourceLocation: sourceLocation)
            }
        }
        if failed {
            let line = "property seed \(runSeed), case \(index) (case seed \(caseSeed)): \(value)"
            print("isowatch-explore: \(line)")
            Issue.record(
                "\(line); rerun with ISOWATCH_PROPERTY_SEED=\(runSeed)", sourceLocation: sourceLocation)
            return
        }
        generator = PropertySeed.Generator(seed: PropertySeed.Generator.advance(caseSeed))
    }
}

public enum PropertySeed {
    static let environmentKey = "ISOWATCH_PROPERTY_SEED"

    /// The seed a run uses: the test's own, or the one `scripts/explore` asks for.
    static func resolve(fixed: UInt64) -> UInt64 {
        guard let asked = ProcessInfo.processInfo.environment[environmentKey], !asked.isEmpty else { return fixed }
        if asked == "random" { return UInt64.random(in: 1...UInt64.max) }
        guard let seed = UInt64(asked) else {
            Issue.record("\(environmentKey)=\(asked) is neither a number nor 'random'; using the test's seed \(fixed)")
            return fixed
        }
        return seed
    }

    /// Runs `body` and tells whether it recorded an issue, without hiding the issue from the test.
    static func recordsIssue(
        isolation: isolated (any Actor)? = #isolation, _ body: () async -> Void
    ) async -> Bool {
        let errors = Mutex(0)
        let counting = IssueHandlingTrait.compactMapIssues { issue in
            if issue.severity >= .error { errors.withLock { $0 += 1 } }
            return issue
        }
        nonisolated(unsafe) let body = body
        if let test = Test.current {
            try? await counting.provideScope(for: test, testCase: Test.Case.current) { await body() }
        } else {
            await body()
        }
        return errors.withLock { $0 } > 0
    }

    /// SplitMix64 behind the protocol swift-property-based's generators draw from.
    public struct Generator: SeededRandomNumberGenerator {
        public private(set) var currentSeed: UInt64

        public init(seed: UInt64) { currentSeed = seed }
        public init() { currentSeed = UInt64.random(in: 0...UInt64.max) }

        public mutating func next() -> UInt64 {
            var splitMix = SplitMix64(seed: currentSeed)
            let word = splitMix.next()
            currentSeed = splitMix.state
            return word
        }

        /// The first state of the next case: a hash of this case's, so cases do not overlap
        /// however many words one case draws.
        static func advance(_ seed: UInt64) -> UInt64 { SplitMix64.mix(seed ^ 0xD1B5_4A32_D192_ED03) }
    }
}
