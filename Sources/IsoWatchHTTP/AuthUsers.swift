import Foundation
import HummingbirdBcrypt
import Yams

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

    public init(name: String, role: Role, passwordBcrypt: String) {
        self.name = name
        self.role = role
        self.passwordBcrypt = passwordBcrypt
    }
}

/// The users file (`http.users_file`), written by `isowatch user add`:
///
/// ```yaml
/// users:
///   - name: alice
///     role: operator          # viewer | operator | engineer | admin
///     password_bcrypt: "$2b$12$…"
/// ```
public struct UserDirectory: Sendable, Equatable {
    public var accounts: [UserAccount]

    public struct FileError: Error, CustomStringConvertible {
        public var description: String
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

    /// Names appear in the journal and in cookies' sessions: plain, short, unambiguous.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-@".unicodeScalars.contains($0)
            }
    }

    public func account(named name: String) -> UserAccount? {
        accounts.first { $0.name == name }
    }

    /// Adds the user, or replaces the role and password of the user with that name.
    public mutating func set(name: String, role: Role, password: String, cost: UInt8 = defaultCost) throws {
        guard Self.isValidName(name) else {
            throw FileError(description: "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@', got '\(name)'")
        }
        guard !password.isEmpty else { throw FileError(description: "the password must not be empty") }
        let account = UserAccount(name: name, role: role, passwordBcrypt: Self.hash(password: password, cost: cost))
        if let index = accounts.firstIndex(where: { $0.name == name }) {
            accounts[index] = account
        } else {
            accounts.append(account)
        }
    }

    public static func load(file: URL) throws -> UserDirectory {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw FileError(description: "\(file.path): cannot read the users file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, fileName: file.path)
    }

    public static func parse(yaml: String, fileName: String) throws -> UserDirectory {
        let root: Any?
        do {
            root = try Yams.load(yaml: yaml)
        } catch {
            throw FileError(description: "\(fileName): not valid YAML: \(error)")
        }
        if root == nil { return UserDirectory() }
        guard let top = root as? [String: Any], Set(top.keys).isSubset(of: ["users"]) else {
            throw FileError(description: "\(fileName): expected a mapping with the one key 'users'")
        }
        guard let list = top["users"] as? [Any] ?? (top["users"] == nil ? [] : nil) else {
            throw FileError(description: "\(fileName): 'users' must be a list")
        }
        var directory = UserDirectory()
        for (index, item) in list.enumerated() {
            let field = "users[\(index)]"
            guard let entry = item as? [String: Any] else {
                throw FileError(description: "\(fileName): \(field) must be a mapping of name, role and password_bcrypt")
            }
            if let unknown = Set(entry.keys).subtracting(["name", "role", "password_bcrypt"]).sorted().first {
                throw FileError(description: "\(fileName): \(field).\(unknown): unknown key")
            }
            guard let name = entry["name"] as? String, isValidName(name) else {
                throw FileError(description: "\(fileName): \(field).name: 1 to 64 letters, digits, '.', '_', '-' or '@'")
            }
            guard let roleText = entry["role"] as? String, let role = Role(rawValue: roleText) else {
                throw FileError(
                    description: "\(fileName): \(field).role: one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            // A bcrypt hash in modular crypt format: $2a$ / $2b$ / $2y$, a two-digit cost, 53 characters of salt and hash.
            guard let hash = entry["password_bcrypt"] as? String, hash.count == 60, hash.hasPrefix("$2") else {
                throw FileError(description: "\(fileName): \(field).password_bcrypt: a bcrypt hash as written by 'isowatch user add'")
            }
            guard directory.account(named: name) == nil else {
                throw FileError(description: "\(fileName): \(field).name: '\(name)' appears twice")
            }
            directory.accounts.append(UserAccount(name: name, role: role, passwordBcrypt: hash))
        }
        return directory
    }

    public func yaml() -> String {
        var text = "# isowatch users: written by 'isowatch user add'. Passwords are kept only as bcrypt hashes.\nusers:\n"
        for account in accounts {
            text += "  - name: \"\(account.name)\"\n    role: \(account.role.rawValue)\n    password_bcrypt: \"\(account.passwordBcrypt)\"\n"
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
