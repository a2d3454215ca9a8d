import Foundation
import Testing

@testable import IsoWatchCore

@Suite struct RequestPlanningTests {
    private func profile(_ transport: ProfileTransport, fields: [Quantity: RegisterField] = [:],
                         faults: [FaultFlag] = [], auxiliary: [String: RegisterField] = [:]) -> DeviceProfile {
        DeviceProfile(id: "t", vendor: "v", model: "m", description: "", transport: transport, fields: fields,
                      faultFlags: faults, auxiliary: auxiliary)
    }

    @Test func test_adjacentFieldsMergeIntoOneRequest() {
        let plan = profile(
            ProfileTransport(),
            fields: [
                .insulationResistanceOhms: RegisterField(table: .holding, address: 10, type: .u32),
                .loadPercent: RegisterField(table: .holding, address: 12),
            ]
        ).readBlocks()
        #expect(plan == [RegisterBlock(table: .holding, address: 10, count: 3)])
    }

    @Test func test_gapSplitsRequestsUnlessGapsAreAllowed() {
        let fields: [Quantity: RegisterField] = [
            .insulationResistanceOhms: RegisterField(table: .holding, address: 10),
            .loadPercent: RegisterField(table: .holding, address: 14),
        ]
        #expect(profile(ProfileTransport(allowGaps: false), fields: fields).readBlocks() == [
            RegisterBlock(table: .holding, address: 10, count: 1), RegisterBlock(table: .holding, address: 14, count: 1),
        ])
        #expect(profile(ProfileTransport(allowGaps: true, maxGap: 3), fields: fields).readBlocks() == [
            RegisterBlock(table: .holding, address: 10, count: 5)
        ])
        // A gap of three unused registers (11, 12, 13) exceeds a max_gap of 2.
        #expect(profile(ProfileTransport(allowGaps: true, maxGap: 2), fields: fields).readBlocks().count == 2)
    }

    @Test func test_requestNeverExceedsTheDevicesRegisterLimit() {
        let auxiliary = Dictionary(uniqueKeysWithValues: (0..<30).map { index in
            ("a\(index)", RegisterField(table: .input, address: UInt16(100 + index)))
        })
        let plan = profile(ProfileTransport(maxRegistersPerRequest: 8), auxiliary: auxiliary).readBlocks()
        #expect(plan.map(\.count) == [8, 8, 8, 6])
        #expect(plan.map(\.address) == [100, 108, 116, 124])
    }

    @Test func test_tablesAreNeverMixedAndBitsUseTheBitLimit() {
        let plan = profile(
            ProfileTransport(maxRegistersPerRequest: 125, maxBitsPerRequest: 4),
            fields: [.loadPercent: RegisterField(table: .input, address: 5)],
            faults: (0..<6).map { FaultFlag(fault: .device, table: .discrete, address: UInt16($0)) }
                + [FaultFlag(fault: .insulation, table: .holding, address: 5, bit: 0)]
        ).readBlocks()
        #expect(plan == [
            RegisterBlock(table: .holding, address: 5, count: 1),
            RegisterBlock(table: .input, address: 5, count: 1),
            RegisterBlock(table: .discrete, address: 0, count: 4),
            RegisterBlock(table: .discrete, address: 4, count: 2),
        ])
    }

    /// Random layouts: the plan covers every register of every field, respects the limits, stays
    /// in ascending order, and never spans a gap larger than allowed.
    @Test func test_planCoversEveryFieldWithinLimitsForRandomLayouts() {
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<400 {
            let allowGaps = Bool.random(using: &generator)
            let transport = ProfileTransport(
                maxRegistersPerRequest: Int.random(in: 2...125, using: &generator),
                maxBitsPerRequest: Int.random(in: 1...64, using: &generator), allowGaps: allowGaps,
                maxGap: allowGaps ? Int.random(in: 0...12, using: &generator) : 0)
            var auxiliary: [String: RegisterField] = [:]
            for index in 0..<Int.random(in: 1...25, using: &generator) {
                let table = RegisterTable.allCases.randomElement(using: &generator)!
                let type: RegisterValueType = table.isBitTable ? .bit : RegisterValueType.registerTypes.randomElement(using: &generator)!
                auxiliary["f\(index)"] = RegisterField(
                    table: table, address: UInt16.random(in: 0...300, using: &generator), type: type)
            }
            let plan = profile(transport, auxiliary: auxiliary).readBlocks()
            for field in auxiliary.values {
                for address in Int(field.address)..<(Int(field.address) + field.type.width) {
                    #expect(plan.contains { $0.table == field.table && Int($0.address) <= address && address < $0.end })
                }
            }
            for block in plan {
                #expect(block.count >= 1)
                #expect(Int(block.count) <= (block.table.isBitTable ? transport.maxBitsPerRequest : transport.maxRegistersPerRequest))
                // Every register of a block is used, or lies in a gap no longer than max_gap.
                let used = Set(auxiliary.values.filter { $0.table == block.table }.flatMap { field in
                    Int(field.address)..<(Int(field.address) + field.type.width)
                })
                var run = 0
                for address in Int(block.address)..<block.end {
                    run = used.contains(address) ? 0 : run + 1
                    #expect(run <= (transport.allowGaps ? transport.maxGap : 0))
                }
            }
            for (earlier, later) in zip(plan, plan.dropFirst()) where earlier.table == later.table {
                #expect(earlier.address < later.address)
            }
        }
    }
}
