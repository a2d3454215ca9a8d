import Foundation
import Testing

@testable import IsoWatchCore

@Suite struct RegisterCodecTests {
    /// Bytes A (most significant) to D of 0x11223344 in register order, as engineering.md defines
    /// the four orders.
    @Test(arguments: [
        (WordOrder.abcd, [UInt16(0x1122), 0x3344]),
        (.cdab, [0x3344, 0x1122]),
        (.badc, [0x2211, 0x4433]),
        (.dcba, [0x4433, 0x2211]),
    ])
    func test_wordOrderPlacesBytesAsNamed(order: WordOrder, words: [UInt16]) {
        #expect(order.split(0x1122_3344) == words)
        #expect(order.assemble(words[0], words[1]) == 0x1122_3344)
    }

    @Test func test_floatOneInEveryWordOrder() {
        // 1.0f = 0x3F800000
        let field = { (order: WordOrder) in RegisterField(table: .holding, address: 0, type: .f32, wordOrder: order) }
        #expect(field(.abcd).rawValue(from: [0x3F80, 0x0000]) == 1)
        #expect(field(.cdab).rawValue(from: [0x0000, 0x3F80]) == 1)
        #expect(field(.badc).rawValue(from: [0x803F, 0x0000]) == 1)
        #expect(field(.dcba).rawValue(from: [0x0000, 0x803F]) == 1)
    }

    @Test func test_signedTypesAreTwosComplement() {
        let s16 = RegisterField(table: .holding, address: 0, type: .s16)
        #expect(s16.rawValue(from: [0xFFFF]) == -1)
        #expect(s16.rawValue(from: [0x8000]) == -32768)
        #expect(s16.words(forRaw: -2) == [0xFFFE])
        let s32 = RegisterField(table: .holding, address: 0, type: .s32, wordOrder: .cdab)
        #expect(s32.rawValue(from: [0xFFFE, 0xFFFF]) == -2)
        #expect(s32.words(forRaw: -70000) == WordOrder.cdab.split(UInt32(bitPattern: -70000)))
    }

    /// decode(encode(x)) == x within half a count of the scale, for every type and word order.
    @Test(arguments: RegisterValueType.registerTypes, WordOrder.allCases)
    func test_encodeDecodeRoundTripWithinResolution(type: RegisterValueType, order: WordOrder) throws {
        guard type.isThirtyTwoBit || order == .abcd else { return }
        let typeIndex = RegisterValueType.allCases.firstIndex(of: type)!
        let orderIndex = WordOrder.allCases.firstIndex(of: order)!
        var generator = SeededGenerator(seed: 0x5EED_0000 + UInt64(typeIndex * 8 + orderIndex))
        for iteration in 0..<500 {
            let scale = [1.0, 0.1, 0.01, 1000, 1e-6, 2.5][iteration % 6]
            let offset = iteration % 3 == 0 ? Double.random(in: -100...100, using: &generator) : 0
            let field = RegisterField(
                table: iteration % 2 == 0 ? .holding : .input, address: UInt16.random(in: 0...0xFFF0, using: &generator),
                type: type, wordOrder: order, scale: scale, offset: offset)
            let profile = DeviceProfile(
                id: "t", vendor: "v", model: "m", description: "", fields: [.insulationResistanceOhms: field])
            let limits = type == .f32 ? -1e6...1e6 : type.rawLimits
            let raw = Double.random(in: limits, using: &generator)
            let value = raw * scale + offset
            var image = RegisterImage()
            profile.encode(DecodedReading(timestamp: epoch, values: [.insulationResistanceOhms: MeasuredValue(value)]), into: &image)
            let decoded = try #require(try profile.decode(image, at: epoch)[.insulationResistanceOhms])
            #expect(decoded.validity == .actual)
            let tolerance = type == .f32 ? abs(value) * 1e-6 + abs(offset) * 1e-6 + 1e-9 : scale / 2 + abs(value) * 1e-12
            #expect(abs(decoded.value - value) <= tolerance, "\(type) \(order) scale \(scale) value \(value) → \(decoded.value)")
        }
    }

    @Test func test_encodeSaturatesAndMarksAboveRangeWhenProfileDefinesRange() throws {
        // A u16 in kΩ cannot hold 70 000 kΩ.
        let ranged = RegisterField(
            table: .holding, address: 8, type: .u16, scale: 1000, range: RawRange(min: 10, max: 999))
        let unranged = RegisterField(table: .holding, address: 8, type: .u16, scale: 1000)
        for (field, expected) in [
            (ranged, MeasuredValue(999_000, validity: .aboveRange)),
            (unranged, MeasuredValue(65_535_000, validity: .actual)),
        ] {
            let profile = DeviceProfile(id: "t", vendor: "v", model: "m", description: "", fields: [.insulationResistanceOhms: field])
            var image = RegisterImage()
            profile.encode(DecodedReading(timestamp: epoch, values: [.insulationResistanceOhms: MeasuredValue(70_000_000)]), into: &image)
            #expect(try profile.decode(image, at: epoch)[.insulationResistanceOhms] == expected)
        }
        let profile = DeviceProfile(id: "t", vendor: "v", model: "m", description: "", fields: [.insulationResistanceOhms: ranged])
        var image = RegisterImage()
        profile.encode(DecodedReading(timestamp: epoch, values: [.insulationResistanceOhms: MeasuredValue(-5)]), into: &image)
        #expect(try profile.decode(image, at: epoch)[.insulationResistanceOhms] == MeasuredValue(10_000, validity: .belowRange))
    }

    @Test func test_saturatedValueNeverLandsOnANoValueCode() throws {
        let field = RegisterField(table: .holding, address: 0, type: .u16, noValue: [0xFFFF])
        let profile = DeviceProfile(id: "t", vendor: "v", model: "m", description: "", fields: [.loadPercent: field])
        var image = RegisterImage()
        profile.encode(DecodedReading(timestamp: epoch, values: [.loadPercent: MeasuredValue(1e9)]), into: &image)
        #expect(image[.holding, 0] == 0xFFFE)
        #expect(try profile.decode(image, at: epoch)[.loadPercent] == MeasuredValue(65534))
    }

    @Test func test_invalidValueIsEncodedWithTheDevicesOwnMeans() throws {
        let sentinel = RegisterField(table: .holding, address: 0, type: .s16, noValue: [-32768])
        let float = RegisterField(table: .holding, address: 2, type: .f32)
        let bits = RegisterField(
            table: .holding, address: 4, type: .u16,
            validity: ValiditySource(table: .holding, address: 5, mask: 0x0300, codes: [0: .actual, 3: .invalid]))
        let profile = DeviceProfile(
            id: "t", vendor: "v", model: "m", description: "",
            fields: [.windingTemperatureCelsius: sentinel, .insulationResistanceOhms: float, .loadPercent: bits])
        var image = RegisterImage()
        image[.holding, 5] = 0x00AB  // other bits of the validity word must survive
        let invalid = DecodedReading(
            timestamp: epoch,
            values: [
                .windingTemperatureCelsius: MeasuredValue(40, validity: .invalid),
                .insulationResistanceOhms: MeasuredValue(1e6, validity: .invalid),
                .loadPercent: MeasuredValue(50, validity: .invalid),
            ])
        profile.encode(invalid, into: &image)
        #expect(image[.holding, 0] == 0x8000)
        #expect(image[.holding, 5] == 0x03AB)
        let decoded = try profile.decode(image, at: epoch)
        for quantity in [Quantity.windingTemperatureCelsius, .insulationResistanceOhms, .loadPercent] {
            #expect(decoded[quantity]?.validity == .invalid, "\(quantity)")
        }
        // A validity code the profile does not list is not a vouched-for value either.
        image[.holding, 5] = 0x0100
        #expect(try profile.decode(image, at: epoch)[.loadPercent]?.validity == .invalid)
    }

    @Test func test_belowRangeWithoutValidityBitsUsesTheDisplayLimit() throws {
        let field = RegisterField(table: .holding, address: 8, type: .u16, scale: 1000, range: RawRange(min: 10, max: 999))
        let profile = DeviceProfile(id: "t", vendor: "v", model: "m", description: "", fields: [.insulationResistanceOhms: field])
        var image = RegisterImage()
        profile.encode(
            DecodedReading(timestamp: epoch, values: [.insulationResistanceOhms: MeasuredValue(200_000, validity: .belowRange)]),
            into: &image)
        #expect(image[.holding, 8] == 10)
    }
}

struct DecimalScaleTests {
    /// 142 × 0.1 is 14.200000000000001 in binary floating point; an engineer reading the API
    /// must see the 14.2 A the device meant.
    @Test func test_decimalScalesGiveTheValueTheDeviceMeant() {
        let deciamps = RegisterField(table: .holding, address: 9, scale: 0.1)
        #expect(deciamps.siValue(raw: 142) == 14.2)
        #expect(deciamps.siValue(raw: 98) == 9.8)
        let centidegrees = RegisterField(table: .holding, address: 0, type: .s16, scale: 0.01)
        #expect(centidegrees.siValue(raw: -1234) == -12.34)
        let kiloohms = RegisterField(table: .holding, address: 8, scale: 1000)
        #expect(kiloohms.siValue(raw: 420) == 420_000)
    }

    /// The poll path skips decimal arithmetic for whole counts and power-of-ten scales; it must
    /// give bit for bit the double the exact decimal reference gives.
    @Test(arguments: [1e-9, 1e-8, 1e-6, 0.0001, 0.001, 0.01, 0.1, 1, 10, 100, 1000, 1e4, 1e6])
    func test_powerOfTenFastPathEqualsTheDecimalReference(scale: Double) {
        let field = RegisterField(table: .input, address: 0, type: .s32, scale: scale)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var raws: [Double] = Array(-1_000...1_000).map(Double.init) + [65_535, -32_768, 2_147_483_647, -2_147_483_648]
        for _ in 0..<3_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            raws.append(Double(Int32(truncatingIfNeeded: state >> 32)))
        }
        for raw in raws {
            let fast = field.powerOfTenSIValue(raw: raw)
            #expect(fast != nil, "\(raw) × \(scale) should take the fast path")
            #expect(fast == field.decimalSIValue(raw: raw), "\(raw) × \(scale)")
        }
    }

    @Test func test_unitScaleKeepsFractionalFloat32ValuesAsTheyAre() {
        let ohms = RegisterField(table: .input, address: 0, type: .f32, scale: 1)
        for sent: Float in [0.9, 0.1, 4.7, 1234.5, 1.0e7, 3.3e-5] {
            let raw = ohms.rawValue(from: WordOrder.abcd.split(sent.bitPattern))
            #expect(ohms.powerOfTenSIValue(raw: raw) == ohms.decimalSIValue(raw: raw))
            #expect(ohms.siValue(raw: raw) == Double("\(sent)"))
        }
    }

    /// f32 readings with a power-of-ten scale (Bender's capacitance in µF as f32 × 1e-6) take the
    /// fast path too: the same double as the reference, for fractions of every magnitude.
    @Test(arguments: [1e-9, 1e-6, 0.001, 0.1, 10, 1000, 1e6])
    func test_powerOfTenFastPathEqualsTheDecimalReferenceForFloat32Fractions(scale: Double) {
        let field = RegisterField(table: .input, address: 0, type: .f32, scale: scale)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        var sent: [Float] = [0.6, 0.9, 4.7, 1234.5, 3.3e-5, 1.0e-7, 6.02e20, -12.25, 0.1, 1.1]
        for _ in 0..<3_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: state >> 32))
            if value.isFinite { sent.append(value) }
        }
        for value in sent {
            let raw = field.rawValue(from: WordOrder.abcd.split(value.bitPattern))
            let fast = field.powerOfTenSIValue(raw: raw)
            #expect(fast != nil, "\(raw) × \(scale) should take the fast path")
            #expect(fast == field.decimalSIValue(raw: raw), "\(raw) × \(scale)")
        }
    }

    @Test func test_fastPathStepsAsideForOffsetsAndOtherScales() {
        #expect(RegisterField(table: .input, address: 0, scale: 0.1, offset: -40).powerOfTenSIValue(raw: 5) == nil)
        #expect(RegisterField(table: .input, address: 0, scale: 0.5).powerOfTenSIValue(raw: 3) == nil)
        #expect(RegisterField(table: .input, address: 0, scale: 0.5).powerOfTenSIValue(raw: 0.5) == nil)
        #expect(RegisterField(table: .input, address: 0, scale: 0.1, offset: -40).siValue(raw: 655) == 25.5)
    }
}

struct SinglePrecisionTests {
    @Test func test_float32ValuesDecodeToTheDecimalTheDeviceSent() {
        let microfarads = RegisterField(table: .input, address: 1012, type: .f32, scale: 1e-6)
        for sent: Float in [0.9, 0.1, 4.7, 1234.5] {
            let words = WordOrder.abcd.split(sent.bitPattern)
            #expect(microfarads.rawValue(from: words) == Double("\(sent)"))
        }
        let words = WordOrder.abcd.split(Float(0.9).bitPattern)
        #expect(microfarads.siValue(raw: microfarads.rawValue(from: words)) == 0.9e-6)
    }
}
