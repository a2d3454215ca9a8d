import IsoWatchSimulator
import Testing

@Suite struct ModbusCRCTests {
    // Vectors from the Modbus over Serial Line specification (§6.2.2 example, slave 0x11) and
    // from libmodbus/pymodbus traffic captures; the CRC travels low byte first.
    @Test(arguments: [
        ([0x01, 0x03, 0x00, 0x00, 0x00, 0x0A], [0xC5, 0xCD]),
        ([0x11, 0x03, 0x00, 0x6B, 0x00, 0x03], [0x76, 0x87]),
        ([0x01, 0x03, 0x00, 0x00, 0x00, 0x01], [0x84, 0x0A]),
    ] as [([UInt8], [UInt8])])
    func test_crcMatchesPublishedVectors(frame: [UInt8], crc: [UInt8]) {
        #expect(ModbusCRC.sealed(frame) == frame + crc)
        #expect(ModbusCRC.isIntact(frame + crc))
    }

    @Test func test_anySingleBitErrorBreaksTheCRC() {
        let frame = ModbusCRC.sealed([0x01, 0x03, 0x00, 0x08, 0x00, 0x04])
        for byte in frame.indices {
            for bit in 0..<8 {
                var damaged = frame
                damaged[byte] ^= 1 << UInt8(bit)
                #expect(!ModbusCRC.isIntact(damaged), "bit \(bit) of byte \(byte)")
            }
        }
    }

    @Test func test_framesTooShortToCarryACRCAreNotIntact() {
        #expect(!ModbusCRC.isIntact([]))
        #expect(!ModbusCRC.isIntact([0xFF, 0xFF, 0xFF]))
    }
}
