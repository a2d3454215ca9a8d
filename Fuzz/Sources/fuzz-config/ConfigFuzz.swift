import FuzzSupport
import Foundation
import IsoWatchCore

/// Input: the text of a site configuration file. It either loads, or fails with at least one
/// error that names a line and a reason: never a trap, never an empty error list.
@main
enum ConfigFuzz {
    static func main() {
        let root = Fuzzer.repositoryRoot
        let profiles: ProfileLibrary
        do {
            profiles = try ProfileLibrary.load(directory: root.appending(path: "hardware/profiles"))
        } catch {
            fatalError("cannot load the shipped profiles: \(error)")
        }
        let base = root.appending(path: "hardware/demo")
        Fuzzer.run { input in
            let yaml = String(decoding: input, as: UTF8.self)
            do throws(ConfigurationErrors) {
                let configuration = try ConfigurationLoader.parse(
                    yaml: yaml, fileName: "fuzz.yaml", baseDirectory: base, profiles: profiles)
                if configuration.systems.isEmpty {
                    Fuzzer.violated("a valid configuration has at least one IT system", yaml)
                }
                for system in configuration.systems
                where system.thresholds.insulationResponseOhms < 50_000 {
                    Fuzzer.violated("no response value below 50 kΩ is accepted (IEC 60364-7-710)", yaml)
                }
            } catch {
                if error.errors.isEmpty { Fuzzer.violated("a rejected configuration has errors", yaml) }
                for problem in error.errors { Fuzzer.requireClearMessage(problem) }
            }
        }
    }
}
