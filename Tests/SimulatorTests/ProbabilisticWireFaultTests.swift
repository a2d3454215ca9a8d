import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Wire faults that strike a share of requests, as the fault suite injects them at rising rates:
/// the share follows the probability, a seed replays the run, and spared requests are served.
@Suite struct ProbabilisticWireFaultTests {
    /// Read holding registers 0...3.
    static let readFour: ArraySlice<UInt8> = [0x00, 0x00, 0x00, 0x04]

    static func unit(_ id: UInt8 = 1, fault: WireFault?) -> ServedUnit {
        var image = RegisterImage()
        image.set(.holding, 0, words: [650, 142, 41, 0])
        let unit = ServedUnit(unitID: id, image: image)
        unit.wireFault = fault
        return unit
    }

    /// Whether each of `count` requests was struck, in order.
    static func strikes(_ unit: ServedUnit, count: Int) -> [Bool] {
        (0..<count).map { _ in unit.handle(function: 0x03, data: readFour) == .silent }
    }

    /// Within five standard deviations of n·p: a correct generator leaves it about once in
    /// 1.7 million runs, a fault that ignores p (0 or every request) never gets inside.
    static func isWithinBinomialBound(_ hits: Int, requests: Int, probability: Double) -> Bool {
        let mean = Double(requests) * probability
        let deviation = (Double(requests) * probability * (1 - probability)).squareRoot()
        return abs(Double(hits) - mean) <= 5 * deviation
    }

    @Test(arguments: [0.05, 0.2, 0.5, 0.9])
    func test_affectedShareOfRequestsFollowsTheProbability(probability: Double) {
        let unit = Self.unit(fault: WireFault(.noReply, probability: probability, seed: 2026))
        let hits = Self.strikes(unit, count: 2000).filter { $0 }.count
        #expect(Self.isWithinBinomialBound(hits, requests: 2000, probability: probability), "\(hits) of 2000 at p=\(probability)")
        #expect(unit.wireFault != nil, "a fault without a count stays until cleared")
    }

    @Test func test_probabilityOneStrikesEveryRequest() {
        let unit = Self.unit(fault: WireFault(.noReply, probability: 1, seed: 3))
        #expect(Self.strikes(unit, count: 500).allSatisfy { $0 })
    }

    @Test func test_spareRequestsGetTheCorrectReplyAndStruckOnesTheFault() {
        let faulty = Self.unit(fault: WireFault(.crcError, probability: 0.5, seed: 11))
        let clean = Self.unit(fault: nil)
        guard case .reply(let expected, nil, 0) = clean.handle(function: 0x03, data: Self.readFour) else {
            Issue.record("the fault-free unit did not reply")
            return
        }
        var spared = 0
        var corrupted = 0
        for _ in 0..<2000 {
            switch faulty.handle(function: 0x03, data: Self.readFour) {
            case .reply(let pdu, nil, 0) where pdu == expected: spared += 1
            case .reply(let pdu, .corruptCRC, 0) where pdu == expected: corrupted += 1
            case let other: Issue.record("unexpected disposition \(other)")
            }
        }
        #expect(spared + corrupted == 2000)
        #expect(Self.isWithinBinomialBound(corrupted, requests: 2000, probability: 0.5))
    }

    @Test func test_sameSeedReplaysTheSameSequenceAndAnotherSeedDoesNot() {
        let first = Self.strikes(Self.unit(fault: WireFault(.noReply, probability: 0.3, seed: 42)), count: 2000)
        let replay = Self.strikes(Self.unit(fault: WireFault(.noReply, probability: 0.3, seed: 42)), count: 2000)
        let other = Self.strikes(Self.unit(fault: WireFault(.noReply, probability: 0.3, seed: 43)), count: 2000)
        #expect(first == replay)
        #expect(first != other)
    }

    @Test func test_unseededFaultReplaysPerUnitButDiffersBetweenUnits() {
        let fault = WireFault(.noReply, probability: 0.3)
        let unit1 = Self.strikes(Self.unit(1, fault: fault), count: 1000)
        let unit1Again = Self.strikes(Self.unit(1, fault: fault), count: 1000)
        let unit2 = Self.strikes(Self.unit(2, fault: fault), count: 1000)
        #expect(unit1 == unit1Again)
        #expect(unit1 != unit2)
    }

    @Test func test_countLimitsAffectedRequestsOnly() {
        let unit = Self.unit(fault: WireFault(.noReply, remainingRequests: 50, probability: 0.25, seed: 5))
        var requests = 0
        var hits = 0
        while unit.wireFault != nil, requests < 100_000 {
            if unit.handle(function: 0x03, data: Self.readFour) == .silent { hits += 1 }
            requests += 1
        }
        #expect(hits == 50)
        // 50 strikes at p = 0.25 take about 200 requests; far more than 50 either way.
        #expect(requests > 100 && requests < 400, "\(requests) requests for 50 strikes")
        #expect(Self.strikes(unit, count: 100).allSatisfy { !$0 }, "once used up the fault is gone")
    }

    // MARK: - Decoding (control API, site file, scenario files)

    static func decode(_ json: String) throws -> WireFault {
        try JSONDecoder().decode(WireFault.self, from: Data(json.utf8))
    }

    static func refusal(_ json: String) -> String? {
        do {
            _ = try decode(json)
            return nil
        } catch let DecodingError.dataCorrupted(context) {
            return context.debugDescription
        } catch {
            return "\(error)"
        }
    }

    @Test func test_decodingReadsProbabilityAndSeedAndEncodesThemBack() throws {
        let fault = try Self.decode(#"{"kind": "crc_error", "probability": 0.2, "seed": 7, "count": 3}"#)
        #expect(fault == WireFault(.crcError, remainingRequests: 3, probability: 0.2, seed: 7))
        #expect(try Self.decode(String(decoding: JSONEncoder().encode(fault), as: UTF8.self)) == fault)
        #expect(try Self.decode(#"{"kind": "no_reply", "probability": 1}"#).probability == 1)
        #expect(try Self.decode(#"{"kind": "no_reply"}"#).probability == nil)
    }

    @Test(arguments: ["0", "-0.1", "1.5", "1e300"])
    func test_decodingRefusesProbabilityOutsideZeroToOne(probability: String) {
        let message = Self.refusal(#"{"kind": "no_reply", "probability": \#(probability)}"#)
        #expect(message?.contains("probability must be above 0 and at most 1") == true, "\(message ?? "accepted")")
    }

    @Test func test_siteFileRefusesNaNProbabilityAndNamesTheLineAndField() throws {
        // JSON cannot carry NaN; YAML (site and scenario files) can.
        func site(_ probability: String) -> String {
            """
            endpoints:
              - listen: 127.0.0.1:1502
                units:
                  - unit: 1
                    profile: acrel-aim-m10
                    wire_fault: { kind: no_reply, probability: \(probability) }
            """
        }
        do {
            _ = try SiteFile.parse(yaml: site(".nan"), fileName: "nan.yaml")
            Issue.record("a NaN probability was accepted")
        } catch {
            #expect(error.errors.map { "\($0.line) \($0.field)" } == ["6 endpoints[0].units[0].wire_fault"])
            #expect(error.description.contains("probability must be above 0 and at most 1"), "\(error)")
        }
        let accepted = try SiteFile.parse(yaml: site("0.5"), fileName: "half.yaml")
        #expect(accepted.endpoints[0].units[0].wireFault == WireFault(.noReply, probability: 0.5))
    }

    @Test func test_controlAPIRefusesProbabilityZeroWithAClearMessageAndAcceptsAValidOne() async throws {
        let simulator = try TestSimulator(
            rtuUnits: [UnitDescription(unit: 2, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: 400_000])],
            serialLine: SerialLine(baud: 115200, parity: .none))
        defer { simulator.stop() }
        let base = try await simulator.startControl()
        let url = base.appendingPathComponent("api/v1/endpoints/rtu0/units/2")
        let refused = try await ControlServerTests.call(
            "PATCH", url, json: #"{"wire_fault": {"kind": "no_reply", "probability": 0}}"#)
        #expect(refused.status == 400)
        #expect(refused.body.contains("probability must be above 0 and at most 1"), "\(refused.body)")
        #expect(simulator.device(unit: 2).unit.wireFault == nil)

        let accepted = try await ControlServerTests.call(
            "PATCH", url, json: #"{"wire_fault": {"kind": "no_reply", "probability": 0.25, "seed": 9}}"#)
        #expect(accepted.status == 200)
        #expect(simulator.device(unit: 2).unit.wireFault == WireFault(.noReply, probability: 0.25, seed: 9))
    }
}
