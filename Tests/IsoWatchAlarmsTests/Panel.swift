import Foundation
import IsoWatchAlarms
import IsoWatchCore
import Testing

/// The stale time of the stories in this target. They poll only at the moments their rule is about,
/// often further apart than the service's 5 s default (`Thresholds`), so they set 15 s, and stale
/// data stays out of stories that are not about it; the stale-data stories use
/// `settings.staleAfter` or set their own.
let storyStaleAfter = Duration.seconds(15)

/// 2026-01-01T00:00:00Z: the wall clock of every test starts here, the monotonic one at zero.
let wallOrigin = Date(timeIntervalSince1970: 1_767_225_600)

func instant(_ seconds: Double) -> AlarmTime {
    AlarmTime(monotonic: .milliseconds(Int64((seconds * 1000).rounded())), wall: wallOrigin.addingTimeInterval(seconds))
}

extension Duration {
    var secondsValue: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}

/// Stands in for the service around one machine: performs its actions (outputs, journal, timer)
/// and checks on the way that it never announces an output that did not change.
struct Panel {
    private(set) var machine: AlarmStateMachine
    private(set) var outputs: AlarmOutputs
    private(set) var outputHistory: [(seconds: Double, outputs: AlarmOutputs)] = []
    private(set) var journal: [AlarmRecord] = []
    private(set) var wakeUp: Duration?
    private(set) var lastActions: [AlarmAction] = []
    private var updateCounter: UInt32 = 0

    init(_ settings: AlarmSettings = AlarmSettings(staleAfter: storyStaleAfter)) throws {
        machine = try AlarmStateMachine(settings: settings, now: instant(0))
        outputs = machine.outputs
        perform(machine.initialActions, at: 0)
    }

    var settings: AlarmSettings { machine.settings }

    /// Lets time pass to `seconds`, ticking at every wake-up like a punctual timer.
    mutating func wait(until seconds: Double) {
        while let due = wakeUp, due <= instant(seconds).monotonic {
            wakeUp = nil
            deliver(.tick, at: due.secondsValue)
        }
    }

    /// Lets time pass with a punctual timer, then hands over the event.
    @discardableResult
    mutating func send(_ event: AlarmEvent, at seconds: Double) -> [AlarmAction] {
        wait(until: seconds)
        return deliver(event, at: seconds)
    }

    /// Hands over the event without ticking first, as if the timer had been late.
    @discardableResult
    mutating func deliver(_ event: AlarmEvent, at seconds: Double) -> [AlarmAction] {
        let actions = machine.handle(event, at: instant(seconds))
        perform(actions, at: seconds)
        return actions
    }

    /// One poll of the monitor. Healthy unless told otherwise; each poll is a new measurement.
    @discardableResult
    mutating func read(
        at seconds: Double,
        insulationOhms: Double? = 500_000,
        validity: Validity = .actual,
        values: [Quantity: MeasuredValue] = [:],
        faults: Set<Fault> = [],
        repeatedMeasurement: Bool = false
    ) -> [AlarmAction] {
        if !repeatedMeasurement { updateCounter &+= 1 }
        var reading = DecodedReading(
            timestamp: instant(seconds).wall, values: values, faults: faults, updateCounter: updateCounter)
        if let insulationOhms {
            reading[.insulationResistanceOhms] = MeasuredValue(insulationOhms, validity: validity)
        }
        return send(.reading(reading), at: seconds)
    }

    /// Healthy polls once a second over a span of time.
    mutating func readHealthy(from start: Double, through end: Double, values: [Quantity: MeasuredValue] = [:]) {
        for second in stride(from: start, through: end, by: 1) { read(at: second, values: values) }
    }

    private mutating func perform(_ actions: [AlarmAction], at seconds: Double) {
        lastActions = actions
        for action in actions {
            switch action {
            case .setOutputs(let new):
                #expect(new != outputs || outputHistory.isEmpty, "setOutputs without a change at \(seconds) s")
                outputs = new
                outputHistory.append((seconds, new))
            case .record(let record):
                journal.append(record)
            case .wakeUp(let at):
                #expect(at > instant(seconds).monotonic, "wake-up \(at) is not in the future at \(seconds) s")
                wakeUp = at
            }
        }
    }

    // Journal queries.

    var raised: [AlarmEpisode] {
        journal.compactMap { if case .raised(let episode) = $0.kind { episode } else { nil } }
    }

    var cleared: [AlarmEpisode] {
        journal.compactMap { if case .cleared(let episode) = $0.kind { episode } else { nil } }
    }

    var resoundCauses: [ResoundCause] {
        journal.compactMap { if case .resounded(let cause) = $0.kind { cause } else { nil } }
    }

    func raised(_ condition: AlarmCondition) -> [AlarmEpisode] { raised.filter { $0.condition == condition } }

    func cleared(_ condition: AlarmCondition) -> [AlarmEpisode] { cleared.filter { $0.condition == condition } }

    /// Whether the green lamp was lit at any moment from `start` through `end`.
    func wasGreen(from start: Double, through end: Double = .infinity) -> Bool {
        let inForce = outputHistory.last { $0.seconds <= start }?.outputs
        return inForce?.green == true
            || outputHistory.contains { $0.seconds > start && $0.seconds <= end && $0.outputs.green }
    }
}

/// A system brought to green by healthy polls at 1 s and 2 s.
func greenPanel(_ settings: AlarmSettings = AlarmSettings(staleAfter: storyStaleAfter)) throws -> Panel {
    var panel = try Panel(settings)
    panel.read(at: 1)
    panel.read(at: 2)
    #expect(panel.outputs.green, "precondition: the system is green after two healthy polls")
    return panel
}

func delays(response: Double, release: Double) -> ConditionDelays {
    ConditionDelays(
        responseDelay: .milliseconds(Int64((response * 1000).rounded())),
        releaseDelay: .milliseconds(Int64((release * 1000).rounded())))
}

extension AlarmSettings {
    var insulationResponseDelaySeconds: Double { insulation.delays.responseDelay.secondsValue }
    var insulationReleaseDelaySeconds: Double { insulation.delays.releaseDelay.secondsValue }
    var staleAfterSeconds: Double { staleAfter.secondsValue }
}
