import Foundation
import IsoWatchTesting
import Testing

/// CI must draw the same cases on every run (issue 12): a randomised test takes its randomness
/// from a seed it names, and fresh seeds are for `scripts/explore` only. This reads the test
/// sources for the ways randomness can slip in unseeded.
struct SuiteDeterminismTests {
    /// Lines that draw from the system's generator: an unseeded property check, or a random
    /// value without `using:` a seeded generator.
    static func unseededDraws(in source: String) -> [String] {
        source.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { number, line in
            let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let unseededCheck = code.contains("propertyCheck(") && !code.contains("seededPropertyCheck(")
            let unseededValue =
                [".random(", "randomElement()", "shuffled()", "shuffle()", "SystemRandomNumberGenerator"]
                .contains { code.contains($0) } && !code.contains("using:")
            return unseededCheck || unseededValue ? "\(number + 1): \(line.trimmingCharacters(in: .whitespaces))" : nil
        }
    }

    @Test func test_noTestDrawsUnseededRandomness() throws {
        let tests = RepositoryPaths.root.appending(path: "Tests")
        let files = try #require(FileManager.default.enumerator(at: tests, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" }
        #expect(files.count > 50, "the test sources were not found under \(tests.path)")
        // SeededProperty.swift draws a fresh seed only when scripts/explore asks; this file names the patterns.
        for file in files where !["SeededProperty.swift", "SuiteDeterminismTests.swift"].contains(file.lastPathComponent) {
            let draws = Self.unseededDraws(in: try String(contentsOf: file, encoding: .utf8))
            #expect(draws.isEmpty, "\(file.lastPathComponent) draws unseeded randomness:\n\(draws.joined(separator: "\n"))")
        }
    }

    @Test func test_theCheckFindsEachKindOfUnseededDraw() {
        #expect(Self.unseededDraws(in: "await propertyCheck(count: 5, input: gen) { _ in }").count == 1)
        #expect(Self.unseededDraws(in: "let x = Int.random(in: 0..<5)").count == 1)
        #expect(Self.unseededDraws(in: "let x = list.randomElement()").count == 1)
        #expect(Self.unseededDraws(in: "var g = SystemRandomNumberGenerator()").count == 1)
        #expect(Self.unseededDraws(in: "await seededPropertyCheck(seed: 1, count: 5, input: gen) { _ in }").isEmpty)
        #expect(Self.unseededDraws(in: "let x = Int.random(in: 0..<5, using: &generator)").isEmpty)
        #expect(Self.unseededDraws(in: "// Int.random(in: 0..<5) would not do here").isEmpty)
    }
}
