import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
import Testing

@testable import IsoWatchModbus

/// The poller's promises: units in turn, a dead unit never stalls the others, every failure is
/// reported, and a dropped link comes back by itself.
@Suite(.serialized)
struct BusPollerTests {
    final class Recorder: Sendable {
        private let outcomes = Mutex<[PollOutcome]>([])
        func record(_ outcome: PollOutcome) { outcomes.withLock { $0.append(outcome) } }
        var all: [PollOutcome] { outcomes.withLock { $0 } }
        func successes(_ id: String) -> Int {
            all.filter { $0.deviceID == id && (try? $0.result.get()) != nil }.count
        }
        func failures(_ id: String) -> [PollFailure] {
            all.compactMap { outcome in
                guard outcome.deviceID == id, case let .failure(failure) = outcome.result else { return nil }
                return failure
            }
        }
    }

    func device(_ unit: UInt8, _ profile: DeviceProfile, interval: Double = 0.2) -> PolledDevice {
        PolledDevice(
            id: "unit\(unit)", unit: unit, blocks: profile.readBlocks(), pollIntervalSeconds: interval,
            timeoutSeconds: 0.2, retries: 1, decode: { image, time in try profile.decode(image, at: time) })
    }

    func waitUntil(seconds: Double, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Polls of `id` from `outcomes`, failed or not, in order.
    static func positions(of id: String, in outcomes: [PollOutcome]) -> [Int] {
        outcomes.indices.filter { outcomes[$0].deviceID == id }
    }

    /// A silent unit on an RS-485 line: its probes are one timeout each, the live units are
    /// answered between any two of them, and it is asked at its interval until its patience runs
    /// out, then ever more rarely. Gaps are counted in polls of a live unit at the same interval,
    /// not in seconds, so a slow machine stretches both sides alike.
    @Test func test_offlineUnitOnAnRTUBusDoesNotStallTheOthers() async throws {
        let bus = try SimulatedBus(.rtu, units: [1, 2])
        defer { bus.stop() }
        let patience = 0.6
        let devices = [
            SimulatedBus.device(1, interval: 0.1, timeout: 0.5, retries: 1),
            SimulatedBus.device(2, interval: 0.1, timeout: 0.5, retries: 1),
            // Not served: every request to it times out.
            SimulatedBus.device(3, interval: 0.1, timeout: 0.1, retries: 1, patience: patience),
        ]
        func probesBeyondPatience(_ recorder: Recorder) -> Int {
            let failures = recorder.all.filter { $0.deviceID == "unit3" }.map(\.receivedAt)
            guard let first = failures.first else { return 0 }
            return failures.filter { first.duration(to: $0) > .seconds(patience) }.count
        }
        // Backoff after patience: 0.1, 0.2, 0.4, then 0.8 s (the maximum set here), so the sixth
        // probe beyond patience follows a wait of eight live intervals, the fifth at least four.
        let (recorder, statistics) = try await bus.poll(
            devices, backoff: BackoffPolicy(unitMaximumSeconds: 0.8), atMost: 30
        ) { probesBeyondPatience($0) >= 6 }
        #expect(probesBeyondPatience(recorder) >= 6)

        let outcomes = recorder.all
        #expect(recorder.failures("unit1") == [])
        #expect(recorder.failures("unit2") == [])
        #expect(recorder.successes("unit3") == 0)
        #expect(recorder.failures("unit3").allSatisfy { $0 == .communication(.timeout) })
        let counters = try #require(statistics.devices["unit3"])
        // Its first poll has its retry, every probe after it a single request: one timeout each.
        #expect(counters.timeouts == counters.requests)
        #expect(counters.requests == recorder.failures("unit3").count + 1)

        let probes = Self.positions(of: "unit3", in: outcomes)
        let firstFailure = try #require(probes.first.map { outcomes[$0].receivedAt })
        var gaps: [(startsAfter: Duration, unit1Polls: Int)] = []
        for (from, to) in zip(probes, probes.dropFirst()) {
            let between = outcomes[(from + 1)..<to]
            #expect(between.contains { $0.deviceID == "unit1" }, "unit1 not polled between two probes of unit3")
            #expect(between.contains { $0.deviceID == "unit2" }, "unit2 not polled between two probes of unit3")
            gaps.append((firstFailure.duration(to: outcomes[from].receivedAt), between.filter { $0.deviceID == "unit1" }.count))
        }
        // Probes well inside the patience follow each other at the live units' own pace...
        let patient = gaps.filter { $0.startsAfter < .seconds(patience - 0.15) }.map(\.unit1Polls)
        #expect(patient.count >= 2)
        #expect(patient.allSatisfy { $0 <= 3 }, "asked less often than its interval within its patience: \(patient)")
        // ...and the last ones, beyond it, are spaced by a backoff that has doubled several times.
        let last = try #require(gaps.last?.unit1Polls)
        #expect(last >= 6 && last > 2 * (patient.max() ?? 0), "no backoff after patience: \(gaps.map(\.unit1Polls))")
    }

    @Test func test_droppedTCPConnectionIsReportedAndComesBack() async throws {
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let port = Int(try freeTCPPort())
        var server = try ThirdPartyServerTests.startServer(["--tcp", "127.0.0.1:\(port)"])

        let recorder = Recorder()
        let poller = BusPoller(
            endpoint: .tcp(host: "127.0.0.1", port: port), devices: [device(1, profile)],
            backoff: BackoffPolicy(reconnectInitialSeconds: 0.1, reconnectMaximumSeconds: 0.5, unitMaximumSeconds: 0.5),
            onOutcome: recorder.record)
        poller.start()
        try await waitUntil(seconds: 5) { recorder.successes("unit1") >= 3 }
        #expect(recorder.successes("unit1") >= 3)

        server.stop()
        try await waitUntil(seconds: 5) { recorder.failures("unit1").count >= 3 }
        let failures = recorder.failures("unit1")
        #expect(failures.count >= 3)
        #expect(failures.allSatisfy {
            if case let .communication(error) = $0 { return error.needsReconnect || error == .timeout }
            return false
        })

        let before = recorder.successes("unit1")
        server = try ThirdPartyServerTests.startServer(["--tcp", "127.0.0.1:\(port)"])
        defer { server.stop() }
        try await waitUntil(seconds: 5) { recorder.successes("unit1") > before + 2 }
        await poller.stop()
        #expect(recorder.successes("unit1") > before + 2)
        #expect(poller.statistics.connects >= 2)
    }

    @Test func test_writeGoesThroughTheBusThread() async throws {
        let port = Int(try freeTCPPort())
        let server = try ThirdPartyServerTests.startServer(["--tcp", "127.0.0.1:\(port)"])
        defer { server.stop() }
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let recorder = Recorder()
        let poller = BusPoller(endpoint: .tcp(host: "127.0.0.1", port: port), devices: [device(1, profile)], onOutcome: recorder.record)
        poller.start()
        // The AIM-M10 map has no documented writable register; 0x0009 accepts a write on this server,
        // and the next poll must see it.
        try await poller.write(unit: 1, table: .holding, address: 0x0009, words: [77])
        try await waitUntil(seconds: 3) {
            recorder.all.last.flatMap { try? $0.result.get() }?[.loadCurrentAmperes].map { abs($0.value - 7.7) < 1e-9 } == true
        }
        await poller.stop()
        let last = try #require(recorder.all.last.flatMap { try? $0.result.get() })
        #expect(abs((last[.loadCurrentAmperes]?.value ?? .nan) - 7.7) < 1e-9)
    }
}

/// A USB RS-485 adapter that is unplugged and plugged back in: the device node vanishes and
/// reappears (here: the simulator's pseudo-terminal, behind the same stable link, as a udev
/// symlink would be).
@Suite(.serialized)
struct VanishingSerialDeviceTests {
    @Test func test_vanishedSerialDeviceIsReportedAndReopenedWhenItReturns() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-rtu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let link = directory.appending(path: "rs485").path
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        func startBus() throws -> TestSimulator {
            try TestSimulator(
                rtuUnits: [UnitDescription(unit: 1, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 400_000])],
                serialLine: SerialLine(baud: 19200, parity: .even), rtuLinkPath: link)
        }

        var simulator = try startBus()
        let recorder = BusPollerTests.Recorder()
        let poller = BusPoller(
            endpoint: .rtu(SerialSettings(device: link, baud: 19200, parity: .even)),
            devices: [
                PolledDevice(
                    id: "unit1", unit: 1, blocks: profile.readBlocks(), pollIntervalSeconds: 0.2, timeoutSeconds: 0.2,
                    retries: 0, decode: { image, time in try profile.decode(image, at: time) })
            ],
            backoff: BackoffPolicy(reconnectInitialSeconds: 0.1, reconnectMaximumSeconds: 0.4, unitMaximumSeconds: 0.4),
            onOutcome: recorder.record)
        poller.start()
        try await BusPollerTests().waitUntil(seconds: 5) { recorder.successes("unit1") >= 3 }
        #expect(recorder.successes("unit1") >= 3)

        simulator.stop()
        try await BusPollerTests().waitUntil(seconds: 5) { recorder.failures("unit1").count >= 3 }
        #expect(recorder.failures("unit1").count >= 3)

        let before = recorder.successes("unit1")
        simulator = try startBus()
        defer { simulator.stop() }
        try await BusPollerTests().waitUntil(seconds: 8) { recorder.successes("unit1") > before + 2 }
        await poller.stop()
        #expect(recorder.successes("unit1") > before + 2)
        #expect(poller.statistics.connects >= 2)
    }
}

/// Replies that arrive damaged are counted and retried, never decoded into a value.
@Suite(.serialized)
struct DamagedReplyTests {
    func pollOnce(_ fault: WireFault, retries: Int) async throws -> (BusPollerTests.Recorder, DeviceCounters?) {
        let bus = try SimulatedBus(.rtu, units: [1], faults: [1: fault])
        defer { bus.stop() }
        let (recorder, statistics) = try await bus.poll(
            [SimulatedBus.device(1, interval: 5, timeout: 0.3, retries: retries)], atMost: 5
        ) { !$0.all.isEmpty }
        return (recorder, statistics.devices["unit1"])
    }

    @Test func test_replyWithBadCRCIsCountedAndRetried() async throws {
        let (recorder, counters) = try await pollOnce(WireFault(.crcError, remainingRequests: 1), retries: 1)
        let first = try #require(recorder.all.first)
        #expect((try? first.result.get())?[.insulationResistanceOhms]?.value == 400_000)
        #expect(counters?.malformedReplies == 1)
        #expect(counters?.retries == 1)
    }

    @Test func test_truncatedReplyWithoutRetriesIsACommunicationFailureNotAValue() async throws {
        let (recorder, counters) = try await pollOnce(WireFault(.truncatedFrame, remainingRequests: 1), retries: 0)
        let first = try #require(recorder.all.first)
        guard case let .failure(.communication(error)) = first.result else {
            Issue.record("a truncated reply produced \(first.result)")
            return
        }
        // libmodbus waits for the rest of the frame, then gives up: a timeout or a malformed reply.
        #expect(error == .timeout || { if case .malformedReply = error { true } else { false } }())
        #expect((counters?.timeouts ?? 0) + (counters?.malformedReplies ?? 0) == 1)
    }
}

/// A gateway answers for an absent unit only after the client has given up (exception 0x0B after
/// its own timeout). That late reply must never be taken for the next unit's answer.
@Suite(.serialized)
struct LateReplyTests {
    @Test func test_lateReplyForATimedOutUnitDoesNotFailItsNeighbours() async throws {
        let healthy = DeviceState(values: [.insulationResistanceOhms: MeasuredValue(400_000)])
        let simulator = try TestSimulator(
            tcpUnits: [
                UnitDescription(unit: 1, profileID: "acrel-aim-m10", state: healthy),
                UnitDescription(unit: 2, profileID: "acrel-aim-m10", state: healthy),
            ],
            // Later than the poller's 0.2 s timeout, earlier than its next request would time out.
            absentUnitReply: .gatewayException(afterSeconds: 0.3))
        defer { simulator.stop() }
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let recorder = BusPollerTests.Recorder()
        let poller = BusPoller(
            endpoint: .tcp(host: "127.0.0.1", port: Int(simulator.tcpPort)),
            devices: [1, 3, 2].map { unit in
                PolledDevice(
                    id: "unit\(unit)", unit: unit, blocks: profile.readBlocks(), pollIntervalSeconds: 0.5,
                    timeoutSeconds: 0.2, retries: 0, decode: { image, time in try profile.decode(image, at: time) })
            },
            backoff: BackoffPolicy(unitMaximumSeconds: 0.5),
            onOutcome: recorder.record)
        poller.start()
        // Each late 0x0B lands after the next request is out; three of them are three chances to
        // be taken for a neighbour's answer.
        try await BusPollerTests().waitUntil(seconds: 30) {
            recorder.failures("unit3").count >= 3 && recorder.successes("unit1") >= 4 && recorder.successes("unit2") >= 4
        }
        await poller.stop()

        #expect(recorder.failures("unit3").count >= 3)
        #expect(recorder.failures("unit1") == [])
        #expect(recorder.failures("unit2") == [])
        #expect(recorder.successes("unit1") >= 4)
        #expect(recorder.successes("unit2") >= 4)
    }
}
