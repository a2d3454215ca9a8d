import Foundation
import IsoWatchTesting
import Testing

/// Options that take negative values accept them as the next argument (`--dc-offset-volts -5`),
/// not only glued with `=`.
struct WaveformNegativeOptionTests {
    @Test func test_negativeDCOffsetIsAcceptedAsASeparateArgument() async throws {
        let common = ["waveform", "--duration-seconds", "0.05", "--sample-rate-hz", "100", "--half-period-seconds", "0.02"]
        let separate = try await SimulatorCommandTests.run(common + ["--dc-offset-volts", "-5"])
        #expect(separate.status == 0, "\(separate.output)")
        let glued = try await SimulatorCommandTests.run(common + ["--dc-offset-volts=-5"])
        #expect(glued.status == 0, "\(glued.output)")
        #expect(separate.output == glued.output)
        let noOffset = try await SimulatorCommandTests.run(common)
        #expect(noOffset.status == 0)
        #expect(separate.output != noOffset.output, "the offset reaches the circuit")
    }
}
