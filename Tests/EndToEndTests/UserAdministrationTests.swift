import Foundation
import IsoWatchCore
@testable import IsoWatchHTTP
import IsoWatchStore
import IsoWatchTesting
import Testing

/// Issue 14 §3 against the real service: the administration of users over the API (admins
/// only, journalled with the acting admin), the users file followed live, and sessions that end
/// the moment their user is disabled or deleted.
@Suite(.serialized)
struct UserAdministrationTests {
    struct Site {
        let harness: ServiceHarness
        let client: WebClient
        let usersFile: URL
        let scratch: ScratchDirectory

        func stop() async throws {
            try await harness.stop()
            scratch.remove()
        }

        func signIn(_ name: String) async throws -> String {
            try #require(try await client.login(name, TestUsers.passwords[name]!).cookie, "\(name) could not sign in")
        }

        /// `name` signed in, reading the systems and holding the live stream open: what must end.
        func readingAndStreaming(_ name: String) async throws -> (
            cookie: String, stream: EventStreamClient, readingStatus: Int, streamStatus: Int?
        ) {
            let cookie = try await signIn(name)
            let reading = try await client.send("GET", "/api/v1/systems", cookie: cookie)
            let stream = try EventStreamClient(port: harness.httpPort, cookie: cookie)
            return (cookie, stream, reading.status, await stream.responseStatus())
        }

        /// Journal entries whose kind starts with `kind`, newest first, read as an admin.
        func events(_ kind: String, cookie: String) async throws -> [[String: Any]] {
            let reply = try await client.send("GET", "/api/v1/events?kind=\(kind)&limit=200", cookie: cookie)
            return (try? JSONSerialization.jsonObject(with: reply.body) as? [[String: Any]]) ?? []
        }
    }

    /// The four test users (operator olga, viewer victor, engineer erik, admin ada), reading not
    /// open, a journal.
    func site() async throws -> Site {
        let scratch = try ScratchDirectory("isowatch-user-admin")
        let usersFile = scratch.url.appending(path: "users.yaml")
        try FileManager.default.moveItem(at: try TestUsers.file(), to: usersFile)
        let http = """
            { listen: "127.0.0.1:0", open_read: false, users_file: "\(usersFile.path)" }
            storage: { path: "\(scratch.url.appending(path: "history.sqlite").path)" }
            """
        let harness = try await ServiceHarness(site: TestUsers.site(), configurationYAML: TestUsers.configuration(http: http))
        return Site(harness: harness, client: WebClient(port: harness.httpPort), usersFile: usersFile, scratch: scratch)
    }

    static func error(_ reply: WebClient.Reply) -> String {
        reply.json?["error"] as? String ?? ""
    }

    @Test(.timeLimit(.minutes(3)))
    func test_onlyAdminsMayListAddChangeResetOrDeleteUsers() async throws {
        let site = try await site()
        func attempts(_ cookie: String?) async throws -> [Int] {
            [
                try await site.client.send("GET", "/api/v1/users", cookie: cookie).status,
                try await site.client.send(
                    "POST", "/api/v1/users", json: ["name": "nina", "role": "viewer", "password": "nina-password"], cookie: cookie
                ).status,
                try await site.client.send("PATCH", "/api/v1/users/olga", json: ["disabled": true], cookie: cookie).status,
                try await site.client.send(
                    "POST", "/api/v1/users/olga/password-reset", json: ["password": "another-password"], cookie: cookie
                ).status,
                try await site.client.send("DELETE", "/api/v1/users/olga", cookie: cookie).status,
            ]
        }
        let anonymous = try await attempts(nil)
        let viewer = try await attempts(try await site.signIn("victor"))
        let operatorRole = try await attempts(try await site.signIn("olga"))
        let engineer = try await attempts(try await site.signIn("erik"))
        let admin = try await site.signIn("ada")
        let list = try await site.client.send("GET", "/api/v1/users", cookie: admin)
        let unchanged = try UserDirectory.load(file: site.usersFile)
        try await site.stop()

        #expect(anonymous == [401, 401, 401, 401, 401])
        #expect(viewer == [403, 403, 403, 403, 403])
        #expect(operatorRole == [403, 403, 403, 403, 403])
        #expect(engineer == [403, 403, 403, 403, 403])
        #expect(list.status == 200)
        let users = (try? JSONSerialization.jsonObject(with: list.body) as? [[String: Any]]) ?? []
        #expect(users.map { $0["name"] as? String } == ["olga", "victor", "erik", "ada"])
        #expect(users.map { $0["role"] as? String } == ["operator", "viewer", "engineer", "admin"])
        #expect(users.allSatisfy { $0["disabled"] as? Bool == false && $0["must_change_password"] as? Bool == false })
        #expect(users.allSatisfy { Set($0.keys) == ["name", "role", "disabled", "must_change_password"] }, "never a hash")
        #expect(unchanged.accounts.map(\.name) == ["olga", "victor", "erik", "ada"], "no refused request changed the file")
    }

    /// The proof of issue 14 §3, through the API: disabling a signed-in user ends their session
    /// before the admin has the answer; their next request gets 401 with the reason, their live
    /// stream is closed, and they cannot sign in again until enabled.
    @Test(.timeLimit(.minutes(3)))
    func test_disablingASignedInUserEndsTheirSessionWithinASecond_throughTheAPI() async throws {
        let site = try await site()
        let admin = try await site.signIn("ada")
        let (olga, stream, reading, streamStatus) = try await site.readingAndStreaming("olga")

        let disabling = ContinuousClock.now
        let disabled = try await site.client.send("PATCH", "/api/v1/users/olga", json: ["disabled": true], cookie: admin)
        let next = try await site.client.send("GET", "/api/v1/systems", cookie: olga)
        let refusedAfter = disabling.duration(to: .now)
        let streamEnded = await stream.waitForEnd(timeoutSeconds: 10)
        let signInWhileDisabled = try await site.client.login("olga", TestUsers.passwords["olga"]!)
        let enabled = try await site.client.send("PATCH", "/api/v1/users/olga", json: ["disabled": false], cookie: admin)
        let signInAgain = try await site.client.login("olga", TestUsers.passwords["olga"]!)
        let onDisk = try UserDirectory.load(file: site.usersFile)
        await stream.close()
        try await site.stop()

        #expect(reading == 200)
        #expect(streamStatus == 200)
        #expect(disabled.status == 200)
        #expect(disabled.json?["disabled"] as? Bool == true)
        #expect(next.status == 401)
        #expect(Self.error(next).contains("'olga' was disabled"), "\(Self.error(next))")
        // The very next request after the answer is refused: "at once" needs no clock. The time is
        // printed, not asserted (a timed assertion flakes on a loaded CI machine).
        print("UserAdministrationTests: session ended \(refusedAfter) after the admin disabled the user (API)")
        #expect(streamEnded, "the disabled user's live stream is closed")
        #expect(signInWhileDisabled.reply.status == 403)
        #expect(Self.error(signInWhileDisabled.reply).contains("disabled"))
        #expect(enabled.status == 200)
        #expect(signInAgain.reply.status == 200)
        #expect(onDisk.account(named: "olga")?.disabled == false)
    }

    /// The proof of issue 14 §3, by editing the file on disk as a person with an editor would
    /// (written in place): the service notices the change by itself and the session ends within
    /// a second of the file being saved.
    @Test(.timeLimit(.minutes(3)))
    func test_disablingASignedInUserEndsTheirSessionWithinASecond_byEditingTheFileOnDisk() async throws {
        let site = try await site()
        let admin = try await site.signIn("ada")
        let (olga, stream, reading, streamStatus) = try await site.readingAndStreaming("olga")

        let text = try String(contentsOf: site.usersFile, encoding: .utf8)
        let edited = text.replacingOccurrences(
            of: "  - name: \"olga\"\n    role: operator\n", with: "  - name: \"olga\"\n    role: operator\n    disabled: true\n")
        try #require(edited != text)
        try Data(edited.utf8).write(to: site.usersFile)
        let saved = ContinuousClock.now
        var next = try await site.client.send("GET", "/api/v1/systems", cookie: olga)
        while next.status == 200, saved.duration(to: .now) < .seconds(20) {
            try await Task.sleep(for: .milliseconds(20))
            next = try await site.client.send("GET", "/api/v1/systems", cookie: olga)
        }
        let refusedAfter = saved.duration(to: .now)
        let streamEnded = await stream.waitForEnd(timeoutSeconds: 10)
        let others = try await site.client.send("GET", "/api/v1/systems", cookie: admin)
        var reloaded = try await site.events("users.file_reloaded", cookie: admin)
        let deadline = ContinuousClock.now + .seconds(15)
        while reloaded.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            reloaded = try await site.events("users.file_reloaded", cookie: admin)
        }
        await stream.close()
        try await site.stop()

        #expect(reading == 200 && streamStatus == 200)
        #expect(next.status == 401)
        #expect(Self.error(next).contains("'olga' was disabled"), "\(Self.error(next))")
        // The watcher looks every 0.5 s and reads 0.1 s after the last change, so the bound by
        // design is 0.6 s plus a request; measured here, printed rather than asserted (a timed
        // assertion flakes on a loaded CI machine).
        print("UserAdministrationTests: session ended \(refusedAfter) after the users file was saved")
        #expect(streamEnded, "the disabled user's live stream is closed")
        #expect(others.status == 200, "only the disabled user is signed out")
        let detail = reloaded.first?["detail"] as? [String: Any]
        #expect(detail?["users_sha256"] as? String == JournalChain.sha256Hex(Data(edited.utf8)), "\(reloaded)")
        #expect(detail?["source"] as? String == "file edited on disk")
    }

    /// A role is looked up at every request: a change through the API, and one through
    /// `isowatch user role`, applies to the session that is already open.
    @Test(.timeLimit(.minutes(3)))
    func test_aRoleChangeAppliesToTheOpenSessionsNextRequest() async throws {
        let site = try await site()
        let binary = try RepositoryPaths.requiredProduct("isowatch").path
        let victor = try await site.signIn("victor")
        let admin = try await site.signIn("ada")
        let asViewer = try await site.client.send("GET", "/api/v1/users", cookie: victor)
        let promoted = try await site.client.send("PATCH", "/api/v1/users/victor", json: ["role": "admin"], cookie: admin)
        let asAdmin = try await site.client.send("GET", "/api/v1/users", cookie: victor)
        let session = try await site.client.send("GET", "/api/v1/session", cookie: victor)
        let path = site.usersFile.path
        let demoted = try await onOwnThread { try ExternalPeer.run(binary, ["user", "role", "victor", "--role", "viewer", "--users", path]) }
        var afterCommand = try await site.client.send("GET", "/api/v1/users", cookie: victor)
        let deadline = ContinuousClock.now + .seconds(20)
        while afterCommand.status == 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            afterCommand = try await site.client.send("GET", "/api/v1/users", cookie: victor)
        }
        let stillSignedIn = try await site.client.send("GET", "/api/v1/systems", cookie: victor)
        try await site.stop()

        #expect(asViewer.status == 403)
        #expect(promoted.status == 200 && promoted.json?["role"] as? String == "admin")
        #expect(asAdmin.status == 200)
        #expect((session.json?["user"] as? [String: Any])?["role"] as? String == "admin")
        #expect(demoted.status == 0, "\(demoted.output)")
        #expect(afterCommand.status == 403, "the running service follows 'isowatch user role'")
        #expect(stillSignedIn.status == 200, "a new role does not sign the user out")
    }

    /// `isowatch user disable|enable|delete|list` on the file of a running service: the service
    /// follows each change by itself (the disabled user's session ends).
    @Test(.timeLimit(.minutes(3)))
    func test_userCommandsChangeTheFileAndTheRunningServiceFollows() async throws {
        let site = try await site()
        let binary = try RepositoryPaths.requiredProduct("isowatch").path
        let path = site.usersFile.path
        func user(_ arguments: String...) async throws -> (status: Int32, output: String) {
            try await onOwnThread { try ExternalPeer.run(binary, ["user"] + arguments + ["--users", path]) }
        }
        let victor = try await site.signIn("victor")
        let disabled = try await user("disable", "victor")
        let listed = try await user("list")
        var next = try await site.client.send("GET", "/api/v1/systems", cookie: victor)
        let deadline = ContinuousClock.now + .seconds(20)
        while next.status == 200, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            next = try await site.client.send("GET", "/api/v1/systems", cookie: victor)
        }
        let enabled = try await user("enable", "victor")
        let deleted = try await user("delete", "erik")
        let unknown = try await user("disable", "mallory")
        let lastAdmin = try await user("delete", "ada")
        let onDisk = try UserDirectory.load(file: site.usersFile)
        try await site.stop()

        #expect(disabled.status == 0, "\(disabled.output)")
        #expect(listed.status == 0)
        let lines = listed.output.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines == ["olga operator", "victor viewer disabled", "erik engineer", "ada admin"], "\(listed.output)")
        #expect(next.status == 401 && Self.error(next).contains("'victor' was disabled"), "\(Self.error(next))")
        #expect(enabled.status == 0 && deleted.status == 0)
        #expect(unknown.status != 0 && unknown.output.contains("no user named 'mallory'"), "\(unknown.output)")
        // The command line is the way back in: it may remove the last admin, and says what that means.
        #expect(lastAdmin.status == 0 && lastAdmin.output.contains("no enabled admin is left"), "\(lastAdmin.output)")
        #expect(onDisk.accounts.map(\.name) == ["olga", "victor"])
        #expect(onDisk.account(named: "victor")?.disabled == false)
    }

    /// Every change is journalled as `user.*` with the acting admin and the user changed; every
    /// new users file as `users.file_reloaded` with its SHA-256; a file that cannot be used as
    /// `users.file_rejected` with line and field.
    @Test(.timeLimit(.minutes(4)))
    func test_administrativeChangesAreJournalledWithTheActingUser() async throws {
        let site = try await site()
        let admin = try await site.signIn("ada")
        let olga = try await site.signIn("olga")
        let newUser = ["name": "nina", "role": "operator", "password": "nina-first-password"]
        let statuses = [
            try await site.client.send("POST", "/api/v1/users", json: newUser, cookie: admin).status,
            try await site.client.send("PATCH", "/api/v1/users/nina", json: ["role": "engineer"], cookie: admin).status,
            try await site.client.send("PATCH", "/api/v1/users/nina", json: ["disabled": true], cookie: admin).status,
            try await site.client.send("PATCH", "/api/v1/users/nina", json: ["disabled": false], cookie: admin).status,
            try await site.client.send(
                "POST", "/api/v1/users/nina/password-reset", json: ["password": "nina-second-password"], cookie: admin
            ).status,
            try await site.client.send("DELETE", "/api/v1/users/nina", cookie: admin).status,
            try await site.client.send(
                "POST", "/api/v1/session/password",
                json: ["current": TestUsers.passwords["olga"]!, "new": "olga-own-new-password"], cookie: olga
            ).status,
        ]
        let fileAfterChanges = try Data(contentsOf: site.usersFile)
        // A mistake made with an editor: reported, and the last good file stays in force.
        let broken = String(decoding: fileAfterChanges, as: UTF8.self).replacingOccurrences(of: "role: viewer", with: "role: veiwer")
        try Data(broken.utf8).write(to: site.usersFile)
        var rejected: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(20)
        while rejected.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            rejected = try await site.events("users.file_rejected", cookie: admin)
        }
        let victorStillSignsIn = try await site.client.login("victor", TestUsers.passwords["victor"]!)
        let changeRefused = try await site.client.send("PATCH", "/api/v1/users/victor", json: ["disabled": true], cookie: admin)
        let journal = try await site.events("user.", cookie: admin)
        let reloaded = try await site.events("users.file_reloaded", cookie: admin)
        try await site.stop()

        #expect(statuses == [201, 200, 200, 200, 200, 204, 204])
        func entry(_ kind: String) -> [String: Any]? { journal.first { $0["kind"] as? String == kind } }
        func text(_ entry: [String: Any]?) -> String { (entry?["detail"] as? [String: Any])?["text"] as? String ?? "" }
        for kind in ["user.added", "user.role_changed", "user.disabled", "user.enabled", "user.password_reset", "user.deleted"] {
            #expect(entry(kind)?["user"] as? String == "ada", "\(kind): \(journal)")
            #expect(text(entry(kind)).hasPrefix("nina: "), "\(kind): \(text(entry(kind)))")
        }
        #expect(text(entry("user.role_changed")).contains("operator → engineer"))
        #expect(entry("user.password_changed")?["user"] as? String == "olga")
        // One reload per change written (add, role, disable, enable, reset, delete, olga's password).
        let byAPI = reloaded.filter { ($0["detail"] as? [String: Any])?["source"] as? String == "administration API" }
        #expect(byAPI.count == 7, "\(reloaded)")
        #expect(
            (byAPI.first?["detail"] as? [String: Any])?["users_sha256"] as? String == JournalChain.sha256Hex(fileAfterChanges),
            "the newest reload names the file as it is on disk")
        #expect(byAPI.first?["user"] as? String == "olga")
        let errors = ((rejected.first?["detail"] as? [String: Any])?["errors"] as? [[String: Any]]) ?? []
        #expect(errors.count == 1, "\(rejected)")
        #expect(errors.first?["field"] as? String == "users[1].role")
        #expect((errors.first?["line"] as? NSNumber)?.intValue == 7)
        #expect(victorStillSignsIn.reply.status == 200, "the last good users file stays in force")
        #expect(changeRefused.status == 409, "the API does not overwrite a file someone is editing")
        #expect(Self.error(changeRefused).contains("users[1].role"), "\(Self.error(changeRefused))")
    }

    /// A password an admin set must be replaced before anything else: the user signs in, every
    /// other route answers 403 until `POST /api/v1/session/password`; the change keeps the
    /// session and clears the flag in the file. The reset itself ends the user's open sessions.
    @Test(.timeLimit(.minutes(3)))
    func test_aPasswordResetByAnAdminMustBeChangedAtTheNextSignIn() async throws {
        let site = try await site()
        let admin = try await site.signIn("ada")
        let before = try await site.signIn("olga")
        let reset = try await site.client.send(
            "POST", "/api/v1/users/olga/password-reset", json: ["password": "temporary-olga"], cookie: admin)
        let oldSession = try await site.client.send("GET", "/api/v1/systems", cookie: before)
        let oldPassword = try await site.client.login("olga", TestUsers.passwords["olga"]!)
        let signIn = try await site.client.login("olga", "temporary-olga")
        let olga = try #require(signIn.cookie)
        let reading = try await site.client.send("GET", "/api/v1/systems", cookie: olga)
        let action = try await site.client.send("POST", "/api/v1/systems/or-1/silence", cookie: olga)
        let session = try await site.client.send("GET", "/api/v1/session", cookie: olga)
        let wrongCurrent = try await site.client.send(
            "POST", "/api/v1/session/password", json: ["current": "not-it-at-all", "new": "olga-chosen-password"], cookie: olga)
        let tooShort = try await site.client.send(
            "POST", "/api/v1/session/password", json: ["current": "temporary-olga", "new": "short"], cookie: olga)
        let changed = try await site.client.send(
            "POST", "/api/v1/session/password", json: ["current": "temporary-olga", "new": "olga-chosen-password"], cookie: olga)
        let readingAfter = try await site.client.send("GET", "/api/v1/systems", cookie: olga)
        let onDisk = try UserDirectory.load(file: site.usersFile)
        let signInAfter = try await site.client.login("olga", "olga-chosen-password")
        try await site.stop()

        #expect(reset.status == 200)
        #expect(reset.json?["must_change_password"] as? Bool == true)
        #expect(oldSession.status == 401)
        #expect(Self.error(oldSession).contains("password"), "\(Self.error(oldSession))")
        #expect(oldPassword.reply.status == 401)
        #expect(signIn.reply.status == 200)
        #expect(signIn.reply.json?["must_change_password"] as? Bool == true)
        #expect(reading.status == 403)
        #expect(Self.error(reading).contains("password change required"))
        #expect(action.status == 403)
        #expect(session.status == 200)
        #expect((session.json?["user"] as? [String: Any])?["must_change_password"] as? Bool == true)
        #expect(wrongCurrent.status == 403)
        #expect(tooShort.status == 422)
        #expect(changed.status == 204)
        #expect(readingAfter.status == 200, "the session that changed the password stays")
        #expect(onDisk.account(named: "olga")?.mustChangePassword == false)
        #expect(signInAfter.reply.json?["must_change_password"] as? Bool == false)
    }

    @Test(.timeLimit(.minutes(3)))
    func test_theLastEnabledAdminCannotDeleteDisableOrDemoteThemself() async throws {
        let site = try await site()
        let admin = try await site.signIn("ada")
        let delete = try await site.client.send("DELETE", "/api/v1/users/ada", cookie: admin)
        let disable = try await site.client.send("PATCH", "/api/v1/users/ada", json: ["disabled": true], cookie: admin)
        let demote = try await site.client.send("PATCH", "/api/v1/users/ada", json: ["role": "engineer"], cookie: admin)
        let kept = try UserDirectory.load(file: site.usersFile).account(named: "ada")
        let second = try await site.client.send(
            "POST", "/api/v1/users", json: ["name": "bea", "role": "admin", "password": "second-admin-pw"], cookie: admin)
        let demotedNow = try await site.client.send("PATCH", "/api/v1/users/ada", json: ["role": "engineer"], cookie: admin)
        let afterDemotion = try await site.client.send("GET", "/api/v1/users", cookie: admin)
        try await site.stop()

        for refused in [delete, disable, demote] {
            #expect(refused.status == 409)
            #expect(Self.error(refused).contains("last enabled admin"), "\(Self.error(refused))")
        }
        #expect(kept?.role == .admin && kept?.disabled == false)
        #expect(second.status == 201)
        #expect(second.json?["must_change_password"] as? Bool == true, "a new user changes the password an admin chose")
        #expect(demotedNow.status == 200)
        #expect(afterDemotion.status == 403, "the demotion applies to the admin's own next request")
    }

    @Test(.timeLimit(.minutes(3)))
    func test_changesThatCannotBeMadeAreRefusedWithTheReason() async throws {
        let site = try await site()
        let admin = try await site.signIn("ada")
        func add(_ body: [String: Any]) async throws -> WebClient.Reply {
            try await site.client.send("POST", "/api/v1/users", json: body, cookie: admin)
        }
        let exists = try await add(["name": "olga", "role": "viewer", "password": "long-enough-pw"])
        let badName = try await add(["name": "o l g a", "role": "viewer", "password": "long-enough-pw"])
        let weak = try await add(["name": "nina", "role": "viewer", "password": "short"])
        let badRole = try await add(["name": "nina", "role": "surgeon", "password": "long-enough-pw"])
        let misspelt = try await add(["name": "nina", "role": "viewer", "password": "long-enough-pw", "disabld": true])
        let wrongType = try await site.client.send("PATCH", "/api/v1/users/olga", json: ["disabled": "yes"], cookie: admin)
        let nothing = try await site.client.send("PATCH", "/api/v1/users/olga", json: [:], cookie: admin)
        let unknown = try await site.client.send("PATCH", "/api/v1/users/mallory", json: ["disabled": true], cookie: admin)
        let unknownDelete = try await site.client.send("DELETE", "/api/v1/users/mallory", cookie: admin)
        let unknownReset = try await site.client.send(
            "POST", "/api/v1/users/mallory/password-reset", json: ["password": "long-enough-pw"], cookie: admin)
        let onDisk = try UserDirectory.load(file: site.usersFile)
        try await site.stop()

        #expect(exists.status == 409)
        #expect(badName.status == 422)
        #expect(weak.status == 422 && Self.error(weak).contains("at least 8"))
        #expect(badRole.status == 422 && Self.error(badRole).contains("viewer, operator, engineer, admin"))
        #expect(misspelt.status == 400 && Self.error(misspelt).contains("disabld"))
        #expect(wrongType.status == 400)
        #expect(nothing.status == 422)
        #expect(unknown.status == 404)
        #expect(unknownDelete.status == 404)
        #expect(unknownReset.status == 404)
        #expect(onDisk.accounts.map(\.name) == ["olga", "victor", "erik", "ada"])
        #expect(onDisk.accounts.allSatisfy { !$0.disabled })
    }

    /// The users page in headless Chromium (Tests/browser/users_test.py): an admin lists, adds,
    /// re-roles, disables, resets and deletes users with labelled controls; a user whose
    /// password was reset is sent to the password change first, then back to the overview.
    @Test(
        .enabled(if: DashboardTests.browserAvailable, "chromium and chromium-driver are not installed: run ./scripts/setup"),
        .timeLimit(.minutes(4)))
    func test_browserAdministersUsersAndForcesThePasswordChange() async throws {
        let site = try await site()
        let python = try TestTools.python()
        let script = RepositoryPaths.root.appending(path: "Tests/browser/users_test.py").path
        let arguments = [
            script, "--url", "http://127.0.0.1:\(site.harness.httpPort)", "--admin", "ada", "--admin-password",
            TestUsers.passwords["ada"]!,
        ]
        let result = try await onOwnThread { try ExternalPeer.run(python, arguments, timeoutSeconds: 180) }
        let onDisk = try UserDirectory.load(file: site.usersFile)
        try await site.stop()

        let lastLine = result.output.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let checks = ((try? JSONSerialization.jsonObject(with: Data(lastLine.utf8))) as? [String: Any])?["checks"]
            as? [String: [String: Any]] ?? [:]
        #expect(result.status == 0, "\(result.output)")
        for name in [
            "header_links_admins_to_users", "users_listed", "every_control_labelled", "user_added", "role_changed", "user_disabled",
            "password_reset", "user_deleted", "password_change_forced", "users_hidden_from_non_admins",
            "back_to_overview_after_change", "page_in_german",
        ] {
            #expect(checks[name]?["ok"] as? Bool == true, "\(name): \(checks[name]?["detail"] ?? "not run")")
        }
        #expect(onDisk.accounts.map(\.name) == ["olga", "victor", "erik", "ada"])
        #expect(onDisk.account(named: "olga")?.disabled == true)
        #expect(onDisk.account(named: "victor")?.role == .engineer)
        #expect(onDisk.account(named: "erik")?.mustChangePassword == false)
    }
}
