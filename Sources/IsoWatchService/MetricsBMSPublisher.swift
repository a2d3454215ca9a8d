import Foundation
import IsoWatchAlarms
import IsoWatchBMS
import IsoWatchCore
import IsoWatchHTTP
import Logging
import ServiceLifecycle

/// Publishes the monitor's snapshot to the building management system's Modbus TCP server
/// (hardware/bms-register-map.md) twice a second, until a graceful shutdown.
struct BMSPublisher: Service {
    let server: BMSServer
    let monitor: SystemMonitor
    let logger: Logger
    /// The BMS sees a change at most this late: well inside a BMS's usual poll of a few seconds.
    static let interval = Duration.milliseconds(500)

    init(settings: BMSSettings, monitor: SystemMonitor, systems: [String], logger: Logger) throws {
        server = try BMSServer(
            host: settings.host, port: settings.port, registerCount: BMSRegisterMap.registerCount(systems: systems.count),
            maxClients: settings.maxClients)
        self.monitor = monitor
        self.logger = logger
        logger.info("BMS Modbus TCP server listening", metadata: ["address": "\(settings.host):\(server.port)"])
    }

    func run() async throws {
        var heartbeat: UInt16 = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let systems = await monitor.systems()
            heartbeat &+= 1
            server.publish(BMSRegisterMap.image(systems.map { Self.values($0) }, heartbeat: heartbeat))
            try? await Task.sleep(for: Self.interval)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                server.stop()
                continuation.resume()
            }
            thread.start()
        }
    }

    static func values(_ system: SystemStatus, now: Date = Date()) -> BMSSystemValues {
        let fresh = system.stale ? nil : system.reading
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
        return BMSSystemValues(
            alarmState: system.alarm.state == "normal" ? 0 : system.alarm.state == "test" ? 2 : 1,
            activeConditions: mask(system.alarm.conditions), unacknowledgedConditions: mask(system.alarm.unacknowledged),
            green: system.outputs.green, yellow: system.outputs.yellow, buzzer: system.outputs.buzzer,
            commonAlarm: system.outputs.commonAlarm, silenced: system.alarm.silenced, communicationOK: system.communication.ok,
            testInProgress: system.alarm.testInProgress,
            stale: system.stale, insulationResistanceOhms: insulation, insulationValidity: validity,
            leakageCapacitanceFarads: value(.leakageCapacitanceFarads), loadPercent: value(.loadPercent),
            loadCurrentAmperes: value(.loadCurrentAmperes), windingTemperatureCelsius: value(.windingTemperatureCelsius),
            readingAgeSeconds: system.communication.lastSuccess.map { max(0, now.timeIntervalSince($0)) })
    }

    /// Bit k: `AlarmCondition.allCases[k]` (the table in the register map).
    static func mask(_ conditions: [String]) -> UInt16 {
        AlarmCondition.allCases.enumerated().reduce(0) { mask, item in
            conditions.contains(item.element.rawValue) ? mask | (1 << UInt16(item.offset)) : mask
        }
    }
}
