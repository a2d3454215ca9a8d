import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchTesting
import PropertyBased
import Testing

/// One thing that happens to the machine in a random scenario.
struct Step: Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        case reading(ReadingSpec)
        case communicationLost
        case communicationRestored
        case tick
        case silence
        case acknowledge
        case testStarted
        case testFinished(passed: Bool)
        case deviceTestStarted
    }

    var afterMilliseconds: Int
    var kind: Kind
    /// The caller's timer did not fire before this step: deadlines are caught up by the event.
    var timerIsLate: Bool

    var description: String { "+\(afterMilliseconds) ms\(timerIsLate ? " (late timer)" : ""): \(kind)" }

    var isOperatorAction: Bool {
        switch kind {
        case .silence, .acknowledge: true
        default: false
        }
    }
}

struct ReadingSpec: Sendable {
    var insulationOhms: Double
    /// Nil: the reading carries no insulation value.
    var validity: Validity?
    var isNewMeasurement: Bool
    var loadPercent: Double
    var windingCelsius: Double
    var faults: Set<Fault>
}

enum Scenario {
    /// Thresholds close together and short delays, so random values cross them often.
    static let settings = AlarmSettings(
        insulation: InsulationLevel(responseOhms: 50_000, delays: delays(response: 1, release: 3)),
        insulationPrewarning: InsulationLevel(responseOhms: 100_000, delays: delays(response: 2, release: 2)),
        overload: OverloadLevel(delays: delays(response: 2, release: 2)),
        overtemperature: OvertemperatureLevel(delays: delays(response: 1.5, release: 2.5)),
        deviceFaultDelays: delays(response: 1, release: 2),
        communicationDelays: delays(response: 0, release: 2),
        staleAfter: .seconds(6),
        reAlarmInterval: .seconds(20),
        testDuration: .seconds(3))

    static let step = zip(
        Gen.int(in: 0...4_000),
        Gen.int(in: 0...99),
        Gen.double(in: 0...1),
        Gen.int(in: 0...11),
        Gen.int(in: 0...3),
        Gen.double(in: 60...125),
        Gen.double(in: 60...135),
        Gen.int(in: 0...511)
    ).map { draw in
        let validity: Validity? =
            switch draw.3 {
            case 0...6: .actual
            case 7: .belowRange
            case 8: .aboveRange
            case 9, 10: .invalid
            default: nil
            }
        // Half the values around both insulation levels and their hysteresis, half healthy, so
        // that green spells (and gaps in the data during them) happen as well as alarms.
        let insulationOhms = draw.2 < 0.5 ? 20_000 + draw.2 * 2 * 110_000 : 130_000 + (draw.2 - 0.5) * 2 * 870_000
        let faults: Set<Fault> = draw.7 < 32 ? [Fault.allCases[draw.7 % Fault.allCases.count]] : []
        let reading = ReadingSpec(
            insulationOhms: insulationOhms, validity: validity, isNewMeasurement: draw.4 != 0,
            loadPercent: draw.5, windingCelsius: draw.6, faults: faults)
        let kind: Step.Kind =
            switch draw.1 {
            case 0..<50: .reading(reading)
            case 50..<55: .communicationLost
            case 55..<60: .communicationRestored
            case 60..<70: .tick
            case 70..<78: .silence
            case 78..<84: .acknowledge
            case 84..<89: .testStarted
            case 89..<92: .testFinished(passed: true)
            case 92..<94: .testFinished(passed: false)
            case 94..<96: .deviceTestStarted
            default: .reading(reading)
            }
        return Step(afterMilliseconds: draw.0, kind: kind, timerIsLate: draw.0 % 3 == 0)
    }

    static let steps = step.array(of: 1...80)
}

/// Drives a machine through a scenario the way the service would, and checks every answer.
struct Driver {
    enum Timer { case punctual, punctualWithExtraTicks, late, asScripted }

    private(set) var machine: AlarmStateMachine
    private(set) var announced: AlarmOutputs
    private(set) var journal: [String] = []
    private(set) var snapshots: [Snapshot] = []
    private var wakeUp: Duration?
    private var now: Duration = .zero
    private var updateCounter: UInt32 = 0
    private var hasSentReading = false
    private var lastNewInsulationValue: Duration?
    private var testStart: Duration?
    /// When the device's own self-test began; its end restarts the stale time.
    private var deviceTestStart: Duration?
    private var lastChange: [AlarmCondition: (isOn: Bool, at: Duration)] = [:]
    private let checkInvariants: Bool

    struct Snapshot: Equatable {
        var outputs: AlarmOutputs
        var active: Set<AlarmCondition>
        var silenced: Set<AlarmCondition>
        var oldAlarms: [AlarmCondition]
    }

    init(checkInvariants: Bool) throws {
        self.checkInvariants = checkInvariants
        machine = try AlarmStateMachine(settings: Scenario.settings, now: AlarmTime(monotonic: .zero, wall: wallOrigin))
        announced = machine.outputs
        for action in machine.initialActions {
            if case .wakeUp(let at) = action { wakeUp = at }
            if case .record(let record) = action { journal.append(record.kind.summary) }
        }
        lastChange[.awaitingFirstMeasurement] = (true, .zero)
    }

    mutating func run(_ steps: [Step], timer: Timer) {
        for step in steps {
            let time = now + .milliseconds(step.afterMilliseconds)
            let ticksOnTime =
                switch timer {
                case .punctual, .punctualWithExtraTicks: true
                case .late: false
                case .asScripted: !step.timerIsLate
                }
            if timer == .punctualWithExtraTicks {
                let midway = now + (time - now) / 2
                deliverDue(upTo: midway)
                deliver(.tick, at: midway)
            }
            if ticksOnTime { deliverDue(upTo: time) }
            if timer == .punctualWithExtraTicks { deliver(.tick, at: time) }
            perform(step, at: time)
            snapshots.append(
                Snapshot(
                    outputs: machine.outputs, active: machine.activeConditions, silenced: machine.silencedConditions,
                    oldAlarms: machine.oldAlarms.map(\.condition)))
        }
    }

    private mutating func perform(_ step: Step, at time: Duration) {
        switch step.kind {
        case .reading(let spec):
            if spec.isNewMeasurement { updateCounter &+= 1 }
            // The first reading is always new to the machine: there is no earlier counter to match.
            let isNew = spec.isNewMeasurement || !hasSentReading
            hasSentReading = true
            var values: [Quantity: MeasuredValue] = [
                .loadPercent: MeasuredValue(spec.loadPercent),
                .windingTemperatureCelsius: MeasuredValue(spec.windingCelsius),
            ]
            if let validity = spec.validity {
                values[.insulationResistanceOhms] = MeasuredValue(spec.insulationOhms, validity: validity)
                if isNew, validity != .invalid { lastNewInsulationValue = time }
            }
            let reading = DecodedReading(
                timestamp: wallOrigin, values: values, faults: spec.faults, updateCounter: updateCounter)
            deliver(.reading(reading), at: time)
        case .communicationLost: deliver(.communicationLost(reason: "random"), at: time)
        case .communicationRestored: deliver(.communicationRestored, at: time)
        case .tick: deliver(.tick, at: time)
        case .silence: press(.silence(user: "staff"), at: time)
        case .acknowledge: press(.acknowledge(user: "staff"), at: time)
        case .testStarted: deliver(.testStarted(user: "staff"), at: time)
        case .testFinished(let passed): deliver(.testFinished(passed: passed), at: time)
        case .deviceTestStarted: deliver(.deviceTestStarted, at: time)
        }
    }

    private mutating func press(_ event: AlarmEvent, at time: Duration) {
        guard checkInvariants else {
            deliver(event, at: time)
            return
        }
        // Catch up on time first, so that what the button changes can be told apart.
        deliver(.tick, at: time)
        let before = announced
        deliver(event, at: time)
        #expect(announced.yellow == before.yellow, "\(event) changed the yellow lamp")
        #expect(announced.commonAlarm == before.commonAlarm, "\(event) changed the common alarm")
        #expect(announced.indicators == before.indicators, "\(event) changed the conditions")
    }

    private mutating func deliverDue(upTo time: Duration) {
        while let due = wakeUp, due <= time {
            wakeUp = nil
            deliver(.tick, at: due)
        }
    }

    private mutating func deliver(_ event: AlarmEvent, at time: Duration) {
        let wasDeviceTesting = machine.deviceTestInProgress
        let wasTesting = machine.testInProgress
        let actions = machine.handle(
            event, at: AlarmTime(monotonic: time, wall: wallOrigin.addingTimeInterval(time.secondsValue)))
        if machine.testInProgress, case .testStarted = event { testStart = time }
        if wasTesting, !machine.testInProgress, let start = testStart {
            // The lamp test makes insulation verdicts meaningless; the stale time restarts at its end.
            let end = min(time, start + Scenario.settings.testDuration)
            lastNewInsulationValue = max(lastNewInsulationValue ?? end, end)
            testStart = nil
        }
        if !wasDeviceTesting, machine.deviceTestInProgress { deviceTestStart = time }
        if wasDeviceTesting, !machine.deviceTestInProgress, let start = deviceTestStart {
            // Ended by a result, or earlier by the machine's own timeout.
            let end = min(time, start + Scenario.settings.deviceTestTimeout)
            lastNewInsulationValue = max(lastNewInsulationValue ?? end, end)
            deviceTestStart = nil
        }
        now = max(now, time)
        var outputChanges = 0
        var wakeUps = 0
        for action in actions {
            switch action {
            case .setOutputs(let outputs):
                outputChanges += 1
                if checkInvariants {
                    #expect(outputs != announced, "setOutputs without a change after \(event)")
                    checkTransition(from: announced, to: outputs, at: time)
                }
                announced = outputs
            case .record(let record):
                journal.append(record.kind.summary)
            case .wakeUp(let at):
                wakeUps += 1
                if checkInvariants { #expect(at > time, "wake-up not in the future") }
                wakeUp = at
            }
        }
        guard checkInvariants else { return }
        #expect(outputChanges <= 1)
        #expect(wakeUps <= 1)
        #expect(machine.outputs == announced, "the machine's outputs differ from what it announced")
        checkState(announced, at: time)
    }

    private func checkState(_ outputs: AlarmOutputs, at time: Duration) {
        #expect(!(outputs.green && outputs.yellow), "green and yellow together")
        #expect(outputs.commonAlarm == outputs.yellow)
        #expect(outputs.yellow == (!outputs.indicators.isEmpty || outputs.testInProgress), "yellow iff a condition or a test")
        #expect(outputs.green || outputs.yellow, "every lamp dark")
        #expect(!outputs.buzzer || outputs.yellow, "buzzer without the yellow lamp")
        #expect(outputs.indicators == machine.activeConditions)
        #expect(!outputs.oldAlarms.contains(.awaitingFirstMeasurement))
        // A device testing itself publishes no real value; the machine bounds the wait with its timeout.
        if outputs.green, !machine.deviceTestInProgress {
            let fresh = lastNewInsulationValue.map { time - $0 < Scenario.settings.staleAfter } ?? false
            #expect(fresh, "green without a new insulation value within the stale time")
        }
    }

    private mutating func checkTransition(from before: AlarmOutputs, to after: AlarmOutputs, at time: Duration) {
        if !after.indicators.subtracting(before.indicators).isEmpty {
            #expect(after.buzzer, "a new condition did not sound: \(after.indicators.subtracting(before.indicators))")
        }
        for condition in after.indicators.symmetricDifference(before.indicators) {
            let isOn = after.indicators.contains(condition)
            if let last = lastChange[condition] {
                let delays = Scenario.settings.delays(for: condition)
                let required = last.isOn ? delays.releaseDelay : delays.responseDelay
                #expect(time - last.at >= required, "\(condition) changed after \(time - last.at), faster than \(required)")
            }
            lastChange[condition] = (isOn, time)
        }
    }
}

@Suite struct PropertyTests {
    @Test func test_outputInvariantsHoldOverRandomEventSequences() async {
        await seededPropertyCheck(seed: 101, count: 300, input: Scenario.steps) { steps in
            var driver = try Driver(checkInvariants: true)
            driver.run(steps, timer: .asScripted)
        }
    }

    @Test func test_extraTicksChangeNothing() async {
        await seededPropertyCheck(seed: 102, count: 150, input: Scenario.steps) { steps in
            var punctual = try Driver(checkInvariants: false)
            var busy = try Driver(checkInvariants: false)
            punctual.run(steps, timer: .punctual)
            busy.run(steps, timer: .punctualWithExtraTicks)
            #expect(busy.snapshots == punctual.snapshots)
            #expect(busy.journal == punctual.journal)
        }
    }

    @Test func test_lateTicksReachTheSameStateAtTheNextEvent() async {
        // Silence and acknowledge are left out: a late timer rightly changes what people could
        // have heard when they pressed the button.
        await seededPropertyCheck(seed: 103, count: 150, input: Scenario.steps) { steps in
            let steps = steps.map { step in
                var step = step
                if step.isOperatorAction { step.kind = .tick }
                return step
            }
            var punctual = try Driver(checkInvariants: false)
            var late = try Driver(checkInvariants: false)
            punctual.run(steps, timer: .punctual)
            late.run(steps, timer: .late)
            #expect(late.snapshots == punctual.snapshots)
            #expect(late.journal == punctual.journal)
        }
    }

    @Test func test_anyResistanceAtOrBelowTheResponseValueRaisesTheAlarm() async {
        let levels = zip(Gen.double(in: 50_000...500_000), Gen.double(in: 0...50), Gen.double(in: 0...1))
        await seededPropertyCheck(seed: 104, count: 100, input: levels) { responseOhms, hysteresisPercent, depth in
            let settings = AlarmSettings(
                insulation: InsulationLevel(responseOhms: responseOhms, releaseHysteresisPercent: hysteresisPercent))
            var panel = try greenPanel(settings)
            let ohms = responseOhms * depth
            panel.read(at: 10, insulationOhms: ohms)
            panel.wait(until: 10 + settings.insulationResponseDelaySeconds)
            #expect(panel.outputs.indicators == [.insulation], "Re \(ohms) Ω at response \(responseOhms) Ω")
        }
    }

    @Test func test_releaseHappensExactlyFromResponseTimesOnePlusHysteresis() async {
        let levels = zip(Gen.double(in: 50_000...500_000), Gen.double(in: 1...50), Gen.double(in: 0...1))
        await seededPropertyCheck(seed: 105, count: 100, input: levels) { responseOhms, hysteresisPercent, position in
            let level = InsulationLevel(responseOhms: responseOhms, releaseHysteresisPercent: hysteresisPercent)
            var panel = try greenPanel(AlarmSettings(insulation: level))
            panel.read(at: 10, insulationOhms: responseOhms / 2)
            panel.wait(until: 11)
            // Anywhere strictly between the response and the release value the alarm holds.
            let inside = responseOhms + (level.releaseOhms - responseOhms) * (0.001 + 0.998 * position)
            for second in stride(from: 12.0, through: 40, by: 1) { panel.read(at: second, insulationOhms: inside) }
            #expect(panel.outputs.indicators == [.insulation], "released at \(inside) Ω, below \(level.releaseOhms) Ω")
            for second in stride(from: 41.0, through: 60, by: 1) { panel.read(at: second, insulationOhms: level.releaseOhms) }
            #expect(panel.outputs.green, "not released at the release value \(level.releaseOhms) Ω")
        }
    }
}
