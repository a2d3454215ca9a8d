import Foundation
import IsoWatchCore
@testable import IsoWatchHTTP
import IsoWatchStore
import IsoWatchTesting
import Synchronization
import Testing

/// The users file as data (issue 14 §3): read with the project's YAML reader, every problem named
/// by file, line and field; watched on disk; and the sessions that follow it.
@Suite(.serialized)
struct UsersFileTests {
    static let hash = UserDirectory.hash(password: "x", cost: 4)

    static func refusal(_ yaml: String) -> [ConfigurationError] {
        do {
            _ = try UserDirectory.parse(yaml: yaml, fileName: "users.yaml")
            return []
        } catch {
            return error.errors
        }
    }

    @Test func test_everyProblemOfAUsersFileIsReportedWithItsLineAndField() {
        let errors = Self.refusal(
            """
            users:
              - name: olga
                role: nurse
                password_bcrypt: "\(Self.hash)"
              - name: victor
                role: viewer
                password_bcrypt: "plain-secret"
                disabled: perhaps
              - name: "a b"
                role: admin
                password_bcrypt: "\(Self.hash)"
                must_chnage_password: true
              - name: olga
                role: viewer
                password_bcrypt: "\(Self.hash)"

            """)
        let found = errors.map { "\($0.line) \($0.field)" }
        #expect(
            found == [
                "3 users[0].role", "7 users[1].password_bcrypt", "8 users[1].disabled", "9 users[2].name",
                "12 users[2].must_chnage_password", "13 users[3].name",
            ], "\(errors)")
        #expect(errors.allSatisfy { $0.file == "users.yaml" && $0.column > 0 })
        #expect(errors[0].reason.contains("viewer, operator, engineer, admin"))
        #expect(errors[4].reason.contains("did you mean 'must_change_password'?"), "\(errors[4])")
        #expect(errors[5].reason.contains("appears twice"))
        // The value given for a hash is never repeated: it may be a password typed in by mistake.
        #expect(!errors.map(\.description).joined().contains("plain-secret"))
        #expect(ConfigurationErrors(errors).description.contains("users.yaml:3:11: field 'users[0].role'"), "\(errors)")
    }

    @Test func test_usersFilesWrittenBeforeTheNewFieldsStillLoad() throws {
        // As `isowatch user add` wrote it before issue 14, and a hand-written flow-style file.
        let written = """
            # isowatch users: written by 'isowatch user add'. Passwords are kept only as bcrypt hashes.
            users:
              - name: "olga"
                role: operator
                password_bcrypt: "\(Self.hash)"

            """
        let old = try UserDirectory.parse(yaml: written, fileName: "users.yaml")
        let flow = try UserDirectory.parse(
            yaml: "users:\n  - { name: ada, role: admin, password_bcrypt: \"\(Self.hash)\" }\n", fileName: "users.yaml")
        let none = try UserDirectory.parse(yaml: "users:\n", fileName: "users.yaml")
        #expect(old.accounts == [UserAccount(name: "olga", role: .operator, passwordBcrypt: Self.hash)])
        #expect(flow.account(named: "ada")?.disabled == false)
        #expect(flow.account(named: "ada")?.mustChangePassword == false)
        #expect(none.accounts.isEmpty)
        // An empty file is a file cut short, not a decision to sign everybody out.
        #expect(Self.refusal("").first?.reason.contains("empty") == true)
        #expect(Self.refusal("# nothing\n").first?.reason.contains("empty") == true)
    }

    @Test func test_disabledAndMustChangePasswordAreWrittenOnlyWhenTrueAndReadBack() throws {
        let directory = UserDirectory(accounts: [
            UserAccount(name: "olga", role: .operator, passwordBcrypt: Self.hash),
            UserAccount(name: "victor", role: .viewer, passwordBcrypt: Self.hash, disabled: true),
            UserAccount(name: "nina", role: .engineer, passwordBcrypt: Self.hash, mustChangePassword: true),
        ])
        let text = directory.yaml()
        let read = try UserDirectory.parse(yaml: text, fileName: "written.yaml")
        #expect(read == directory)
        #expect(text.components(separatedBy: "disabled: true").count == 2)
        #expect(text.components(separatedBy: "must_change_password: true").count == 2)
        #expect(!text.contains("false"))
        #expect(try UserDirectory.parse(yaml: UserDirectory().yaml(), fileName: "empty.yaml").accounts.isEmpty)
    }

    @Test func test_passwordRules() {
        #expect(UserDirectory.passwordProblem("short", name: "olga")?.contains("at least 8") == true)
        #expect(UserDirectory.passwordProblem(String(repeating: "ä", count: 40), name: "olga")?.contains("72 bytes") == true)
        #expect(UserDirectory.passwordProblem("Olga.Theatre", name: "olga.theatre") != nil)
        #expect(UserDirectory.passwordProblem("correct horse battery", name: "olga") == nil)
    }

    /// A real file, edited on disk as an editor does (in place) and as `isowatch user` does
    /// (replaced by a rename): each valid version is put in force and reported with the SHA-256 of
    /// its bytes; an invalid one is reported with line and field and changes nothing, until the
    /// next change fixes it.
    @Test(.timeLimit(.minutes(1)))
    func test_theWatcherAppliesEachValidEditAndKeepsTheLastGoodFileOverABadOne() async throws {
        let scratch = try ScratchDirectory("isowatch-users-watch")
        defer { scratch.remove() }
        let file = scratch.url.appending(path: "users.yaml")
        var directory = UserDirectory(accounts: [UserAccount(name: "olga", role: .operator, passwordBcrypt: Self.hash)])
        try directory.write(to: file)
        let events = Mutex<[LiveUsers.FileEvent]>([])
        let users = LiveUsers(file: file) { event in events.withLock { $0.append(event) } }
        try await users.load()
        let watcher = Task { try await users.watch() }
        defer { watcher.cancel() }
        func lastEvent() -> LiveUsers.FileEvent? { events.withLock { $0.last } }

        // In place, as an editor that truncates and writes.
        directory.accounts[0].role = .engineer
        try Data(directory.yaml().utf8).write(to: file)
        let edited = try await eventually(within: 20) { users.directory?.account(named: "olga")?.role == .engineer }
        let editedEvent = lastEvent()

        let bad = "users:\n  - name: olga\n    role: surgeon\n    password_bcrypt: \"\(Self.hash)\"\n"
        try Data(bad.utf8).write(to: file)
        let rejected = try await eventually(within: 20) { events.withLock { $0.count } == 2 }
        let rejectedEvent = lastEvent()
        let keptRole = users.directory?.account(named: "olga")?.role

        // Replaced by a rename, as `isowatch user` writes.
        directory.accounts.append(UserAccount(name: "victor", role: .viewer, passwordBcrypt: Self.hash, disabled: true))
        try directory.write(to: file)
        let renamed = try await eventually(within: 20) { users.directory?.account(named: "victor") != nil }
        let renamedEvent = lastEvent()
        watcher.cancel()

        #expect(edited)
        let editedHash = JournalChain.sha256Hex(Data(UserDirectory(accounts: [directory.accounts[0]]).yaml().utf8))
        #expect(editedEvent == .reloaded(file: file.path, sha256: editedHash, users: 1, by: nil), "\(String(describing: editedEvent))")
        #expect(rejected)
        guard case .rejected(let rejectedFile, let errors)? = rejectedEvent else {
            Issue.record("expected a rejection, got \(String(describing: rejectedEvent))")
            return
        }
        #expect(rejectedFile == file.path)
        #expect(errors.map { "\($0.line) \($0.field)" } == ["3 users[0].role"], "\(errors)")
        #expect(keptRole == .engineer, "the last good file stays in force")
        #expect(renamed)
        #expect(users.directory == directory)
        let renamedHash = JournalChain.sha256Hex(try Data(contentsOf: file))
        #expect(renamedEvent == .reloaded(file: file.path, sha256: renamedHash, users: 2, by: nil))
        #expect(events.withLock { $0.count } == 3, "each change reported once: \(events.withLock { $0 })")
    }

    /// The sessions follow the users file: a deleted, disabled or re-passworded user's sessions
    /// end at once with the reason; a changed role applies to the next request.
    @Test func test_sessionsEndAtOnceWhenTheUsersFileNoLongerAllowsThem() {
        let store = SessionStore(lifetime: .seconds(3600))
        let before = UserDirectory(accounts: ["olga", "victor", "erik", "ada"].map {
            UserAccount(name: $0, role: .operator, passwordBcrypt: Self.hash)
        })
        let tokens = Dictionary(uniqueKeysWithValues: before.accounts.map { ($0.name, store.open($0).token) })
        var after = before
        try? after.remove("olga")
        try? after.update("victor") { $0.disabled = true }
        try? after.update("erik") { $0.passwordBcrypt = UserDirectory.hash(password: "y", cost: 4) }
        try? after.update("ada") { $0.role = .admin }
        store.endSessions(notAllowedBy: after)

        #expect(store.lookup(token: tokens["olga"]!, users: after) == .ended(reason: "the user 'olga' was deleted"))
        #expect(store.lookup(token: tokens["victor"]!, users: after) == .ended(reason: "the user 'victor' was disabled"))
        #expect(store.lookup(token: tokens["erik"]!, users: after) == .ended(reason: "the password of 'erik' was changed"))
        #expect(store.lookup(token: tokens["ada"]!, users: after).user?.role == .admin)
        // Ended sessions are gone after their one refusal.
        #expect(store.lookup(token: tokens["victor"]!, users: after) == .unknown)
        // Enabling the user again does not bring the ended session back.
        #expect(store.lookup(token: tokens["victor"]!, users: before) == .unknown)
        // A lookup alone (no sweep) ends a session the directory no longer allows.
        let late = store.open(after.account(named: "ada")!).token
        var demoted = after
        try? demoted.update("ada") { $0.disabled = true }
        #expect(store.lookup(token: late, users: demoted) == .ended(reason: "the user 'ada' was disabled"))
    }
}
