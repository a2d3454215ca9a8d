import Foundation

/// A malformed measuring-signal file; `line` is 1-based, as editors count.
public struct PulseCSVError: Error, CustomStringConvertible, Equatable {
    public var line: Int
    public var reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// Reader of `time_s,pulse_v,current_a` files (extra columns in any position are ignored).
public enum PulseCSV {
    public static let requiredColumns = ["time_s", "pulse_v", "current_a"]

    /// Samples in file order. Times must be finite and strictly increasing; with
    /// `minimumSampleRateHertz` the median sample rate must reach it.
    public static func parse(_ text: String, minimumSampleRateHertz: Double? = nil) throws -> [PulseSample] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().makeIterator()
        var header: [Substring]?
        var headerLine = 0
        while let (index, line) = lines.next() {
            let trimmed = line.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\r")))
            if trimmed.isEmpty { continue }
            header = line.split(separator: ",", omittingEmptySubsequences: false).map {
                Substring($0.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\r\u{FEFF}"))))
            }
            headerLine = index + 1
            break
        }
        guard let header else { throw PulseCSVError(line: 1, reason: "empty file: expected the header time_s,pulse_v,current_a") }
        var columns: [Int] = []
        for name in requiredColumns {
            guard let column = header.firstIndex(of: Substring(name)) else {
                throw PulseCSVError(
                    line: headerLine, reason: "header lacks the column '\(name)' (expected time_s,pulse_v,current_a)")
            }
            columns.append(column)
        }
        var samples: [PulseSample] = []
        while let (index, line) = lines.next() {
            let number = index + 1
            let text = line.hasSuffix("\r") ? line.dropLast() : line
            if text.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            let fields = text.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw PulseCSVError(line: number, reason: "\(fields.count) fields, the header has \(header.count)")
            }
            var values: [Double] = []
            for (position, column) in columns.enumerated() {
                let field = fields[column].trimmingCharacters(in: .whitespaces)
                guard let value = Double(field), value.isFinite else {
                    throw PulseCSVError(
                        line: number, reason: "\(requiredColumns[position]) '\(field)' is not a finite number")
                }
                values.append(value)
            }
            if let last = samples.last, values[0] <= last.timeSeconds {
                throw PulseCSVError(line: number, reason: "time_s \(values[0]) does not increase (previous \(last.timeSeconds))")
            }
            samples.append(PulseSample(timeSeconds: values[0], pulseVolts: values[1], currentAmperes: values[2]))
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
}
