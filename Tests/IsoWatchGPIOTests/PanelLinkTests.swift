import IsoWatchGPIO
import IsoWatchSimulator
import Testing

/// `SimulatorPanelBackend` against the simulator's real panel server over loopback TCP.
@Suite struct PanelLinkTests {
    /// A panel served on an ephemeral loopback port, and a backend connected to it.
    struct Bench {
        let panel = SimulatedPanel()
        let server: PanelServer
        let backend: SimulatorPanelBackend

        init() throws {
            server = try PanelServer(host: "127.0.0.1", port: 0, panel: panel)
            backend = SimulatorPanelBackend(host: "127.0.0.1", port: server.port)
        }

        func stop() {
            backend.close()
            server.stop()
        }
    }

    /// The next value of `stream`, or nil if it ends; gives up after a generous bound so a broken
    /// link fails the test instead of hanging it.
    static func next(_ stream: AsyncStream<Bool>, boundSeconds: Double = 20) async -> Bool?? {
        await withTaskGroup(of: Bool??.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                return .some(await iterator.next())
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(boundSeconds))
                return nil
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    @Test func test_outputsFollowTheirLogicalStateThroughActiveLowOnThePanel() async throws {
        let bench = try Bench()
        defer { bench.stop() }
        let address = LineAddress(chip: "gpiochip0", offset: 5)
        let line = try await bench.backend.claimOutput(
            OutputLineConfiguration(address: address, activeLow: true, label: "or-1 green", initialActive: true))
        var shown = try #require(bench.panel.line("gpiochip0:5"))
        #expect(shown.role == .output && shown.consumer == "or-1 green" && shown.activeLow)
        #expect(shown.electricalHigh == false && shown.active == true, "energised, driven low")

        try await line.set(false)
        try await line.set(false)
        try await line.set(true)
        shown = try #require(bench.panel.line("gpiochip0:5"))
        #expect(shown.active == true)
        #expect(bench.panel.outputHistory.map(\.active) == [true, false, true], "the claim, then each real change")

        await line.release()
        shown = try #require(bench.panel.line("gpiochip0:5"))
        #expect(shown.role == .unclaimed && shown.electricalHigh == false, "a released line keeps its level")
    }

    @Test func test_inputsDrivenOnThePanelArriveAsDebouncedLogicalEdges() async throws {
        let bench = try Bench()
        defer { bench.stop() }
        let address = LineAddress(chip: "gpiochip0", name: "OR1_MUTE")
        let line = try await bench.backend.claimInput(
            InputLineConfiguration(address: address, activeLow: true, debounceSeconds: 0.01, label: "or-1 mute", bias: .pullUp))
        #expect(try await line.read() == false, "pulled up, active low: released")
        let changes = line.changes

        try bench.panel.drive(#"gpiochip0:"OR1_MUTE""#, active: true)
        #expect(await Self.next(changes) == .some(true))
        #expect(bench.panel.line(#"gpiochip0:"OR1_MUTE""#)?.electricalHigh == false, "pressed pulls the line low")
        #expect(try await line.read() == true)

        try bench.panel.drive(#"gpiochip0:"OR1_MUTE""#, electricalHigh: true)
        #expect(await Self.next(changes) == .some(false))
    }

    @Test func test_aLineHasOneConsumerAndOutputsCannotBeDrivenFromOutside() async throws {
        let bench = try Bench()
        defer { bench.stop() }
        let address = LineAddress(chip: "gpiochip0", offset: 7)
        _ = try await bench.backend.claimOutput(OutputLineConfiguration(address: address, label: "or-1 buzzer"))
        await #expect(throws: GPIOError.busy(address, consumer: "or-1 buzzer")) {
            _ = try await bench.backend.claimInput(InputLineConfiguration(address: address, label: "another"))
        }
        #expect(throws: SimulatedPanel.Refusal.notAnInput(line: "gpiochip0:7")) {
            try bench.panel.drive("gpiochip0:7", electricalHigh: true)
        }
    }

    @Test func test_whenThePanelGoesAwayOperationsFailAndInputStreamsEnd() async throws {
        let bench = try Bench()
        let output = try await bench.backend.claimOutput(
            OutputLineConfiguration(address: LineAddress(chip: "gpiochip0", offset: 1), label: "green"))
        let input = try await bench.backend.claimInput(
            InputLineConfiguration(address: LineAddress(chip: "gpiochip0", offset: 2), label: "test"))
        let changes = input.changes
        bench.server.stop()
        #expect(await Self.next(changes) == .some(nil), "the stream ends")
        await #expect(throws: GPIOError.self) { try await output.set(true) }
        bench.backend.close()
    }

    @Test func test_anUnreachablePanelFailsTheClaimWithTheAddress() async throws {
        let bench = try Bench()
        let port = bench.server.port
        bench.stop()
        let backend = SimulatorPanelBackend(host: "127.0.0.1", port: port)
        defer { backend.close() }
        let address = LineAddress(chip: "gpiochip0", offset: 3)
        do {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: address, label: "yellow"))
            Issue.record("a claim on a closed port succeeded")
        } catch {
            guard case .chipOpenFailed(let chip, let path, let reason) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(chip == "gpiochip0" && path.contains("\(port)") && reason.contains("connect"))
        }
    }
}
