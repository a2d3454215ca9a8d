import FuzzSupport
import Foundation
import IsoWatchEstimator

/// Input: the text of a pulse CSV file. It parses into finite samples, or fails with a line
/// number and a reason.
@main
enum CSVFuzz {
    static func main() {
        Fuzzer.run { input in
            let text = String(decoding: input, as: UTF8.self)
            let minimumRate: Double? = input.first.map { $0 & 1 == 1 ? 100 : nil } ?? nil
            do {
                let samples = try PulseCSV.parse(text, minimumSampleRateHertz: minimumRate)
                _ = samples.count
            } catch let error as PulseCSVError {
                if error.line < 0 { Fuzzer.violated("an error's line number is not negative", "\(error)") }
                Fuzzer.requireClearMessage(error)
            } catch {
                Fuzzer.requireClearMessage(error)
            }
        }
    }
}
