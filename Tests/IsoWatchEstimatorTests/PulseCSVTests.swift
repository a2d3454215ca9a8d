import Foundation
import IsoWatchEstimator
import IsoWatchTesting
import Testing

/// The measuring-signal reader against the forms RFC 4180 writers produce (issue 12 §5) and
/// against each malformed form, which must be refused with the line on which its record starts.
struct PulseCSVTests {
    /// What every accepted form below must read as.
    static let expected = [
        PulseSample(timeSeconds: 0, pulseVolts: 12, currentAmperes: 1e-5),
        PulseSample(timeSeconds: 0.001, pulseVolts: 12, currentAmperes: 1.5e-5),
        PulseSample(timeSeconds: 0.002, pulseVolts: -12, currentAmperes: -2.5e-6),
    ]

    static let lf = "time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1.5e-5\n0.002,-12,-2.5e-6\n"

    @Test func test_theLineFeedFileReadsAsTheThreeSamples() throws {
        #expect(try PulseCSV.parse(Self.lf) == Self.expected)
    }

    @Test(arguments: [
        ("CRLF", "time_s,pulse_v,current_a\r\n0,12,1e-5\r\n0.001,12,1.5e-5\r\n0.002,-12,-2.5e-6\r\n"),
        ("CRLF and LF mixed", "time_s,pulse_v,current_a\r\n0,12,1e-5\n0.001,12,1.5e-5\r\n0.002,-12,-2.5e-6\n"),
        ("no line end after the last LF record", "time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1.5e-5\n0.002,-12,-2.5e-6"),
        ("no line end after the last CRLF record", "time_s,pulse_v,current_a\r\n0,12,1e-5\r\n0.001,12,1.5e-5\r\n0.002,-12,-2.5e-6"),
        ("byte-order mark", "\u{FEFF}time_s,pulse_v,current_a\r\n0,12,1e-5\r\n0.001,12,1.5e-5\r\n0.002,-12,-2.5e-6\r\n"),
        ("every field quoted", "\"time_s\",\"pulse_v\",\"current_a\"\r\n\"0\",\"12\",\"1e-5\"\r\n\"0.001\",\"12\",\"1.5e-5\"\r\n\"0.002\",\"-12\",\"-2.5e-6\"\r\n"),
        ("doubled quotes in an extra column", "time_s,name,pulse_v,current_a\n0,\"a \"\"quoted\"\" name\",12,1e-5\n0.001,\"\"\"\",12,1.5e-5\n0.002,\"\",-12,-2.5e-6\n"),
        ("a comma inside a quoted extra column", "time_s,pulse_v,current_a,note\n0,12,1e-5,\"theatre 3, bed 2\"\n0.001,12,1.5e-5,\",\"\n0.002,-12,-2.5e-6,x\n"),
        ("line breaks inside a quoted extra column", "note,time_s,pulse_v,current_a\r\n\"first\r\nsecond\",0,12,1e-5\r\n\"a\nb\n\",0.001,12,1.5e-5\r\n\"\r\n\",0.002,-12,-2.5e-6\r\n"),
        ("a carriage return inside a quoted extra column", "time_s,pulse_v,current_a,note\n0,12,1e-5,\"a\rb\"\n0.001,12,1.5e-5,\"\r\"\n0.002,-12,-2.5e-6,x\n"),
        ("spaces and tabs around the header names and numbers", " time_s ,\tpulse_v\t, current_a\n0, 12 ,1e-5\n 0.001,12,\t1.5e-5\n0.002 ,-12,-2.5e-6 \n"),
        ("a blank last line", "time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1.5e-5\n0.002,-12,-2.5e-6\n\n"),
        ("blank CRLF lines before, between and after", "\r\ntime_s,pulse_v,current_a\r\n\r\n0,12,1e-5\r\n0.001,12,1.5e-5\r\n  \r\n0.002,-12,-2.5e-6\r\n\r\n\r\n"),
        ("UTF-8 text in an extra column", "time_s,pulse_v,current_a,Rs Ω\n0,12,1e-5,Ω\n0.001,12,1.5e-5,\"µA, 🔌\"\n0.002,-12,-2.5e-6,Ω\n"),
        ("numbers as Python's repr writes them", "time_s,pulse_v,current_a\n0.0,12.0,1e-05\n0.001,12.0,1.5e-05\n0.002,-12.0,-2.5e-06\n"),
    ])
    func test_anRFC4180FormReadsTheSameAsTheLineFeedFile(form: String, text: String) throws {
        #expect(try PulseCSV.parse(text) == Self.expected, "\(form)")
        #expect(try PulseCSV.parse(utf8: Array(text.utf8)) == Self.expected, "\(form), from bytes")
    }

    @Test(arguments: [
        // The reason issue 12 §5 was filed: a CRLF header used to keep its CR in 'current_a'.
        ("time_s,pulse_v,current_a\r\n0,12,1e-5\r\n0.001,12,abc\r\n", 3, "current_a 'abc' is not a finite number"),
        ("time_s,pulse_v,current_a,note\n0,12,1e-5,x\n0.001,12,1e-5,\"open\n0.002,12,1e-5,x\n", 3,
         "field 4 opens a quote that is never closed"),
        ("time_s,pulse_v,current_a,note\n0,12,1e-5,x\n0.001,12,1e-5,ab\"c\n", 3, "stray quote in unquoted field 4"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,\"12\"x,1e-5\n", 3, "field 2 has text after its closing quote"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001, \"12\",1e-5\n", 3, "stray quote in unquoted field 2"),
        ("time_s,pulse_v,current_a\r\n0,12,1e-5\r\n0.001,12\r\n", 3, "2 fields, the header has 3"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1e-5,\n", 3, "4 fields, the header has 3"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001\n", 3, "1 field, the header has 3"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,\n", 3, "current_a '' is not a finite number"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,inf,1e-5\n", 3, "pulse_v 'inf' is not a finite number"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,nan,1e-5\n", 3, "pulse_v 'nan' is not a finite number"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0x1p-3,12,1e-5\n", 3, "time_s '0x1p-3' is not a finite number"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,1e999,1e-5\n", 3, "pulse_v '1e999' is not a finite number"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,\"1\"\"2\",1e-5\n", 3, "pulse_v '1\"2' is not a finite number"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1,5e-5\n", 3, "4 fields, the header has 3"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\r0.001,12,1e-5\n", 2, "carriage return without a line feed"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1e-5\r", 3, "carriage return without a line feed"),
        ("time_s,pulse_v,current_a\r\r\n0,12,1e-5\n", 1, "carriage return without a line feed"),
        ("time_s,pulse_v\r\n0,12\r\n", 1, "header lacks the column 'current_a'"),
        ("time_s;pulse_v;current_a\r\n0;12;1e-5\r\n", 1, "header lacks the column 'time_s'"),
        ("\n\nTime_s,pulse_v,current_a\n0,12,1e-5\n", 3, "header lacks the column 'time_s'"),
        ("time_s,pulse_v,current_a,time_s\n0,12,1e-5,0\n", 1, "header has the column 'time_s' 2 times"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1e-5\n0.001,12,1e-5\n", 4, "does not increase"),
        ("time_s,pulse_v,current_a\n0,12,1e-5\n", 1, "fewer than two samples"),
        ("", 1, "empty file"),
        ("\u{FEFF}", 1, "empty file"),
        ("\r\n\n  \r\n", 1, "empty file"),
        ("\u{FEFF}\u{FEFF}time_s,pulse_v,current_a\n0,12,1e-5\n0.001,12,1e-5\n", 1, "header lacks the column 'time_s'"),
    ])
    func test_aMalformedFileIsRefusedNamingTheLineAndTheReason(text: String, line: Int, reason: String) throws {
        let error = try #require(throws: PulseCSVError.self) { try PulseCSV.parse(text) }
        #expect(error.line == line, "\(error)")
        #expect(error.reason.contains(reason), "\(error)")
    }

    @Test func test_anErrorAfterAQuotedLineBreakNamesThePhysicalLineOfItsRecord() throws {
        // Lines 2-4 are one record; the bad one starts on line 6 after another two-line record.
        let text = "time_s,note,pulse_v,current_a\n0,\"a\n\nb\",12,1e-5\n0.001,\"c\r\nd\",12,1e-5\n0.002,x,12,oops\n"
        let error = try #require(throws: PulseCSVError.self) { try PulseCSV.parse(text) }
        #expect(error.line == 7 && error.reason == "current_a 'oops' is not a finite number", "\(error)")
        let unclosed = "time_s,note,pulse_v,current_a\n0,\"a\nb\",12,1e-5\n0.001,\"c\nd,12,1e-5\n0.002,x,12,1e-5\n"
        let unclosedError = try #require(throws: PulseCSVError.self) { try PulseCSV.parse(unclosed) }
        #expect(unclosedError.line == 4, "\(unclosedError)")
    }

    @Test(arguments: [
        ([0xFF], 3, "not UTF-8 text (byte 0xFF)"),
        ([0xC0, 0x80], 3, "not UTF-8 text (byte 0xC0)"),  // an overlong NUL
        ([0xED, 0xA0, 0x80], 3, "not UTF-8 text (bytes 0xED 0xA0)"),  // a UTF-16 surrogate
        ([0xE2, 0x82], 3, "not UTF-8 text (bytes 0xE2 0x82 0x2C)"),  // cut short by the comma after it
        ([0x22, 0x61, 0xFE, 0x22], 3, "not UTF-8 text (byte 0xFE)"),  // inside a quoted field
    ] as [([UInt8], Int, String)])
    func test_bytesThatAreNotUTF8AreRefusedNamingTheLine(bytes: [UInt8], line: Int, reason: String) throws {
        let file = Array("time_s,pulse_v,current_a,note\n0,12,1e-5,x\n0.001,12,1e-5,".utf8) + bytes + Array(",\n".utf8)
        let error = try #require(throws: PulseCSVError.self) { try PulseCSV.parse(utf8: file) }
        #expect(error.line == line, "\(error)")
        #expect(error.reason == reason, "\(error)")
    }

    @Test func test_aFileEndingInsideAUTF8CharacterIsRefused() throws {
        let file = Array("time_s,pulse_v,current_a,note\n0,12,1e-5,x\n0.001,12,1e-5,".utf8) + [0xF0, 0x9F, 0x94]
        let error = try #require(throws: PulseCSVError.self) { try PulseCSV.parse(utf8: file) }
        #expect(error.line == 3 && error.reason.contains("not UTF-8"), "\(error)")
    }

    /// One file with every construct the reader has to carry across a chunk boundary: the
    /// byte-order mark, CRLF, doubled quotes, quoted line breaks and multi-byte characters.
    static let awkward = Array(
        ("\u{FEFF}\"time_s\",note,pulse_v,current_a\r\n0,\"Ω \"\"x\"\"\r\n🔌\",12,1e-5\r\n"
            + "0.001,,12,\"1.5e-5\"\n\r\n0.002,\"a,b\",-12,-2.5e-6").utf8)

    @Test func test_feedingTheFileInTwoChunksSplitAnywhereReadsTheSame() throws {
        #expect(try PulseCSV.parse(utf8: Self.awkward) == Self.expected)
        for split in 0...Self.awkward.count {
            var reader = PulseCSV.Reader()
            try reader.feed(Self.awkward[..<split])
            try reader.feed(Self.awkward[split...])
            #expect(try reader.finish() == Self.expected, "split at byte \(split)")
        }
        var reader = PulseCSV.Reader()
        for byte in Self.awkward { try reader.feed(CollectionOfOne(byte)) }
        #expect(try reader.finish() == Self.expected, "one byte at a time")
    }

    @Test func test_anErrorIsTheSameHoweverTheFileIsSplit() throws {
        let file = Array("time_s,pulse_v,current_a,note\r\n0,12,1e-5,\"a\r\nb\"\r\n0.001,12,1e-5,x\r0.002,12,1e-5,x\r\n".utf8)
        let whole = try #require(throws: PulseCSVError.self) { try PulseCSV.parse(utf8: file) }
        #expect(whole.line == 4 && whole.reason == "carriage return without a line feed (lines must end in CRLF or LF)", "\(whole)")
        for split in 0...file.count {
            let error = try #require(throws: PulseCSVError.self) {
                var reader = PulseCSV.Reader()
                try reader.feed(file[..<split])
                try reader.feed(file[split...])
                _ = try reader.finish()
            }
            #expect(error == whole, "split at byte \(split)")
        }
    }

    /// Random samples written the ways an RFC 4180 writer may (quoted or not, CRLF or LF, a BOM
    /// or not, extra columns with awkward text), fed in random chunks: the samples come back.
    @Test func test_randomRFC4180EncodingsOfRandomSamplesReadBackExactly() throws {
        var random = PropertySeed.Generator(seed: 20_261_204)
        let notes = ["", "plain", "a,b", "say \"hi\"", "two\nlines", "crlf\r\nline", "Ω µA 🔌", " spaced "]
        for round in 0..<200 {
            var samples: [PulseSample] = []
            var time = Double.random(in: -10...10, using: &random)
            for _ in 0..<Int.random(in: 2...40, using: &random) {
                time += Double.random(in: 1e-6...0.01, using: &random)
                samples.append(
                    PulseSample(
                        timeSeconds: time, pulseVolts: Double.random(in: -50...50, using: &random),
                        currentAmperes: Double.random(in: -1e-3...1e-3, using: &random)))
            }
            let order = ["time_s", "pulse_v", "current_a", "note"].shuffled(using: &random)
            let quoteAll = Bool.random(using: &random)
            func field(_ text: String) -> String {
                // By scalar: Swift's Character "\r\n" equals neither "\r" nor "\n".
                let needsQuotes = text.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
                return quoteAll || needsQuotes ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
            }
            func lineEnd() -> String { Bool.random(using: &random) ? "\r\n" : "\n" }
            var text = Bool.random(using: &random) ? "\u{FEFF}" : ""
            text += order.map(field).joined(separator: ",") + lineEnd()
            for (index, sample) in samples.enumerated() {
                let values = [
                    "time_s": "\(sample.timeSeconds)", "pulse_v": "\(sample.pulseVolts)",
                    "current_a": "\(sample.currentAmperes)", "note": notes.randomElement(using: &random)!,
                ]
                text += order.map { field(values[$0]!) }.joined(separator: ",")
                if index < samples.count - 1 || Bool.random(using: &random) { text += lineEnd() }
            }
            let bytes = Array(text.utf8)
            var reader = PulseCSV.Reader()
            var position = 0
            while position < bytes.count {
                let next = min(bytes.count, position + Int.random(in: 1...64, using: &random))
                try reader.feed(bytes[position..<next])
                position = next
            }
            let read = try reader.finish()
            #expect(read == samples, "round \(round): \(text.debugDescription)")
            if read != samples { return }
        }
    }
}
