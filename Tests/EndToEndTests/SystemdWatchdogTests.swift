import Foundation
import Logging
import ServiceLifecycle
import Testing

@testable import IsoWatchService

#if canImport(Glibc)
import Glibc
#endif

/// The systemd notifications, received as systemd receives them: datagrams on the unix socket
/// named by NOTIFY_SOCKET, sent by libsystemd's sd_notify.
///
/// Each test runs in a child process (an exit test) because NOTIFY_SOCKET and WATCHDOG_USEC are
/// process-wide: set here, they would reach every service other tests start meanwhile.
@Suite struct SystemdWatchdogTests {
    @Test func test_readyIsSentOnceStartedAndTheWatchdogIsFedWhileTheMonitorTicks() async {
        await #expect(processExitsWith: .success) {
            let socket = try NotifySocket()
            socket.exportEnvironment(watchdogMicroseconds: 200_000)
            let heartbeat = Heartbeat()
            let beating = tickLikeTheMonitor(heartbeat)
            let readiness = Readiness(awaiting: [.monitoring, .http])
            let notifier = SystemdNotifier.fromEnvironment()
            try #require(notifier.isEnabled)
            try #require(notifier.watchdogInterval == .milliseconds(200))
            let group = ServiceGroup(
                services: [
                    SystemdWatchdogService(
                        notifier: notifier, heartbeat: heartbeat, readiness: readiness,
                        logger: Logger(label: "watchdog-test"))
                ],
                logger: Logger(label: "watchdog-test"))
            let running = Task { try await group.run() }

            try await Task.sleep(for: .milliseconds(300))
            readiness.markReady(.monitoring)
            try await Task.sleep(for: .milliseconds(300))
            let beforeReady = socket.receivedMessages()
            let readyAt = ContinuousClock.now
            readiness.markReady(.http)
            try await Task.sleep(for: .milliseconds(1000))
            let whileRunning = socket.receivedMessages()
            let window = readyAt.duration(to: .now)
            await group.triggerGracefulShutdown()
            try await running.value
            beating.cancel()
            let onShutdown = socket.receivedMessages()

            try #require(beforeReady == [], "nothing before the pollers and the HTTP server run")
            try #require(whileRunning.first == "READY=1", "\(whileRunning)")
            // Pinged at half of the 200 ms interval: fed, and never more often than every 100 ms
            // however long this test's own sleep overshot on a loaded machine.
            let pings = whileRunning.filter { $0 == "WATCHDOG=1" }.count
            let mostPings = Int(window / .milliseconds(100)) + 1
            try #require(pings >= 1 && pings <= mostPings, "\(pings) pings in \(window): \(whileRunning)")
            // A ping may still land between the last read and the shutdown; STOPPING=1 comes last.
            try #require(onShutdown.last == "STOPPING=1", "\(onShutdown)")
            try #require(onShutdown.dropLast().allSatisfy { $0 == "WATCHDOG=1" }, "\(onShutdown)")
        }
    }

    @Test func test_aHungMonitorStopsTheWatchdogPingsSoSystemdRestartsTheService() async {
        await #expect(processExitsWith: .success) {
            let socket = try NotifySocket()
            socket.exportEnvironment(watchdogMicroseconds: 200_000)
            let heartbeat = Heartbeat()
            let beating = tickLikeTheMonitor(heartbeat)
            let readiness = Readiness(awaiting: [.monitoring, .http])
            let service = SystemdWatchdogService(
                notifier: SystemdNotifier.fromEnvironment(), heartbeat: heartbeat, readiness: readiness,
                maximumHeartbeatAge: .milliseconds(300), logger: Logger(label: "watchdog-test"))
            let group = ServiceGroup(services: [service], logger: Logger(label: "watchdog-test"))
            let running = Task { try await group.run() }
            readiness.markReady(.monitoring)
            readiness.markReady(.http)

            try await Task.sleep(for: .milliseconds(600))
            let whileTicking = socket.receivedMessages()
            // The tick loop stops coming round; after the heartbeat has aged past its limit
            // (300 ms) plus one ping period, no ping may follow.
            beating.cancel()
            try await Task.sleep(for: .milliseconds(500))
            _ = socket.receivedMessages()
            try await Task.sleep(for: .milliseconds(1000))
            let whileHung = socket.receivedMessages()
            await group.triggerGracefulShutdown()
            try await running.value

            try #require(whileTicking.contains("WATCHDOG=1"), "\(whileTicking)")
            try #require(whileHung == [], "\(whileHung)")
        }
    }

    @Test func test_withoutNotifySocketTheNotifierDoesNothing() async throws {
        // Read only: the test process never has NOTIFY_SOCKET unless systemd runs it.
        guard ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] == nil else { return }
        let notifier = SystemdNotifier.fromEnvironment()
        #expect(notifier.isEnabled == false)
        #expect(notifier.send("READY=1") == false)
    }
}

/// Beats the heartbeat as the monitor's tick loop does, until cancelled.
private func tickLikeTheMonitor(_ heartbeat: Heartbeat) -> Task<Void, Never> {
    Task {
        while !Task.isCancelled {
            heartbeat.beat()
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// A unix datagram socket bound where NOTIFY_SOCKET will point, read without blocking.
private final class NotifySocket {
    let path: String
    private let descriptor: Int32

    struct SocketError: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        // sun_path holds 108 bytes: a short path under /tmp, unique per process.
        path = "/tmp/isowatch-notify-\(getpid()).sock"
        unlink(path)
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw SocketError(description: "socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw SocketError(description: "bind \(path): errno \(errno)") }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// What systemd would find in the environment of a `Type=notify` unit with `WatchdogSec=`.
    func exportEnvironment(watchdogMicroseconds: Int) {
        setenv("NOTIFY_SOCKET", path, 1)
        setenv("WATCHDOG_USEC", String(watchdogMicroseconds), 1)
        setenv("WATCHDOG_PID", String(getpid()), 1)
    }

    /// Every datagram queued so far, oldest first.
    func receivedMessages() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard count > 0 else { break }
            messages.append(String(decoding: buffer[..<count], as: UTF8.self))
        }
        return messages
    }
}
