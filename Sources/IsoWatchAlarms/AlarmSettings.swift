import IsoWatchCore

/// How long a condition must persist before it is raised, and how long its release must persist
/// before it is cleared.
public struct ConditionDelays: Sendable, Equatable {
    /// The condition must be observed without contrary evidence for this long before it is raised.
    public var responseDelay: Duration
    /// The release must be observed without contrary evidence for this long before it is cleared.
    public var releaseDelay: Duration

    public init(responseDelay: Duration, releaseDelay: Duration) {
        self.responseDelay = responseDelay
        self.releaseDelay = releaseDelay
    }

    /// Raised and cleared on the first observation: for conditions whose delay is elsewhere
    /// (the caller's communication timeout, the stale time) or which are verdicts (a failed test).
    public static let immediate = ConditionDelays(responseDelay: .zero, releaseDelay: .zero)

    /// The delays of a condition's configured timing.
    public init(_ timing: ConditionTiming) {
        self.init(responseDelay: .seconds(timing.responseDelaySeconds), releaseDelay: .seconds(timing.releaseDelaySeconds))
    }
}

/// One insulation level: alarm when Re ≤ response value, release when Re ≥ response × (1 + hysteresis).
/// The defaults are the configuration's (`AlarmTiming`).
public struct InsulationLevel: Sendable, Equatable {
    public var responseOhms: Double
    /// Release distance in per cent of the response value (Bender's fixed 25 % by default).
    public var releaseHysteresisPercent: Double
    public var delays: ConditionDelays

    public init(
        responseOhms: Double,
        releaseHysteresisPercent: Double = AlarmTiming().insulation.releaseHysteresisPercent,
        delays: ConditionDelays = ConditionDelays(AlarmTiming().insulation)
    ) {
        self.responseOhms = responseOhms
        self.releaseHysteresisPercent = releaseHysteresisPercent
        self.delays = delays
    }

    public var releaseOhms: Double { responseOhms * (1 + releaseHysteresisPercent / 100) }
}

/// Overload of the isolating transformer, in per cent of its rated current. The defaults are the
/// configuration's (`Thresholds`, `AlarmTiming`).
public struct OverloadLevel: Sendable, Equatable {
    public var responsePercent: Double
    /// Release distance in per cent of the response value: release when load ≤ response × (1 − hysteresis).
    public var releaseHysteresisPercent: Double
    /// Used to compute the load from `load_current_amperes` for devices that do not publish
    /// `load_percent` (Acrel AIM-M10 reports amperes only). Nil: only `load_percent` is used.
    public var ratedCurrentAmperes: Double?
    public var delays: ConditionDelays

    public init(
        responsePercent: Double = Thresholds().loadPercent,
        releaseHysteresisPercent: Double = AlarmTiming().overload.releaseHysteresisPercent,
        ratedCurrentAmperes: Double? = nil,
        delays: ConditionDelays = ConditionDelays(AlarmTiming().overload)
    ) {
        self.responsePercent = responsePercent
        self.releaseHysteresisPercent = releaseHysteresisPercent
        self.ratedCurrentAmperes = ratedCurrentAmperes
        self.delays = delays
    }

    public var releasePercent: Double { responsePercent * (1 - releaseHysteresisPercent / 100) }
}

/// Over-temperature of the transformer winding, from a temperature in °C or from the resistance of
/// a PTC thermistor chain (DIN 44081), whichever the device reports. The defaults are the
/// configuration's (`Thresholds`, `AlarmTiming`).
public struct OvertemperatureLevel: Sendable, Equatable {
    public var responseCelsius: Double
    public var releaseCelsius: Double
    /// A PTC chain's resistance rises steeply at its nominal temperature: 4 kΩ response and
    /// 1.6 kΩ release are the usual figures of medical transformer monitors.
    public var sensorResponseOhms: Double
    public var sensorReleaseOhms: Double
    public var delays: ConditionDelays

    public init(
        responseCelsius: Double = Thresholds().windingTemperatureCelsius,
        releaseCelsius: Double = Thresholds().windingTemperatureReleaseCelsiusInForce,
        sensorResponseOhms: Double = Thresholds().ptcResponseOhms,
        sensorReleaseOhms: Double = Thresholds().ptcReleaseOhms,
        delays: ConditionDelays = ConditionDelays(AlarmTiming().overtemperature)
    ) {
        self.responseCelsius = responseCelsius
        self.releaseCelsius = releaseCelsius
        self.sensorResponseOhms = sensorResponseOhms
        self.sensorReleaseOhms = sensorReleaseOhms
        self.delays = delays
    }
}

/// Everything that shapes the alarms of one medical IT system. Check it with `validate()`;
/// `AlarmStateMachine` refuses settings that have problems. The defaults are the configuration's
/// (`Thresholds`, `AlarmTiming` in IsoWatchCore), defined there once.
public struct AlarmSettings: Sendable, Equatable {
    /// The level that lights the yellow lamp as the standard requires.
    public var insulation: InsulationLevel
    /// An optional earlier level. It is a condition like any other (yellow lamp, buzzer), so it is
    /// off by default; its use is that the step down to the real alarm is a *new* condition and
    /// re-sounds a silenced buzzer.
    public var insulationPrewarning: InsulationLevel?
    public var overload: OverloadLevel
    public var overtemperature: OvertemperatureLevel
    /// For the faults only the device can see: earth and line connection, temperature sensor, device.
    public var deviceFaultDelays: ConditionDelays
    /// The caller already waited its poll timeout before reporting the loss, so the response is
    /// immediate; the release delay keeps a flapping link from flickering the lamps.
    public var communicationDelays: ConditionDelays
    /// Without a fresh valid insulation value for this long the system is not known to be safe.
    public var staleAfter: Duration
    /// A silenced buzzer sounds again after this long while any silenced condition persists.
    /// Nil: it stays silent until a new condition appears.
    public var reAlarmInterval: Duration?
    /// How long the test button lights the yellow lamp and sounds the buzzer.
    public var testDuration: Duration
    /// After a test ends, the next may start only this much later, so that tests cannot be
    /// chained into a permanent one.
    public var testRestInterval: Duration
    /// The quantities besides insulation that this system monitors; each must have a valid
    /// value at least every `staleAfter`. Empty: insulation only.
    public var monitored: Set<MonitoredQuantity>
    /// A device self-test (`.deviceTestStarted`) without a result by then has failed; until
    /// then the stale timer waits for it.
    public var deviceTestTimeout: Duration
    /// Cleared, unacknowledged episodes kept in memory; the journal keeps all of them. Only the
    /// oldest are dropped, and only when someone has ignored this many.
    public var maximumOldAlarms: Int

    public init(
        insulation: InsulationLevel = InsulationLevel(responseOhms: Thresholds().insulationResponseOhms),
        insulationPrewarning: InsulationLevel? = nil,
        overload: OverloadLevel = OverloadLevel(),
        overtemperature: OvertemperatureLevel = OvertemperatureLevel(),
        deviceFaultDelays: ConditionDelays = ConditionDelays(AlarmTiming().deviceFaults),
        communicationDelays: ConditionDelays = ConditionDelays(
            responseDelay: .zero, releaseDelay: .seconds(AlarmTiming().communicationReleaseDelaySeconds)),
        staleAfter: Duration = .seconds(Thresholds().staleAfterSeconds),
        reAlarmInterval: Duration? = AlarmTiming().reAlarmSeconds.map { .seconds($0) },
        testDuration: Duration = .seconds(AlarmTiming().testDurationSeconds),
        maximumOldAlarms: Int = 100,
        deviceTestTimeout: Duration = .seconds(AlarmTiming().selfTestTimeoutSeconds),
        testRestInterval: Duration = .seconds(AlarmTiming().testRestSeconds),
        monitored: Set<MonitoredQuantity> = []
    ) {
        self.testRestInterval = testRestInterval
        self.monitored = monitored
        self.deviceTestTimeout = deviceTestTimeout
        self.insulation = insulation
        self.insulationPrewarning = insulationPrewarning
        self.overload = overload
        self.overtemperature = overtemperature
        self.deviceFaultDelays = deviceFaultDelays
        self.communicationDelays = communicationDelays
        self.staleAfter = staleAfter
        self.reAlarmInterval = reAlarmInterval
        self.testDuration = testDuration
        self.maximumOldAlarms = maximumOldAlarms
    }

    /// The delays that apply to a condition.
    public func delays(for condition: AlarmCondition) -> ConditionDelays {
        switch condition {
        case .insulation: insulation.delays
        case .insulationPrewarning: insulationPrewarning?.delays ?? insulation.delays
        case .overload: overload.delays
        case .overtemperature: overtemperature.delays
        case .earthConnection, .lineConnection, .temperatureSensor, .device: deviceFaultDelays
        case .communication: communicationDelays
        case .awaitingFirstMeasurement, .selfTestFailed, .staleData: .immediate
        }
    }

    /// What is wrong with these settings, one sentence each; empty when they are usable.
    public func validate() -> [String] {
        var problems: [String] = []
        func positive(_ value: Double, _ name: String) {
            if !(value.isFinite && value > 0) { problems.append("\(name) must be a positive number, not \(value)") }
        }
        func percentage(_ value: Double, _ name: String) {
            if !(value.isFinite && value >= 0 && value < 100) {
                problems.append("\(name) must be a percentage from 0 to below 100, not \(value)")
            }
        }
        func delays(_ value: ConditionDelays, _ name: String) {
            if value.responseDelay < .zero { problems.append("\(name) response delay must not be negative") }
            if value.releaseDelay < .zero { problems.append("\(name) release delay must not be negative") }
        }

        positive(insulation.responseOhms, "insulation response value")
        if insulation.responseOhms.isFinite, insulation.responseOhms < Thresholds.minimumInsulationResponseOhms {
            problems.append(
                "insulation response value \(insulation.responseOhms) Ω is below the \(Int(Thresholds.minimumInsulationResponseOhms / 1000)) kΩ that IEC 60364-7-710 requires as the lowest setting")
        }
        percentage(insulation.releaseHysteresisPercent, "insulation release hysteresis")
        delays(insulation.delays, "insulation")
        if let prewarning = insulationPrewarning {
            positive(prewarning.responseOhms, "insulation prewarning response value")
            if !(prewarning.responseOhms > insulation.responseOhms) {
                problems.append(
                    "insulation prewarning response value \(prewarning.responseOhms) Ω must be above the alarm response value \(insulation.responseOhms) Ω")
            }
            percentage(prewarning.releaseHysteresisPercent, "insulation prewarning release hysteresis")
            delays(prewarning.delays, "insulation prewarning")
        }
        positive(overload.responsePercent, "overload response value")
        percentage(overload.releaseHysteresisPercent, "overload release hysteresis")
        if let rated = overload.ratedCurrentAmperes { positive(rated, "rated current") }
        delays(overload.delays, "overload")
        if !(overtemperature.responseCelsius.isFinite && overtemperature.releaseCelsius.isFinite
            && overtemperature.releaseCelsius < overtemperature.responseCelsius)
        {
            problems.append(
                "over-temperature release \(overtemperature.releaseCelsius) °C must be below its response \(overtemperature.responseCelsius) °C")
        }
        positive(overtemperature.sensorResponseOhms, "PTC chain response resistance")
        positive(overtemperature.sensorReleaseOhms, "PTC chain release resistance")
        if !(overtemperature.sensorReleaseOhms < overtemperature.sensorResponseOhms) {
            problems.append(
                "PTC chain release \(overtemperature.sensorReleaseOhms) Ω must be below its response \(overtemperature.sensorResponseOhms) Ω")
        }
        delays(overtemperature.delays, "over-temperature")
        delays(deviceFaultDelays, "device fault")
        delays(communicationDelays, "communication")
        if staleAfter <= .zero { problems.append("stale time must be positive") }
        if let reAlarmInterval, reAlarmInterval <= .zero { problems.append("re-alarm time must be positive") }
        if testDuration <= .zero { problems.append("test duration must be positive") }
        if testRestInterval < .zero { problems.append("the rest interval between tests must not be negative") }
        if deviceTestTimeout <= .zero { problems.append("device self-test timeout must be positive") }
        if maximumOldAlarms < 1 { problems.append("at least one old alarm must be kept") }
        return problems
    }
}

/// Thrown by `AlarmStateMachine.init` for settings that `validate()` rejects.
public struct InvalidAlarmSettings: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [String]

    public var description: String { "invalid alarm settings: " + problems.joined(separator: "; ") }
}

/// A monitoring function besides insulation that a system can have a sensor for.
public enum MonitoredQuantity: String, Sendable, CaseIterable, Hashable, Codable {
    /// The transformer's load, as `load_percent` or from `load_current_amperes`.
    case load
    /// The winding temperature, as `winding_temperature_celsius` or a PTC chain's resistance.
    case windingTemperature = "winding_temperature"

    /// The quantities that carry this function, in the order they are preferred.
    public var quantities: [Quantity] {
        switch self {
        case .load: [.loadPercent, .loadCurrentAmperes]
        case .windingTemperature: [.windingTemperatureCelsius, .temperatureSensorOhms]
        }
    }

    /// For details and logs.
    public var quantityName: String { quantities.map(\.rawValue).joined(separator: "/") }
}

/// Why a test request is refused.
public enum TestRefusal: Sendable, Equatable {
    /// A lamp test is running until then (monotonic); a press does not extend it.
    case running(until: Duration)
    /// The device is testing itself until at the latest then.
    case deviceTestRunning(until: Duration)
    /// The last test ended less than the rest interval ago; a test may start from then.
    case tooSoon(allowedFrom: Duration)

    /// The earliest monotonic instant at which a request could succeed.
    public var retryAt: Duration {
        switch self {
        case .running(let until), .deviceTestRunning(let until): until
        case .tooSoon(let allowedFrom): allowedFrom
        }
    }
}

/// What one reading says about a monitored function.
enum FunctionValidity {
    case valid
    /// The device published the quantity but marked it as no value (a sensor open or shorted).
    case invalid
    /// The reading does not carry the quantity at all.
    case absent
}

extension AlarmSettings {
    func validity(of function: MonitoredQuantity, in reading: DecodedReading) -> FunctionValidity {
        var present: [MeasuredValue] = []
        switch function {
        case .load:
            if let load = loadPercent(in: reading) { present.append(load) }
        case .windingTemperature:
            present = function.quantities.compactMap { reading[$0] }
        }
        if present.contains(where: { $0.validity != .invalid && $0.value.isFinite }) { return .valid }
        return present.isEmpty ? .absent : .invalid
    }
}
