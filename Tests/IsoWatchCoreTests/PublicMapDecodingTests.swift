import Foundation
import Testing

@testable import IsoWatchCore

/// Literal register words as the public manuals describe them, decoded through the shipped
/// profiles.
@Suite struct PublicMapDecodingTests {
    @Test func test_acrelFaultWord0x0011MeansInsulationAndEarthConnection() throws {
        let acrel = try Repository.profile("acrel-aim-m10")
        var image = RegisterImage()
        image.set(.holding, 0x0008, words: [420, 52, 41, 0x0011])
        let reading = try acrel.decode(image, at: epoch)
        #expect(reading.faults == [.insulation, .earthConnection])
    }

    @Test func test_acrelEachFaultBitMapsToItsFault() throws {
        let acrel = try Repository.profile("acrel-aim-m10")
        let expected: [(bit: Int, fault: Fault)] = [
            (0, .insulation), (1, .overload), (2, .overtemperature), (4, .earthConnection), (5, .temperatureSensor),
        ]
        for (bit, fault) in expected {
            var image = RegisterImage()
            image.set(.holding, 0x0008, words: [420, 52, 41, UInt16(1) << UInt16(bit)])
            #expect(try acrel.decode(image, at: epoch).faults == [fault], "bit \(bit)")
        }
        var unused = RegisterImage()
        unused.set(.holding, 0x0008, words: [420, 52, 41, 0x0008])
        #expect(try acrel.decode(unused, at: epoch).faults.isEmpty, "bit 3 is unused in the AIM-M10 map")
    }

    @Test func test_acrelValuesAreScaledToSIUnits() throws {
        let acrel = try Repository.profile("acrel-aim-m10")
        var image = RegisterImage()
        image.set(.holding, 0x0008, words: [420, 52, 0xFFF6, 0])
        let reading = try acrel.decode(image, at: epoch)
        #expect(reading[.insulationResistanceOhms] == MeasuredValue(420_000))
        #expect(abs(reading[.loadCurrentAmperes]!.value - 5.2) < 1e-9)
        #expect(reading[.windingTemperatureCelsius] == MeasuredValue(-10), "0xFFF6 is -10 °C as s16")
        #expect(reading.timestamp == epoch)
        #expect(reading.updateCounter == nil)
    }

    @Test func test_acrelDisplayLimitsReadAsBeyondRange() throws {
        let acrel = try Repository.profile("acrel-aim-m10")
        var image = RegisterImage()
        image.set(.holding, 0x0008, words: [10, 0, 200, 0])
        var reading = try acrel.decode(image, at: epoch)
        #expect(reading[.insulationResistanceOhms] == MeasuredValue(10_000, validity: .belowRange))
        #expect(reading[.windingTemperatureCelsius] == MeasuredValue(200, validity: .aboveRange))
        image.set(.holding, 0x0008, words: [999, 0, 0xFFCE, 0])
        reading = try acrel.decode(image, at: epoch)
        #expect(reading[.insulationResistanceOhms] == MeasuredValue(999_000, validity: .aboveRange))
        #expect(reading[.windingTemperatureCelsius] == MeasuredValue(-50, validity: .belowRange))
    }

    @Test func test_missingRegisterIsAnErrorNamingTheField() throws {
        let acrel = try Repository.profile("acrel-aim-m10")
        var image = RegisterImage()
        image.set(.holding, 0x0008, words: [420, 52, 41])
        let error = #expect(throws: RegisterDecodingError.self) { try acrel.decode(image, at: epoch) }
        #expect(error?.field == "faults[0]")
        #expect(error?.block == RegisterBlock(table: .holding, address: 0x000B, count: 1))
        #expect(error?.description.contains("holding address 11") == true)
    }

    @Test func test_benderChannelFloatIsBigEndianHighWordFirst() throws {
        let bender = try Repository.profile("bender-isometer")
        var image = benderImage()
        // 123456.0f = 0x47F12000; 1.5f = 0x3FC00000; 230.5f = 0x43668000.
        image.set(.holding, 1000, words: [0x47F1, 0x2000])
        image.set(.holding, 1008, words: [0x4366, 0x8000])
        image.set(.holding, 1012, words: [0x3FC0, 0x0000])
        let reading = try bender.decode(image, at: epoch)
        #expect(reading[.insulationResistanceOhms] == MeasuredValue(123_456))
        #expect(reading[.systemVoltageVolts] == MeasuredValue(230.5))
        #expect(abs(reading[.leakageCapacitanceFarads]!.value - 1.5e-6) < 1e-15)
        #expect(reading[.leakageCapacitanceFarads]?.validity == .actual)
        #expect(reading.faults.isEmpty)
    }

    @Test func test_benderValidityBitsOfTheUnitByte() throws {
        let bender = try Repository.profile("bender-isometer")
        let cases: [(word: UInt16, validity: Validity)] = [
            (0x0000, .actual), (0x0040, .belowRange), (0x0080, .aboveRange), (0x00C0, .invalid),
            // The unit code in the low bits and the alarm byte must not disturb validity.
            (0x0205, .actual), (0x0345, .belowRange),
        ]
        for (word, validity) in cases {
            var image = benderImage()
            image[.holding, 1002] = word
            let reading = try bender.decode(image, at: epoch)
            #expect(reading[.insulationResistanceOhms]?.validity == validity, "word 0x\(String(word, radix: 16))")
            #expect(reading[.systemVoltageVolts]?.validity == .actual)
        }
    }

    @Test func test_benderAlarmByteRaisesInsulationFault() throws {
        let bender = try Repository.profile("bender-isometer")
        var image = benderImage()
        image[.holding, 1002] = 0x0200
        #expect(try bender.decode(image, at: epoch).faults == [.insulation])
        image[.holding, 1002] = 0x0100
        #expect(try bender.decode(image, at: epoch).faults.isEmpty, "prewarning alone is not a fault")
        image[.holding, 1002] = 0x0400
        #expect(try bender.decode(image, at: epoch).faults == [.device])
    }

    @Test func test_nonFiniteFloatDecodesAsInvalid() throws {
        let bender = try Repository.profile("bender-isometer")
        for words: [UInt16] in [[0x7FC0, 0x0000], [0x7F80, 0x0000], [0xFF80, 0x0000]] {
            var image = benderImage()
            image.set(.holding, 1000, words: words)
            let value = try bender.decode(image, at: epoch)[.insulationResistanceOhms]
            #expect(value?.validity == .invalid)
            #expect(value?.value.isFinite == true, "a reading must stay Equatable and JSON-encodable")
        }
    }

    @Test func test_trafoxManualRegisterNumberIsTheProtocolAddress() throws {
        let trafox = try Repository.profile("trafox-im01-med")
        var image = RegisterImage()
        image.set(.holding, 1, words: [250, 12, 45, 38])
        let reading = try trafox.decode(image, at: epoch)
        #expect(reading[.insulationResistanceOhms] == MeasuredValue(250_000))
        #expect(abs(reading[.leakageCapacitanceFarads]!.value - 1.2e-6) < 1e-15)
        #expect(reading[.loadPercent] == MeasuredValue(45))
        #expect(reading[.windingTemperatureCelsius] == MeasuredValue(38))
        #expect(trafox.readBlocks() == [RegisterBlock(table: .holding, address: 1, count: 4)])
    }

    @Test func test_trafoxInsulationResponseWriteRefusesBelowFiftyKiloohms() throws {
        let trafox = try Repository.profile("trafox-im01-med")
        let write = try trafox.write(parameter: "insulation_response_ohms", value: 55_000)
        #expect(write == ParameterWrite(table: .holding, address: 5, words: [55]))
        #expect(throws: ParameterWriteError.self) { try trafox.write(parameter: "insulation_response_ohms", value: 30_000) }
        #expect(throws: ParameterWriteError.self) { try trafox.write(parameter: "no_such_parameter", value: 1) }
    }

    @Test func test_frontendMapDecodesHeaderFields() throws {
        let frontend = try Repository.profile("isowatch-frontend")
        var image = RegisterImage()
        image.set(.input, 0, words: Array(repeating: 0, count: 84))
        // 70000 samples = 0x00011170; 20000 µs; polarity -1; 400 ms; 12.00 V; 120000 Ω.
        image.set(.input, 0, words: [0x0001, 0x1170, 20000, 0xFFFF, 400, 1200, 12000, 523, 0x8000, 0xFFFF, 0x0002, 2])
        let reading = try frontend.decode(image, at: epoch)
        #expect(reading.updateCounter == 70000)
        #expect(abs(reading.auxiliary["sample_period_seconds"]! - 0.02) < 1e-12)
        #expect(reading.auxiliary["pulse_polarity"] == -1)
        #expect(abs(reading.auxiliary["pulse_half_period_seconds"]! - 0.4) < 1e-12)
        #expect(abs(reading.auxiliary["measuring_voltage_volts"]! - 12) < 1e-9)
        #expect(reading.auxiliary["coupling_resistance_ohms"] == 120_000)
        #expect(reading.auxiliary["self_test_state"] == 2)
        #expect(abs(reading[.loadCurrentAmperes]!.value - 5.23) < 1e-9)
        #expect(reading[.windingTemperatureCelsius]?.validity == .invalid, "0x8000 means no sensor")
        #expect(reading[.temperatureSensorOhms]?.validity == .invalid, "0xFFFF means open circuit")
        #expect(reading.faults == [.lineConnection])
    }

    private func benderImage() -> RegisterImage {
        var image = RegisterImage()
        image.set(.holding, 1000, words: Array(repeating: 0, count: 16))
        return image
    }
}
