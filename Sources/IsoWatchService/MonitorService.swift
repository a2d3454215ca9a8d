import IsoWatchModbus
import Logging
import ServiceLifecycle

/// Polls every bus, feeds the outcomes to the monitor, lets time pass for its alarm delays, and
/// keeps the outputs driven, until a graceful shutdown.
struct MonitorService: Service {
    let monitor: SystemMonitor
    let pollers: [BusPoller]
    let drivers: [OutputDriver]
    let outcomes: AsyncStream<PollOutcome>
    let outcomesContinuation: AsyncStream<PollOutcome>.Continuation
    let logger: Logger

    /// How often communication timeouts and alarm delays are checked; the resolution of every
    /// configured delay.
    static let tickInterval = Duration.milliseconds(100)

    func run() async throws {
        await monitor.start()
        await withTaskGroup(of: Void.self) { group in
            for driver in drivers {
                group.addTask { await driver.run() }
            }
            group.addTask { [monitor, outcomes] in
                for await outcome in outcomes {
                    await monitor.handle(outcome)
                }
            }
            group.addTask { [monitor] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.tickInterval)
                    await monitor.tick()
                }
            }
            for poller in pollers {
                poller.start()
            }
            logger.info("monitoring started", metadata: ["buses": "\(pollers.count)"])

            // Until SIGTERM (graceful) or cancellation.
            try? await gracefulShutdown()

            logger.info("monitoring stopping")
            for poller in pollers {
                await poller.stop()
            }
            outcomesContinuation.finish()
            for driver in drivers {
                driver.finish()
            }
            group.cancelAll()
        }
    }
}
