import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchSnapshot

/// What the building management system sees of one IT system. The layout of the input registers
/// is documented in hardware/bms-register-map.md; keep the two in step.
public struct BMSSystemValues: Sendable, Equatable {
    public var alarmState: AlarmState
    public var activeConditions: [AlarmCondition]
    /// Conditions that cleared but are not yet acknowledged.
    public var unacknowledgedConditions: [AlarmCondition]
    public var green: Bool
    public var yellow: Bool
    public var buzzer: Bool
    public var commonAlarm: Bool
    public var silenced: Bool
    public var communicationOK: Bool
    /// A lamp test is running; with alarm state 1 a fault is active as well.
    public var testInProgress: Bool
    public var stale: Bool
    /// Absent when there is no fresh valid value (the register then holds the "no value" code).
    public var insulationResistanceOhms: Double?
    /// 0 actual, 1 below range ("< x"), 2 above range ("> x"), 3 no value.
    public var insulationValidity: UInt16
    public var leakageCapacitanceFarads: Double?
    public var loadPercent: Double?
    public var loadCurrentAmperes: Double?
    public var windingTemperatureCelsius: Double?
    public var readingAgeSeconds: Double?

    /// A slot whose system a reloaded configuration removed: the map keeps its addresses until
    /// the next start (a BMS's points list must not shift), and the slot reads as an alarm with
    /// communication lost and no values, never as a healthy system.
    public static let notMonitored = BMSSystemValues(
        alarmState: .alarm, activeConditions: [.communication], unacknowledgedConditions: [], green: false, yellow: true,
        buzzer: false, commonAlarm: true, silenced: false, communicationOK: false, stale: true, insulationResistanceOhms: nil,
        insulationValidity: 3, leakageCapacitanceFarads: nil, loadPercent: nil, loadCurrentAmperes: nil,
        windingTemperatureCelsius: nil, readingAgeSeconds: nil)

    public init(
        alarmState: AlarmState, activeConditions: [AlarmCondition], unacknowledgedConditions: [AlarmCondition], green: Bool, yellow: Bool,
        buzzer: Bool, commonAlarm: Bool, silenced: Bool, communicationOK: Bool, testInProgress: Bool = false, stale: Bool,
        insulationResistanceOhms: Double?, insulationValidity: UInt16, leakageCapacitanceFarads: Double?,
        loadPercent: Double?, loadCurrentAmperes: Double?, windingTemperatureCelsius: Double?, readingAgeSeconds: Double?
    ) {
        self.alarmState = alarmState
        self.activeConditions = activeConditions
        self.unacknowledgedConditions = unacknowledgedConditions
        self.green = green
        self.yellow = yellow
        self.buzzer = buzzer
        self.commonAlarm = commonAlarm
        self.silenced = silenced
        self.communicationOK = communicationOK
        self.testInProgress = testInProgress
        self.stale = stale
        self.insulationResistanceOhms = insulationResistanceOhms
        self.insulationValidity = insulationValidity
        self.leakageCapacitanceFarads = leakageCapacitanceFarads
        self.loadPercent = loadPercent
        self.loadCurrentAmperes = loadCurrentAmperes
        self.windingTemperatureCelsius = windingTemperatureCelsius
        self.readingAgeSeconds = readingAgeSeconds
    }

    /// What the BMS may see of `status`: values only when fresh and valid, never history.
    public init(_ status: SystemStatus, now: Date = Date()) {
        let fresh = status.stale ? nil : status.reading
        func value(_ quantity: Quantity) -> Double? {
            guard let fresh, fresh.validity[quantity] != .invalid else { return nil }
            return fresh.values[quantity]
        }
        let insulation = value(.insulationResistanceOhms)
        let validity: UInt16 =
            switch fresh?.validity[.insulationResistanceOhms] {
            case nil: insulation == nil ? 3 : 0
            case .actual?: 0
            case .belowRange?: 1
            case .aboveRange?: 2
            case .invalid?: 3
            }
        self.init(
            alarmState: status.alarm.state, activeConditions: status.alarm.conditions,
            unacknowledgedConditions: status.alarm.unacknowledged, green: status.outputs.green,
            yellow: status.outputs.yellow, buzzer: status.outputs.buzzer, commonAlarm: status.outputs.commonAlarm,
            silenced: status.alarm.silenced, communicationOK: status.communication.ok,
            testInProgress: status.alarm.testInProgress, stale: status.stale, insulationResistanceOhms: insulation,
            insulationValidity: validity, leakageCapacitanceFarads: value(.leakageCapacitanceFarads),
            loadPercent: value(.loadPercent), loadCurrentAmperes: value(.loadCurrentAmperes),
            windingTemperatureCelsius: value(.windingTemperatureCelsius),
            readingAgeSeconds: status.communication.lastSuccess.map { max(0, now.timeIntervalSince($0)) })
    }
}

/// The input-register image: a header at 0, then one block of `blockSize` registers per IT
/// system at 100 × n (n = 1 for the first system of the configuration).
public enum BMSRegisterMap {
    public static let version: UInt16 = 1
    public static let blockStride = 100
    public static let blockSize = 12
    /// "No value" for unsigned registers; 0x8000 for the signed temperature.
    public static let noValue: UInt16 = 0xFFFF
    public static let noSignedValue: UInt16 = 0x8000

    public static func registerCount(systems: Int) -> Int {
        blockStride * (systems + 1)
    }

    public static func base(ofSystem index: Int) -> Int {
        blockStride * (index + 1)
    }

    /// - Parameter heartbeat: increments with every publication, so that the BMS can tell a
    ///   frozen service from a quiet one.
    public static func image(_ systems: [BMSSystemValues], heartbeat: UInt16) -> [UInt16] {
        var registers = [UInt16](repeating: 0, count: registerCount(systems: systems.count))
        registers[0] = version
        registers[1] = UInt16(clamping: systems.count)
        registers[2] = heartbeat
        registers[3] = 1
        for (index, system) in systems.enumerated() {
            let base = base(ofSystem: index)
            registers[base] = code(system.alarmState)
            registers[base + 1] = mask(system.activeConditions)
            var flags: UInt16 = 0
            for (bit, on) in [
                system.green, system.yellow, system.buzzer, system.commonAlarm, system.silenced, system.communicationOK,
                system.stale, !system.unacknowledgedConditions.isEmpty, system.testInProgress,
            ].enumerated() where on {
                flags |= 1 << UInt16(bit)
            }
            registers[base + 2] = flags
            registers[base + 3] = mask(system.unacknowledgedConditions)
            // 32 bits, high word first: insulation resistance runs to tens of MΩ.
            if let ohms = system.insulationResistanceOhms, ohms.isFinite, ohms >= 0 {
                let value = UInt32(min(ohms.rounded(), Double(UInt32.max - 1)))
                registers[base + 4] = UInt16(value >> 16)
                registers[base + 5] = UInt16(value & 0xFFFF)
            } else {
                registers[base + 4] = noValue
                registers[base + 5] = noValue
            }
            registers[base + 6] = unsigned(system.leakageCapacitanceFarads, scale: 1e9)
            registers[base + 7] = unsigned(system.loadPercent, scale: 10)
            registers[base + 8] = signed(system.windingTemperatureCelsius, scale: 10)
            registers[base + 9] = unsigned(system.loadCurrentAmperes, scale: 100)
            registers[base + 10] = unsigned(system.readingAgeSeconds, scale: 1)
            registers[base + 11] = system.insulationValidity
        }
        return registers
    }

    /// Register +0.
    static func code(_ state: AlarmState) -> UInt16 {
        switch state {
        case .normal: 0
        case .alarm: 1
        case .test: 2
        }
    }

    /// Registers +1 and +3: bit k is `AlarmCondition.allCases[k]` (the condition table).
    static func mask(_ conditions: [AlarmCondition]) -> UInt16 {
        AlarmCondition.allCases.enumerated().reduce(0) { mask, item in
            conditions.contains(item.element) ? mask | (1 << UInt16(item.offset)) : mask
        }
    }

    /// Scaled and clamped below the "no value" code, which a value can never take.
    static func unsigned(_ value: Double?, scale: Double) -> UInt16 {
        guard let value, value.isFinite else { return noValue }
        return UInt16(min(max(0, (value * scale).rounded()), Double(noValue - 1)))
    }

    static func signed(_ value: Double?, scale: Double) -> UInt16 {
        guard let value, value.isFinite else { return noSignedValue }
        let scaled = Int16(min(max(-32767, (value * scale).rounded()), 32767))
        return UInt16(bitPattern: scaled)
    }
}
