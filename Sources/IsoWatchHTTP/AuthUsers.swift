import Foundation
import HummingbirdBcrypt
import IsoWatchCore

#if canImport(Glibc)
import Glibc
#endif

/// What a signed-in user may do. Each role may do everything the roles before it may.
public enum Role: String, Sendable, CaseIterable, Comparable, Codable {
    /// Reads the dashboard and the API.
    case viewer
    /// Also silences, acknowledges and tests alarms: theatre staff and the facility's operators.
    case `operator`
    /// Also changes the configuration.
    case engineer
    /// Also manages users.
    case admin

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One person who can sign in. Only the bcrypt hash of the password is kept.
public struct UserAccount: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var passwordBcrypt: String
    /// Cannot sign in, and every open session ends. The account stays, so that the journal's
    /// entries under this name keep naming a known person.
    public var disabled: Bool
    /// May sign in, but only to change the password (after an administrator set it).
    public var mustChangePassword: Bool

    public init(name: String, role: Role, passwordBcrypt: String, disabled: Bool = false, mustChangePassword: Bool = false) {
        self.name = name
        self.role = role
        self.passwordBcrypt = passwordBcrypt
        self.disabled = disabled
        self.mustChangePassword = mustChangePassword
    }
}

/// The users file (`http.users_file`), written by `isowatch user …` and the administration API:
///
/// ```yaml
/// users:
///   - name: alice
///     role: operator          # viewer | operator | engineer | admin
///     password_bcrypt: "$2b$12$…"
///     disabled: true          # optional: cannot sign in
///     must_change_password: true   # optional: must change the password before anything else
/// ```
public struct UserDirectory: Sendable, Equatable {
    public var accounts: [UserAccount]

    /// The file cannot be written (I/O); the message names the file and the system's reason.
    public struct FileError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A change the rules of the directory do not allow; nothing was changed.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// A name, role or password that cannot be used.
            case invalid
            /// A user of that name exists already.
            case exists
            case noSuchUser
            /// The change would leave no enabled admin, and so nobody who can manage users.
            case lastAdmin
        }
        public var kind: Kind
        public var description: String

        public init(_ kind: Kind, _ description: String) {
            self.kind = kind
            self.description = description
        }
    }

    public init(accounts: [UserAccount] = []) {
        self.accounts = accounts
    }

    /// The cost of new hashes: 2^12 rounds, about a quarter of a second per sign-in on a small
    /// server, which makes guessing offline from a stolen file slow.
    public static let defaultCost: UInt8 = 12

    public static func hash(password: String, cost: UInt8 = defaultCost) -> String {
        Bcrypt.hash(password, cost: cost)
    }

    static let nameRule = "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'"

    /// Names appear in the journal and in cookies' sessions: plain, short, unambiguous.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-@".unicodeScalars.contains($0)
            }
    }

    /// Shortest password the administration API and the password change accept (NIST SP 800-63B's
    /// floor for a memorised secret chosen by a person).
    public static let minimumPasswordCharacters = 8
    /// bcrypt reads at most 72 bytes of a password: anything after them would silently not count.
    public static let maximumPasswordBytes = 72

    /// Why `password` cannot be set for `name`, or nil. Length only, no composition rules: long
    /// passphrases are what people remember.
    public static func passwordProblem(_ password: String, name: String) -> String? {
        // Counted in Unicode scalars, as JSON Schema's minLength in openapi.yaml counts.
        if password.unicodeScalars.count < minimumPasswordCharacters {
            return "the password is too short: at least \(minimumPasswordCharacters) characters"
        }
        if password.utf8.count > maximumPasswordBytes {
            return "the password is too long: bcrypt uses at most \(maximumPasswordBytes) bytes (UTF-8) of it"
        }
        if password.lowercased() == name.lowercased() {
            return "the password must not be the user's name"
        }
        return nil
    }

    public func account(named name: String) -> UserAccount? {
        accounts.first { $0.name == name }
    }

    /// Admins who can sign in: the people who can manage users.
    public var enabledAdminCount: Int {
        accounts.filter { $0.role == .admin && !$0.disabled }.count
    }

    /// Adds the user, or replaces the role and password of the user with that name (`isowatch user add`).
    public mutating func set(
        name: String, role: Role, password: String, mustChangePassword: Bool = false, cost: UInt8 = defaultCost
    ) throws {
        guard Self.isValidName(name) else { throw Refusal(.invalid, "\(Self.nameRule), got '\(name)'") }
        guard !password.isEmpty else { throw Refusal(.invalid, "the password must not be empty") }
        let hash = Self.hash(password: password, cost: cost)
        if let index = accounts.firstIndex(where: { $0.name == name }) {
            accounts[index].role = role
            accounts[index].passwordBcrypt = hash
            accounts[index].mustChangePassword = mustChangePassword
        } else {
            accounts.append(UserAccount(name: name, role: role, passwordBcrypt: hash, mustChangePassword: mustChangePassword))
        }
    }

    /// Adds a new user; a user of that name must not exist.
    public mutating func add(_ account: UserAccount) throws(Refusal) {
        guard Self.isValidName(account.name) else { throw Refusal(.invalid, "\(Self.nameRule), got '\(account.name)'") }
        guard self.account(named: account.name) == nil else {
            throw Refusal(.exists, "a user named '\(account.name)' exists already")
        }
        accounts.append(account)
    }

    /// Changes the account named `name`; the user must exist.
    public mutating func update(_ name: String, _ change: (inout UserAccount) -> Void) throws(Refusal) {
        guard let index = accounts.firstIndex(where: { $0.name == name }) else {
            throw Refusal(.noSuchUser, "no user named '\(name)'")
        }
        change(&accounts[index])
    }

    public mutating func remove(_ name: String) throws(Refusal) {
        guard let index = accounts.firstIndex(where: { $0.name == name }) else {
            throw Refusal(.noSuchUser, "no user named '\(name)'")
        }
        accounts.remove(at: index)
    }

    /// Refuses a directory that has lost its last enabled admin (one that had one before): with
    /// none, users could be managed only on the server's file system again.
    public func requireAnEnabledAdmin(before: UserDirectory, changing name: String) throws(Refusal) {
        guard before.enabledAdminCount > 0, enabledAdminCount == 0 else { return }
        throw Refusal(
            .lastAdmin,
            "'\(name)' is the last enabled admin: add or enable another admin first, so that someone can still manage users")
    }

    /// The keys of one user in the file.
    static let fileKeys = ["name", "role", "password_bcrypt", "disabled", "must_change_password"]

    /// Reads the users file; every problem in it is reported (file:line:column, field, reason).
    public static func load(file: URL) throws(ConfigurationErrors) -> UserDirectory {
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw unreadable(file, error)
        }
        return try parse(data: data, fileName: file.path)
    }

    static func unreadable(_ file: URL, _ error: any Error) -> ConfigurationErrors {
        ConfigurationErrors([
            ConfigurationError(
                file: file.path, line: 0, column: 0, field: "", reason: "cannot read the users file: \(error.localizedDescription)")
        ])
    }

    static func parse(data: Data, fileName: String) throws(ConfigurationErrors) -> UserDirectory {
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationErrors([
                ConfigurationError(file: fileName, line: 0, column: 0, field: "", reason: "the users file is not UTF-8 text")
            ])
        }
        return try parse(yaml: text, fileName: fileName)
    }

    /// The users in `yaml`, read with the project's YAML reader. An empty file is an error (a
    /// file cut short by an editor must not sign everybody out); no users is `users: []`.
    public static func parse(yaml: String, fileName: String) throws(ConfigurationErrors) -> UserDirectory {
        let diagnostics = YAMLDiagnostics(file: fileName)
        var directory = UserDirectory()
        if let root = diagnostics.compose(yaml),
            let top = YAMLValue(node: root, path: "", diagnostics: diagnostics).mapping(allowedKeys: ["users"])
        {
            var firstEntry: [String: String] = [:]
            for item in top["users"]?.sequence() ?? [] {
                guard let entry = item.mapping(allowedKeys: fileKeys) else { continue }
                let name = entry.required("name")?.string()
                if let name, !isValidName(name) { entry.report("name", Self.nameRule) }
                let role = entry.required("role")?.choice(Role.allCases.map { ($0.rawValue, $0) })
                // The value is never repeated in a message: a plain password put here by mistake
                // must not reach the log or the journal.
                var hash: String?
                if let value = entry.required("password_bcrypt", "a bcrypt hash as written by 'isowatch user add'") {
                    // A bcrypt hash in modular crypt format: $2a$ / $2b$ / $2y$, a two-digit cost, 53 characters of salt and hash.
                    if case .scalar(let scalar) = value.node, scalar.string.count == 60, scalar.string.hasPrefix("$2") {
                        hash = scalar.string
                    } else {
                        value.report("must be a bcrypt hash as written by 'isowatch user add' (the password itself is never stored)")
                    }
                }
                let disabled = entry["disabled"].map { $0.bool() } ?? false
                let mustChange = entry["must_change_password"].map { $0.bool() } ?? false
                guard let name, isValidName(name) else { continue }
                if let first = firstEntry[name] {
                    entry.report("name", "'\(name)' appears twice (first as \(first))")
                    continue
                }
                firstEntry[name] = item.path
                guard let role, let hash, let disabled, let mustChange else { continue }
                directory.accounts.append(
                    UserAccount(name: name, role: role, passwordBcrypt: hash, disabled: disabled, mustChangePassword: mustChange))
            }
        }
        let errors = diagnostics.errors
        guard errors.isEmpty else { throw ConfigurationErrors(errors) }
        return directory
    }

    /// The file's text. `disabled` and `must_change_password` appear only when true, so that a
    /// file without them reads as it always did.
    public func yaml() -> String {
        var text = "# isowatch users: written by 'isowatch user' and the dashboard. Passwords are kept only as bcrypt hashes.\nusers:"
        if accounts.isEmpty { return text + " []\n" }
        text += "\n"
        for account in accounts {
            text += "  - name: \"\(account.name)\"\n    role: \(account.role.rawValue)\n    password_bcrypt: \"\(account.passwordBcrypt)\"\n"
            if account.disabled { text += "    disabled: true\n" }
            if account.mustChangePassword { text += "    must_change_password: true\n" }
        }
        return text
    }

    /// The mode of the users file: the service's group (`isowatch`) reads it, nobody else does.
    public static let fileMode: mode_t = 0o640

    /// Writes the file atomically: a new file in the same directory (created exclusively, mode
    /// 0640 from the start), written whole and fsynced, renamed over the old one, then the
    /// directory fsynced. A reader (the service) sees the old file or the new one, never a part.
    ///
    /// Owner: `root:group` when run as root and the group exists (the service runs as that group
    /// and must read the file); otherwise the owner and group of the file it replaces, as far as
    /// this user may set them, or this user's for a new file.
    public func write(to file: URL, group: String = "isowatch") throws {
        func failure(_ what: String) -> FileError {
            FileError(description: "\(file.path): cannot write the users file: \(what): \(String(cString: strerror(errno)))")
        }
        let directory = file.deletingLastPathComponent()
        let temporary = directory.appending(path: ".\(file.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, Self.fileMode)
        guard descriptor >= 0 else { throw failure("cannot create \(temporary.lastPathComponent)") }
        var renamed = false
        defer { if !renamed { unlink(temporary.path) } }
        do {
            defer { close(descriptor) }
            // The umask may have taken bits away; the mode is set, not left to it.
            guard fchmod(descriptor, Self.fileMode) == 0 else { throw failure("chmod") }
            if let owner = Self.owner(replacing: file, group: group), fchown(descriptor, owner.user, owner.group) != 0,
                geteuid() == 0
            {
                throw failure("chown")
            }
            let bytes = Array(yaml().utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw failure("write") }
                written += count
            }
            guard fsync(descriptor) == 0 else { throw failure("fsync") }
        }
        guard rename(temporary.path, file.path) == 0 else { throw failure("rename") }
        renamed = true
        // The rename itself is durable only once the directory is on disk.
        let directoryDescriptor = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Who should own the users file (see `write(to:group:)`), or nil to leave the new file as created.
    static func owner(replacing file: URL, group: String) -> (user: uid_t, group: gid_t)? {
        if geteuid() == 0, let gid = groupID(group) { return (0, gid) }
        var existing = stat()
        guard stat(file.path, &existing) == 0 else { return nil }
        return (existing.st_uid, existing.st_gid)
    }

    static func groupID(_ name: String) -> gid_t? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }
}
