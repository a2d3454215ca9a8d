import Foundation

/// A malformed measuring-signal file; `line` is 1-based, as editors count.
public struct PulseCSVError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// Reader of `time_s,pulse_v,current_a` files (extra columns in any position are ignored).
///
/// The syntax is RFC 4180's, because that is what Python's `csv` module and spreadsheets
/// write: records end in CRLF or LF (mixed is fine, the last one may have none), fields may be
/// quoted (`""` is a quote inside a quoted field, and a quoted field may hold commas and line
/// breaks), and a UTF-8 byte-order mark before the header is skipped. Beyond RFC 4180, for
/// files people write by hand: blank lines are skipped, and spaces or tabs around a header name
/// or a number are ignored. Everything else is refused with the physical line on which the
/// offending record starts.
public enum PulseCSV {
    public static let requiredColumns = ["time_s", "pulse_v", "current_a"]

    /// Samples in file order. Times must be finite and strictly increasing; with
    /// `minimumSampleRateHertz` the median sample rate must reach it.
    public static func parse(_ text: String, minimumSampleRateHertz: Double? = nil) throws -> [PulseSample] {
        try parse(utf8: text.utf8, minimumSampleRateHertz: minimumSampleRateHertz)
    }

    /// The same from the file's bytes, which must be UTF-8 (a file that is not is refused, not
    /// repaired: a replacement character in a number would only move the error elsewhere).
    public static func parse(
        utf8 bytes: some Collection<UInt8>, minimumSampleRateHertz: Double? = nil
    ) throws -> [PulseSample] {
        var reader = Reader()
        let readInPlace: Void? = try bytes.withContiguousStorageIfAvailable { try reader.read($0, isLast: true) }
        if readInPlace == nil { try reader.feed(bytes) }
        return try reader.finish(minimumSampleRateHertz: minimumSampleRateHertz)
    }

    /// The reader fed in chunks of any size (a chunk may end inside a record, a quoted field or
    /// a UTF-8 sequence), so a long recording need not be in memory as text. Complete records
    /// are checked as they arrive; after an error the reader must not be fed again.
    public struct Reader {
        /// The unfinished record at the end of what was fed: at most one record long.
        private var pending: [UInt8] = []
        /// Physical line of the first byte of `pending`.
        private var line = 1
        private var expectingByteOrderMark = true
        private var header: Header?
        private var headerLine = 0
        private var fields: [Field] = []
        private var samples: [PulseSample] = []

        public init() {}

        public mutating func feed(_ chunk: some Collection<UInt8>) throws {
            // Swapped out so that reading it does not overlap the mutation of `self`.
            var buffer: [UInt8] = []
            swap(&buffer, &pending)
            buffer.append(contentsOf: chunk)
            let consumed = try buffer.withUnsafeBufferPointer { try read($0, isLast: false) }
            buffer.removeFirst(consumed)
            swap(&buffer, &pending)
        }

        /// Ends the input: the last record needs no line end.
        public mutating func finish(minimumSampleRateHertz: Double? = nil) throws -> [PulseSample] {
            var buffer: [UInt8] = []
            swap(&buffer, &pending)
            _ = try buffer.withUnsafeBufferPointer { try read($0, isLast: true) }
            guard header != nil else {
                throw PulseCSVError(line: 1, reason: "empty file: expected the header time_s,pulse_v,current_a")
            }
            guard samples.count >= 2 else {
                throw PulseCSVError(line: headerLine, reason: "fewer than two samples")
            }
            if let minimumSampleRateHertz {
                var steps: [Double] = []
                steps.reserveCapacity(samples.count - 1)
                for index in 1..<samples.count { steps.append(samples[index].timeSeconds - samples[index - 1].timeSeconds) }
                let rate = 1 / median(steps)
                guard rate >= minimumSampleRateHertz * (1 - 1e-9) else {
                    throw PulseCSVError(
                        line: headerLine + 2,
                        reason: "sample rate \(String(format: "%.1f", rate)) Hz is below \(Int(minimumSampleRateHertz)) Hz")
                }
            }
            return samples
        }

        /// Takes every complete record of `bytes` and returns how many bytes they span; unless
        /// `isLast`, an unfinished record at the end is left for the next chunk.
        @discardableResult
        mutating func read(_ bytes: UnsafeBufferPointer<UInt8>, isLast: Bool) throws -> Int {
            var position = 0
            if expectingByteOrderMark {
                let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
                if bytes.count < mark.count && !isLast && bytes.elementsEqual(mark.prefix(bytes.count)) { return 0 }
                expectingByteOrderMark = false
                if bytes.starts(with: mark) { position = mark.count }
            }
            while position < bytes.count {
                guard let record = try PulseCSV.scanRecord(bytes, from: position, isLast: isLast, line: line, into: &fields)
                else { break }
                try take(bytes, line: line)
                line += record.lineBreaks
                position = record.end
            }
            return position
        }

        private mutating func take(_ bytes: UnsafeBufferPointer<UInt8>, line: Int) throws {
            if fields.count == 1 && !fields[0].quoted && PulseCSV.trimmed(bytes, fields[0]).isEmpty { return }
            guard let header else {
                self.header = try PulseCSV.header(bytes, fields, line: line)
                headerLine = line
                return
            }
            guard fields.count == header.fieldCount else {
                throw PulseCSVError(line: line, reason: "\(fields.count) field\(fields.count == 1 ? "" : "s"), the header has \(header.fieldCount)")
            }
            let time = try PulseCSV.number(bytes, fields[header.time], column: 0, line: line)
            let pulse = try PulseCSV.number(bytes, fields[header.pulse], column: 1, line: line)
            let current = try PulseCSV.number(bytes, fields[header.current], column: 2, line: line)
            if let last = samples.last, time <= last.timeSeconds {
                throw PulseCSVError(line: line, reason: "time_s \(time) does not increase (previous \(last.timeSeconds))")
            }
            samples.append(PulseSample(timeSeconds: time, pulseVolts: pulse, currentAmperes: current))
        }
    }

    struct Header {
        var fieldCount: Int
        var time: Int
        var pulse: Int
        var current: Int
    }

    /// A field's content: inside the quotes for a quoted one, with `""` still doubled.
    struct Field {
        var start: Int
        var end: Int
        var quoted = false
        var doubledQuote = false
    }

    private static let quote = UInt8(ascii: "\"")
    private static let comma = UInt8(ascii: ",")
    private static let lineFeed = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")

    /// Splits the record that starts at `start` into `fields`. Returns where the next record
    /// starts and how many line feeds this one spans (its line end included), or nil when the
    /// record runs past the end of `bytes` and more may come.
    static func scanRecord(
        _ bytes: UnsafeBufferPointer<UInt8>, from start: Int, isLast: Bool, line: Int, into fields: inout [Field]
    ) throws -> (end: Int, lineBreaks: Int)? {
        fields.removeAll(keepingCapacity: true)
        let count = bytes.count
        var position = start
        var lineBreaks = 0
        while true {
            var field = Field(start: position, end: position)
            if position < count && bytes[position] == quote {
                field.quoted = true
                position += 1
                field.start = position
                while true {
                    guard position < count else {
                        guard isLast else { return nil }
                        throw PulseCSVError(
                            line: line, reason: "field \(fields.count + 1) opens a quote that is never closed")
                    }
                    let byte = bytes[position]
                    if byte == quote {
                        // A quote at the very end of a chunk may be the first of a doubled pair.
                        guard position + 1 < count || isLast else { return nil }
                        if position + 1 < count && bytes[position + 1] == quote {
                            field.doubledQuote = true
                            position += 2
                            continue
                        }
                        field.end = position
                        position += 1
                        break
                    }
                    if byte == lineFeed {
                        lineBreaks += 1
                    } else if byte >= 0x80 {
                        guard let length = try multibyteLength(bytes, at: position, isLast: isLast, line: line)
                        else { return nil }
                        position += length
                        continue
                    }
                    position += 1
                }
                if position < count {
                    let next = bytes[position]
                    guard next == comma || next == lineFeed || next == carriageReturn else {
                        throw PulseCSVError(
                            line: line,
                            reason: "field \(fields.count + 1) has text after its closing quote (a quote inside a quoted field is written \"\")")
                    }
                }
            } else {
                while position < count {
                    let byte = bytes[position]
                    if byte == comma || byte == lineFeed || byte == carriageReturn { break }
                    if byte == quote {
                        throw PulseCSVError(
                            line: line,
                            reason: "stray quote in unquoted field \(fields.count + 1) (quote the whole field and double the quote)")
                    }
                    if byte >= 0x80 {
                        guard let length = try multibyteLength(bytes, at: position, isLast: isLast, line: line)
                        else { return nil }
                        position += length
                        continue
                    }
                    position += 1
                }
                field.end = position
            }
            fields.append(field)
            guard position < count else {
                guard isLast else { return nil }
                return (position, lineBreaks)
            }
            let byte = bytes[position]
            if byte == comma {
                position += 1
            } else if byte == lineFeed {
                return (position + 1, lineBreaks + 1)
            } else {
                // A carriage return: a line end only together with the line feed after it.
                guard position + 1 < count || isLast else { return nil }
                guard position + 1 < count && bytes[position + 1] == lineFeed else {
                    throw PulseCSVError(
                        line: line, reason: "carriage return without a line feed (lines must end in CRLF or LF)")
                }
                return (position + 2, lineBreaks + 1)
            }
        }
    }

    /// Length of the well-formed UTF-8 sequence whose lead byte (0x80 or above) is at
    /// `position`, or nil if the chunk ends inside it and more may come.
    private static func multibyteLength(
        _ bytes: UnsafeBufferPointer<UInt8>, at position: Int, isLast: Bool, line: Int
    ) throws -> Int? {
        let lead = bytes[position]
        // Unicode's table of well-formed sequences: no overlong forms, surrogates or values above U+10FFFF.
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        let length: Int
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: throw notUTF8(bytes[position...position], line: line)
        }
        for offset in 1..<length {
            guard position + offset < bytes.count else {
                guard isLast else { return nil }
                throw PulseCSVError(line: line, reason: "not UTF-8 text: the file ends inside a character")
            }
            let byte = bytes[position + offset]
            guard (offset == 1 ? secondRange : 0x80...0xBF).contains(byte) else {
                throw notUTF8(bytes[position...(position + offset)], line: line)
            }
        }
        return length
    }

    /// Names the bytes from the lead byte to the first one that cannot follow it.
    private static func notUTF8(_ sequence: Slice<UnsafeBufferPointer<UInt8>>, line: Int) -> PulseCSVError {
        let hex = sequence.map { "0x" + String($0, radix: 16, uppercase: true) }
        return PulseCSVError(
            line: line, reason: "not UTF-8 text (\(hex.count == 1 ? "byte" : "bytes") \(hex.joined(separator: " ")))")
    }

    static func header(_ bytes: UnsafeBufferPointer<UInt8>, _ fields: [Field], line: Int) throws -> Header {
        let names = fields.map { text(trimmed(bytes, $0), doubledQuote: $0.doubledQuote) }
        var columns: [Int] = []
        for name in requiredColumns {
            let matches = names.indices.filter { names[$0] == name }
            guard let column = matches.first else {
                throw PulseCSVError(
                    line: line, reason: "header lacks the column '\(name)' (expected time_s,pulse_v,current_a)")
            }
            guard matches.count == 1 else {
                throw PulseCSVError(line: line, reason: "header has the column '\(name)' \(matches.count) times")
            }
            columns.append(column)
        }
        return Header(fieldCount: fields.count, time: columns[0], pulse: columns[1], current: columns[2])
    }

    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>, _ field: Field) -> UnsafeBufferPointer<UInt8> {
        var start = field.start
        var end = field.end
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    private static func text(_ bytes: UnsafeBufferPointer<UInt8>, doubledQuote: Bool) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        return doubledQuote ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    static func number(
        _ bytes: UnsafeBufferPointer<UInt8>, _ field: Field, column: Int, line: Int
    ) throws -> Double {
        let digits = trimmed(bytes, field)
        if !field.doubledQuote, let value = decimal(digits), value.isFinite { return value }
        var shown = text(digits, doubledQuote: field.doubledQuote)
        if shown.count > 40 { shown = shown.prefix(40) + "…" }
        throw PulseCSVError(line: line, reason: "\(requiredColumns[column]) '\(shown)' is not a finite number")
    }

    /// A decimal number as Swift reads it, but only from the characters of one: Swift would also
    /// take "inf", "nan" and hexadecimal, which no recording holds.
    private static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
        guard !bytes.isEmpty, bytes.count <= 64 else { return nil }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "+"),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                continue
            default:
                return nil
            }
        }
        return Double(String(decoding: bytes, as: UTF8.self))
    }
}
