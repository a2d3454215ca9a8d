import Foundation

/// Every device profile of a directory, by id.
public struct ProfileLibrary: Sendable, Equatable {
    private var profiles: [String: DeviceProfile]

    public init(_ profiles: [DeviceProfile]) {
        self.profiles = Dictionary(profiles.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
    }

    public subscript(id: String) -> DeviceProfile? {
        profiles[id]
    }

    /// Profile ids, sorted.
    public var ids: [String] {
        profiles.keys.sorted()
    }

    /// Loads every `*.yaml` file of `directory` (other files, such as README.md, are ignored).
    /// One broken profile fails the whole load, with every problem of every file reported: a
    /// monitor that starts with a device silently missing is worse than one that refuses to start.
    public static func load(directory: URL) throws(ConfigurationErrors) -> ProfileLibrary {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw ConfigurationErrors([
                ConfigurationError(
                    file: directory.path, line: 0, column: 0, field: "",
                    reason: "cannot list the profiles directory: \(error.localizedDescription)")
            ])
        }
        var profiles: [DeviceProfile] = []
        var errors: [ConfigurationError] = []
        for name in names.sorted() where name.hasSuffix(".yaml") {
            let url = directory.appendingPathComponent(name)
            let id = String(name.dropLast(".yaml".count))
            do {
                let text = try String(contentsOf: url, encoding: .utf8)
                profiles.append(try DeviceProfile.parse(yaml: text, fileName: url.path, expectedID: id))
            } catch let failure as ConfigurationErrors {
                errors.append(contentsOf: failure.errors)
            } catch {
                errors.append(
                    ConfigurationError(
                        file: url.path, line: 0, column: 0, field: "",
                        reason: "cannot read the file as UTF-8 text: \(error.localizedDescription)"))
            }
        }
        if profiles.isEmpty, errors.isEmpty {
            errors.append(
                ConfigurationError(
                    file: directory.path, line: 0, column: 0, field: "",
                    reason: "the profiles directory holds no *.yaml profile"))
        }
        guard errors.isEmpty else { throw ConfigurationErrors(errors) }
        return ProfileLibrary(profiles)
    }
}
