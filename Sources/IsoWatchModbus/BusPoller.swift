import Foundation
import IsoWatchCore
import IsoWatchThreads
import Synchronization

/// One device on a bus, as the poller needs it: where its registers are, how often and how
/// patiently to ask, and how to turn the registers into a reading (the profile's decoder).
public struct PolledDevice: Sendable {
    public var id: String
    public var unit: UInt8
    public var blocks: [RegisterBlock]
    public var pollIntervalSeconds: Double
    public var timeoutSeconds: Double
    /// Extra attempts for a block after a timeout or a malformed reply.
    public var retries: Int
    /// A failing unit is still asked at its poll interval until it has failed for this long (the
    /// service passes the time after which its communication alarm is due); only then does it
    /// back off. Backing off sooner would turn a few lost replies on a noisy line into a gap longer
    /// than the stale time, and so into a communication alarm the wire did not earn.
    public var patienceSeconds: Double
    public var decode: @Sendable (RegisterImage, Date) throws -> DecodedReading

    public init(
        id: String, unit: UInt8, blocks: [RegisterBlock], pollIntervalSeconds: Double = 1, timeoutSeconds: Double = 0.5,
        retries: Int = 2, patienceSeconds: Double = 0, decode: @escaping @Sendable (RegisterImage, Date) throws -> DecodedReading
    ) {
        self.id = id
        self.unit = unit
        self.blocks = blocks
        self.pollIntervalSeconds = pollIntervalSeconds
        self.timeoutSeconds = timeoutSeconds
        self.retries = retries
        self.patienceSeconds = patienceSeconds
        self.decode = decode
    }
}

/// Why a poll produced no reading.
public enum PollFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case communication(ModbusError)
    /// The registers arrived but the profile could not make a reading of them.
    case decoding(String)

    public var description: String {
        switch self {
        case let .communication(error): return error.description
        case let .decoding(reason): return "decoding failed: \(reason)"
        }
    }
}

/// The result of one poll of one device: a decoded reading, or why there is none.
public struct PollOutcome: Sendable {
    public var deviceID: String
    public var endpoint: Transport
    public var unit: UInt8
    public var timestamp: Date
    /// When the poller had the decoded reading (or the failure), on the monotonic clock: the
    /// start of the reading-to-relay latency that the benchmark measures.
    public var receivedAt: ContinuousClock.Instant
    /// From the first request to the last reply of this poll, retries included.
    public var latencySeconds: Double
    public var result: Result<DecodedReading, PollFailure>
}

/// Counters per device, for metrics and for tests that check that errors are counted.
public struct DeviceCounters: Sendable, Equatable {
    public var polls = 0
    public var successes = 0
    public var requests = 0
    public var retries = 0
    public var timeouts = 0
    public var exceptions = 0
    public var malformedReplies = 0
    public var linkErrors = 0
    public var decodingErrors = 0
    public init() {}
}

public struct BusStatistics: Sendable, Equatable {
    public var devices: [String: DeviceCounters] = [:]
    public var connects = 0
    public var connectFailures = 0
    public init() {}
}

/// How long to leave a failing unit or link alone before asking again.
public struct BackoffPolicy: Sendable, Equatable {
    public var reconnectInitialSeconds: Double
    public var reconnectMaximumSeconds: Double
    /// A unit that keeps failing is asked at most this rarely (and at least once per poll interval
    /// when the interval is longer), so that it is noticed soon when it comes back.
    public var unitMaximumSeconds: Double

    /// `unitMaximumSeconds`: a dead unit then costs its bus one timeout in four seconds (a tenth
    /// of a bus at 0.4 s), and a unit that comes back is read again within four.
    public init(reconnectInitialSeconds: Double = 0.25, reconnectMaximumSeconds: Double = 5, unitMaximumSeconds: Double = 4) {
        self.reconnectInitialSeconds = reconnectInitialSeconds
        self.reconnectMaximumSeconds = reconnectMaximumSeconds
        self.unitMaximumSeconds = unitMaximumSeconds
    }

    func reconnectDelay(afterFailures failures: Int) -> Double {
        min(reconnectMaximumSeconds, reconnectInitialSeconds * pow(2, Double(max(0, failures - 1))))
    }

    func unitDelay(interval: Double, afterFailures failures: Int) -> Double {
        let doubled = interval * pow(2, Double(max(0, failures - 1)))
        return min(max(unitMaximumSeconds, interval), doubled)
    }
}

/// Polls every device on one endpoint (an RS-485 line, or a TCP device or gateway) from one thread
/// that owns the endpoint's `modbus_t`.
///
/// Units are served in turn by due time. A unit that fails is retried with backoff and without
/// per-block retries, so a dead unit costs the bus one timeout per backoff period and never holds
/// the others back. A link error (reset connection, vanished serial adapter) closes the link,
/// which is reopened with backoff; every outcome, good or bad, is reported, so nothing goes stale
/// silently.
public final class BusPoller: Sendable {
    public let endpoint: Transport
    private let backoff: BackoffPolicy
    private let onOutcome: @Sendable (PollOutcome) -> Void
    private let shared: Mutex<SharedState>
    private let wake = DispatchSemaphore(value: 0)

    private struct SharedState: Sendable {
        /// The devices on this endpoint; a reloaded configuration replaces them while the bus runs.
        var devices: [PolledDevice]
        /// Counts replacements, so that the bus thread notices one between two polls.
        var devicesGeneration = 0
        var stopping = false
        var started = false
        var thread: OwnedThread?
        var writes: [PendingWrite] = []
        var statistics = BusStatistics()
    }

    private struct PendingWrite: Sendable {
        var unit: UInt8
        var table: RegisterTable
        var address: UInt16
        var words: [UInt16]
        var timeoutSeconds: Double
        var completion: @Sendable (Result<Void, ModbusError>) -> Void
    }

    public init(
        endpoint: Transport, devices: [PolledDevice], backoff: BackoffPolicy = BackoffPolicy(),
        onOutcome: @escaping @Sendable (PollOutcome) -> Void
    ) {
        self.endpoint = endpoint
        self.backoff = backoff
        self.onOutcome = onOutcome
        shared = Mutex(SharedState(devices: devices))
    }

    /// The ids of the devices polled now.
    public var deviceIDs: [String] { shared.withLock { $0.devices.map(\.id) } }

    /// Replaces the devices on this endpoint while the bus runs (a reloaded configuration). The
    /// link stays open; a device that stays (same id) keeps its schedule, phase and backoff, so
    /// its polls go on without a gap; a new one is asked at once; a removed one is not asked again.
    public func replaceDevices(_ devices: [PolledDevice]) {
        shared.withLock { state in
            state.devices = devices
            state.devicesGeneration += 1
        }
        wake.signal()
    }

    public var statistics: BusStatistics { shared.withLock { $0.statistics } }

    public func start() {
        shared.withLock { state in
            guard !state.started else { return }
            state.started = true
            // Made under the lock, so that a `stop` right after finds the thread to wait for.
            state.thread = OwnedThread.essential(name: "isowatch-bus \(endpoint)") { [self] in runLoop() }
        }
    }

    /// Stops polling and waits for the bus thread to close the link. Pending writes fail.
    public func stop() async {
        let running = shared.withLock { state -> OwnedThread? in
            defer { state.stopping = true }
            return state.stopping ? nil : state.thread
        }
        guard let running else { return }
        wake.signal()
        await running.join()
    }

    /// Writes registers through the bus thread, ahead of the next poll.
    public func write(unit: UInt8, table: RegisterTable, address: UInt16, words: [UInt16], timeoutSeconds: Double = 1)
        async throws(ModbusError)
    {
        let result: Result<Void, ModbusError> = await withCheckedContinuation { continuation in
            let accepted = shared.withLock { state -> Bool in
                guard state.started && !state.stopping else { return false }
                state.writes.append(
                    PendingWrite(
                        unit: unit, table: table, address: address, words: words, timeoutSeconds: timeoutSeconds,
                        completion: { continuation.resume(returning: $0) }))
                return true
            }
            if accepted {
                wake.signal()
            } else {
                continuation.resume(returning: .failure(.other("the bus \(endpoint) is not running")))
            }
        }
        try result.get()
    }

    // MARK: - The bus thread

    /// How close to its due time a poll is made at once rather than waited for.
    static let dueSlack = Duration.microseconds(200)

    private func runLoop() {
        let clock = ContinuousClock()
        let connection = ModbusConnection(endpoint: endpoint)
        defer { connection.close() }
        let start = clock.now
        var (devices, generation) = shared.withLock { ($0.devices, $0.devicesGeneration) }
        // Spread the first polls over one interval so that many devices do not all ask at once.
        var schedules = devices.indices.map { index in
            PollSchedule(
                firstDue: start + .seconds(devices[index].pollIntervalSeconds * Double(index) / Double(max(1, devices.count))))
        }
        var linkFailures = 0
        var linkRetryAt = start

        while true {
            let (stopping, writes, replaced) = shared.withLock { state -> (Bool, [PendingWrite], (devices: [PolledDevice], generation: Int)?) in
                defer { state.writes.removeAll() }
                let replaced = state.devicesGeneration == generation ? nil : (state.devices, state.devicesGeneration)
                return (state.stopping, state.writes, replaced)
            }
            if let replaced {
                schedules = Self.carryOver(schedules, of: devices, to: replaced.devices, now: clock.now)
                devices = replaced.devices
                generation = replaced.generation
            }
            if stopping {
                for write in writes { write.completion(.failure(.other("the bus is stopping"))) }
                shared.withLock { state in
                    for write in state.writes { write.completion(.failure(.other("the bus is stopping"))) }
                    state.writes.removeAll()
                }
                return
            }
            for write in writes {
                let result: Result<Void, ModbusError>
                do {
                    try connection.write(
                        unit: write.unit, table: write.table, address: write.address, words: write.words,
                        timeoutSeconds: write.timeoutSeconds)
                    result = .success(())
                } catch {
                    resynchronise(connection, after: error)
                    result = .failure(error)
                }
                write.completion(result)
            }

            guard let index = schedules.indices.min(by: { schedules[$0].nextDue < schedules[$1].nextDue }) else {
                wait(until: nil, clock: clock)
                continue
            }
            let now = clock.now
            let due = max(schedules[index].nextDue, connection.isConnected ? schedules[index].nextDue : linkRetryAt)
            // A timed semaphore wait sleeps at least Linux's 50 µs timer slack and costs a wake-up,
            // so a poll due within `dueSlack` is made now: at most that much early, against an
            // interval of at least 0.1 s, and back-to-back polling no longer sleeps between polls.
            if due > now + Self.dueSlack {
                wait(until: due, clock: clock)
                continue
            }

            if !connection.isConnected {
                do {
                    try connection.connect()
                    // A link back after failing (an adapter plugged in again, a gateway rebooted):
                    // every unit it left backing off is asked now, not at the end of its backoff.
                    if linkFailures > 0 {
                        let reconnectedAt = clock.now
                        for other in schedules.indices { schedules[other].askNowIfFailing(reconnectedAt) }
                    }
                    linkFailures = 0
                    shared.withLock { $0.statistics.connects += 1 }
                } catch {
                    linkFailures += 1
                    shared.withLock { $0.statistics.connectFailures += 1 }
                    linkRetryAt = clock.now + .seconds(backoff.reconnectDelay(afterFailures: linkFailures))
                    // Every device whose poll is due learns that its link is down: a comm alarm, never silence.
                    for dueIndex in schedules.indices where schedules[dueIndex].nextDue <= now + Self.dueSlack {
                        report(device: devices[dueIndex], started: now, clock: clock, result: .failure(.communication(error)))
                        reschedule(&schedules[dueIndex], device: devices[dueIndex], success: false, now: clock.now)
                    }
                    continue
                }
            }

            let device = devices[index]
            let started = clock.now
            let result = poll(device, on: connection, knownFailing: schedules[index].isFailing)
            report(device: device, started: started, clock: clock, result: result)
            let succeeded = if case .success = result { true } else { false }
            reschedule(&schedules[index], device: device, success: succeeded, now: clock.now)
            // Only a broken link waits for the reconnect backoff; a connection closed on purpose to
            // drop a late reply is reopened for the next request straight away.
            if case let .failure(.communication(error)) = result, error.needsReconnect {
                linkRetryAt = clock.now + .seconds(backoff.reconnectDelay(afterFailures: max(1, linkFailures)))
            }
        }
    }

    /// The schedules for a replaced device list: a device that stays keeps its own; a new one is due now.
    static func carryOver(
        _ schedules: [PollSchedule], of old: [PolledDevice], to new: [PolledDevice], now: ContinuousClock.Instant
    ) -> [PollSchedule] {
        let kept = Dictionary(zip(old.map(\.id), schedules), uniquingKeysWith: { first, _ in first })
        return new.map { kept[$0.id] ?? PollSchedule(firstDue: now) }
    }

    private func wait(until deadline: ContinuousClock.Instant?, clock: ContinuousClock) {
        guard let deadline else {
            wake.wait()
            return
        }
        let remaining = clock.now.duration(to: deadline)
        let (seconds, attoseconds) = remaining.components
        let nanoseconds = max(0, Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
        _ = wake.wait(timeout: .now() + .nanoseconds(nanoseconds))
    }

    private func reschedule(_ schedule: inout PollSchedule, device: PolledDevice, success: Bool, now: ContinuousClock.Instant) {
        if success {
            schedule.recordSuccess(at: now, intervalSeconds: device.pollIntervalSeconds)
        } else {
            schedule.recordFailure(
                at: now, intervalSeconds: device.pollIntervalSeconds, patienceSeconds: device.patienceSeconds, backoff: backoff)
        }
    }

    private func report(
        device: PolledDevice, started: ContinuousClock.Instant, clock: ContinuousClock,
        result: Result<DecodedReading, PollFailure>
    ) {
        let receivedAt = clock.now
        let elapsed = started.duration(to: receivedAt)
        let latency = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        shared.withLock { state in
            var counters = state.statistics.devices[device.id] ?? DeviceCounters()
            counters.polls += 1
            switch result {
            case .success: counters.successes += 1
            case .failure(.decoding): counters.decodingErrors += 1
            case .failure(.communication): break
            }
            state.statistics.devices[device.id] = counters
        }
        onOutcome(
            PollOutcome(
                deviceID: device.id, endpoint: endpoint, unit: device.unit, timestamp: Date(), receivedAt: receivedAt,
                latencySeconds: latency, result: result))
    }

    /// Reads every block of one device. A known-failing unit gets one attempt per block, so that
    /// probing it costs the bus a single timeout.
    private func poll(_ device: PolledDevice, on connection: ModbusConnection, knownFailing: Bool) -> Result<
        DecodedReading, PollFailure
    > {
        var image = RegisterImage()
        let attempts = knownFailing ? 1 : 1 + max(0, device.retries)
        for block in device.blocks {
            var lastError: ModbusError?
            var succeeded = false
            for attempt in 0..<attempts {
                count(device.id) {
                    $0.requests += 1
                    if attempt > 0 { $0.retries += 1 }
                }
                do {
                    let words = try connection.read(unit: device.unit, block: block, timeoutSeconds: device.timeoutSeconds)
                    image.set(block.table, block.address, words: words)
                    succeeded = true
                    break
                } catch {
                    lastError = error
                    count(device.id) { counters in
                        switch error {
                        case .timeout: counters.timeouts += 1
                        case .exception: counters.exceptions += 1
                        case .malformedReply: counters.malformedReplies += 1
                        case .linkLost, .connectFailed, .other: counters.linkErrors += 1
                        }
                    }
                    resynchronise(connection, after: error)
                    if error.needsReconnect || !Self.isWorthRetrying(error) { break }
                }
            }
            if !succeeded {
                return .failure(.communication(lastError ?? .other("no attempt made")))
            }
        }
        do {
            return .success(try device.decode(image, Date()))
        } catch {
            return .failure(.decoding(String(describing: error)))
        }
    }

    /// After a timeout or a damaged reply the link may still carry a late answer, which would
    /// be read as the answer to the next request: the retry's, or on a gateway the next unit's,
    /// turning one silent unit into a false communication alarm for its neighbours. A TCP stream
    /// is resynchronised only by a new connection (a gateway may answer "target failed to
    /// respond" after our timeout, whenever it likes); a serial line by discarding what is
    /// pending, since a late RTU reply is over within a frame time.
    private func resynchronise(_ connection: ModbusConnection, after error: ModbusError) {
        switch error {
        case .timeout, .malformedReply:
            if case .tcp = endpoint {
                connection.close()
            } else {
                connection.flush()
            }
        case .exception, .linkLost, .connectFailed, .other:
            break
        }
    }

    /// Exceptions 1-3 and 8 are the device's considered answer and repeat identically; a busy
    /// device or a gateway whose target did not answer in time may well answer the next try.
    private static func isWorthRetrying(_ error: ModbusError) -> Bool {
        switch error {
        case let .exception(code): return code == 5 || code == 6 || code == 10 || code == 11
        case .timeout, .malformedReply, .other: return true
        case .linkLost, .connectFailed: return false
        }
    }

    private func count(_ deviceID: String, _ update: (inout DeviceCounters) -> Void) {
        shared.withLock { state in
            var counters = state.statistics.devices[deviceID] ?? DeviceCounters()
            update(&counters)
            state.statistics.devices[deviceID] = counters
        }
    }
}
