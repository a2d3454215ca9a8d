import IsoWatchModbus
import Logging
import ServiceLifecycle

/// Polls every bus, feeds the outcomes to the monitor, lets time pass for its alarm delays, and
/// keeps the outputs driven, until a graceful shutdown. Hardware that a reloaded configuration
/// adds is started in the same task groups (`MonitoringTasks`).
struct MonitorService: Service {
    let monitor: SystemMonitor
    let installation: Installation
    let tasks: MonitoringTasks
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
        // Everything below, and every child task, prefers the monitor's own thread: the
        // non-isolated parts (waiting for outcomes, driving relays, the tick's timer) never wait
        // for a thread of the cooperative pool, which HTTP and reports share.
        await withTaskExecutorPreference(monitor.executor) {
            await monitorUntilShutdown()
        }
    }

    private func monitorUntilShutdown() async {
        await monitor.start()
        // The drivers outlive the monitoring tasks: after those stop, each driver still has to
        // drive its relays to the alarm state before it releases the lines.
        await withDiscardingTaskGroup { drivingGroup in
            drivingGroup.addTask {
                await monitorUntilShutdownWhileDriving()
                await installation.finishDrivers()
                tasks.finishDriving()
            }
            for await work in tasks.driving {
                drivingGroup.addTask { await work() }
            }
        }
    }

    private func monitorUntilShutdownWhileDriving() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [monitor, outcomes] in
                for await outcome in outcomes {
                    await monitor.handle(outcome)
                }
            }
            group.addTask { [monitor, heartbeat] in
                // The monitor's timer, not `Task.sleep`: the heartbeat beats from the
                // monitor's thread however busy the pool is.
                while (try? await monitor.executor.sleep(for: Self.tickInterval)) != nil {
                    await monitor.tick()
                    heartbeat.beat()
                }
            }
            group.addTask {
                await installation.start()
                readiness.markReady(.monitoring)
                let buses = await installation.busCount
                logger.info("monitoring started", metadata: ["buses": "\(buses)"])

                // Until SIGTERM (graceful) or cancellation.
                try? await gracefulShutdown()

                logger.info("monitoring stopping")
                await installation.stopMonitoring()
                outcomesContinuation.finish()
                tasks.finishMonitoring()
            }
            // Panel inputs, now and as reloads add them; the stream ends when monitoring stops.
            for await work in tasks.monitoring {
                group.addTask { await work() }
            }
            group.cancelAll()
        }
    }
}
