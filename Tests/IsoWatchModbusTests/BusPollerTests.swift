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

    @Test func test_offlineUnitOnAnRTUBusDoesNotStallTheOthers() async throws {
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let cable = try PseudoTerminalPair()
        defer { cable.close() }
        let server = try ThirdPartyServerTests.startServer(["--rtu", cable.first, "--baud", "19200", "--parity", "N"])
        defer { server.stop() }

        let recorder = Recorder()
        let poller = BusPoller(
            endpoint: .rtu(.init(device: cable.second, baud: 19200, parity: .none)),
            devices: [device(1, profile), device(2, profile), device(3, profile)],
            onOutcome: recorder.record)
        poller.start()
        try await Task.sleep(for: .seconds(4))
        await poller.stop()

        // 4 s at 0.2 s is 20 slots; the dead unit may cost a few of them, never most of them.
        #expect(recorder.successes("unit1") >= 10)
        #expect(recorder.successes("unit2") >= 10)
        #expect(recorder.successes("unit3") == 0)
        let deadUnitFailures = recorder.failures("unit3")
        #expect(!deadUnitFailures.isEmpty)
        #expect(deadUnitFailures.allSatisfy { $0 == .communication(.timeout) })
        // Backoff: the dead unit is probed less often than the live ones are polled.
        #expect(deadUnitFailures.count < recorder.successes("unit1"))
        let counters = poller.statistics.devices["unit3"]
        #expect((counters?.timeouts ?? 0) >= deadUnitFailures.count)
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
        let simulator = try TestSimulator(
            rtuUnits: [
                UnitDescription(
                    unit: 1, profileID: "acrel-aim-m10",
                    state: DeviceState(values: [.insulationResistanceOhms: MeasuredValue(400_000)]), wireFault: fault)
            ],
            serialLine: SerialLine(baud: 19200, parity: .even))
        defer { simulator.stop() }
        let profile = ThirdPartyServerTests.profiles["acrel-aim-m10"]!
        let recorder = BusPollerTests.Recorder()
        let poller = BusPoller(
            endpoint: .rtu(SerialSettings(device: simulator.ptyPath, baud: 19200, parity: .even)),
            devices: [
                PolledDevice(
                    id: "unit1", unit: 1, blocks: profile.readBlocks(), pollIntervalSeconds: 5, timeoutSeconds: 0.3,
                    retries: retries, decode: { image, time in try profile.decode(image, at: time) })
            ],
            onOutcome: recorder.record)
        poller.start()
        try await BusPollerTests().waitUntil(seconds: 5) { !recorder.all.isEmpty }
        await poller.stop()
        return (recorder, poller.statistics.devices["unit1"])
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
        try await Task.sleep(for: .seconds(4))
        await poller.stop()

        #expect(!recorder.failures("unit3").isEmpty)
        #expect(recorder.failures("unit1") == [])
        #expect(recorder.failures("unit2") == [])
        #expect(recorder.successes("unit1") >= 4)
        #expect(recorder.successes("unit2") >= 4)
    }
}
