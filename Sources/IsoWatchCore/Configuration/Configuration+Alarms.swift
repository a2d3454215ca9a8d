import Foundation

// The per-condition timing of the alarms, the per-condition indicator lines and the remote panels
// that cover several theatres. The file format is in the README's "Configuration" section.

/// How long one condition must persist before it is raised, how long its release must persist
/// before it is cleared, and how far past the response value the release lies.
public struct ConditionTiming: Sendable, Equatable {
    public var responseDelaySeconds: Double
    public var releaseDelaySeconds: Double
    /// Release distance in per cent of the response value, for the conditions whose release is
    /// derived from it (insulation: above, overload: below); 0 and unused for the others.
    public var releaseHysteresisPercent: Double

    public init(responseDelaySeconds: Double, releaseDelaySeconds: Double, releaseHysteresisPercent: Double = 0) {
        self.responseDelaySeconds = responseDelaySeconds
        self.releaseDelaySeconds = releaseDelaySeconds
        self.releaseHysteresisPercent = releaseHysteresisPercent
    }
}

/// The timing of one system's alarms: every condition's delays and hysteresis, the re-alarm time
/// of a silenced buzzer, the test, and the checks that run on their own.
///
/// The defaults are defined here once: the alarm machine's `AlarmSettings` defaults are these, so a
/// file without an `alarms` section behaves as the machine does by default.
public struct AlarmTiming: Sendable, Equatable {
    /// Bender's fixed 25 % release hysteresis; a 1 s confirmation is within the response time
    /// medical IMDs quote (≤ 1 to ≤ 5 s).
    public var insulation = ConditionTiming(responseDelaySeconds: 1, releaseDelaySeconds: 5, releaseHysteresisPercent: 25)
    public var insulationPrewarning = ConditionTiming(
        responseDelaySeconds: 1, releaseDelaySeconds: 5, releaseHysteresisPercent: 25)
    /// Inrush current of equipment switching on lasts a moment; the transformer carries it.
    public var overload = ConditionTiming(responseDelaySeconds: 5, releaseDelaySeconds: 5, releaseHysteresisPercent: 5)
    public var overtemperature = ConditionTiming(responseDelaySeconds: 2, releaseDelaySeconds: 5)
    /// Earth and line connection, temperature sensor and device faults (the device's own flags).
    public var deviceFaults = ConditionTiming(responseDelaySeconds: 1, releaseDelaySeconds: 5)
    /// The response is the communication timeout itself (`thresholds.stale_after_seconds`).
    public var communicationReleaseDelaySeconds: Double = 5
    /// A silenced buzzer sounds again after this long while the fault persists; nil: only a new
    /// condition re-sounds it.
    public var reAlarmSeconds: Double? = 900
    /// How long the test button lights the yellow lamp and sounds the buzzer.
    public var testDurationSeconds: Double = 5
    /// After a test ends, a new one is refused for this long: presses cannot chain tests into a
    /// permanent one (issue 13).
    public var testRestSeconds: Double = 30
    /// A device self-test that has not reported passed or failed by then counts as failed.
    public var selfTestTimeoutSeconds: Double = 60
    /// How long the IMD's alarm contact may disagree with the Modbus reading before the
    /// disagreement is raised as a device fault.
    public var imdContactDisagreementSeconds: Double = 30
    /// Interval of the automatic function test; nil: off.
    public var functionTestIntervalHours: Double? = 24

    public init() {}
}

/// One remote alarm panel that covers several IT systems (for example at a nurses' station): its
/// lamps and buzzer follow all its members, and its mute button silences them.
public struct PanelConfiguration: Sendable, Equatable {
    /// `[a-z0-9-]+`, unique among the panels.
    public var id: String
    public var name: String
    /// The ids of the member systems, in the file's order.
    public var systems: [String]
    /// Indicator lines are not accepted on a panel (use the systems' own).
    public var outputs: OutputLines
    /// Only `mute` and `acknowledge` are accepted on a panel.
    public var inputs: InputLines

    public init(id: String, name: String, systems: [String], outputs: OutputLines = OutputLines(), inputs: InputLines = InputLines()) {
        self.id = id
        self.name = name
        self.systems = systems
        self.outputs = outputs
        self.inputs = inputs
    }
}

/// The conditions that may have an indicator line of their own: the alarm machine's condition
/// names (`AlarmCondition` raw values), except the start-up state, which is not a fault.
public let indicatorConditionNames = [
    "insulation", "insulation_prewarning", "overload", "overtemperature", "earth_connection", "line_connection",
    "temperature_sensor", "device", "self_test_failed", "communication", "stale_data",
]

// MARK: - Parsing

extension YAMLValue {
    /// `systems[i].alarms`.
    func alarmTiming() -> AlarmTiming {
        var timing = AlarmTiming()
        let keys = [
            "insulation", "insulation_prewarning", "overload", "overtemperature", "device_faults", "communication",
            "re_alarm_seconds", "test_duration_seconds", "test_rest_seconds", "self_test_timeout_seconds", "imd_contact_disagreement_seconds",
            "function_test_interval_hours",
        ]
        guard let mapping = mapping(allowedKeys: keys) else { return timing }
        if let value = mapping["insulation"] {
            timing.insulation = value.conditionTiming(timing.insulation, hysteresis: 0...99)
        }
        if let value = mapping["insulation_prewarning"] {
            timing.insulationPrewarning = value.conditionTiming(timing.insulationPrewarning, hysteresis: 0...99)
        }
        // Above 50 % the overload would release at less than half the response load.
        if let value = mapping["overload"] { timing.overload = value.conditionTiming(timing.overload, hysteresis: 0...50) }
        if let value = mapping["overtemperature"] {
            timing.overtemperature = value.conditionTiming(timing.overtemperature, hysteresis: nil)
        }
        if let value = mapping["device_faults"] {
            timing.deviceFaults = value.conditionTiming(timing.deviceFaults, hysteresis: nil)
        }
        if let value = mapping["communication"], let communication = value.mapping(allowedKeys: ["release_delay_seconds"]) {
            if let seconds = communication["release_delay_seconds"]?.number(in: Self.delayRange, unit: "s") {
                timing.communicationReleaseDelaySeconds = seconds
            }
        }
        if let value = mapping["re_alarm_seconds"] {
            if value.isWord("off") {
                timing.reAlarmSeconds = nil
            } else if let seconds = value.numberOrOff(in: 10...86_400, unit: "s") {
                timing.reAlarmSeconds = seconds
            }
        }
        if let seconds = mapping["test_duration_seconds"]?.number(in: 1...120, unit: "s") {
            timing.testDurationSeconds = seconds
        }
        if let seconds = mapping["test_rest_seconds"]?.number(in: 0...86_400, unit: "s") {
            timing.testRestSeconds = seconds
        }
        if let seconds = mapping["self_test_timeout_seconds"]?.number(in: 5...600, unit: "s") {
            timing.selfTestTimeoutSeconds = seconds
        }
        if let seconds = mapping["imd_contact_disagreement_seconds"]?.number(in: 1...3600, unit: "s") {
            timing.imdContactDisagreementSeconds = seconds
        }
        if let value = mapping["function_test_interval_hours"] {
            if value.isWord("off") {
                timing.functionTestIntervalHours = nil
            } else if let hours = value.numberOrOff(in: 1...8760, unit: "h") {
                timing.functionTestIntervalHours = hours
            }
        }
        return timing
    }

    /// A delay longer than an hour would leave a real fault unsignalled for that long.
    static let delayRange: ClosedRange<Double> = 0...3600

    private func conditionTiming(_ defaults: ConditionTiming, hysteresis: ClosedRange<Double>?) -> ConditionTiming {
        var keys = ["response_delay_seconds", "release_delay_seconds"]
        if hysteresis != nil { keys.append("release_hysteresis_percent") }
        var timing = defaults
        guard let mapping = mapping(allowedKeys: keys) else { return timing }
        if let seconds = mapping["response_delay_seconds"]?.number(in: Self.delayRange, unit: "s") {
            timing.responseDelaySeconds = seconds
        }
        if let seconds = mapping["release_delay_seconds"]?.number(in: Self.delayRange, unit: "s") {
            timing.releaseDelaySeconds = seconds
        }
        if let hysteresis, let percent = mapping["release_hysteresis_percent"]?.number(in: hysteresis, unit: "%") {
            timing.releaseHysteresisPercent = percent
        }
        return timing
    }

    func isWord(_ word: String) -> Bool {
        if case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any { return scalar.string == word }
        return false
    }

    /// A number in `range`; the message says that `off` is the other accepted value.
    private func numberOrOff(in range: ClosedRange<Double>, unit: String) -> Double? {
        if case .scalar(let scalar) = node, Double(scalar.string) == nil, YAMLValue.parseInteger(scalar.string) == nil {
            report("must be a number of \(unit) (\(Self.format(range.lowerBound))...\(Self.format(range.upperBound))) or off, got '\(scalar.string)'")
            return nil
        }
        return number(in: range, unit: unit)
    }
}

extension YAMLMapping {
    /// The thresholds beyond the response values: the over-temperature release and the PTC chain.
    func temperatureReleaseThresholds(into thresholds: inout Thresholds) {
        if let celsius = self["winding_temperature_release_celsius"]?.number(in: 0...250, unit: "°C") {
            if celsius < thresholds.windingTemperatureCelsius {
                thresholds.windingTemperatureReleaseCelsius = celsius
            } else {
                report(
                    "winding_temperature_release_celsius",
                    "must be below winding_temperature_celsius (\(YAMLValue.format(thresholds.windingTemperatureCelsius))), or the alarm could never release, got \(YAMLValue.format(celsius))"
                )
            }
        }
        if let ohms = self["ptc_response_ohms"]?.number(in: 100...100_000, unit: "Ω") { thresholds.ptcResponseOhms = ohms }
        if let ohms = self["ptc_release_ohms"]?.number(in: 10...100_000, unit: "Ω") {
            if ohms < thresholds.ptcResponseOhms {
                thresholds.ptcReleaseOhms = ohms
            } else {
                report(
                    "ptc_release_ohms",
                    "must be below ptc_response_ohms (\(YAMLValue.format(thresholds.ptcResponseOhms))): a PTC chain cools back to a lower resistance, got \(YAMLValue.format(ohms))"
                )
            }
        }
    }
}

/// Whether a system has the sensor behind one monitoring function (`sensors:` in the file).
public enum SensorFitting: String, Sendable, Equatable {
    /// Monitored when the device's profile maps a quantity for it (the default).
    case profile
    /// The system has no such sensor: its absence is not an alarm.
    case none
    /// Monitored whatever the profile maps.
    case fitted
}

/// `systems[i].sensors`: which monitoring functions besides insulation the system has.
public struct SystemSensors: Sendable, Equatable {
    public var load: SensorFitting = .profile
    public var windingTemperature: SensorFitting = .profile

    public init(load: SensorFitting = .profile, windingTemperature: SensorFitting = .profile) {
        self.load = load
        self.windingTemperature = windingTemperature
    }
}

extension YAMLValue {
    /// `systems[i].sensors`, e.g. `{ winding_temperature: none }`.
    func systemSensors() -> SystemSensors {
        var sensors = SystemSensors()
        guard let mapping = mapping(allowedKeys: ["load", "winding_temperature"]) else { return sensors }
        func fitting(_ key: String) -> SensorFitting? {
            guard let value = mapping[key] else { return nil }
            guard let word = value.string(), let fitting = SensorFitting(rawValue: word) else {
                value.report("must be profile, none or fitted")
                return nil
            }
            return fitting
        }
        if let value = fitting("load") { sensors.load = value }
        if let value = fitting("winding_temperature") { sensors.windingTemperature = value }
        return sensors
    }
}
