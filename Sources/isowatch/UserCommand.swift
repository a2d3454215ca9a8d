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
        subcommands: [Add.self])

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

        @Option(help: ArgumentHelp("bcrypt cost (4...31): 2^cost rounds.", visibility: .hidden))
        var cost: UInt8 = UserDirectory.defaultCost

        func run() async throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard (4...31).contains(cost) else { throw ValidationError("--cost must be 4...31") }
            let file = URL(fileURLWithPath: users)
            var directory = FileManager.default.fileExists(atPath: file.path)
                ? try UserDirectory.load(file: file) : UserDirectory()
            let password = try readPassword(prompt: "Password for \(name): ")
            let replacing = directory.account(named: name) != nil
            try directory.set(name: name, role: role, password: password, cost: cost)
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
}
