import Foundation

/// One problem in a configuration or device-profile file, located precisely enough that an
/// electrician on site can open the file at the right line without knowing the code. Its JSON
/// (`file`, `line`, `column`, `field`, `reason`) is how the HTTP API names a rejected upload's problems.
public struct ConfigurationError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// The file as the loader was given it (a path, or the name passed to `parse`).
    public var file: String
    /// 1-based line, or 0 when the problem concerns the whole file or directory.
    public var line: Int
    /// 1-based column (counted in Unicode scalars, as libyaml does), or 0 with `line`.
    public var column: Int
    /// Dotted path of the offending field, e.g. `systems[2].device.unit`; empty for file-level
    /// problems such as YAML syntax errors.
    public var field: String
    /// Why the value is rejected, with the accepted values where there is a closed set.
    public var reason: String

    public init(file: String, line: Int, column: Int, field: String, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.reason = reason
    }

    public var description: String {
        let location = line > 0 ? "\(file):\(line):\(column)" : file
        return field.isEmpty ? "\(location): \(reason)" : "\(location): field '\(field)': \(reason)"
    }
}

/// Every problem a loader found. Loaders report all of them at once, so a file with three
/// mistakes takes one edit, not three restarts.
public struct ConfigurationErrors: Error, Sendable, Equatable, CustomStringConvertible {
    public var errors: [ConfigurationError]

    public init(_ errors: [ConfigurationError]) {
        self.errors = errors
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
