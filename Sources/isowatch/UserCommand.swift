import ArgumentParser
import Foundation
import IsoWatchHTTP

#if canImport(Glibc)
import Glibc
#endif

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Manage the users who may sign in to the dashboard and the API (http.users_file).",
        discussion: """
            Every command but list replaces the users file atomically (a new file in the same
            directory, fsynced, then renamed over the old one), so the service never reads half a
            file, and the running service applies the change by itself within a second: sessions of
            a disabled or deleted user end, a new role applies to the next request.
            """,
        subcommands: [Add.self, SetRole.self, Disable.self, Enable.self, Delete.self, List.self])

    /// The users file every subcommand works on.
    struct UsersFile: ParsableArguments {
        @Option(name: .customLong("users"), help: "The users file.")
        var path: String

        var url: URL { URL(fileURLWithPath: path) }

        func load() throws -> UserDirectory {
            try UserDirectory.load(file: url)
        }

        /// Loads the file, applies `change`, writes it back; warns when no enabled admin is left.
        func change(_ change: (inout UserDirectory) throws -> Void) throws {
            var directory = try load()
            let before = directory
            try change(&directory)
            try directory.write(to: url)
            if before.enabledAdminCount > 0 && directory.enabledAdminCount == 0 {
                FileHandle.standardError.write(
                    Data("warning: no enabled admin is left; users can now be managed only with 'isowatch user'\n".utf8))
            }
        }
    }

    static func role(_ text: String) throws -> Role {
        guard let role = Role(rawValue: text) else {
            throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return role
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user, or set an existing user's role and password.",
            discussion: """
                The password is read from the terminal without echo, or as one line from standard input
                when that is not a terminal. Only its bcrypt hash is written.

                The users file is replaced atomically (a new file in the same directory, fsynced, then
                renamed over the old one), so the service never reads half a file. Its mode is 0640.
                Run as root, the file is owned by root:isowatch when the group isowatch exists (the
                service reads it as that group); otherwise, and when not run as root, the file keeps
                the owner and group it had (a new file gets yours): then make sure the service's group
                can read it.
                """)

        @Argument(help: "The user's name (1 to 64 letters, digits, '.', '_', '-' or '@').")
        var name: String

        @Option(help: "viewer, operator (silence, acknowledge, test), engineer (also configuration) or admin.")
        var role: String

        @Option(help: "The users file; created (mode 0640) if it does not exist.")
        var users: String

        @Flag(help: "The user must change this password at the next sign-in (a password you chose for them).")
        var mustChangePassword = false

        @Option(help: ArgumentHelp("bcrypt cost (4...31): 2^cost rounds.", visibility: .hidden))
        var cost: UInt8 = UserDirectory.defaultCost

        func run() async throws {
            let role = try UserCommand.role(role)
            guard (4...31).contains(cost) else { throw ValidationError("--cost must be 4...31") }
            let file = URL(fileURLWithPath: users)
            var directory = FileManager.default.fileExists(atPath: file.path)
                ? try UserDirectory.load(file: file) : UserDirectory()
            let password = try readPassword(prompt: "Password for \(name): ")
            let replacing = directory.account(named: name) != nil
            try directory.set(name: name, role: role, password: password, mustChangePassword: mustChangePassword, cost: cost)
            try directory.write(to: file)
            print("\(replacing ? "updated" : "added") \(name) (\(role.rawValue)) in \(file.path)")
        }

        private func readPassword(prompt: String) throws -> String {
            if isatty(STDIN_FILENO) != 0 {
                var original = termios()
                tcgetattr(STDIN_FILENO, &original)
                var silent = original
                silent.c_lflag &= ~tcflag_t(ECHO)
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
                defer {
                    tcsetattr(STDIN_FILENO, TCSAFLUSH, &original)
                    print("")
                }
                print(prompt, terminator: "")
                fflush(nil)
                return readLine(strippingNewline: true) ?? ""
            }
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("no password on standard input")
            }
            return line
        }
    }

    /// The user a subcommand changes, and the users file.
    struct NamedUser: ParsableArguments {
        @Argument(help: "The user's name.")
        var name: String

        @OptionGroup var file: UsersFile

        /// Changes the file and says what was done (`done`: "disabled", "deleted", …).
        func change(_ done: String, _ change: (inout UserDirectory) throws -> Void) throws {
            try file.change(change)
            print("\(done) \(name) in \(file.path)")
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "role", abstract: "Set a user's role; it applies to their next request.")

        @OptionGroup var user: NamedUser

        @Option(help: "viewer, operator, engineer or admin.")
        var role: String

        func run() async throws {
            let role = try UserCommand.role(role)
            try user.change("set the role \(role.rawValue) of") { try $0.update(user.name) { $0.role = role } }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a user from signing in; their sessions end. The account stays (enable brings it back).")
        @OptionGroup var user: NamedUser

        func run() async throws { try user.change("disabled") { try $0.update(user.name) { $0.disabled = true } } }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled user sign in again.")
        @OptionGroup var user: NamedUser

        func run() async throws { try user.change("enabled") { try $0.update(user.name) { $0.disabled = false } } }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user; their sessions end.")
        @OptionGroup var user: NamedUser

        func run() async throws { try user.change("deleted") { try $0.remove(user.name) } }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users: name, role, and whether disabled or due a new password.")

        @OptionGroup var file: UsersFile

        func run() async throws {
            let directory = try file.load()
            let width = max(4, directory.accounts.map(\.name.count).max() ?? 0)
            for account in directory.accounts {
                var notes: [String] = []
                if account.disabled { notes.append("disabled") }
                if account.mustChangePassword { notes.append("must change password") }
                let name = account.name.padding(toLength: width, withPad: " ", startingAt: 0)
                let role = account.role.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                print("\(name)  \(role)  \(notes.joined(separator: ", "))".trimmingCharacters(in: .whitespaces))
            }
        }
    }
}
