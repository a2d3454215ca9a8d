import Foundation

#if canImport(Glibc)
import Glibc
#endif
import IsoWatchCore
import IsoWatchStore
import Logging
import ServiceLifecycle
import UnixSignals

/// Changes the configuration of the running service (issue 14 §2): from the file on disk
/// (SIGHUP, `systemctl reload`, `isowatch reload`) or from text an engineer uploads. A new
/// configuration is validated completely first, like `check-config`; then it is either applied,
/// system by system (`Installation.apply`), or nothing changes and the answer says why. What
/// cannot change while the service runs (the HTTP listener, the database, the GPIO backend, the
/// BMS server) rejects the whole change as needing a restart; nothing is applied partly.
///
/// One change at a time: the actor serialises them.
public actor ConfigurationChanges {
    public struct Result: Sendable {
        public enum Outcome: String, Sendable {
            case applied, unchanged, rejected, previewed
            case restartRequired = "restart_required"
        }

        public var outcome: Outcome
        public var errors: [ConfigurationError] = []
        public var diff: ConfigurationDiff?
        public var sha256: String?
        /// The recorded version, when applied (with a storage).
        public var versionID: Int64?
        /// What went wrong applying a valid configuration (a line that could not be claimed).
        public var failure: String?

        /// The lines a person reads: the errors, or the changes.
        public var summary: [String] {
            if !errors.isEmpty { return errors.map(\.description) }
            var lines: [String] = []
            if let failure { lines.append(failure) }
            if let diff {
                if outcome == .restartRequired {
                    lines.append("needs a restart (not applied): " + diff.restartRequired.joined(separator: ", "))
                } else {
                    lines += diff.summary
                }
            }
            return lines
        }
    }

    private let installation: Installation
    private let persistence: Persistence?
    private let history: ConfigurationHistory?
    private let logger: Logger
    /// The configuration in force: what the next change is compared with.
    public private(set) var inForce: Configuration

    init(installation: Installation, configuration: Configuration, persistence: Persistence?, logger: Logger) {
        self.installation = installation
        inForce = configuration
        self.persistence = persistence
        history = persistence.map { ConfigurationHistory(store: $0.store) }
        self.logger = logger
    }

    /// At start: the file in force is recorded as a version when it is not the last one recorded
    /// (a first start, or a file edited on disk while the service was stopped).
    func recordAtStart() async {
        guard let history, let source = inForce.source else { return }
        let latest = try? await history.latest()
        guard latest?.sha256 != JournalChain.sha256Hex(source.contents) else { return }
        var diff: ConfigurationDiff?
        if let previous = latest?.content,
            let old = try? ConfigurationLoader.parse(
                yaml: previous, fileName: "version \(latest?.id ?? 0)", baseDirectory: Self.baseDirectory(of: inForce), profiles: nil)
        {
            diff = ConfigurationDiff.between(old, inForce)
        }
        _ = try? await history.record(
            ConfigurationHistory.Draft(
                appliedAt: Date(), content: source.contents, author: ConfigurationVersionDocument.editedOnDisk, origin: .start,
                comment: nil, diff: diff))
    }

    static func baseDirectory(of configuration: Configuration) -> URL {
        configuration.source?.directory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }

    /// Reads the configuration file again (the file the service was started with).
    public func reloadFile(origin: ConfigurationOrigin, author: String? = nil, comment: String? = nil) async -> Result {
        guard let source = inForce.source, source.isFile else {
            return Result(outcome: .rejected, failure: "the service was not started from a file; nothing to reload")
        }
        let path = source.path
        let file = URL(fileURLWithPath: path)
        let contents: Data
        do {
            contents = try Data(contentsOf: file)
        } catch {
            let reason = "cannot read the configuration: \(error.localizedDescription)"
            return record(
                Result(outcome: .rejected, errors: [ConfigurationError(file: path, line: 0, column: 0, field: "", reason: reason)]),
                origin: origin, author: author)
        }
        return await apply(contents: contents, fileName: path, origin: origin, author: author, comment: comment)
    }

    /// Validates `yaml` against the configuration in force and says what would change; applies nothing.
    public func preview(yaml: String) async -> Result {
        switch validate(contents: Data(yaml.utf8), fileName: Self.uploadName) {
        case let .failure(errors):
            return Result(outcome: .rejected, errors: errors.errors)
        case let .success((configuration, profiles)):
            let diff = ConfigurationDiff.between(inForce, configuration, oldProfiles: await installation.profiles, newProfiles: profiles)
            return Result(outcome: .previewed, diff: diff, sha256: JournalChain.sha256Hex(Data(yaml.utf8)))
        }
    }

    /// Validates and applies uploaded text; it is written to the configuration file once applied,
    /// so that a restart or the next reload starts from what is in force.
    public func apply(yaml: String, origin: ConfigurationOrigin, author: String?, comment: String?) async -> Result {
        await apply(contents: Data(yaml.utf8), fileName: Self.uploadName, origin: origin, author: author, comment: comment)
    }

    static let uploadName = "uploaded configuration"

    private func apply(contents: Data, fileName: String, origin: ConfigurationOrigin, author: String?, comment: String?) async -> Result {
        let sha256 = JournalChain.sha256Hex(contents)
        switch validate(contents: contents, fileName: fileName) {
        case let .failure(errors):
            return record(Result(outcome: .rejected, errors: errors.errors, sha256: sha256), origin: origin, author: author)
        case .success((var configuration, let profiles)):
            // The configuration in force keeps naming the file it lives in.
            if let source = inForce.source {
                configuration.source = ConfigurationSource(
                    path: source.path, contents: contents, directory: source.directory, isFile: source.isFile)
            }
            let diff = ConfigurationDiff.between(
                inForce, configuration, oldProfiles: await installation.profiles, newProfiles: profiles)
            if !diff.restartRequired.isEmpty {
                return record(Result(outcome: .restartRequired, diff: diff, sha256: sha256), origin: origin, author: author)
            }
            if diff.isEmpty {
                return Result(outcome: .unchanged, diff: diff, sha256: sha256)
            }
            if fileName == Self.uploadName, let source = inForce.source, source.isFile {
                let path = source.path
                do {
                    try Self.replaceFile(at: URL(fileURLWithPath: path), with: contents)
                } catch {
                    return record(
                        Result(
                            outcome: .rejected, diff: diff, sha256: sha256,
                            failure: "cannot write the configuration file \(path): \(error.localizedDescription)"),
                        origin: origin, author: author)
                }
            }
            var result = Result(outcome: .applied, diff: diff, sha256: sha256)
            do {
                try await installation.apply(configuration, profiles: profiles, diff: diff)
            } catch {
                // Lines that could not be claimed: nothing changed when they were new ones; a
                // line moving between systems is reported here and the rest is in force.
                result.failure = "\(error)"
                if diff.systems.allSatisfy({ $0.change != .restarted && $0.change != .removed }) {
                    result.outcome = .rejected
                    return record(result, origin: origin, author: author)
                }
            }
            inForce = configuration
            persistence?.journalConfigurationInForce(configuration, reason: origin.rawValue)
            // Each system's own event log says what the change did to it (`system.updated`,
            // `system.restarted`, `system.added`, `system.removed`).
            for change in diff.systems where change.change != .unchanged {
                persistence?.journal(
                    kind: "system.\(change.change.rawValue)", system: change.id, user: author,
                    detail: .object(["fields": .array(change.fields.map(JSONValue.string)), "origin": .string(origin.rawValue)]))
            }
            // The change record: the version, its author and diff, journalled with it.
            if let history {
                do {
                    result.versionID = try await history.record(
                        ConfigurationHistory.Draft(
                            appliedAt: Date(), content: contents, author: author ?? ConfigurationVersionDocument.editedOnDisk,
                            origin: origin, comment: comment, diff: diff))
                } catch {
                    logger.error("the applied configuration could not be recorded", metadata: ["error": "\(error)"])
                }
            }
            return record(result, origin: origin, author: author, comment: comment, journalled: history != nil)
        }
    }

    private func validate(contents: Data, fileName: String) -> Swift.Result<(Configuration, ProfileLibrary), ConfigurationErrors> {
        guard let text = String(data: contents, encoding: .utf8) else {
            return .failure(
                ConfigurationErrors([
                    ConfigurationError(file: fileName, line: 0, column: 0, field: "", reason: "the configuration is not UTF-8 text")
                ]))
        }
        let base = Self.baseDirectory(of: inForce)
        do {
            let configuration = try ConfigurationLoader.parse(yaml: text, fileName: fileName, baseDirectory: base, profiles: nil)
            let profiles = try ProfileLibrary.load(directory: configuration.profilesDirectory)
            return .success((configuration, profiles))
        } catch {
            return .failure(error)
        }
    }

    /// Logs and journals the outcome of a change.
    private func record(
        _ result: Result, origin: ConfigurationOrigin, author: String?, comment: String? = nil, journalled: Bool = false
    ) -> Result {
        var metadata: Logger.Metadata = ["origin": "\(origin.rawValue)", "outcome": "\(result.outcome.rawValue)"]
        if let author { metadata["user"] = "\(author)" }
        for (index, line) in result.summary.prefix(20).enumerated() { metadata["change.\(index)"] = "\(line)" }
        switch result.outcome {
        case .applied: logger.notice("configuration applied", metadata: metadata)
        case .rejected, .restartRequired: logger.error("configuration not applied; nothing changed", metadata: metadata)
        case .unchanged, .previewed: logger.info("configuration unchanged", metadata: metadata)
        }
        guard !journalled else { return result }
        var detail: [String: JSONValue] = [
            "origin": .string(origin.rawValue), "outcome": .string(result.outcome.rawValue),
            "changes": .array(result.summary.map(JSONValue.string)),
        ]
        detail["sha256"] = result.sha256.map(JSONValue.string) ?? .null
        detail["comment"] = comment.map(JSONValue.string) ?? .null
        persistence?.journal(
            kind: result.outcome == .applied ? "configuration.applied" : "configuration.rejected", user: author,
            detail: .object(detail))
        return result
    }

    /// Writes the file in one step: a temporary file beside it, flushed to disk with the file's
    /// mode, renamed over it. A crash leaves the old file or the new one, never a mix.
    static func replaceFile(at url: URL, with contents: Data) throws {
        struct WriteError: Error, CustomStringConvertible {
            var description: String
        }
        let mode = (try? FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) ?? 0o640
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).new")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard descriptor >= 0 else { throw WriteError(description: "\(temporary.path): \(String(cString: strerror(errno)))") }
        let written = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let flushed = fsync(descriptor)
        close(descriptor)
        guard written == contents.count, flushed == 0 else {
            unlink(temporary.path)
            throw WriteError(description: "\(temporary.path): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary.path, url.path) == 0 else {
            unlink(temporary.path)
            throw WriteError(description: "\(url.path): \(String(cString: strerror(errno)))")
        }
    }
}

/// `systemctl reload isowatch` (SIGHUP): reads the configuration file again and applies it.
struct ReloadOnHangUpService: Service {
    let changes: ConfigurationChanges
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await changes.recordAtStart()
        await withGracefulShutdownHandler {
            for await _ in signals.cancelOnGracefulShutdown() {
                logger.notice("SIGHUP: reading the configuration file again")
                _ = await changes.reloadFile(origin: .sighup)
            }
        } onGracefulShutdown: {}
    }
}

/// The dashboard's and the API's view of the change record (`/api/v1/configuration`).
extension ConfigurationChanges: ConfigurationControl {
    public func inForce() async -> ConfigurationVersionDocument? {
        let source = inForce.source
        let sha256 = source.map { JournalChain.sha256Hex($0.contents) }
        if let latest = try? await history?.latest(), latest.sha256 == sha256 { return latest }
        guard let source, let sha256 else { return nil }
        // Without a storage (or before the start was recorded): the file as read, unrecorded.
        return ConfigurationVersionDocument(
            id: 0, appliedAt: Date(), sha256: sha256, author: ConfigurationVersionDocument.editedOnDisk, origin: .start,
            content: String(decoding: source.contents, as: UTF8.self))
    }

    public func preview(yaml: String) async -> ConfigurationChangeDocument {
        Self.document(await preview(yaml: yaml))
    }

    public func apply(yaml: String, author: String, comment: String?, origin: ConfigurationOrigin) async
        -> ConfigurationChangeDocument
    {
        Self.document(await apply(yaml: yaml, origin: origin, author: author, comment: comment))
    }

    public func history(limit: Int) async -> [ConfigurationVersionDocument] {
        (try? await history?.versions(limit: limit)) ?? []
    }

    public func version(id: Int64) async -> ConfigurationVersionDocument? {
        try? await history?.version(id: id)
    }

    /// Applies an earlier version again: itself a new, recorded change.
    public func rollback(to id: Int64, author: String, comment: String?) async -> ConfigurationChangeDocument {
        guard let version = try? await history?.version(id: id), let content = version.content else {
            return ConfigurationChangeDocument(
                outcome: .rejected,
                errors: [
                    ConfigurationError(
                        file: "version \(id)", line: 0, column: 0, field: "", reason: "no recorded configuration version \(id)")
                ])
        }
        let note = comment.map { "rollback to version \(id): \($0)" } ?? "rollback to version \(id)"
        return Self.document(await apply(yaml: content, origin: .rollback, author: author, comment: note))
    }

    static func document(_ result: Result) -> ConfigurationChangeDocument {
        let outcome: ConfigurationChangeDocument.Outcome =
            switch result.outcome {
            case .applied: .applied
            case .unchanged: .unchanged
            case .rejected: .rejected
            case .restartRequired: .restartRequired
            case .previewed: .previewed
            }
        var errors = result.errors
        if let failure = result.failure {
            errors.append(ConfigurationError(file: uploadName, line: 0, column: 0, field: "", reason: failure))
        }
        return ConfigurationChangeDocument(
            outcome: outcome, errors: errors, diff: result.diff, versionID: result.versionID, sha256: result.sha256)
    }
}
