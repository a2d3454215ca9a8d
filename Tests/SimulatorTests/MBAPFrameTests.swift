import IsoWatchSimulator
import Testing

@Suite struct MBAPFrameTests {
    @Test func test_frameRoundTripsThroughItsBytes() {
        let frame = MBAPFrame(transactionID: 0xBEEF, unitID: 7, pdu: [0x03, 0x00, 0x01, 0x00, 0x02])
        #expect(frame.bytes == [0xBE, 0xEF, 0x00, 0x00, 0x00, 0x06, 0x07, 0x03, 0x00, 0x01, 0x00, 0x02])
        #expect(MBAPFrame.parse(frame.bytes + [0xAA]) == .frame(frame, consumed: 12))
    }

    @Test func test_partialFramesAreIncomplete() {
        let bytes = MBAPFrame(transactionID: 1, unitID: 1, pdu: [0x03, 0, 0, 0, 1]).bytes
        for length in 0..<bytes.count {
            #expect(MBAPFrame.parse(Array(bytes.prefix(length))) == .incomplete)
        }
    }

    @Test func test_nonModbusProtocolIdIsInvalid() {
        guard case .invalid = MBAPFrame.parse([0, 1, 0, 1, 0, 2, 1, 3]) else {
            Issue.record("protocol id 1 accepted")
            return
        }
    }

    @Test(arguments: [0, 1, 255, 0xFFFF] as [Int])
    func test_lengthFieldOutsideTwoTo254IsInvalid(length: Int) {
        guard case .invalid = MBAPFrame.parse([0, 1, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 1, 3]) else {
            Issue.record("length \(length) accepted")
            return
        }
    }
}
