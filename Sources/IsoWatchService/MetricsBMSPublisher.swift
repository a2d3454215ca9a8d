import Foundation
import IsoWatchBMS
import IsoWatchCore
import IsoWatchThreads
import Logging
import ServiceLifecycle

/// Publishes the monitor's snapshot to the building management system's Modbus TCP server
/// (hardware/bms-register-map.md) twice a second, until a graceful shutdown.
struct BMSPublisher: Service {
    let server: BMSServer
    let monitor: SystemMonitor
    /// The systems with a slot, in the order of the configuration the service started with: a
    /// reload does not move a BMS's addresses. A system added since has no slot until the next
    /// start; a removed one's slot reads `notMonitored`.
    let slots: [String]
    let logger: Logger
    /// The BMS sees a change at most this late: well inside a BMS's usual poll of a few seconds.
    static let interval = Duration.milliseconds(500)

    init(settings: BMSSettings, monitor: SystemMonitor, systems: [String], logger: Logger) throws {
        server = try BMSServer(
            host: settings.host, port: settings.port, registerCount: BMSRegisterMap.registerCount(systems: systems.count),
            maxClients: settings.maxClients)
        self.monitor = monitor
        slots = systems
        self.logger = logger
        logger.info("BMS Modbus TCP server listening", metadata: ["address": "\(settings.host):\(server.port)"])
    }

    func run() async throws {
        var heartbeat: UInt16 = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let systems = Dictionary(await monitor.systems().map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            heartbeat &+= 1
            let values = slots.map { systems[$0].map { BMSSystemValues($0) } ?? .notMonitored }
            server.publish(BMSRegisterMap.image(values, heartbeat: heartbeat))
            try? await Task.sleep(for: Self.interval)
        }
        // `stop` waits for the server's thread: on a thread of its own, not on the cooperative pool.
        _ = try? await OwnedThread.run(name: "isowatch-bms-stop") { [server] in server.stop() }
    }
}
