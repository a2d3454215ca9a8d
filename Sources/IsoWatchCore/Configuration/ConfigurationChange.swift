import Foundation

// The change record's vocabulary (issue 14 §2, §4): how a configuration came to be in force, one
// recorded version, and the answer to a proposed change. Shared by the store that keeps the
// versions, the service that applies them and the HTTP API that shows them.

/// How a configuration version came to be applied.
public enum ConfigurationOrigin: String, CaseIterable, Sendable, Codable {
    /// The file found at service start differs from the last version recorded.
    case start
    /// `systemctl reload isowatch` (SIGHUP) re-read the file.
    case sighup
    /// `isowatch reload`.
    case cli
    /// Uploaded through `POST /api/v1/configuration`.
    case api
    /// An earlier version applied again (`POST /api/v1/configuration/history/{id}/rollback`).
    case rollback
}

/// One applied configuration version, as recorded and as the API shows it.
public struct ConfigurationVersionDocument: Sendable, Equatable, Codable {
    public var id: Int64
    public var appliedAt: Date
    /// Of the file's bytes, in lower-case hexadecimal: what `sha256sum` prints for the file.
    public var sha256: String
    /// The user who applied it, or `ConfigurationVersionDocument.editedOnDisk`.
    public var author: String
    public var origin: ConfigurationOrigin
    public var comment: String?
    /// The YAML text; nil in lists.
    public var content: String?
    /// Against the version before it; nil for the first version recorded.
    public var diff: ConfigurationDiff?

    /// The author of a version found at start that nobody applied through isowatch.
    public static let editedOnDisk = "file edited on disk"

    public init(
        id: Int64, appliedAt: Date, sha256: String, author: String, origin: ConfigurationOrigin, comment: String? = nil,
        content: String? = nil, diff: ConfigurationDiff? = nil
    ) {
        self.id = id
        self.appliedAt = appliedAt
        self.sha256 = sha256
        self.author = author
        self.origin = origin
        self.comment = comment
        self.content = content
        self.diff = diff
    }

    enum CodingKeys: String, CodingKey {
        case id, sha256, author, origin, comment, content, diff
        case appliedAt = "applied_at"
    }
}

/// The answer to a proposed configuration: previewed, applied, or why nothing changed.
public struct ConfigurationChangeDocument: Sendable, Equatable, Codable {
    public enum Outcome: String, Sendable, Codable {
        /// In force now, and recorded as `versionID`.
        case applied
        /// The same as the configuration in force: nothing to apply, nothing recorded.
        case unchanged
        /// Invalid (`errors`): nothing changed.
        case rejected
        /// It changes fields that need a restart (`diff.restartRequired`): nothing changed.
        case restartRequired = "restart_required"
        /// Valid; `diff` is what applying it would change. Nothing changed.
        case previewed
    }

    public var outcome: Outcome
    /// As `check-config` names them: file, line, column, field, reason.
    public var errors: [ConfigurationError]
    public var diff: ConfigurationDiff?
    /// The recorded version, when applied.
    public var versionID: Int64?
    /// Of the proposed file's bytes.
    public var sha256: String?

    public init(
        outcome: Outcome, errors: [ConfigurationError] = [], diff: ConfigurationDiff? = nil, versionID: Int64? = nil,
        sha256: String? = nil
    ) {
        self.outcome = outcome
        self.errors = errors
        self.diff = diff
        self.versionID = versionID
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey {
        case outcome, errors, diff, sha256
        case versionID = "version_id"
    }
}

/// What the HTTP API asks of the service to show and change the configuration in force. The
/// service validates completely and applies all or nothing; the API only maps answers to HTTP.
public protocol ConfigurationControl: Sendable {
    /// The version in force, with its content; nil before anything is recorded.
    func inForce() async -> ConfigurationVersionDocument?
    /// Validates `yaml` and diffs it against the configuration in force; applies nothing.
    func preview(yaml: String) async -> ConfigurationChangeDocument
    /// Validates, diffs and, unless it is rejected, unchanged or needs a restart, applies and records it.
    func apply(yaml: String, author: String, comment: String?, origin: ConfigurationOrigin) async -> ConfigurationChangeDocument
    /// Newest first, without content.
    func history(limit: Int) async -> [ConfigurationVersionDocument]
    /// One version with its content.
    func version(id: Int64) async -> ConfigurationVersionDocument?
    /// Applies version `id` again, recorded as a new version with origin `rollback`; answers as
    /// `apply`. An unknown id is `rejected` with one error naming it.
    func rollback(to id: Int64, author: String, comment: String?) async -> ConfigurationChangeDocument
}
