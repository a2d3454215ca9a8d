import Foundation
import IsoWatchCore

/// A moment of the timeline at which an observer checks the service: by `bySeconds` an expected
/// condition must be raised; before `afterSeconds` it must not be. The runner holds physics time
/// still while the observer looks, so a slow observer (or a loaded machine) never lets the
/// timeline run past what it is checking.
public struct ScenarioCheckpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The condition must not have been raised yet.
        case notYetRaised
        /// The condition must have been raised (waiting for it is the observer's business).
        case raised
    }

    public var atSeconds: Double
    public var unit: UnitReference
    public var condition: String
    public var kind: Kind

    public var description: String {
        "t=\(atSeconds) s \(unit): \(condition) \(kind == .raised ? "raised" : "not yet raised")"
    }
}

extension Scenario {
    /// The checkpoints of every expectation, in time order; at one time, "not yet" before "raised".
    public var checkpoints: [ScenarioCheckpoint] {
        var result: [ScenarioCheckpoint] = []
        for (unit, expectation) in expectations {
            for raised in expectation.raised {
                if let after = raised.afterSeconds {
                    result.append(ScenarioCheckpoint(atSeconds: after, unit: unit, condition: raised.condition, kind: .notYetRaised))
                }
                result.append(ScenarioCheckpoint(atSeconds: raised.bySeconds, unit: unit, condition: raised.condition, kind: .raised))
            }
        }
        return result.sorted {
            ($0.atSeconds, $0.kind == .raised ? 1 : 0, $0.unit, $0.condition) < ($1.atSeconds, $1.kind == .raised ? 1 : 0, $1.unit, $1.condition)
        }
    }
}

public struct ScenarioRunError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Drives a scenario's timeline against the live devices of a running `Simulator`, `timeFactor`
/// physics seconds per wall second. Ramps and winding temperatures are advanced in small steps
/// of wall time; everything else happens at its step's time. Nothing here blocks a thread: the
/// runner sleeps on the clock, the simulator's own threads serve the wire meanwhile.
public struct ScenarioRunner: Sendable {
    public let scenario: Scenario
    public let simulator: Simulator
    public let timeFactor: Double
    /// Wall seconds between updates of ramps and winding temperatures.
    public var updateIntervalSeconds: Double = 0.05

    public init(scenario: Scenario, simulator: Simulator, timeFactor: Double? = nil) throws(ScenarioRunError) {
        self.scenario = scenario
        self.simulator = simulator
        self.timeFactor = timeFactor ?? scenario.timeFactor
        guard self.timeFactor > 0, self.timeFactor.isFinite else { throw ScenarioRunError("time factor must be positive") }
        for unit in scenario.units where simulator.device(endpoint: unit.endpoint, unit: unit.unit) == nil {
            throw ScenarioRunError("the running simulator has no unit \(unit) (is it serving the scenario's site?)")
        }
    }

    private struct Ramp {
        var unit: UnitReference
        var quantity: Quantity
        var from: Double
        var to: Double
        var start: Double
        var seconds: Double
    }

    /// Runs the timeline to its end. `panel` performs a button press (nil: presses are logged and
    /// skipped); `checkpoint` is awaited with physics time held; `log` gets one line per step.
    public func run(
        panel: (@Sendable (UnitReference, PanelButton) async throws -> Void)? = nil,
        checkpoint: (@Sendable (ScenarioCheckpoint) async throws -> Void)? = nil,
        log: @Sendable (String) -> Void = { _ in }
    ) async throws {
        var thermal: [UnitReference: TransformerThermalModel] = [:]
        for (unit, setup) in scenario.thermal {
            var model = TransformerThermalModel.calibratedToOverloadCapability(ambientCelsius: setup.ambientCelsius, limitCelsius: setup.limitCelsius)
            let initial = setup.initialCelsius ?? device(unit).state.values[.windingTemperatureCelsius]?.value ?? setup.ambientCelsius
            model = TransformerThermalModel(
                ambientCelsius: model.ambientCelsius, ratedRiseKelvin: model.ratedRiseKelvin,
                timeConstantSeconds: model.timeConstantSeconds, windingCelsius: initial)
            thermal[unit] = model
        }
        var ramps: [Ramp] = []
        var steps = scenario.steps[...]
        var checks = (checkpoint == nil ? [] : scenario.checkpoints)[...]
        let clock = ContinuousClock()
        var anchor = (wall: clock.now, physics: 0.0)
        var now = 0.0
        let updateStep = updateIntervalSeconds * timeFactor

        applyTemperatures(&thermal, advancingBy: 0, log: log)
        while true {
            let nextEvent = min(steps.first?.atSeconds ?? .infinity, checks.first?.atSeconds ?? .infinity)
            let continuous = !ramps.isEmpty || !thermal.isEmpty
            var target = min(nextEvent, scenario.durationSeconds)
            if continuous { target = min(target, now + updateStep) }
            if target > now {
                try await clock.sleep(until: anchor.wall.advanced(by: .seconds((target - anchor.physics) / timeFactor)))
                applyRamps(&ramps, at: target)
                applyTemperatures(&thermal, advancingBy: target - now, log: log)
                now = target
            }
            while let check = checks.first, check.atSeconds <= now {
                checks.removeFirst()
                log("\(Self.stamp(now))  check \(check)")
                try await checkpoint?(check)
                // Physics stood still while the observer looked.
                anchor = (clock.now, now)
            }
            while let step = steps.first, step.atSeconds <= now {
                steps.removeFirst()
                log("\(Self.stamp(now))  \(step.target)  \(step.action)")
                try await apply(step, now: now, ramps: &ramps, panel: panel, log: log)
                if case .press = step.action { anchor = (clock.now, now) }
            }
            if now >= scenario.durationSeconds && (steps.first?.atSeconds ?? .infinity) > now && (checks.first?.atSeconds ?? .infinity) > now {
                break
            }
        }
        log("\(Self.stamp(now))  end of \(scenario.name)")
    }

    static func stamp(_ seconds: Double) -> String { String(format: "t=%9.1f s", seconds) }

    private func device(_ unit: UnitReference) -> SimulatedDevice {
        // Checked in init: every unit of the scenario exists.
        simulator.device(endpoint: unit.endpoint, unit: unit.unit)!
    }

    private func members(_ target: ScenarioStep.Target) -> [UnitReference] {
        switch target {
        case .unit(let unit): [unit]
        case .endpoint(let id): simulator.endpoint(id)?.devices.map { UnitReference(endpoint: id, unit: $0.unitID) } ?? []
        }
    }

    private func apply(
        _ step: ScenarioStep, now: Double, ramps: inout [Ramp], panel: (@Sendable (UnitReference, PanelButton) async throws -> Void)?,
        log: @Sendable (String) -> Void
    ) async throws {
        let units = members(step.target)
        switch step.action {
        case .set(let values):
            for unit in units {
                // A set value ends any ramp of the same quantity.
                ramps.removeAll { $0.unit == unit && values[$0.quantity] != nil }
                for (quantity, value) in values.sorted(by: { $0.key < $1.key }) { set(device(unit), quantity, value) }
            }
        case .ramp(let targets, let seconds):
            for unit in units {
                let state = device(unit).state
                for (quantity, to) in targets.sorted(by: { $0.key < $1.key }) {
                    ramps.removeAll { $0.unit == unit && $0.quantity == quantity }
                    let from = state.values[quantity]?.value ?? to
                    ramps.append(Ramp(unit: unit, quantity: quantity, from: from, to: to, start: now, seconds: seconds))
                }
            }
        case .raiseFault(let fault):
            for unit in units { setFault(device(unit), fault, present: true) }
        case .clearFault(let fault):
            for unit in units { setFault(device(unit), fault, present: false) }
        case .online(let online):
            for unit in units { device(unit).unit.isOnline = online }
            if case .endpoint(let id) = step.target, !online, case .tcp(let server)? = simulator.endpoint(id)?.server {
                _ = server.dropConnections()
            }
        case .wireFault(let fault):
            for unit in units { device(unit).unit.wireFault = fault }
        case .press(let button):
            guard let panel else {
                log("            (no panel attached: \(button.rawValue) press skipped)")
                return
            }
            for unit in units { try await panel(unit, button) }
        }
    }

    /// A device driven by physics (a site unit with `system:`) publishes what its IT system model
    /// gives, so the truth is changed there: insulation and capacitance of the system, its load,
    /// its leads. Anything the model does not own is set on the published values directly.
    private func set(_ device: SimulatedDevice, _ quantity: Quantity, _ value: MeasuredValue) {
        if device.physics != nil, value.validity == .actual, let change = Self.physicsChange(quantity, value.value) {
            device.updatePhysics(change)
        } else {
            device.update { $0.values[quantity] = value }
        }
    }

    private static func physicsChange(_ quantity: Quantity, _ value: Double) -> ((inout DevicePhysics) -> Void)? {
        switch quantity {
        case .insulationResistanceOhms where value > 0: { $0.system.setInsulationResistance(ohms: value) }
        case .leakageCapacitanceFarads where value >= 0: { $0.system.setLeakageCapacitance(farads: value) }
        case .loadCurrentAmperes where value >= 0: { $0.system.loadProfile = .constant(amperes: value) }
        case .loadPercent where value >= 0: { $0.system.loadProfile = .constant(amperes: value / 100 * $0.system.ratedCurrentAmperes) }
        default: nil
        }
    }

    private func setFault(_ device: SimulatedDevice, _ fault: Fault, present: Bool) {
        let handled = device.updatePhysics { physics in
            switch fault {
            case .earthConnection: physics.system.earthConnected = !present
            case .lineConnection: physics.system.lineConnected = !present
            default: if present { physics.forcedFaults.insert(fault) } else { physics.forcedFaults.remove(fault) }
            }
        }
        if !handled { device.update { if present { $0.faults.insert(fault) } else { $0.faults.remove(fault) } } }
    }

    private func applyRamps(_ ramps: inout [Ramp], at time: Double) {
        for ramp in ramps {
            let fraction = min(1, max(0, (time - ramp.start) / ramp.seconds))
            let value = ramp.from + (ramp.to - ramp.from) * fraction
            let device = device(ramp.unit)
            set(device, ramp.quantity, MeasuredValue(value, validity: device.state.values[ramp.quantity]?.validity ?? .actual))
        }
        ramps.removeAll { time >= $0.start + $0.seconds }
    }

    /// The winding follows the load the device measures now, held over the interval.
    private func applyTemperatures(_ models: inout [UnitReference: TransformerThermalModel], advancingBy seconds: Double, log: (String) -> Void) {
        for unit in models.keys.sorted() {
            let device = device(unit)
            let values = device.state.values
            let loadFactor: Double
            if let percent = values[.loadPercent]?.value {
                loadFactor = percent / 100
            } else if let amperes = values[.loadCurrentAmperes]?.value, let rated = scenario.thermal[unit]?.ratedCurrentAmperes {
                loadFactor = amperes / rated
            } else {
                loadFactor = 0
            }
            models[unit]?.advance(bySeconds: seconds, loadFactor: loadFactor)
            guard let celsius = models[unit]?.windingCelsius else { continue }
            device.update { state in
                // A broken sensor keeps reporting what it reports; the winding heats regardless.
                let validity = state.values[.windingTemperatureCelsius]?.validity ?? .actual
                if validity == .actual { state.values[.windingTemperatureCelsius] = MeasuredValue(celsius) }
            }
        }
    }
}
