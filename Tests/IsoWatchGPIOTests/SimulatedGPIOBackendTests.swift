import Testing

@testable import IsoWatchGPIO

/// Reads every change a stream delivered; the stream must finish (its line released) first.
func collect(_ stream: AsyncStream<Bool>) async -> [Bool] {
    var levels: [Bool] = []
    for await level in stream { levels.append(level) }
    return levels
}

/// Expects `body` to throw a `GPIOError` that satisfies `expected`.
func expectError(
    _ expected: (GPIOError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected a GPIOError, got success", sourceLocation: sourceLocation)
    } catch let error as GPIOError {
        #expect(expected(error), "unexpected error: \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a GPIOError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Simulated GPIO outputs")
struct SimulatedOutputTests {
    let chip = "gpiochip0"
    var yellow: LineAddress { LineAddress(chip: chip, offset: 17) }
    var buzzer: LineAddress { LineAddress(chip: chip, offset: 27) }

    @Test func test_anActiveLowOutputIsDrivenLowWhenActive() async throws {
        let backend = SimulatedGPIOBackend()
        let relay = try await backend.claimOutput(
            OutputLineConfiguration(address: yellow, activeLow: true, label: "yellow", initialActive: false))
        #expect(backend.isElectricallyHigh(yellow) == true)
        #expect(backend.isActive(yellow) == false)
        try await relay.set(true)
        #expect(backend.isElectricallyHigh(yellow) == false)
        #expect(backend.isActive(yellow) == true)
    }

    @Test func test_anActiveHighOutputIsDrivenHighWhenActive() async throws {
        let backend = SimulatedGPIOBackend()
        let relay = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "yellow"))
        #expect(backend.isElectricallyHigh(yellow) == false)
        try await relay.set(true)
        #expect(backend.isElectricallyHigh(yellow) == true)
        #expect(backend.lineState(yellow)?.role == .output)
        #expect(backend.lineState(yellow)?.consumer == "yellow")
        #expect(backend.claimedLines().keys.sorted { $0.description < $1.description } == [yellow])
    }

    @Test func test_theInitialStateIsAppliedByTheClaimItself() async throws {
        let backend = SimulatedGPIOBackend()
        _ = try await backend.claimOutput(
            OutputLineConfiguration(address: yellow, activeLow: true, label: "green", initialActive: true))
        let history = backend.outputChanges
        #expect(history.count == 1)
        #expect(history.first?.kind == .claimed)
        #expect(history.first?.active == true)
        #expect(history.first?.electricalHigh == false)
    }

    @Test func test_outputChangesAreRecordedInTheOrderTheyHappened() async throws {
        let backend = SimulatedGPIOBackend()
        let yellowLamp = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "yellow"))
        let buzzerRelay = try await backend.claimOutput(
            OutputLineConfiguration(address: buzzer, activeLow: true, label: "buzzer"))
        try await yellowLamp.set(true)
        try await buzzerRelay.set(true)
        try await buzzerRelay.set(false)

        let changes = backend.outputChanges.filter { $0.kind == .changed }
        #expect(changes.map(\.consumer) == ["yellow", "buzzer", "buzzer"])
        #expect(changes.map(\.active) == [true, true, false])
        #expect(changes.map(\.electricalHigh) == [true, false, true])
        let indices = backend.outputChanges.map(\.index)
        #expect(indices == Array(0..<indices.count))
    }

    @Test func test_settingAnOutputToItsCurrentStateRecordsNoChange() async throws {
        let backend = SimulatedGPIOBackend()
        let lamp = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "yellow"))
        try await lamp.set(false)
        try await lamp.set(true)
        try await lamp.set(true)
        #expect(backend.outputChanges.map(\.kind) == [.claimed, .changed])
    }

    @Test func test_concurrentChangesGetDistinctConsecutiveIndices() async throws {
        let backend = SimulatedGPIOBackend()
        var lines: [any OutputLine] = []
        for offset in UInt32(0)..<16 {
            lines.append(try await backend.claimOutput(
                OutputLineConfiguration(address: LineAddress(chip: chip, offset: offset), label: "relay\(offset)")))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for line in lines {
                group.addTask {
                    for step in 0..<10 { try await line.set(step % 2 == 0) }
                }
            }
            try await group.waitForAll()
        }
        let history = backend.outputChanges
        #expect(history.count == 16 + 16 * 10)
        #expect(history.map(\.index) == Array(0..<history.count))
        for line in lines {
            let own = history.filter { $0.address == line.address && $0.kind == .changed }.map(\.active)
            #expect(own == (0..<10).map { $0 % 2 == 0 })
        }
    }

    @Test func test_claimingAClaimedLineIsBusy() async throws {
        let backend = SimulatedGPIOBackend()
        _ = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "isowatch-yellow"))
        await expectError({ error in
            error == .busy(yellow, consumer: "isowatch-yellow") && error.description.contains("isowatch-yellow")
        }) {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "second"))
        }
        await expectError({ if case .busy = $0 { true } else { false } }) {
            _ = try await backend.claimInput(InputLineConfiguration(address: yellow, label: "as-input"))
        }
    }

    @Test func test_aNameAndAnOffsetOfTheSameLineAreOneLine() async throws {
        let backend = SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0", lineCount: 32, lineNames: [5: "BUZZER"])])
        let byName = LineAddress(chip: "gpiochip0", name: "BUZZER")
        _ = try await backend.claimOutput(OutputLineConfiguration(address: byName, label: "buzzer"))
        await expectError({ if case .busy = $0 { true } else { false } }) {
            _ = try await backend.claimOutput(
                OutputLineConfiguration(address: LineAddress(chip: "/dev/gpiochip0", offset: 5), label: "again"))
        }
        #expect(backend.lineState(LineAddress(chip: "gpiochip0", offset: 5))?.consumer == "buzzer")
    }

    @Test func test_aReleasedLineCanBeClaimedAgainAndTheOldHandleIsDead() async throws {
        let backend = SimulatedGPIOBackend()
        let first = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "first"))
        try await first.set(true)
        await first.release()
        #expect(backend.lineState(yellow)?.role == .unclaimed)
        // A released output keeps its level, as most kernel drivers do.
        #expect(backend.isElectricallyHigh(yellow) == true)

        let second = try await backend.claimOutput(OutputLineConfiguration(address: yellow, label: "second"))
        await expectError({ $0 == .lineReleased(yellow) }) { try await first.set(true) }
        try await second.set(true)
        #expect(backend.outputChanges.map(\.kind) == [.claimed, .changed, .released, .claimed, .changed])
    }

    @Test func test_aMissingChipOrLineIsNotFound() async throws {
        let backend = SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0", lineCount: 8)])
        await expectError({ error in
            if case .chipNotFound(let chip, let path, _) = error {
                chip == "gpiochip7" && path == "/dev/gpiochip7" && error.description.contains("'gpiochip7'")
            } else { false }
        }) {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: LineAddress(chip: "gpiochip7", offset: 0), label: "x"))
        }
        await expectError({ if case .lineNotFound = $0 { true } else { false } }) {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: LineAddress(chip: "gpiochip0", offset: 8), label: "x"))
        }
        await expectError({ error in
            if case .lineNotFound = error { error.description.contains("'RELAY_9'") } else { false }
        }) {
            _ = try await backend.claimInput(InputLineConfiguration(address: LineAddress(chip: "gpiochip0", name: "RELAY_9"), label: "x"))
        }
    }
}

@Suite("Simulated GPIO inputs")
struct SimulatedInputTests {
    let button = LineAddress(chip: "gpiochip0", offset: 4)

    @Test func test_anActiveLowInputReadsActiveWhenPulledLow() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: button, activeLow: true, label: "mute"))
        try backend.setInput(button, electricalHigh: false)
        #expect(try await input.read() == true)
        try backend.setInput(button, electricalHigh: true)
        #expect(try await input.read() == false)
    }

    @Test func test_pressAndReleaseFollowTheLinesActiveLevel() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: button, activeLow: true, label: "test"))
        try backend.press(button)
        #expect(backend.isElectricallyHigh(button) == false)
        #expect(try await input.read() == true)
        try backend.release(button)
        #expect(backend.isElectricallyHigh(button) == true)
        #expect(try await input.read() == false)
    }

    @Test func test_anUndrivenInputRestsInactive() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: button, activeLow: true, label: "mute"))
        #expect(try await input.read() == false)
        #expect(backend.isElectricallyHigh(button) == true)
    }

    @Test func test_aPullDownOnAnActiveLowInputReadsActive() async throws {
        // A wiring mistake the simulation reproduces instead of hiding.
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(
            InputLineConfiguration(address: button, activeLow: true, label: "mute", bias: .pullDown))
        #expect(try await input.read() == true)
    }

    @Test func test_aPressIsReportedOnlyAfterTheDebounceTime() async throws {
        let backend = SimulatedGPIOBackend()
        let early = LineAddress(chip: "gpiochip0", offset: 5)
        let settled = LineAddress(chip: "gpiochip0", offset: 6)
        let earlyInput = try await backend.claimInput(InputLineConfiguration(address: early, debounceSeconds: 0.05, label: "a"))
        let settledInput = try await backend.claimInput(InputLineConfiguration(address: settled, debounceSeconds: 0.04, label: "b"))
        let earlyChanges = earlyInput.changes
        let settledChanges = settledInput.changes

        try backend.press(early)
        try backend.press(settled)
        backend.advanceClock(bySeconds: 0.045)
        await earlyInput.release()
        await settledInput.release()
        #expect(await collect(earlyChanges) == [])
        #expect(await collect(settledChanges) == [true])
    }

    @Test func test_aBounceShorterThanTheDebounceTimeProducesNoChange() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: button, debounceSeconds: 0.05, label: "test"))
        let changes = input.changes
        try backend.press(button)
        backend.advanceClock(bySeconds: 0.01)
        try backend.release(button)
        backend.advanceClock(bySeconds: 0.01)
        try backend.press(button)
        backend.advanceClock(bySeconds: 0.04)  // 0.06 since the first press, 0.04 since the last
        try backend.release(button)
        backend.advanceClock(bySeconds: 1)
        try backend.press(button)
        backend.advanceClock(bySeconds: 0.05)
        await input.release()
        #expect(await collect(changes) == [true])
    }

    @Test func test_aZeroDebounceTimeReportsEachChangeAtOnce() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: button, debounceSeconds: 0, label: "contact"))
        let changes = input.changes
        try backend.press(button)
        try backend.release(button)
        try backend.press(button)
        await input.release()
        #expect(await collect(changes) == [true, false, true])
    }

    @Test func test_everySubscriberSeesEachChange() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: button, debounceSeconds: 0.02, label: "mute"))
        let first = input.changes
        let second = input.changes
        try backend.press(button)
        backend.advanceClock(bySeconds: 0.02)
        try backend.release(button)
        backend.advanceClock(bySeconds: 0.02)
        await input.release()
        #expect(await collect(first) == [true, false])
        #expect(await collect(second) == [true, false])
        // A stream asked for after the release ends at once.
        #expect(await collect(input.changes) == [])
    }

    @Test func test_inputsCannotBePressedUnlessClaimedAsInputs() async throws {
        let backend = SimulatedGPIOBackend()
        await expectError({ if case .invalidRequest = $0 { true } else { false } }) { try backend.press(button) }
        let relay = LineAddress(chip: "gpiochip0", offset: 9)
        _ = try await backend.claimOutput(OutputLineConfiguration(address: relay, label: "relay"))
        await expectError({ if case .invalidRequest = $0 { true } else { false } }) { try backend.press(relay) }
        // Forcing a driven output from outside is refused as well.
        await expectError({ $0 == .busy(relay, consumer: "relay") }) { try backend.setInput(relay, electricalHigh: true) }
    }

    @Test func test_aNegativeDebounceTimeIsRejected() async throws {
        let backend = SimulatedGPIOBackend()
        await expectError({ if case .invalidRequest = $0 { true } else { false } }) {
            _ = try await backend.claimInput(InputLineConfiguration(address: button, debounceSeconds: -0.01, label: "x"))
        }
        #expect(backend.lineState(button)?.role == .unclaimed)
    }

    @Test(.timeLimit(.minutes(1)))
    func test_realTimeTimingSettlesAPressWithoutAnyoneAdvancingTheClock() async throws {
        let backend = SimulatedGPIOBackend(timing: .realTime)
        let input = try await backend.claimInput(InputLineConfiguration(address: button, debounceSeconds: 0.02, label: "test"))
        let changes = input.changes
        let pressedAt = backend.clockSeconds
        try backend.press(button)
        // If the change never came, releasing the line ends the stream and the test fails.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            await input.release()
        }
        var iterator = changes.makeAsyncIterator()
        let first = await iterator.next()
        watchdog.cancel()
        #expect(first == true)
        #expect(backend.clockSeconds - pressedAt >= 0.02)
        await input.release()
    }
}

@Suite("Simulated GPIO failures")
struct SimulatedFailureTests {
    let relay = LineAddress(chip: "gpiochip0", offset: 12)
    let contact = LineAddress(chip: "gpiochip0", offset: 13)

    @Test func test_aFailedOutputReportsTheFailureUntilRepaired() async throws {
        let backend = SimulatedGPIOBackend()
        let output = try await backend.claimOutput(OutputLineConfiguration(address: relay, label: "healthy"))
        try backend.failLine(relay, reason: "driver gone")
        await expectError({ $0 == .ioFailed(relay, operation: "set", reason: "driver gone") }) { try await output.set(true) }
        #expect(backend.isActive(relay) == false)
        try backend.repairLine(relay)
        try await output.set(true)
        #expect(backend.isActive(relay) == true)
    }

    @Test func test_aFailedInputEndsItsChangesInsteadOfGoingQuiet() async throws {
        let backend = SimulatedGPIOBackend()
        let input = try await backend.claimInput(InputLineConfiguration(address: contact, debounceSeconds: 0, label: "imd"))
        let changes = input.changes
        try backend.press(contact)
        try backend.failLine(contact)
        try backend.release(contact)
        #expect(await collect(changes) == [true])
        await expectError({ if case .ioFailed(_, "read", _) = $0 { true } else { false } }) { _ = try await input.read() }
    }
}
