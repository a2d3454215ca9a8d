import IsoWatchCore
import IsoWatchSimulator
import Testing

/// The request PDUs are written out byte by byte from the Modbus Application Protocol V1.1b3.
@Suite struct ModbusPDUEngineTests {
    /// Holding 0x0008-0x000B (Acrel-like), input 100-101, coils 0-9, discrete inputs 20-22.
    static func image() -> RegisterImage {
        var image = RegisterImage()
        image.set(.holding, 0x0008, words: [640, 142, 41, 0x0011])
        image.set(.input, 100, words: [0x1234, 0xABCD])
        image.set(.coil, 0, words: [1, 0, 1, 1, 0, 0, 0, 0, 1, 1])
        image.set(.discrete, 20, words: [0, 1, 1])
        return image
    }

    func respond(_ pdu: [UInt8], _ image: inout RegisterImage) -> ModbusPDUEngine.Outcome {
        ModbusPDUEngine.respond(function: pdu[0], data: pdu.dropFirst(), image: &image)
    }

    @Test func test_readHoldingRegistersReturnsBigEndianWords() {
        var image = Self.image()
        let outcome = respond([0x03, 0x00, 0x08, 0x00, 0x04], &image)
        #expect(outcome.response == [0x03, 8, 0x02, 0x80, 0x00, 0x8E, 0x00, 0x29, 0x00, 0x11])
        #expect(outcome.writes.isEmpty)
    }

    @Test func test_readInputRegistersReadsTheInputTableOnly() {
        var image = Self.image()
        #expect(respond([0x04, 0x00, 100, 0x00, 0x02], &image).response == [0x04, 4, 0x12, 0x34, 0xAB, 0xCD])
        #expect(respond([0x04, 0x00, 0x08, 0x00, 0x01], &image).exceptionCode == .illegalDataAddress)
    }

    @Test func test_readCoilsPacksBitsLeastSignificantFirst() {
        var image = Self.image()
        // Coils 0-9 = 1,0,1,1,0,0,0,0 | 1,1 → 0b0000_1101, 0b0000_0011.
        #expect(respond([0x01, 0x00, 0x00, 0x00, 0x0A], &image).response == [0x01, 2, 0x0D, 0x03])
    }

    @Test func test_readDiscreteInputsReadsTheDiscreteTable() {
        var image = Self.image()
        #expect(respond([0x02, 0x00, 20, 0x00, 0x03], &image).response == [0x02, 1, 0b110])
        #expect(respond([0x02, 0x00, 0x00, 0x00, 0x01], &image).exceptionCode == .illegalDataAddress)
    }

    @Test func test_writeSingleRegisterEchoesAndReportsTheWrite() {
        var image = Self.image()
        let outcome = respond([0x06, 0x00, 0x0A, 0x01, 0x2C], &image)
        #expect(outcome.response == [0x06, 0x00, 0x0A, 0x01, 0x2C])
        #expect(image[.holding, 0x000A] == 300)
        #expect(outcome.writes == [RegisterWrite(table: .holding, address: 0x000A, values: [300])])
    }

    @Test func test_writeSingleCoilAcceptsOnlyFF00And0000() {
        var image = Self.image()
        #expect(respond([0x05, 0x00, 0x01, 0xFF, 0x00], &image).response == [0x05, 0x00, 0x01, 0xFF, 0x00])
        #expect(image[.coil, 1] == 1)
        #expect(respond([0x05, 0x00, 0x00, 0x00, 0x00], &image).writes == [RegisterWrite(table: .coil, address: 0, values: [0])])
        #expect(image[.coil, 0] == 0)
        #expect(respond([0x05, 0x00, 0x02, 0x12, 0x34], &image).exceptionCode == .illegalDataValue)
        #expect(image[.coil, 2] == 1)
    }

    @Test func test_writeMultipleRegistersWritesAllAndAnswersAddressAndCount() {
        var image = Self.image()
        let outcome = respond([0x10, 0x00, 0x08, 0x00, 0x02, 4, 0x00, 0x20, 0x00, 0x21], &image)
        #expect(outcome.response == [0x10, 0x00, 0x08, 0x00, 0x02])
        #expect(image.words(.holding, 0x0008, count: 2) == [0x20, 0x21])
        #expect(outcome.writes == [RegisterWrite(table: .holding, address: 0x0008, values: [0x20, 0x21])])
    }

    @Test func test_writeMultipleCoilsUnpacksBits() {
        var image = Self.image()
        let outcome = respond([0x0F, 0x00, 0x00, 0x00, 0x0A, 2, 0b1111_0000, 0b10], &image)
        #expect(outcome.response == [0x0F, 0x00, 0x00, 0x00, 0x0A])
        #expect(image.words(.coil, 0, count: 10) == [0, 0, 0, 0, 1, 1, 1, 1, 0, 1])
    }

    @Test func test_diagnosticsSubfunctionZeroEchoesTheQuery() {
        var image = Self.image()
        #expect(respond([0x08, 0x00, 0x00, 0xA5, 0x37], &image).response == [0x08, 0x00, 0x00, 0xA5, 0x37])
        #expect(respond([0x08, 0x00, 0x01, 0x00, 0x00], &image).exceptionCode == .illegalFunction)
    }

    @Test(arguments: [0x07, 0x11, 0x17, 0x2B, 0x41] as [UInt8])
    func test_unsupportedFunctionIsException01(function: UInt8) {
        var image = Self.image()
        let outcome = respond([function, 0x00, 0x00, 0x00, 0x01], &image)
        #expect(outcome.response == [function | 0x80, 0x01])
    }

    @Test func test_anyAbsentAddressInTheRangeIsException02() {
        var image = Self.image()
        // 0x0008-0x000B exist; 0x000C does not.
        #expect(respond([0x03, 0x00, 0x08, 0x00, 0x05], &image).exceptionCode == .illegalDataAddress)
        #expect(respond([0x03, 0x00, 0x07, 0x00, 0x01], &image).exceptionCode == .illegalDataAddress)
        #expect(respond([0x06, 0x00, 0x0C, 0x00, 0x01], &image).exceptionCode == .illegalDataAddress)
        #expect(respond([0x01, 0x00, 0x05, 0x00, 0x06], &image).exceptionCode == .illegalDataAddress)
    }

    @Test func test_aRangePastAddress0xFFFFIsException02EvenWhenTheWrappedCellsExist() {
        var image = RegisterImage()
        image.set(.holding, 0xFFFF, words: [1, 2])  // the second word lands at 0x0000
        #expect(respond([0x03, 0xFF, 0xFF, 0x00, 0x02], &image).exceptionCode == .illegalDataAddress)
        #expect(respond([0x03, 0xFF, 0xFF, 0x00, 0x01], &image).response == [0x03, 2, 0x00, 0x01])
    }

    @Test(arguments: [
        ([0x03, 0x00, 0x08, 0x00, 0x00], "zero registers"),
        ([0x03, 0x00, 0x08, 0x00, 126], "126 registers"),
        ([0x04, 0x00, 100, 0x00, 126], "126 input registers"),
        ([0x01, 0x00, 0x00, 0x00, 0x00], "zero coils"),
        ([0x02, 0x00, 20, 0x07, 0xD1], "2001 discrete inputs"),
        ([0x10, 0x00, 0x08, 0x00, 124, 248] + [UInt8](repeating: 0, count: 248), "124 registers written"),
        ([0x10, 0x00, 0x08, 0x00, 0x02, 3, 0, 1, 2], "byte count disagrees with the count"),
        ([0x0F, 0x00, 0x00, 0x07, 0xB1, 247] + [UInt8](repeating: 0, count: 247), "1969 coils written"),
        ([0x0F, 0x00, 0x00, 0x00, 0x0A, 1, 0xFF], "coil byte count too small"),
        ([0x03, 0x00, 0x08], "truncated request"),
    ] as [([UInt8], String)])
    func test_badCountOrLengthIsException03(pdu: [UInt8], reason: String) {
        var image = Self.image()
        let before = image
        #expect(respond(pdu, &image).exceptionCode == .illegalDataValue, "\(reason)")
        #expect(image == before, "\(reason) must change nothing")
    }

    @Test func test_theQuantityLimitsThemselvesAreAccepted() {
        var image = RegisterImage()
        image.set(.holding, 0, words: [UInt16](repeating: 7, count: 125))
        image.set(.coil, 0, words: [UInt16](repeating: 1, count: 2000))
        #expect(respond([0x03, 0x00, 0x00, 0x00, 125], &image).response.count == 2 + 250)
        #expect(respond([0x01, 0x00, 0x00, 0x07, 0xD0], &image).response.count == 2 + 250)
        let write = [0x10, 0x00, 0x00, 0x00, 123, 246] + [UInt8](repeating: 0, count: 246)
        #expect(respond(write, &image).response == [0x10, 0x00, 0x00, 0x00, 123])
    }

    @Test func test_aQuantityErrorIsReportedBeforeAnAddressError() {
        // §6 state diagrams: the quantity is checked first, so 0 registers at a missing address is 03.
        var image = RegisterImage()
        #expect(respond([0x03, 0x40, 0x00, 0x00, 0x00], &image).exceptionCode == .illegalDataValue)
    }

    @Test func test_aRejectedMultipleWriteChangesNothing() {
        var image = Self.image()
        let before = image
        // 0x000A-0x000C: 0x000C is absent, so 0x000A and 0x000B must keep their values.
        let outcome = respond([0x10, 0x00, 0x0A, 0x00, 0x03, 6, 0, 1, 0, 2, 0, 3], &image)
        #expect(outcome.exceptionCode == .illegalDataAddress)
        #expect(outcome.writes.isEmpty)
        #expect(image == before)
    }
}
