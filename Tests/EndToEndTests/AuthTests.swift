import Foundation
import IsoWatchCore
@testable import IsoWatchHTTP
import Logging
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// An HTTP client that handles cookies by hand, as a test must see them: no cookie store, no
/// redirects followed.
struct WebClient {
    let base: String
    private let session: URLSession

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
        /// `isowatch_session=…` from Set-Cookie, ready for a Cookie header.
        var sessionCookie: String? {
            headers["set-cookie"]?.split(separator: ";").first.map(String.init)
        }
    }

    init(port: Int, scheme: String = "http", maximumConnections: Int? = nil) {
        base = "\(scheme)://127.0.0.1:\(port)"
        let configuration = URLSessionConfiguration.ephemeral
        if let maximumConnections { configuration.httpMaximumConnectionsPerHost = maximumConnections }
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        session = URLSession(configuration: configuration)
    }

    func send(_ method: String, _ path: String, json: [String: Any]? = nil, cookie: String? = nil) async throws -> Reply {
        try await send(
            method, path, body: try json.map { try JSONSerialization.data(withJSONObject: $0) }, contentType: "application/json",
            cookie: cookie)
    }

    /// A request with a body of any type (a YAML configuration); `contentType` is sent with a body only.
    func send(_ method: String, _ path: String, body: Data?, contentType: String?, cookie: String? = nil) async throws -> Reply {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        }
        if let cookie { request.setValue(cookie, forHTTPHeaderField: "Cookie") }
        let (data, response) = try await session.data(for: request)
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (key, value) in http?.allHeaderFields ?? [:] {
            headers[String(describing: key).lowercased()] = String(describing: value)
        }
        return Reply(status: http?.statusCode ?? 0, headers: headers, body: data)
    }

    /// Signs in and returns the session cookie, or nil with the reply that refused it.
    func login(_ name: String, _ password: String) async throws -> (cookie: String?, reply: Reply) {
        let reply = try await send("POST", "/api/v1/login", json: ["name": name, "password": password])
        return (reply.status == 200 ? reply.sessionCookie : nil, reply)
    }
}

/// Users for the tests, hashed with real bcrypt at the lowest cost (speed; the algorithm is the same).
enum TestUsers {
    static let passwords = ["olga": "theatre-3-op", "victor": "view-only", "erik": "engineer-pw", "ada": "admin-pw"]

    static func file() throws -> URL {
        var directory = UserDirectory()
        try directory.set(name: "olga", role: .operator, password: passwords["olga"]!, cost: 4)
        try directory.set(name: "victor", role: .viewer, password: passwords["victor"]!, cost: 4)
        try directory.set(name: "erik", role: .engineer, password: passwords["erik"]!, cost: 4)
        try directory.set(name: "ada", role: .admin, password: passwords["ada"]!, cost: 4)
        let url = FileManager.default.temporaryDirectory.appending(path: "isowatch-users-\(UUID().uuidString).yaml")
        try directory.write(to: url)
        return url
    }

    static func configuration(http: String) -> String {
        """
        site: { name: "Access test site" }
        http: \(http)
        gpio: { backend: simulated }
        systems:

        """
            + WalkingSkeletonTests.system(
                "or-1", location: "OR 1", profile: "acrel-aim-m10", transport: WalkingSkeletonTests.rtu, unit: 1,
                timeout: 0.2, firstLine: 0)
    }

    static func site() -> SiteDescription {
        let profiles = ServiceHarness.profiles
        return SiteDescription(endpoints: [
            .rtu(
                id: "rtu0", serialLine: SerialLine(baud: 19200, parity: .even),
                units: [
                    UnitDescription(
                        unit: 1, profileID: "acrel-aim-m10", state: .healthy(publishedBy: profiles["acrel-aim-m10"]!),
                        measurementIntervalSeconds: 0.25)
                ])
        ])
    }
}

/// Sign-in, sessions, roles and TLS against the real server.
@Suite(.serialized)
struct AuthTests {
    func harness(
        open: Bool = false, lifetime: Double = 3600, extra: String = "", storage: URL? = nil
    ) async throws -> (ServiceHarness, WebClient) {
        let users = try TestUsers.file()
        var http = """
            { listen: "127.0.0.1:0", open_read: \(open), users_file: "\(users.path)", session_lifetime_seconds: \(lifetime)\(extra) }
            """
        if let storage { http += "\nstorage: { path: \"\(storage.path)\" }" }
        let harness = try await ServiceHarness(site: TestUsers.site(), configurationYAML: TestUsers.configuration(http: http))
        return (harness, WebClient(port: harness.httpPort))
    }

    @Test func test_readingNeedsASessionUnlessReadingIsOpen() async throws {
        let (harness, client) = try await harness(open: false)
        let anonymous = try await client.send("GET", "/api/v1/systems")
        let anonymousOne = try await client.send("GET", "/api/v1/systems/or-1")
        let health = try await client.send("GET", "/healthz")
        let page = try await client.send("GET", "/")
        let session = try await client.send("GET", "/api/v1/session")
        let stream = try EventStreamClient(port: harness.httpPort)
        let streamStatus = await stream.responseStatus()
        await stream.close()
        let (cookie, _) = try await client.login("victor", TestUsers.passwords["victor"]!)
        let signedIn = try await client.send("GET", "/api/v1/systems", cookie: cookie)
        let signedInStream = try EventStreamClient(port: harness.httpPort, cookie: cookie)
        let signedInStreamStatus = await signedInStream.responseStatus()
        await signedInStream.close()
        try await harness.stop()

        let (openHarness, openClient) = try await self.harness(open: true)
        let openRead = try await openClient.send("GET", "/api/v1/systems")
        try await openHarness.stop()

        #expect(anonymous.status == 401)
        #expect(anonymous.json?["error"] is String)
        #expect(anonymousOne.status == 401)
        #expect(streamStatus == 401)
        #expect(health.status == 200)
        #expect(page.status == 200)
        #expect(session.status == 200)
        #expect(session.json?["open_read"] as? Bool == false)
        #expect(cookie != nil)
        #expect(signedIn.status == 200)
        #expect(signedInStreamStatus == 200)
        #expect(openRead.status == 200)
    }

    @Test func test_loginSetsAnHttpOnlyStrictCookieAndLogoutEndsTheSession() async throws {
        let (harness, client) = try await harness()
        let (cookie, reply) = try await client.login("olga", TestUsers.passwords["olga"]!)
        let session = try await client.send("GET", "/api/v1/session", cookie: cookie)
        let logout = try await client.send("POST", "/api/v1/logout", cookie: cookie)
        let afterLogout = try await client.send("GET", "/api/v1/systems", cookie: cookie)
        try await harness.stop()

        let setCookie = reply.headers["set-cookie"] ?? ""
        #expect(reply.status == 200)
        #expect(reply.json?["name"] as? String == "olga")
        #expect(reply.json?["role"] as? String == "operator")
        #expect(reply.json?["expires_at"] is String)
        #expect(setCookie.hasPrefix("isowatch_session="))
        #expect(setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Strict"))
        // A browser-session cookie: closing the browser forgets it (the server ends it itself).
        #expect(!setCookie.contains("Max-Age"))
        #expect(!setCookie.contains("Expires"))
        // Plain HTTP: a Secure cookie would never come back, and HSTS would mean nothing.
        #expect(!setCookie.contains("Secure"))
        #expect(reply.headers["strict-transport-security"] == nil)
        #expect(((session.json?["user"] as? [String: Any])?["name"] as? String) == "olga")
        #expect(logout.status == 204)
        #expect(logout.headers["set-cookie"]?.contains("Max-Age=0") == true)
        #expect(afterLogout.status == 401)
    }

    @Test func test_wrongPasswordAndUnknownNameGetTheSameRefusal() async throws {
        let (harness, client) = try await harness()
        let wrong = try await client.login("olga", "not-her-password")
        let unknown = try await client.login("mallory", "anything")
        let malformed = try await client.send("POST", "/api/v1/login", json: ["name": "olga"])
        try await harness.stop()
        #expect(wrong.reply.status == 401)
        #expect(unknown.reply.status == 401)
        #expect(wrong.reply.body == unknown.reply.body)
        #expect(wrong.reply.headers["set-cookie"] == nil)
        #expect(malformed.status == 400)
    }

    @Test func test_failedSignInsAreLimitedPerUser() async throws {
        let (harness, client) = try await harness()
        var statuses: [Int] = []
        for attempt in 1...5 {
            statuses.append(try await client.login("olga", "guess-\(attempt)").reply.status)
        }
        // The sixth attempt is refused before the password is looked at, even the right one.
        let limited = try await client.login("olga", TestUsers.passwords["olga"]!)
        // Another user is not locked out by olga's failures.
        let other = try await client.login("victor", TestUsers.passwords["victor"]!)
        try await harness.stop()
        #expect(statuses == Array(repeating: 401, count: 5))
        #expect(limited.reply.status == 429)
        #expect(limited.cookie == nil)
        #expect((Int(limited.reply.headers["retry-after"] ?? "") ?? 0) >= 1)
        #expect(other.reply.status == 200)
    }

    @Test func test_failedSignInsAreLimitedPerClientAddress() async throws {
        let (harness, client) = try await harness()
        var statuses: [Int] = []
        // Twenty different names from one address: each name stays under its own limit.
        for attempt in 1...20 {
            statuses.append(try await client.login("guess\(attempt)", "password").reply.status)
        }
        let limited = try await client.login("victor", TestUsers.passwords["victor"]!)
        try await harness.stop()
        #expect(statuses == Array(repeating: 401, count: 20))
        #expect(limited.reply.status == 429)
        #expect(limited.reply.headers["retry-after"] != nil)
    }

    @Test func test_sessionsExpire() async throws {
        let (harness, client) = try await harness(lifetime: 1)
        let (cookie, reply) = try await client.login("victor", TestUsers.passwords["victor"]!)
        let before = try await client.send("GET", "/api/v1/systems", cookie: cookie)
        // Wait past the one-second lifetime (any extra delay only makes it more expired).
        try await Task.sleep(for: .milliseconds(1500))
        let after = try await client.send("GET", "/api/v1/systems", cookie: cookie)
        try await harness.stop()
        #expect(reply.headers["set-cookie"]?.contains("Max-Age") == false)
        #expect(before.status == 200)
        #expect(after.status == 401)
    }

    @Test func test_actionsNeedASessionAndTheOperatorRole() async throws {
        let (harness, client) = try await harness(open: true)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.conditions.contains("insulation") }

        let anonymous = try await client.send("POST", "/api/v1/systems/or-1/silence")
        let viewer = try await client.login("victor", TestUsers.passwords["victor"]!).cookie
        let byViewer = try await client.send("POST", "/api/v1/systems/or-1/silence", cookie: viewer)
        let stillSounding = try await harness.system("or-1")
        let operatorCookie = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
        let unknown = try await client.send("POST", "/api/v1/systems/or-9/silence", cookie: operatorCookie)
        let silenced = try await client.send("POST", "/api/v1/systems/or-1/silence", cookie: operatorCookie)
        let engineer = try await client.login("erik", TestUsers.passwords["erik"]!).cookie
        let acknowledged = try await client.send("POST", "/api/v1/systems/or-1/acknowledge", cookie: engineer)
        try await harness.stop()

        #expect(anonymous.status == 401)
        #expect(byViewer.status == 403)
        #expect(stillSounding?.alarm.silenced == false)
        #expect(stillSounding?.outputs.buzzer == true)
        #expect(unknown.status == 404)
        #expect(silenced.status == 200)
        let alarm = silenced.json?["alarm"] as? [String: Any]
        #expect(alarm?["silenced"] as? Bool == true)
        // The user's name reaches the alarm record.
        #expect(alarm?["silenced_by"] as? String == "olga")
        #expect((silenced.json?["outputs"] as? [String: Any])?["buzzer"] as? Bool == false)
        // The lamp stays: silencing is not clearing.
        #expect((silenced.json?["outputs"] as? [String: Any])?["yellow"] as? Bool == true)
        #expect(acknowledged.status == 200)
    }

    @Test func test_signInsAndActionsAreJournaledWithTheUsersName() async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-auth-\(UUID().uuidString).sqlite")
        let (harness, client) = try await harness(open: true, extra: "", storage: database)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        _ = try await client.login("olga", "wrong")
        let cookie = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
        let silenced = try await client.send("POST", "/api/v1/systems/or-1/silence", cookie: cookie)
        let admin = try await client.login("ada", TestUsers.passwords["ada"]!).cookie
        let events = try await client.send("GET", "/api/v1/events?kind=user.&limit=50", cookie: admin)
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)

        let entries = (try? JSONSerialization.jsonObject(with: events.body)) as? [[String: Any]] ?? []
        let summary = Set(entries.map { "\($0["kind"] ?? "") \($0["user"] ?? "") \($0["system"] ?? "-")" })
        #expect(silenced.status == 200)
        #expect(events.status == 200)
        #expect(summary.contains("user.login_refused olga -"), "\(summary)")
        #expect(summary.contains("user.login olga -"), "\(summary)")
        #expect(summary.contains("user.silence olga or-1"), "\(summary)")
    }

    @Test func test_testButtonOverHTTPStartsATestForAnOperator() async throws {
        let (harness, client) = try await harness(open: true)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        let cookie = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
        let reply = try await client.send("POST", "/api/v1/systems/or-1/test", cookie: cookie)
        try await harness.stop()
        #expect(reply.status == 200)
        #expect((reply.json?["alarm"] as? [String: Any])?["state"] as? String == "test")
    }

    @Test func test_tlsServesHTTPSWithSecureCookies() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appending(path: "cert.pem").path
        let key = directory.appending(path: "key.pem").path
        let generated = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                ])
        }
        try #require(generated.status == 0, "openssl: \(generated.output)")
        let (harness, _) = try await harness(
            extra: #", tls: { certificate: "\#(certificate)", private_key: "\#(key)" }"#)
        let port = String(harness.httpPort)
        let password = TestUsers.passwords["olga"]!
        // curl, a client no one here wrote, trusting exactly the generated certificate.
        let https = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/curl",
                [
                    "-sS", "-i", "--cacert", certificate, "-H", "Content-Type: application/json", "--data",
                    #"{"name":"olga","password":"\#(password)"}"#, "https://127.0.0.1:\(port)/api/v1/login",
                ])
        }
        let plain = try await onOwnThread {
            try ExternalPeer.run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/healthz"])
        }
        // The client offers exactly one version; SECLEVEL=0 lets curl's OpenSSL offer 1.0/1.1 at all,
        // so that a refusal is the server's.
        func handshake(_ version: String) async throws -> (status: Int32, output: String) {
            try await onOwnThread {
                try ExternalPeer.run(
                    "/usr/bin/curl",
                    [
                        "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", certificate, "--ciphers", "DEFAULT@SECLEVEL=0",
                        "--tlsv\(version)", "--tls-max", version, "https://127.0.0.1:\(port)/healthz",
                    ])
            }
        }
        let tls10 = try await handshake("1.0")
        let tls11 = try await handshake("1.1")
        let tls12 = try await handshake("1.2")
        let tls13 = try await handshake("1.3")
        try await harness.stop()
        try? FileManager.default.removeItem(at: directory)

        #expect(https.status == 0, "\(https.output)")
        #expect(https.output.contains("HTTP/1.1 200"))
        // HSTS on every response under TLS.
        #expect(https.output.lowercased().contains("strict-transport-security: max-age="), "\(https.output)")
        // Refused by the server: its alert, not the client's own refusal to offer the version.
        #expect(tls10.status != 0 && tls10.output.contains("alert protocol version"), "\(tls10.output)")
        #expect(tls11.status != 0 && tls11.output.contains("alert protocol version"), "\(tls11.output)")
        #expect(tls12.status == 0 && tls12.output == "200", "\(tls12.output)")
        #expect(tls13.status == 0 && tls13.output == "200", "\(tls13.output)")
        let setCookie = https.output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
        #expect(setCookie.contains("Secure"))
        #expect(setCookie.contains("HttpOnly"))
        // Plain HTTP to the TLS port gets no HTTP answer.
        #expect(plain.output != "200")
    }

    @Test func test_brokenTLSFilesAreAConfigurationErrorNamingTheFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func generate(_ name: String) async throws -> (certificate: URL, key: URL) {
            let certificate = directory.appending(path: "\(name)-cert.pem")
            let key = directory.appending(path: "\(name)-key.pem")
            let result = try await onOwnThread {
                try ExternalPeer.run(
                    "/usr/bin/openssl",
                    [
                        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key.path,
                        "-out", certificate.path, "-days", "1", "-subj", "/CN=127.0.0.1",
                    ])
            }
            try #require(result.status == 0, "openssl: \(result.output)")
            return (certificate, key)
        }
        let one = try await generate("one")
        let other = try await generate("other")
        let garbage = directory.appending(path: "garbage.pem")
        try Data("not a certificate\n".utf8).write(to: garbage)
        let missing = directory.appending(path: "missing.pem")
        func refusal(_ certificate: URL, _ key: URL) -> String? {
            do {
                _ = try HTTPServer.makeApplication(
                    state: StubLiveState(), host: "127.0.0.1", port: 0, logger: Logger(label: "tls-test"),
                    access: WebAccess(
                        openRead: true, users: UserDirectory(), tls: TLSFiles(certificateChain: certificate, privateKey: key)))
                return nil
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(one.certificate, one.key) == nil)
        let garbageCertificate = refusal(garbage, one.key)
        #expect(garbageCertificate?.contains("http.tls.certificate") == true, "\(garbageCertificate ?? "accepted")")
        #expect(garbageCertificate?.contains(garbage.path) == true)
        let garbageKey = refusal(one.certificate, garbage)
        #expect(garbageKey?.contains("http.tls.private_key") == true, "\(garbageKey ?? "accepted")")
        #expect(garbageKey?.contains(garbage.path) == true)
        let missingKey = refusal(one.certificate, missing)
        #expect(missingKey?.contains(missing.path) == true && missingKey?.contains("does not exist") == true, "\(missingKey ?? "accepted")")
        // A key that belongs to another certificate: refused now, not at the first handshake.
        let mismatch = refusal(one.certificate, other.key)
        #expect(mismatch?.contains(other.key.path) == true, "\(mismatch ?? "accepted")")
    }

    /// Sessions end after their idle time and their lifetime, on the server's clock (moved by the
    /// test, never waited for); an ended session is refused with 401 and removed.
    @Test func test_idleSessionsAreRefusedAndRemoved() async throws {
        let offset = Mutex(Duration.zero)
        var users = UserDirectory()
        try users.set(name: "olga", role: .operator, password: TestUsers.passwords["olga"]!, cost: 4)
        let access = WebAccess(
            openRead: false, users: users, sessionLifetimeSeconds: 12 * 3600, sessionIdleSeconds: 30 * 60,
            now: { ContinuousClock.now + offset.withLock { $0 } })
        let server = try await StandaloneHTTP(state: StubLiveState(), access: access)
        let client = WebClient(port: server.port)
        let idle = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
        offset.withLock { $0 += .seconds(29 * 60) }
        // Used within the idle time: the idle time starts again.
        let stillActive = try await client.send("GET", "/api/v1/systems", cookie: idle)
        offset.withLock { $0 += .seconds(29 * 60) }
        let activeAgain = try await client.send("GET", "/api/v1/systems", cookie: idle)
        offset.withLock { $0 += .seconds(31 * 60) }
        let afterIdle = try await client.send("GET", "/api/v1/systems", cookie: idle)
        // Removed, not only refused: setting the clock back does not bring it back.
        offset.withLock { $0 -= .seconds(31 * 60) }
        let removed = try await client.send("GET", "/api/v1/session", cookie: idle)
        let removedAction = try await client.send("POST", "/api/v1/systems/or-1/silence", cookie: idle)
        // The absolute lifetime ends a session however active it is.
        let busy = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
        var busyStatuses: [Int] = []
        for _ in 0..<25 {
            offset.withLock { $0 += .seconds(29 * 60) }
            busyStatuses.append(try await client.send("GET", "/api/v1/systems", cookie: busy).status)
        }
        try await server.stop()

        #expect(idle != nil && busy != nil)
        #expect(stillActive.status == 200)
        #expect(activeAgain.status == 200)
        #expect(afterIdle.status == 401)
        #expect((afterIdle.json?["error"] as? String)?.contains("idle") == true, "\(afterIdle.json ?? [:])")
        #expect(removed.status == 200)
        #expect(removed.json?["user"] is NSNull, "\(removed.json ?? [:])")
        #expect(removedAction.status == 401)
        // 24 × 29 min = 11 h 36 min still inside 12 h; the 25th request (12 h 5 min) is refused.
        #expect(busyStatuses == Array(repeating: 200, count: 24) + [401], "\(busyStatuses)")
    }

    /// `user.*` entries (sign-ins with addresses and mistyped names) are for admins only.
    @Test func test_userJournalEntriesAreReadableByAdminsOnly() async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-auth-\(UUID().uuidString).sqlite")
        let (harness, client) = try await harness(open: true, storage: database)
        _ = try await client.login("olga", "wrong")
        let operatorCookie = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
        for _ in 1...3 {
            let cookie = try await client.login("victor", TestUsers.passwords["victor"]!).cookie
            _ = try await client.send("POST", "/api/v1/logout", cookie: cookie)
        }
        let adminCookie = try await client.login("ada", TestUsers.passwords["ada"]!).cookie
        let anonymous = try await client.send("GET", "/api/v1/events?limit=1000")
        let byOperator = try await client.send("GET", "/api/v1/events?limit=1000", cookie: operatorCookie)
        let operatorAsksForUsers = try await client.send("GET", "/api/v1/events?kind=user.login", cookie: operatorCookie)
        let anonymousAsksForUsers = try await client.send("GET", "/api/v1/events?kind=user.")
        let byAdmin = try await client.send("GET", "/api/v1/events?limit=1000", cookie: adminCookie)
        // Pages of one for the operator walk the entries the operator may see, none left out.
        var paged: [[String: Any]] = []
        var path = "/api/v1/events?limit=1"
        for _ in 0..<200 {
            let page = try await client.send("GET", path, cookie: operatorCookie)
            paged += (try? JSONSerialization.jsonObject(with: page.body)) as? [[String: Any]] ?? []
            guard let next = page.headers["x-next-before"] else { break }
            path = "/api/v1/events?limit=1&before=\(next)"
        }
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)

        func kinds(_ reply: WebClient.Reply) -> [String] {
            ((try? JSONSerialization.jsonObject(with: reply.body)) as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        }
        #expect(anonymous.status == 200 && byOperator.status == 200 && byAdmin.status == 200)
        #expect(!kinds(anonymous).isEmpty && !kinds(anonymous).contains { $0.hasPrefix("user.") }, "\(kinds(anonymous))")
        #expect(!kinds(byOperator).contains { $0.hasPrefix("user.") }, "\(kinds(byOperator))")
        #expect(kinds(byOperator).contains("service.started"), "\(kinds(byOperator))")
        #expect(operatorAsksForUsers.status == 403)
        #expect(anonymousAsksForUsers.status == 403)
        // The control: an admin reads them (at least the eight sign-ins and sign-outs above).
        #expect(kinds(byAdmin).filter { $0.hasPrefix("user.") }.count >= 8, "\(kinds(byAdmin))")
        // (Entries journalled while paging are newer than the cursor: the pages hold at least the list.)
        let visibleIDs = ((try? JSONSerialization.jsonObject(with: byOperator.body)) as? [[String: Any]] ?? []).map { "\($0["id"] ?? "")" }
        let pagedIDs = paged.map { "\($0["id"] ?? "")" }
        #expect(Set(visibleIDs).isSubset(of: Set(pagedIDs)), "\(pagedIDs) vs \(visibleIDs)")
        #expect(!paged.contains { ($0["kind"] as? String)?.hasPrefix("user.") == true })
    }

    @Test func test_userAddWritesABcryptHashThatSignsIn() async throws {
        let binary = try RepositoryPaths.requiredProduct("isowatch")
        let file = FileManager.default.temporaryDirectory.appending(path: "isowatch-users-\(UUID().uuidString).yaml")
        let added = try await onOwnThread {
            try Self.run(binary.path, ["user", "add", "nina", "--role", "operator", "--users", file.path], input: "s3cret-nina\n")
        }
        let refused = try await onOwnThread {
            try Self.run(binary.path, ["user", "add", "nina", "--role", "nurse", "--users", file.path], input: "x\n")
        }
        let text = try String(contentsOf: file, encoding: .utf8)
        let directory = try UserDirectory.load(file: file)
        let http = #"{ listen: "127.0.0.1:0", users_file: "\#(file.path)" }"#
        let harness = try await ServiceHarness(site: TestUsers.site(), configurationYAML: TestUsers.configuration(http: http))
        let client = WebClient(port: harness.httpPort)
        let login = try await client.login("nina", "s3cret-nina")
        let anonymousAction = try await client.send("POST", "/api/v1/systems/or-1/silence")
        try await harness.stop()
        try? FileManager.default.removeItem(at: file)

        #expect(added.status == 0, "\(added.output)")
        #expect(refused.status != 0)
        #expect(!text.contains("s3cret-nina"))
        #expect(directory.account(named: "nina")?.role == .operator)
        #expect(directory.account(named: "nina")?.passwordBcrypt.hasPrefix("$2") == true)
        #expect(login.reply.status == 200)
        #expect(login.reply.json?["role"] as? String == "operator")
        #expect(anonymousAction.status == 401)
    }

    @Test func test_usersFileRefusesUnknownRolesPlainPasswordsAndDuplicates() throws {
        let hash = UserDirectory.hash(password: "x", cost: 4)
        func refusal(_ yaml: String) -> String? {
            do {
                _ = try UserDirectory.parse(yaml: yaml, fileName: "users.yaml")
                return nil
            } catch {
                return "\(error)"
            }
        }
        let good = try UserDirectory.parse(
            yaml: "users:\n  - { name: olga, role: operator, password_bcrypt: \"\(hash)\" }\n", fileName: "users.yaml")
        #expect(good.account(named: "olga")?.role == .operator)
        #expect(refusal("users:\n  - { name: olga, role: nurse, password_bcrypt: \"\(hash)\" }\n")?.contains("users[0].role") == true)
        #expect(refusal("users:\n  - { name: olga, role: operator, password_bcrypt: \"secret\" }\n")?.contains("password_bcrypt") == true)
        #expect(refusal("users:\n  - { name: olga, role: operator, password: \"secret\" }\n")?.contains("users[0].password") == true)
        #expect(
            refusal(
                "users:\n  - { name: olga, role: operator, password_bcrypt: \"\(hash)\" }\n"
                    + "  - { name: olga, role: admin, password_bcrypt: \"\(hash)\" }\n")?.contains("appears twice") == true)
        #expect(refusal("users:\n  - { name: \"a b\", role: operator, password_bcrypt: \"\(hash)\" }\n")?.contains("users[0].name") == true)
        // Roles are ordered: each may do what the ones before it may.
        #expect(Role.viewer < Role.operator && Role.operator < Role.engineer && Role.engineer < Role.admin)
    }

    static func run(_ executable: String, _ arguments: [String], input: String) throws -> (status: Int32, output: String) {
        let process = Process()
        let output = Pipe()
        let stdin = Pipe()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
