import IsoWatchCore
import IsoWatchSimulator
import Testing

@Suite struct RTUFramingTests {
    @Test func test_fixedLengthRequestsAreEightBytes() {
        for function: UInt8 in [1, 2, 3, 4, 5, 6, 8] {
            #expect(RTUFraming.requestLength([0x01, function]) == 8)
        }
    }

    @Test func test_multipleWriteLengthComesFromTheByteCount() {
        #expect(RTUFraming.requestLength([0x01, 0x10, 0x00, 0x05, 0x00, 0x02]) == nil)
        #expect(RTUFraming.requestLength([0x01, 0x10, 0x00, 0x05, 0x00, 0x02, 4]) == 9 + 4)
        #expect(RTUFraming.requestLength([0x01, 0x0F, 0x00, 0x00, 0x00, 0x0A, 2]) == 9 + 2)
    }

    @Test func test_unknownFunctionsWaitForTheSilentInterval() {
        #expect(RTUFraming.requestLength([0x01, 0x2B, 0x0E, 0x01]) == nil)
        #expect(RTUFraming.requestLength([0x01]) == nil)
    }

    @Test func test_characterIsElevenBitsWithParityOrTwoStopBitsAndTenFor8N1() {
        #expect(SerialLine(baud: 9600, parity: .even).bitsPerCharacter == 11)
        #expect(SerialLine(baud: 9600, parity: .odd).bitsPerCharacter == 11)
        #expect(SerialLine(baud: 9600, parity: .none, stopBits: 2).bitsPerCharacter == 11)
        #expect(SerialLine(baud: 9600, parity: .none).bitsPerCharacter == 10)
    }

    @Test func test_frameGapIsThreeAndAHalfCharactersUpTo19200BaudThenFixed() {
        let slow = SerialLine(baud: 9600, parity: .even)
        #expect(abs(slow.frameGapSeconds - 3.5 * 11 / 9600) < 1e-12)
        #expect(SerialLine(baud: 38400).frameGapSeconds == 0.00175)
        #expect(SerialLine(baud: 115200, parity: .none).frameGapSeconds == 0.00175)
    }

    @Test func test_exchangeTimeScalesWithTheBaudRateDivisor() {
        let slow = SerialLine(baud: 4800, parity: .even)
        let fast = SerialLine(baud: 9600, parity: .even)
        let slowSeconds = slow.exchangeSeconds(requestBytes: 8, replyBytes: 255, turnaroundSeconds: 0)
        let fastSeconds = fast.exchangeSeconds(requestBytes: 8, replyBytes: 255, turnaroundSeconds: 0)
        #expect(abs(slowSeconds - 2 * fastSeconds) < 1e-9)
        #expect(abs(fastSeconds - (8 + 255 + 3.5) * 11 / 9600) < 1e-9)
    }
}
