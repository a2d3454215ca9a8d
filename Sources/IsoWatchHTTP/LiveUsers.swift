import Dispatch
import Foundation
import IsoWatchCore
import IsoWatchStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The users file as the running service holds it: the directory in force, or why there is none.
///
/// The file is watched: a change by an editor, by `isowatch user …` or by the administration API
/// takes effect without a restart. A changed file that cannot be used (a YAML mistake, a field
/// out of place) leaves the last good directory in force, is reported once with every problem
/// (file:line:column, field), and is read again at its next change. Every new directory is handed
/// to the session stores that follow it, so that sessions of disabled or deleted users end at once.
///
/// All reading and writing of the file happens one at a time on one dispatch queue of its own:
/// never on the cooperative pool, and an administrator's change never interleaves with a reload.
public final class LiveUsers: Sendable {
    public enum Availability: Sendable, Equatable {
        case available(UserDirectory)
        case unavailable(reason: String)
    }

    /// What happened to the file, for the log and the journal.
    public enum FileEvent: Sendable, Equatable {
        /// A new file is in force: edited on disk (`by` nil) or written by the administration API
        /// on behalf of the user `by`.
        case reloaded(file: String, sha256: String, users: Int, by: String?)
        /// A changed file that cannot be used; the last good directory stays in force.
        case rejected(file: String, errors: [ConfigurationError])

        /// `users.file_reloaded` or `users.file_rejected`.
        public var journalKind: String {
            switch self {
            case .reloaded: "users.file_reloaded"
            case .rejected: "users.file_rejected"
            }
        }

        /// The acting user of a change made through the API.
        public var user: String? {
            if case .reloaded(_, _, _, let by) = self { by } else { nil }
        }

        /// One line for the log.
        public var summary: String {
            switch self {
            case .reloaded(let file, let sha256, let users, let by):
                "users file \(file) in force (\(users) users, SHA-256 \(sha256)), \(by.map { "changed by \($0) through the API" } ?? "edited on disk")"
            case .rejected(let file, let errors):
                "users file \(file) rejected, the last good one stays in force: "
                    + errors.map(\.description).joined(separator: "; ")
            }
        }

        public var journalDetail: JSONValue {
            switch self {
            case .reloaded(let file, let sha256, let users, let by):
                [
                    "users_file": .string(file), "users_sha256": .string(sha256), "users": .number(Double(users)),
                    "source": .string(by == nil ? "file edited on disk" : "administration API"),
                ]
            case .rejected(let file, let errors):
                [
                    "users_file": .string(file), "kept": .string("the last good users file stays in force"),
                    "errors": .array(
                        errors.map { error in
                            [
                                "line": .number(Double(error.line)), "column": .number(Double(error.column)),
                                "field": .string(error.field), "reason": .string(error.reason),
                                "text": .string(error.description),
                            ]
                        }),
                ]
            }
        }
    }

    /// Where the file is and what it was when last looked at: a rename gives a new inode, an
    /// edit in place a new size or modification time.
    struct FileIdentity: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var sizeBytes: Int64
        var modifiedNanoseconds: Int64

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            sizeBytes = Int64(info.st_size)
            modifiedNanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        }

        /// nil when the file cannot be looked at (missing, permissions).
        static func of(_ file: URL) -> FileIdentity? {
            var info = stat()
            return stat(file.path, &info) == 0 ? FileIdentity(info) : nil
        }
    }

    private struct State {
        var availability: Availability
        /// The file as last read, valid or not; nil before the first look or while it is missing.
        var seen: FileIdentity?
        /// The SHA-256 of the bytes in force.
        var sha256InForce: String?
        var followers: [Follower] = []
    }

    private struct Follower {
        weak let sessions: SessionStore?
    }

    /// The users file; nil when the configuration names none (then the directory stays empty).
    public let file: URL?
    private let state: Mutex<State>
    private let onEvent: @Sendable (FileEvent) -> Void
    private let fileQueue = DispatchQueue(label: "isowatch-users-file")

    /// A fixed directory with no file behind it (tests, and a configuration without users).
    public init(_ directory: UserDirectory) {
        file = nil
        onEvent = { _ in }
        state = Mutex(State(availability: .available(directory)))
    }

    public init(unavailable reason: String) {
        file = nil
        onEvent = { _ in }
        state = Mutex(State(availability: .unavailable(reason: reason)))
    }

    /// The users of `file`, unavailable until `load()` has read it.
    public init(file: URL, onEvent: @escaping @Sendable (FileEvent) -> Void = { _ in }) {
        self.file = file
        self.onEvent = onEvent
        state = Mutex(State(availability: .unavailable(reason: "\(file.path) has not been read yet")))
    }

    public var availability: Availability { state.withLock { $0.availability } }

    public var directory: UserDirectory? {
        if case .available(let directory) = availability { return directory }
        return nil
    }


    /// Sessions of `sessions` end as soon as a new directory no longer allows them.
    func follow(_ sessions: SessionStore) {
        state.withLock { state in
            state.followers = state.followers.filter { $0.sessions != nil } + [Follower(sessions: sessions)]
        }
    }

    private func tellFollowers(_ directory: UserDirectory) {
        let stores = state.withLock { $0.followers.compactMap(\.sessions) }
        for store in stores { store.endSessions(notAllowedBy: directory) }
    }

    // MARK: - Reading

    /// Reads the file now. Without a directory in force (the service's start) a file that cannot
    /// be used makes the users unavailable and throws: sign-in answers 503 and the add-on is retried.
    /// With one, it is a reload like the watcher's: a bad file is reported and the last good stays.
    public func load() async throws {
        guard let file else { return }
        try await onFileQueue { [self] in
            let read = Self.read(file)
            let hadDirectory = directory != nil
            switch read.result {
            case .success(let (directory, sha256)):
                let changed = state.withLock { state in
                    defer {
                        state.availability = .available(directory)
                        state.seen = read.identity
                        state.sha256InForce = sha256
                    }
                    return hadDirectory && state.sha256InForce != sha256
                }
                tellFollowers(directory)
                if changed { onEvent(.reloaded(file: file.path, sha256: sha256, users: directory.accounts.count, by: nil)) }
            case .failure(let errors):
                if hadDirectory {
                    state.withLock { $0.seen = read.identity }
                    onEvent(.rejected(file: file.path, errors: errors.errors))
                } else {
                    // Nobody can sign in until the file can be used (no session can be open yet).
                    let reason = errors.errors.map(\.description).joined(separator: "; ")
                    state.withLock { $0.availability = .unavailable(reason: reason) }
                    throw errors
                }
            }
        }
    }

    /// Watches the file until cancelled: every `interval` its identity (inode, size, modification
    /// time) is compared with the one last read; a change is read once the file has stood still
    /// for `settle`, so that an editor writing in place is not caught half way.
    public func watch(every interval: Duration = .milliseconds(500), settle: Duration = .milliseconds(100)) async throws {
        guard let file else { return }
        while true {
            try await Task.sleep(for: interval)
            guard let changed = try await onFileQueue({ [self] in changedIdentity(file) }) else { continue }
            try await Task.sleep(for: settle)
            try await onFileQueue { [self] in reloadIfStill(changed, file) }
        }
    }

    /// The file's identity, when it differs from the one last read (`.some(nil)`: it went missing).
    private func changedIdentity(_ file: URL) -> FileIdentity?? {
        let now = FileIdentity.of(file)
        return state.withLock { $0.seen } == now ? nil : .some(now)
    }

    private func reloadIfStill(_ identity: FileIdentity?, _ file: URL) {
        // Still changing: the next look decides.
        guard FileIdentity.of(file) == identity else { return }
        let read = Self.read(file)
        // Changed while being read: the next look reads it again.
        guard read.identity == identity || identity == nil else { return }
        switch read.result {
        case .success(let (directory, sha256)):
            let changed = state.withLock { state in
                defer { state.seen = read.identity }
                guard state.sha256InForce != sha256 || state.availability != .available(directory) else { return false }
                state.availability = .available(directory)
                state.sha256InForce = sha256
                return true
            }
            guard changed else { return }
            tellFollowers(directory)
            onEvent(.reloaded(file: file.path, sha256: sha256, users: directory.accounts.count, by: nil))
        case .failure(let errors):
            state.withLock { $0.seen = read.identity }
            onEvent(.rejected(file: file.path, errors: errors.errors))
        }
    }

    /// One reading of the file: what it holds, and its identity as read (from the same descriptor).
    private static func read(_ file: URL) -> (identity: FileIdentity?, result: Result<(UserDirectory, String), ConfigurationErrors>) {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: file)
        } catch {
            return (nil, .failure(UserDirectory.unreadable(file, error)))
        }
        defer { try? handle.close() }
        var before = stat()
        let identified = fstat(handle.fileDescriptor, &before) == 0
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            return (nil, .failure(UserDirectory.unreadable(file, error)))
        }
        var after = stat()
        // Written to while it was read: report the identity after, which differs from any looked at before.
        let identity = identified && fstat(handle.fileDescriptor, &after) == 0 ? FileIdentity(after) : nil
        do throws(ConfigurationErrors) {
            let directory = try UserDirectory.parse(data: data, fileName: file.path)
            return (identity, .success((directory, JournalChain.sha256Hex(data))))
        } catch {
            return (identity, .failure(error))
        }
    }

    // MARK: - Writing

    /// Why `modify` changed nothing.
    public enum ModifyError: Error, CustomStringConvertible {
        /// The configuration names no users file.
        case noFile
        /// The file on disk cannot be used now: it is not overwritten (someone may be editing it).
        case fileInvalid(ConfigurationErrors)
        /// The change breaks a rule of the directory.
        case refused(UserDirectory.Refusal)
        /// The new file could not be written (a read-only file system, permissions, a full disk).
        case notWritten(String)

        public var description: String {
            switch self {
            case .noFile: "the configuration names no users file (http.users_file)"
            case .fileInvalid(let errors): "the users file on disk cannot be used; fix it first: \(errors)"
            case .refused(let refusal): refusal.description
            case .notWritten(let reason): reason
            }
        }
    }

    /// Applies `change` to the users file as it is on disk now, writes the result atomically
    /// (`UserDirectory.write`), and puts it in force at once: the sessions it no longer allows end
    /// before this returns. A change that changes nothing writes nothing. `by` is the acting user.
    public func modify<T: Sendable>(
        by user: String, _ change: @escaping @Sendable (inout UserDirectory) throws(UserDirectory.Refusal) -> T
    ) async throws(ModifyError) -> T {
        guard let file else { throw .noFile }
        do {
            return try await onFileQueue { [self] () throws(ModifyError) -> T in
                let current: UserDirectory
                do throws(ConfigurationErrors) {
                    current = try UserDirectory.load(file: file)
                } catch {
                    throw .fileInvalid(error)
                }
                var changed = current
                let result: T
                do throws(UserDirectory.Refusal) {
                    result = try change(&changed)
                } catch {
                    throw .refused(error)
                }
                guard changed != current else { return result }
                do {
                    try changed.write(to: file)
                } catch {
                    throw .notWritten("\(error)")
                }
                let text = Data(changed.yaml().utf8)
                let sha256 = JournalChain.sha256Hex(text)
                state.withLock { state in
                    state.availability = .available(changed)
                    state.sha256InForce = sha256
                    state.seen = FileIdentity.of(file)
                }
                tellFollowers(changed)
                onEvent(.reloaded(file: file.path, sha256: sha256, users: changed.accounts.count, by: user))
                return result
            }
        } catch let error as ModifyError {
            throw error
        } catch {
            throw .notWritten("\(error)")
        }
    }

    private func onFileQueue<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            fileQueue.async { continuation.resume(with: Result { try work() }) }
        }
    }
}
