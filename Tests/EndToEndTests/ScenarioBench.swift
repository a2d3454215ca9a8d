import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchSnapshot
import IsoWatchService
import IsoWatchSimulator
import IsoWatchTesting
import Logging
import ServiceLifecycle
import Synchronization

/// One shipped scenario against the whole service in process: the scenario's site served by the
/// simulator on loopback TCP and pseudo-terminals, the service configured by
/// `ScenarioServiceConfiguration` with its relays and buttons on simulated GPIO chips, and the
/// timeline played by `ScenarioRunner` with panel presses made on those chips.
///
/// What the service did is observed three ways: its live state (conditions and memory of cleared
/// ones) sampled continuously, its state looked at directly at each checkpoint while physics time
/// stands still, and the relays' change history kept by the GPIO chip, which misses nothing.
final class ScenarioBench: Sendable {
    let scenario: Scenario
    let simulator: Simulator
    let gpio: SimulatedGPIOBackend
    let runtime: IsoWatchRuntime
    private let group: ServiceGroup
    private let serviceTask: Task<Void, any Error>
    private let observer: Task<Void, Never>
    /// Every condition each system has shown (active or remembered), by system id.
    private let seen = ConditionsSeen()
    /// Problems found while the timeline ran, in order.
    private let problems = Mutex<[String]>([])

    static let profiles = try! ProfileLibrary.load(directory: RepositoryPaths.profiles)

    /// How long a checkpoint waits for the service. The service's own delays are real time (a
    /// response delay of a few seconds, the 5 s release delays); physics stands still meanwhile,
    /// so this bound only needs to be generous, never tight.
    let waitSeconds: Double

    init(file: URL, waitSeconds: Double = 30) async throws {
        self.waitSeconds = waitSeconds
        var scenario = try ScenarioFile.load(file: file)
        // Ephemeral ports and no symlinks: tests run beside a demo or another test.
        scenario.site.endpoints = scenario.site.endpoints.map { endpoint in
            var endpoint = endpoint
            switch endpoint.transport {
            case .tcp(let host, _, let reply): endpoint.transport = .tcp(host: host, port: 0, absentUnitReply: reply)
            case .rtu(_, let line, let turnaround): endpoint.transport = .rtu(linkPath: nil, serialLine: line, turnaroundSeconds: turnaround)
            }
            return endpoint
        }
        self.scenario = scenario
        simulator = try Simulator(site: scenario.site, profiles: Self.profiles)
        let count = scenario.units.count
        gpio = SimulatedGPIOBackend(chips: [
            SimulatedChip(name: ScenarioServiceConfiguration.outputChip, lineCount: ScenarioServiceConfiguration.lineCount(systems: count)),
            SimulatedChip(name: ScenarioServiceConfiguration.inputChip, lineCount: ScenarioServiceConfiguration.lineCount(systems: count)),
        ])
        let yaml = ScenarioServiceConfiguration().yaml(for: scenario, simulator: simulator)
        let configuration: Configuration
        do {
            configuration = try ConfigurationLoader.parse(
                yaml: yaml, fileName: "\(scenario.name).generated.yaml", baseDirectory: RepositoryPaths.root.appending(path: "hardware"),
                profiles: Self.profiles)
        } catch {
            simulator.stop()
            throw ScenarioRunError("generated configuration refused:\n\(error)\n\(yaml)")
        }
        var logger = Logger(label: "isowatch-scenario")
        logger.logLevel = .error
        let runtime: IsoWatchRuntime
        do {
            runtime = try await IsoWatchRuntime.make(configuration: configuration, profiles: Self.profiles, gpio: gpio, logger: logger)
        } catch {
            simulator.stop()
            throw error
        }
        self.runtime = runtime
        group = ServiceGroup(services: runtime.services, logger: logger)
        serviceTask = Task { [group] in try await group.run() }
        let seen = self.seen
        observer = Task {
            while !Task.isCancelled {
                for system in await runtime.systems() {
                    seen.record(system.id, (system.alarm.conditions + system.alarm.unacknowledged).map(\.rawValue))
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    func stop() async {
        observer.cancel()
        await observer.value
        await group.triggerGracefulShutdown()
        _ = try? await serviceTask.value
        simulator.stop()
    }

    func fail(_ problem: String) {
        problems.withLock { $0.append("\(scenario.name): \(problem)") }
    }

    var failures: [String] { problems.withLock { $0 } }

    func status(_ unit: UnitReference) async -> SystemStatus? {
        await runtime.systems().first { $0.id == unit.systemID }
    }

    func conditionsSeen(_ unit: UnitReference) -> Set<String> {
        seen.of(unit.systemID)
    }

    /// Polls the service until `condition` holds or `seconds` pass; returns whether it held.
    func wait(_ unit: UnitReference, seconds: Double? = nil, _ condition: (SystemStatus) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(seconds ?? waitSeconds))
        while ContinuousClock.now < deadline {
            if let status = await status(unit), condition(status) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    // MARK: - Timeline

    /// Waits for every system to be green, marks the relay history, then plays the timeline.
    /// Returns the relay history index at the start of the timeline.
    func play() async throws -> Int {
        for unit in scenario.units {
            if !(try await wait(unit) { $0.alarm.state == .normal && $0.outputs.green }) {
                let status = await status(unit)
                throw ScenarioRunError("\(scenario.name): \(unit) never turned green before the timeline (\(status.map { "\($0.alarm.conditions.map(\.rawValue))" } ?? "no status"))")
            }
        }
        // The status reports what the monitor decided; the relays follow one write at a time on
        // the driver's own task. The mark is taken once the relays themselves show green, or the
        // start-up's alarm state could land after it and open the sequence (seen under load:
        // [alarm, normal, alarm, normal] for an expected [normal, alarm, normal]).
        for unit in scenario.units {
            if !(try await waitForRelays(unit, showing: .normal)) {
                throw ScenarioRunError("\(scenario.name): \(unit)'s relays never showed normal before the timeline")
            }
        }
        let mark = gpio.outputChanges.count
        // What the start-up showed (awaiting the first measurement) is not part of the scenario.
        seen.reset()
        let runner = try ScenarioRunner(scenario: scenario, simulator: simulator)
        try await runner.run(
            panel: { unit, button in try await self.press(unit, button) },
            checkpoint: { check in try await self.check(check) })
        return mark
    }

    /// What the panel of `unit` shows now, read from the relays on the chip (nil before all three
    /// lines are claimed).
    func relaysShow(_ unit: UnitReference) -> PanelState? {
        guard let index = scenario.units.firstIndex(of: unit) else { return nil }
        let lines = ScenarioServiceConfiguration.lines(systemIndex: index)
        let chip = ScenarioServiceConfiguration.outputChip
        // Energise-to-normal: green is lit while its relay is energised, yellow and buzzer while theirs are not.
        guard let green = gpio.isActive(LineAddress(chip: chip, offset: lines.green)),
            let yellow = gpio.isActive(LineAddress(chip: chip, offset: lines.yellow)),
            let buzzer = gpio.isActive(LineAddress(chip: chip, offset: lines.buzzer))
        else { return nil }
        return PanelState(green: green, yellow: !yellow, buzzer: !buzzer)
    }

    func waitForRelays(_ unit: UnitReference, showing state: PanelState) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(waitSeconds))
        while ContinuousClock.now < deadline {
            if relaysShow(unit) == state { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    private func press(_ unit: UnitReference, _ button: PanelButton) async throws {
        guard let index = scenario.units.firstIndex(of: unit) else { return }
        let line = ScenarioServiceConfiguration.lines(systemIndex: index).button(button)
        let address = LineAddress(chip: ScenarioServiceConfiguration.inputChip, offset: line)
        let before = await status(unit)
        // The chip's debounce clock is manual: a press is held past the debounce time, then released.
        try gpio.press(address)
        gpio.advanceClock(bySeconds: 0.25)
        try gpio.release(address)
        gpio.advanceClock(bySeconds: 0.25)
        // Physics waits until the press has taken effect, so what follows cannot overtake it.
        switch button {
        case .mute where before?.outputs.buzzer == true:
            if !(try await wait(unit) { !$0.outputs.buzzer }) { fail("\(unit): mute did not silence the buzzer") }
        case .acknowledge where before?.alarm.unacknowledged.isEmpty == false:
            // Only a cleared alarm leaves the memory; one still active may stay listed, so this
            // wait is a courtesy to what follows, not a check.
            _ = try await wait(unit, seconds: 3) { $0.alarm.unacknowledged.count < (before?.alarm.unacknowledged.count ?? 0) }
        case .test:
            // The test lights the lamps for its set duration (real time); physics waits it out,
            // so a day at ×7200 does not pass inside one lamp test.
            if !(try await wait(unit) { $0.outputs.yellow && $0.outputs.buzzer }) {
                fail("\(unit): the test button did not light yellow and sound the buzzer")
            }
            if !(try await wait(unit) { $0.outputs.green }) { fail("\(unit): the panel did not return to green after the test") }
        default:
            break
        }
    }

    private func check(_ check: ScenarioCheckpoint) async throws {
        switch check.kind {
        case .notYetRaised:
            let current = await status(check.unit)
            let shown = conditionsSeen(check.unit).union(current.map { ($0.alarm.conditions + $0.alarm.unacknowledged).map(\.rawValue) } ?? [])
            if shown.contains(check.condition) { fail("\(check.unit): \(check.condition) was raised before t=\(check.atSeconds) s") }
        case .raised:
            let raised = try await wait(check.unit) { $0.alarm.conditions.map(\.rawValue).contains(check.condition) }
            if !raised {
                let current = await status(check.unit)
                fail("\(check.unit): \(check.condition) not raised by t=\(check.atSeconds) s (conditions: \(current?.alarm.conditions.map(\.rawValue) ?? []))")
            }
        }
    }

    // MARK: - After the timeline

    /// The panel states of a system from `mark` on, as the theatre saw them.
    ///
    /// The relays are written one at a time, make-before-break: between two writes the panel may
    /// show green together with yellow or buzzer. Those mixes last only between two writes and are
    /// dropped, unless the expectation names one; what remains is the sequence of settled states.
    func panelStates(_ unit: UnitReference, from mark: Int, keeping expected: [PanelState]) -> [PanelState] {
        guard let index = scenario.units.firstIndex(of: unit) else { return [] }
        let lines = ScenarioServiceConfiguration.lines(systemIndex: index)
        let chip = ScenarioServiceConfiguration.outputChip
        let green = LineAddress(chip: chip, offset: lines.green)
        let yellow = LineAddress(chip: chip, offset: lines.yellow)
        let buzzer = LineAddress(chip: chip, offset: lines.buzzer)
        var energised: [LineAddress: Bool] = [:]
        var states: [PanelState] = []
        func shown() -> PanelState? {
            // Energise-to-normal: green is lit while its relay is energised, yellow and buzzer while theirs are not.
            guard let g = energised[green], let y = energised[yellow], let b = energised[buzzer] else { return nil }
            return PanelState(green: g, yellow: !y, buzzer: !b)
        }
        // The state at the mark, then the state after each later change.
        let history = gpio.outputChanges
        for change in history.prefix(mark) where [green, yellow, buzzer].contains(change.address) && change.kind != .released {
            energised[change.address] = change.active
        }
        if let state = shown() { states.append(state) }
        for change in history.dropFirst(mark) where [green, yellow, buzzer].contains(change.address) && change.kind != .released {
            energised[change.address] = change.active
            if let state = shown() { states.append(state) }
        }
        let settled: Set<PanelState> = Set([.normal, .alarm, .silenced] + expected)
        var result: [PanelState] = []
        for state in states where settled.contains(state) && result.last != state {
            result.append(state)
        }
        return result
    }
}

/// Shared between the bench and its observer task.
private final class ConditionsSeen: Sendable {
    private let bySystem = Mutex<[String: Set<String>]>([:])

    func record(_ system: String, _ conditions: [String]) {
        bySystem.withLock { $0[system, default: []].formUnion(conditions) }
    }

    func reset() {
        bySystem.withLock { $0 = [:] }
    }

    func of(_ system: String) -> Set<String> {
        bySystem.withLock { $0[system] ?? [] }
    }
}
