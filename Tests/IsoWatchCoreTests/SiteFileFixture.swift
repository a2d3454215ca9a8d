import Foundation
import Testing

@testable import IsoWatchCore

/// A valid site file and the way the configuration suites probe it: each test changes one line of
/// it and expects the loader to name that file, line and field, as an operator would need to fix it.
struct SiteFileFixture: Sendable {
    let valid: String

    private static let library = Result { try Repository.library() }

    func parse(_ yaml: String) throws -> Configuration {
        try ConfigurationLoader.parse(
            yaml: yaml, fileName: "site.yaml", baseDirectory: URL(fileURLWithPath: "/etc/isowatch"),
            profiles: Self.library.get())
    }

    func errors(_ yaml: String) -> [ConfigurationError] {
        do {
            _ = try parse(yaml)
            return []
        } catch let failure as ConfigurationErrors {
            return failure.errors
        } catch {
            Issue.record("shipped profiles do not load: \(error)")
            return []
        }
    }

    /// The valid file with `old` (which must occur exactly once) replaced.
    func replacing(_ old: String, with new: String) -> String {
        precondition(valid.components(separatedBy: old).count == 2, "'\(old)' must occur once")
        return valid.replacingOccurrences(of: old, with: new)
    }

    /// Exactly one error, at this line and field.
    func expectSingleError(
        _ yaml: String, line: Int, field: String, reasonContains: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let found = errors(yaml)
        #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
        guard let error = found.first else { return }
        #expect(error.file == "site.yaml", sourceLocation: sourceLocation)
        #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
        #expect(error.field == field, "\(error)", sourceLocation: sourceLocation)
        if let reasonContains {
            #expect(error.reason.contains(reasonContains), "\(error)", sourceLocation: sourceLocation)
        }
    }
}
