import Foundation
import Hummingbird
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchHTTP
import IsoWatchModbus
import Logging
import ServiceLifecycle

/// The whole service assembled from a configuration: one poller per bus, the monitor with an
/// alarm machine per IT system, the output drivers, and the HTTP server.
public struct IsoWatchRuntime: Sendable {
    public let services: [any Service]
    let monitor: SystemMonitor

    /// Everything that can go wrong while the runtime is assembled, with what to do about it.
    public struct StartupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - gpio: the backend for the outputs; nil chooses the one the configuration names.
    ///   - onListening: receives the HTTP port once the server accepts connections.
    ///   - observeOutcome: sees every poll outcome on the poller's thread as it enters the
    ///     service; for the latency benchmark, which must not change the path it measures.
    public static func make(
        configuration: Configuration,
        profiles: ProfileLibrary,
        gpio: (any GPIOBackend)? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        observeOutcome: @escaping @Sendable (PollOutcome) -> Void = { _ in }
    ) async throws -> IsoWatchRuntime {
        let backend = try gpio ?? makeBackend(configuration)
        var drivers: [String: OutputDriver] = [:]
        for system in configuration.systems {
            drivers[system.id] = try await OutputDriver.claim(system, backend: backend, logger: logger)
        }
        var panels: [PanelInputs] = []
        for system in configuration.systems where !system.inputs.all.isEmpty {
            panels.append(try await PanelInputs.claim(system, backend: backend, logger: logger))
        }
        let monitor = try SystemMonitor(configuration: configuration, drivers: drivers, logger: logger)

        let (outcomes, continuation) = AsyncStream.makeStream(of: PollOutcome.self, bufferingPolicy: .bufferingNewest(4096))
        var devicesByEndpoint: [Transport: [PolledDevice]] = [:]
        var endpointOrder: [Transport] = []
        for system in configuration.systems {
            guard let profile = profiles[system.device.profileID] else {
                throw StartupError(description: "system '\(system.id)': no device profile '\(system.device.profileID)'")
            }
            let endpoint = system.device.transport
            if devicesByEndpoint[endpoint] == nil { endpointOrder.append(endpoint) }
            devicesByEndpoint[endpoint, default: []].append(
                PolledDevice(
                    id: system.id, unit: system.device.unit, blocks: profile.readBlocks(),
                    pollIntervalSeconds: system.device.pollIntervalSeconds, timeoutSeconds: system.device.timeoutSeconds,
                    retries: system.device.retries,
                    decode: { image, time in try profile.decode(image, at: time) }))
        }
        let pollers = endpointOrder.map { endpoint in
            BusPoller(endpoint: endpoint, devices: devicesByEndpoint[endpoint] ?? []) {
                observeOutcome($0)
                continuation.yield($0)
            }
        }
        let heartbeat = Heartbeat()
        let readiness = Readiness(awaiting: [.monitoring, .http])
        let monitorService = MonitorService(
            monitor: monitor, pollers: pollers, drivers: Array(drivers.values), panels: panels, outcomes: outcomes,
            outcomesContinuation: continuation, heartbeat: heartbeat, readiness: readiness, logger: logger)
        let http = HTTPServer.makeApplication(
            state: monitor, host: configuration.http.host, port: configuration.http.port, logger: logger,
            onListening: { port in
                readiness.markReady(.http)
                await onListening(port)
            })
        // Last, so that on SIGTERM (services stop in reverse order) systemd hears STOPPING=1 first.
        let watchdog = SystemdWatchdogService(
            notifier: SystemdNotifier.fromEnvironment(), heartbeat: heartbeat, readiness: readiness, logger: logger)
        return IsoWatchRuntime(services: [monitorService, http, watchdog], monitor: monitor)
    }

    public func systems() async -> [SystemStatus] {
        await monitor.systems()
    }

    static func makeBackend(_ configuration: Configuration) throws -> any GPIOBackend {
        switch configuration.gpio.backend {
        case .libgpiod:
            return try LibgpiodBackend()
        case .simulated:
            // One simulated chip for every chip the configuration names, so every line can be claimed.
            let chips = Set(configuration.systems.flatMap { $0.outputs.all.map(\.chip) + $0.inputs.all.map(\.chip) })
            return SimulatedGPIOBackend(chips: (chips.isEmpty ? ["gpiochip0"] : chips.sorted()).map { SimulatedChip(name: $0) })
        }
    }
}
