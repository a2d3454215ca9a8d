import IsoWatchModbus
import Logging
import ServiceLifecycle

/// Polls every bus, feeds the outcomes to the monitor, lets time pass for its alarm delays, and
/// keeps the outputs driven, until a graceful shutdown.
struct MonitorService: Service {
    let monitor: SystemMonitor
    let pollers: [BusPoller]
    let drivers: [OutputDriver]
    let panels: [PanelInputs]
    let outcomes: AsyncStream<PollOutcome>
    let outcomesContinuation: AsyncStream<PollOutcome>.Continuation
    /// Beats once per tick: the systemd watchdog is fed only while this loop comes round.
    let heartbeat: Heartbeat
    let readiness: Readiness
    let logger: Logger

    /// How often communication timeouts and alarm delays are checked; the resolution of every
    /// configured delay.
    static let tickInterval = Duration.milliseconds(100)

    func run() async throws {
        await monitor.start()
        // The drivers outlive the monitoring tasks: after those stop, each driver still has to
        // drive its relays to the alarm state before it releases the lines.
        await withTaskGroup(of: Void.self) { drivingGroup in
            for driver in drivers {
                drivingGroup.addTask { await driver.run() }
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [monitor, outcomes] in
                    for await outcome in outcomes {
                        await monitor.handle(outcome)
                    }
                }
                group.addTask { [monitor, heartbeat] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.tickInterval)
                        await monitor.tick()
                        heartbeat.beat()
                    }
                }
                for panel in panels {
                    group.addTask { [monitor] in await panel.run(monitor: monitor) }
                }
                for poller in pollers {
                    poller.start()
                }
                readiness.markReady(.monitoring)
                logger.info("monitoring started", metadata: ["buses": "\(pollers.count)"])

                // Until SIGTERM (graceful) or cancellation.
                try? await gracefulShutdown()

                logger.info("monitoring stopping")
                for poller in pollers {
                    await poller.stop()
                }
                outcomesContinuation.finish()
                for panel in panels {
                    await panel.release()
                }
                group.cancelAll()
            }
            for driver in drivers {
                driver.finish()
            }
        }
    }
}
