import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@testable import IsoWatchModbus

/// A gateway's units share one TCP connection. A reply cut short on it must cost its unit one
/// timeout and its neighbours nothing: not a failed poll, not a missed poll slot (issue 12: four
/// systems of a gateway once went stale together behind one unit's truncated replies).
@Suite(.serialized)
struct TruncatedReplyTests {
    static let faultyUnit: UInt8 = 2
    static let neighbours: [UInt8] = [1, 3, 4]

    /// The neighbours keep their slots as long as no hold-up of the bus reaches their interval:
    /// a probe of the faulty unit (one timeout of 0.1 s), or its first failed poll (two). Libmodbus
    /// waiting out its 0.5 s byte timeout on a short reply costs them a slot or two per probe.
    /// Patience as the service sets it (the stale time), so the faulty unit is asked at its
    /// interval, the neighbours' worst case; their own timeout is generous so that a loaded
    /// machine cannot fail them.
    static var devices: [PolledDevice] {
        ([1, 2, 3, 4] as [UInt8]).map { unit in
            SimulatedBus.device(unit, interval: 0.25, timeout: unit == faultyUnit ? 0.1 : 1, retries: 1, patience: 30)
        }
    }

    /// Successful polls per second of one device, from its first to its last success.
    static func rate(_ recorder: BusPollerTests.Recorder, _ id: String) -> Double {
        let times = recorder.all.filter { $0.deviceID == id && (try? $0.result.get()) != nil }.map(\.receivedAt)
        guard let first = times.first, let last = times.last, times.count > 1 else { return 0 }
        let span = first.duration(to: last)
        return Double(times.count - 1) / (Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }

    /// The latency of each failed poll of the faulty unit after its first (probes: one request each).
    static func probeLatencies(_ recorder: BusPollerTests.Recorder) -> [Double] {
        Array(recorder.all.filter { $0.deviceID == "unit\(faultyUnit)" && (try? $0.result.get()) == nil }.dropFirst()
            .map(\.latencySeconds))
    }

    /// Runs until every neighbour has `successes` (about three seconds' worth at their interval,
    /// so that a slot lost or a first poll delayed moves the rate by well under the margin).
    static func enough(_ successes: Int, failures: Int) -> (BusPollerTests.Recorder) -> Bool {
        { recorder in
            neighbours.allSatisfy { recorder.successes("unit\($0)") >= successes }
                && recorder.failures("unit\(faultyUnit)").count >= failures
        }
    }

    func expectNeighboursUnharmed(_ recorder: BusPollerTests.Recorder, control: BusPollerTests.Recorder) {
        for unit in Self.neighbours {
            let id = "unit\(unit)"
            #expect(recorder.failures(id) == [], "\(id) failed beside its faulty neighbour")
            let ratio = Self.rate(recorder, id) / Self.rate(control, id)
            #expect(ratio >= 0.85, "\(id) polled at \(ratio) of its control rate")
        }
    }

    @Test func test_truncatedRepliesOfOneUnitCostItOneTimeoutEachAndItsNeighboursNothing() async throws {
        let gateway = try SimulatedBus(.tcp, units: [1, 2, 3, 4])
        defer { gateway.stop() }
        let (control, _) = try await gateway.poll(Self.devices, atMost: 30, until: Self.enough(12, failures: 0))
        #expect(control.failures("unit2") == [])

        gateway.setFault(WireFault(.truncatedFrame), unit: Self.faultyUnit)
        let (truncated, statistics) = try await gateway.poll(Self.devices, atMost: 30, until: Self.enough(12, failures: 4))
        // What one timeout costs here, measured the same way: the same unit losing its requests.
        gateway.setFault(WireFault(.noReply), unit: Self.faultyUnit)
        let (lost, _) = try await gateway.poll(Self.devices, atMost: 30, until: Self.enough(0, failures: 3))

        expectNeighboursUnharmed(truncated, control: control)
        #expect(truncated.successes("unit2") == 0)
        #expect(truncated.failures("unit2").count >= 4)
        let counters = try #require(statistics.devices["unit2"])
        #expect(counters.requests > 0)
        #expect(counters.timeouts + counters.malformedReplies == counters.requests)
        #expect(counters.linkErrors == 0 && counters.exceptions == 0)
        let truncatedProbe = Self.median(Self.probeLatencies(truncated))
        let lostProbe = Self.median(Self.probeLatencies(lost))
        #expect(truncatedProbe <= 1.5 * lostProbe, "a truncated reply cost \(truncatedProbe) s, a lost one \(lostProbe) s")
    }

    /// Noise rather than an outage: a seeded share of the unit's replies cut short, the rest whole.
    @Test func test_aShareOfTruncatedRepliesCostsOneTimeoutEachAndNeighboursNothing() async throws {
        let gateway = try SimulatedBus(.tcp, units: [1, 2, 3, 4])
        defer { gateway.stop() }
        let (control, _) = try await gateway.poll(Self.devices, atMost: 30, until: Self.enough(12, failures: 0))

        let fault = WireFault(.truncatedFrame, probability: 0.5, seed: 12)
        gateway.setFault(fault, unit: Self.faultyUnit)
        let (noisy, statistics) = try await gateway.poll(Self.devices, atMost: 30, until: Self.enough(12, failures: 0))

        expectNeighboursUnharmed(noisy, control: control)
        let counters = try #require(statistics.devices["unit2"])
        // The simulator's draws replayed: which of the unit's requests were cut short.
        var replay = fault
        let struck = (0..<counters.requests).filter { _ in replay.strikesNextRequest(unitID: Self.faultyUnit) }.count
        #expect(struck >= 2)
        #expect(counters.timeouts + counters.malformedReplies == struck)
        #expect(counters.linkErrors == 0 && counters.exceptions == 0)
        #expect(noisy.successes("unit2") > 0)
    }
}
