import Dispatch
import Foundation
@testable import IsoWatchHTTP
import IsoWatchCore
import IsoWatchService
import IsoWatchTesting
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Issue 13, "Nothing hides a fault": what a client that does not play by the rules can and cannot
/// do to the HTTP server (security review C1, H1, M5, L1, L3, L6). Real server, real sockets.
@Suite(.serialized)
struct HostileClientTests {
    func harness(open: Bool = false, extra: String = "", storage: URL? = nil) async throws -> (ServiceHarness, WebClient) {
        try await AuthTests().harness(open: open, extra: extra, storage: storage)
    }

    /// curl with `--path-as-is`: URLSession (libcurl underneath) would remove dot segments itself.
    static func curl(_ port: Int, _ path: String, _ extra: [String] = []) async throws -> (status: Int, body: String) {
        let result = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/curl", ["-sS", "--path-as-is", "-w", "\n%{http_code}"] + extra + ["http://127.0.0.1:\(port)\(path)"])
        }
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(lines.last ?? "") ?? 0, lines.dropLast().joined(separator: "\n"))
    }

    @Test func test_noSpellingOfAGuardedPathIsServedWithoutASession() async throws {
        let (harness, client) = try await harness(open: false)
        let spellings = [
            "//api/v1/systems", "/api//v1/systems", "/%2Fapi/v1/systems", "/api/v1/./systems", "/api/v1/../v1/systems",
            "/api/v1/%73ystems", "/api/v1/systems/", "//api/v1/systems/or-1", "//api/v1/events",
        ]
        var answers: [String: (status: Int, body: String)] = [:]
        for path in spellings {
            answers[path] = try await Self.curl(harness.httpPort, path)
        }
        let canonical = try await Self.curl(harness.httpPort, "/api/v1/systems")
        let cookie = try await client.login("victor", TestUsers.passwords["victor"]!).cookie
        let signedIn = try await client.send("GET", "/api/v1/systems", cookie: cookie)
        try await harness.stop()

        for path in spellings {
            #expect(answers[path]?.status == 400, "\(path): \(String(describing: answers[path]))")
            #expect(answers[path]?.body.contains("or-1") == false, "\(path)")
        }
        // The control: the canonical path is guarded, and served with a session.
        #expect(canonical.status == 401)
        #expect(signedIn.status == 200)
        #expect(String(decoding: signedIn.body, as: UTF8.self).contains("or-1"))
    }

    @Test func test_metricsNeedASessionUnlessConfiguredOpen() async throws {
        let (guarded, guardedClient) = try await harness(open: false)
        let anonymous = try await guardedClient.send("GET", "/metrics")
        let doubleSlash = try await Self.curl(guarded.httpPort, "//metrics")
        let cookie = try await guardedClient.login("victor", TestUsers.passwords["victor"]!).cookie
        let signedIn = try await guardedClient.send("GET", "/metrics", cookie: cookie)
        try await guarded.stop()

        let (open, openClient) = try await harness(open: false, extra: ", metrics: open")
        let scraped = try await openClient.send("GET", "/metrics")
        let stillGuarded = try await openClient.send("GET", "/api/v1/systems")
        try await open.stop()

        #expect(anonymous.status == 401)
        #expect(doubleSlash.status == 400)
        #expect(signedIn.status == 200)
        #expect(String(decoding: signedIn.body, as: UTF8.self).contains("alarm_state"))
        #expect(scraped.status == 200)
        #expect(stillGuarded.status == 401)
    }

    @Test func test_signInRefusesOversizedNonJSONAndInvalidNamesBeforeAnythingIsStored() async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-hostile-\(UUID().uuidString).sqlite")
        let (harness, client) = try await harness(open: true, storage: database)
        let port = harness.httpPort
        let password = TestUsers.passwords["olga"]!
        let formPost = try await Self.curl(
            port, "/api/v1/login", ["-H", "Content-Type: text/plain", "--data", #"{"name":"olga","password":"\#(password)"}"#])
        let noType = try await Self.curl(
            port, "/api/v1/login", ["-H", "Content-Type:", "--data", #"{"name":"olga","password":"\#(password)"}"#])
        let huge = try await client.send("POST", "/api/v1/login", json: ["name": "olga", "password": String(repeating: "x", count: 2048)])
        let long = try await client.login(String(repeating: "a", count: 65), "x")
        let forged = try await client.login("olga\n<3>isowatch: forged", "x")
        let empty = try await client.login("", "x")
        let right = try await client.login("olga", password)
        let admin = try await client.login("ada", TestUsers.passwords["ada"]!).cookie
        let events = try await client.send("GET", "/api/v1/events?kind=user.&limit=100", cookie: admin)
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)

        #expect(formPost.status == 415)
        #expect(noType.status == 415)
        #expect(huge.status == 413)
        #expect(long.reply.status == 400)
        #expect(forged.reply.status == 400)
        #expect(empty.reply.status == 400)
        #expect(right.reply.status == 200)
        let entries = (try? JSONSerialization.jsonObject(with: events.body)) as? [[String: Any]] ?? []
        // Only the good sign-in: none of the refused bodies reached the limiter or the journal.
        #expect(entries.map { "\($0["kind"] ?? "") \($0["user"] ?? "")" } == ["user.login ada", "user.login olga"], "\(entries)")
    }

    @Test func test_parallelGuessesCannotAllPassTheLimiter() async throws {
        let (harness, _) = try await harness(open: true)
        let client = WebClient(port: harness.httpPort, maximumConnections: 32)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for attempt in 1...20 {
                group.addTask { try await client.login("olga", "guess-\(attempt)").reply.status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        try await harness.stop()
        // The per-name limit is 5: exactly five guesses reach bcrypt, whatever the interleaving.
        #expect(statuses.filter { $0 == 401 }.count == 5, "\(statuses.sorted())")
        #expect(statuses.filter { $0 == 429 }.count == 15, "\(statuses.sorted())")
    }

    @Test func test_refusedSignInsAreJournalledOncePerNameAndAddress() async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-hostile-\(UUID().uuidString).sqlite")
        let (harness, client) = try await harness(open: true, storage: database)
        var statuses: [Int] = []
        for attempt in 1...12 {
            statuses.append(try await client.login("olga", "guess-\(attempt)").reply.status)
        }
        _ = try await client.login("victor", "wrong")
        let admin = try await client.login("ada", TestUsers.passwords["ada"]!).cookie
        let events = try await client.send("GET", "/api/v1/events?kind=user.login_refused&limit=100", cookie: admin)
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)

        let entries = (try? JSONSerialization.jsonObject(with: events.body)) as? [[String: Any]] ?? []
        #expect(statuses == Array(repeating: 401, count: 5) + Array(repeating: 429, count: 7))
        // Twelve refusals for olga, one for victor: one entry each (the count follows when the window ends).
        #expect(entries.filter { $0["user"] as? String == "olga" }.count == 1, "\(entries)")
        #expect(entries.filter { $0["user"] as? String == "victor" }.count == 1, "\(entries)")
    }

    @Test func test_stateChangingRequestsMustComeFromTheServersOwnOrigin() async throws {
        let (harness, client) = try await harness(open: true)
        let port = harness.httpPort
        let own = "http://127.0.0.1:\(port)"
        let body = #"{"name":"olga","password":"\#(TestUsers.passwords["olga"]!)"}"#
        let json = ["-H", "Content-Type: application/json", "--data", body]
        let foreign = try await Self.curl(port, "/api/v1/login", json + ["-H", "Origin: http://evil.example"])
        let sibling = try await Self.curl(port, "/api/v1/login", json + ["-H", "Origin: http://127.0.0.1:\(port + 1)"])
        let nullOrigin = try await Self.curl(port, "/api/v1/login", json + ["-H", "Origin: null"])
        let crossSite = try await Self.curl(port, "/api/v1/login", json + ["-H", "Sec-Fetch-Site: cross-site"])
        let sameOrigin = try await Self.curl(port, "/api/v1/login", json + ["-H", "Origin: \(own)"])
        let script = try await Self.curl(port, "/api/v1/login", json)
        let cookie = try await client.login("olga", TestUsers.passwords["olga"]!).cookie ?? ""
        let foreignAction = try await Self.curl(
            port, "/api/v1/systems/or-1/silence", ["-X", "POST", "-H", "Cookie: \(cookie)", "-H", "Origin: http://evil.example"])
        let foreignLogout = try await Self.curl(
            port, "/api/v1/logout", ["-X", "POST", "-H", "Cookie: \(cookie)", "-H", "Origin: http://evil.example"])
        let stillSignedIn = try await client.send("GET", "/api/v1/session", cookie: cookie)
        try await harness.stop()

        #expect(foreign.status == 403)
        #expect(sibling.status == 403)
        #expect(nullOrigin.status == 403)
        #expect(crossSite.status == 403)
        #expect(sameOrigin.status == 200)
        #expect(script.status == 200)
        #expect(foreignAction.status == 403)
        #expect(foreignLogout.status == 403)
        #expect(((stillSignedIn.json?["user"] as? [String: Any])?["name"] as? String) == "olga")
    }

    @Test func test_everyResponseCarriesNosniffAndAContentSecurityPolicy() async throws {
        let (harness, client) = try await harness(open: false)
        var replies: [String: WebClient.Reply] = [:]
        for path in ["/api/v1/systems", "/healthz", "/api/v1/session", "/no-such-page", "/", "/metrics"] {
            replies[path] = try await client.send("GET", path)
        }
        replies["login 401"] = try await client.login("olga", "wrong").reply
        let badPath = try await Self.curl(harness.httpPort, "//healthz", ["-D", "-"])
        try await harness.stop()

        for (name, reply) in replies {
            #expect(reply.headers["x-content-type-options"] == "nosniff", "\(name)")
            #expect(reply.headers["content-security-policy"]?.contains("frame-ancestors 'none'") == true, "\(name)")
        }
        #expect(replies["/no-such-page"]?.status == 404)
        // The dashboard keeps its own policy (it loads its scripts from this server).
        #expect(replies["/"]?.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        #expect(replies["/api/v1/systems"]?.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(badPath.body.lowercased().contains("x-content-type-options: nosniff"))
    }

    @Test func test_eventsArePagedWithABeforeCursor() async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-hostile-\(UUID().uuidString).sqlite")
        let (harness, client) = try await harness(open: true, storage: database)
        // user.* entries are for admins: one sign-in of ada, then four of olga with their sign-outs.
        let admin = try await client.login("ada", TestUsers.passwords["ada"]!).cookie
        for _ in 1...4 {
            let cookie = try await client.login("olga", TestUsers.passwords["olga"]!).cookie
            _ = try await client.send("POST", "/api/v1/logout", cookie: cookie)
        }
        let all = try await client.send("GET", "/api/v1/events?kind=user.&limit=100", cookie: admin)
        var pages: [[[String: Any]]] = []
        var cursors: [String?] = []
        var path = "/api/v1/events?kind=user.&limit=3"
        for _ in 1...5 {
            let page = try await client.send("GET", path, cookie: admin)
            pages.append((try? JSONSerialization.jsonObject(with: page.body)) as? [[String: Any]] ?? [])
            cursors.append(page.headers["x-next-before"])
            guard let next = page.headers["x-next-before"] else { break }
            path = "/api/v1/events?kind=user.&limit=3&before=\(next)"
        }
        let huge = try await client.send("GET", "/api/v1/events?limit=10000")
        let badCursor = try await client.send("GET", "/api/v1/events?before=0")
        try await harness.stop()
        try? FileManager.default.removeItem(at: database)

        let allIDs = ((try? JSONSerialization.jsonObject(with: all.body)) as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
        let pagedIDs = pages.flatMap { $0 }.compactMap { $0["id"] as? Int }
        #expect(allIDs.count == 9, "\(allIDs)")
        #expect(pagedIDs == allIDs)
        #expect(pages.map(\.count) == [3, 3, 3] || pages.map(\.count) == [3, 3, 3, 0])
        #expect(cursors.first == allIDs.dropFirst(2).first.map(String.init))
        // A limit beyond the cap is still accepted (clients that sent one keep working), and clamped.
        #expect(huge.status == 200)
        #expect(badCursor.status == 400)
    }

    // MARK: - Connections, streams and the plain-HTTP warning

    /// A client that sends its headers a byte at a time (slowloris) is disconnected by the idle
    /// timeout before its request is complete; a prompt client on the same server is served.
    @Test(.timeLimit(.minutes(2)))
    func test_slowlorisIsDisconnectedByTheIdleTimeout() async throws {
        let server = try await StandaloneHTTP(state: StubLiveState(), access: .openReadOnly, limits: HTTPLimits(idleTimeout: .seconds(1)))
        let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-loris/1.0 (one byte at a time)\r\n\r\n".utf8)
        let port = server.port
        // A byte every 1.5 s (slower than the timeout): the whole request would take two minutes.
        let outcome = try await onOwnThread { () -> (sent: Int, reply: String) in
            let client = try StalledClient(port: port, request: "")
            defer { client.close() }
            var timeout = timeval(tv_sec: 1, tv_usec: 500_000)
            _ = setsockopt(client.socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 4096)
            var reply: [UInt8] = []
            for (sent, byte) in request.enumerated() {
                var byte = byte
                guard Glibc.send(client.socket, &byte, 1, Int32(MSG_NOSIGNAL)) == 1 else { return (sent, String(decoding: reply, as: UTF8.self)) }
                // Paced by the receive timeout: a recv that returns 0 is the server's close.
                let count = Glibc.recv(client.socket, &buffer, buffer.count, 0)
                if count == 0 || (count < 0 && errno == ECONNRESET) { return (sent + 1, String(decoding: reply, as: UTF8.self)) }
                if count > 0 { reply += buffer[0..<count] }
            }
            return (request.count, String(decoding: reply, as: UTF8.self))
        }
        let prompt = try await HostileClientTests.curl(port, "/healthz")
        try await server.stop()

        #expect(outcome.sent < request.count, "the slow client sent its whole request (\(outcome.sent) bytes)")
        #expect(!outcome.reply.contains("200 OK"), "\(outcome.reply)")
        #expect(prompt.status == 200)
    }

    /// Beyond `max_connections` a new connection is closed at once; when one closes, its place is free.
    @Test(.timeLimit(.minutes(2)))
    func test_connectionsBeyondTheCapAreClosed() async throws {
        let server = try await StandaloneHTTP(state: StubLiveState(), access: .openReadOnly, limits: HTTPLimits(maximumConnections: 4))
        let port = server.port
        // Four connections that send nothing hold every place.
        let holders = try (0..<4).map { _ in try StalledClient(port: port, request: "") }
        let refused = try await Self.curl(port, "/healthz")
        holders[0].close()
        var readmitted = 0
        for _ in 0..<200 where readmitted != 200 {
            readmitted = try await Self.curl(port, "/healthz").status
        }
        for holder in holders.dropFirst() { holder.close() }
        try await server.stop()

        #expect(refused.status != 200, "\(refused)")
        #expect(readmitted == 200)
    }

    /// Beyond `max_connections_per_client` a new connection from that address is closed at once,
    /// while another address still gets in: one host trickling headers (slowloris) cannot hold
    /// every place of the server.
    @Test(.timeLimit(.minutes(2)))
    func test_oneClientCannotHoldEveryPlace() async throws {
        let server = try await StandaloneHTTP(
            state: StubLiveState(), access: .openReadOnly,
            limits: HTTPLimits(maximumConnections: 16, maximumConnectionsPerClient: 3))
        let port = server.port
        // One host holds its three places with keep-alive connections, each answered before the
        // next opens (so the server has counted it; connections land on several event loops).
        var holders: [StalledClient] = []
        for _ in 0..<3 {
            let holder = try StalledClient(port: port, request: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", source: "127.0.0.2")
            #expect(await holder.firstBytes(timeoutSeconds: 20) > 0, "a connection within the share was not answered")
            holders.append(holder)
        }
        let fourth = try StalledClient(port: port, request: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", source: "127.0.0.2")
        let fourthClosed = await fourth.drainUntilClosed(timeoutSeconds: 20)
        let other = try await Self.curl(port, "/healthz", ["--interface", "127.0.0.3"])
        holders[0].close()
        // Its place is free again once one of its connections is gone.
        var readmitted = 0
        for _ in 0..<200 where readmitted != 200 {
            readmitted = try await Self.curl(port, "/healthz", ["--interface", "127.0.0.2"]).status
        }
        for holder in holders.dropFirst() { holder.close() }
        fourth.close()
        try await server.stop()

        #expect(fourthClosed, "a fourth connection from the same address was kept")
        #expect(other.status == 200, "another address was refused: \(other)")
        #expect(readmitted == 200)
    }

    /// Refused sign-ins still being counted when the server stops are journalled then.
    @Test func test_pendingRefusalCountsAreJournalledAtShutdown() async throws {
        let journal = Mutex<[String]>([])
        var users = UserDirectory()
        try users.set(name: "olga", role: .operator, password: TestUsers.passwords["olga"]!, cost: 4)
        let access = WebAccess(
            openRead: true, users: users, journal: { kind, user, _, detail in journal.withLock { $0.append("\(kind) \(user): \(detail)") } })
        let server = try await StandaloneHTTP(state: StubLiveState(), access: access)
        let client = WebClient(port: server.port)
        for attempt in 1...4 {
            _ = try await client.login("olga", "guess-\(attempt)")
        }
        let beforeStop = journal.withLock { $0 }
        try await server.stop()
        let afterStop = journal.withLock { $0 }

        // The first at once; the other three only as a count, which the five-minute window would
        // have written, and the stop writes instead.
        #expect(beforeStop.count == 1, "\(beforeStop)")
        #expect(afterStop.count == 2, "\(afterStop)")
        #expect(afterStop.last?.hasPrefix("login_refused olga: 3 more refused sign-ins from 127.0.0.1") == true, "\(afterStop)")
    }

    /// Sign-in over plain HTTP off loopback: a warning and one `http.insecure` journal entry per
    /// start. On loopback, none.
    @Test func test_plainHTTPOffLoopbackWithUsersIsJournalledOncePerStart() async throws {
        let database = FileManager.default.temporaryDirectory.appending(path: "isowatch-hostile-\(UUID().uuidString).sqlite")
        defer { try? FileManager.default.removeItem(at: database) }
        func insecureEntries(listen: String) async throws -> Int {
            let users = try TestUsers.file()
            let http = """
                { listen: "\(listen)", users_file: "\(users.path)" }
                storage: { path: "\(database.path)" }
                """
            let harness = try await ServiceHarness(site: TestUsers.site(), configurationYAML: TestUsers.configuration(http: http))
            let client = WebClient(port: harness.httpPort)
            let admin = try await client.login("ada", TestUsers.passwords["ada"]!).cookie
            let events = try await client.send("GET", "/api/v1/events?kind=http.insecure", cookie: admin)
            try await harness.stop()
            return ((try? JSONSerialization.jsonObject(with: events.body)) as? [[String: Any]] ?? []).count
        }
        // The same database across three starts: two off loopback, one on it.
        let first = try await insecureEntries(listen: "0.0.0.0:0")
        let second = try await insecureEntries(listen: "0.0.0.0:0")
        let loopback = try await insecureEntries(listen: "127.0.0.1:0")
        #expect(first == 1)
        #expect(second == 2)
        #expect(loopback == 2)
    }

    @Test func test_plainHTTPRuleNamesOnlyExposedSignIn() {
        let users = URL(fileURLWithPath: "/etc/isowatch/users.yaml")
        let tls = TLSFiles(certificateChain: URL(fileURLWithPath: "/c.pem"), privateKey: URL(fileURLWithPath: "/k.pem"))
        #expect(HTTPSettings(host: "0.0.0.0", port: 8080, usersFile: users).plainHTTPExposure?.contains("0.0.0.0:8080") == true)
        #expect(HTTPSettings(host: "10.1.2.3", port: 80, usersFile: users).plainHTTPExposure != nil)
        #expect(HTTPSettings(host: "::", port: 80, usersFile: users).plainHTTPExposure != nil)
        for loopback in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            #expect(HTTPSettings(host: loopback, port: 8080, usersFile: users).plainHTTPExposure == nil, "\(loopback)")
        }
        #expect(HTTPSettings(host: "0.0.0.0", port: 8443, tls: tls, usersFile: users).plainHTTPExposure == nil)
        #expect(HTTPSettings(host: "0.0.0.0", port: 8080).plainHTTPExposure == nil)
    }

    // MARK: - Pure rules

    @Test func test_pathRuleAcceptsOnlyCanonicalPaths() {
        for good in ["/", "/api/v1/systems", "/api/v1/systems/or-1/readings?from=2026-01-01T00:00:00Z&x=%2F", "/dashboard.js"] {
            #expect(RequestHygieneMiddleware.pathProblem(good) == nil, "\(good)")
        }
        for bad in [
            "", "api/v1", "//api/v1/systems", "/api//v1", "/api/v1/", "/./api", "/api/..", "/%2e%2e/api", "/api/v1/%73ystems",
            "/api\\v1", "/api/v1/sys tems", "/api/v1/syst\u{e9}ms",
        ] {
            #expect(RequestHygieneMiddleware.pathProblem(bad) != nil, "\(bad)")
        }
    }

    @Test func test_bcryptWorkersRefuseBeyondTheirQueue() async throws {
        let workers = BcryptWorkers(threads: 2, queueCapacity: 3)
        let release = DispatchSemaphore(value: 0)
        let started = Mutex(0)
        let finished = Mutex(0)
        var accepted: [Bool] = []
        // Two jobs occupy both threads; wait until they run so the queue is then exactly what waits.
        for _ in 0..<2 {
            accepted.append(workers.submit {
                started.withLock { $0 += 1 }
                release.wait()
                finished.withLock { $0 += 1 }
            })
        }
        #expect(try await eventually(within: 30) { started.withLock { $0 } == 2 })
        for _ in 0..<4 {
            accepted.append(workers.submit {
                release.wait()
                finished.withLock { $0 += 1 }
            })
        }
        for _ in 0..<5 { release.signal() }
        #expect(try await eventually(within: 30) { finished.withLock { $0 } == 5 })
        #expect(accepted == [true, true, true, true, true, false])
        // Still serving after the overflow.
        #expect(workers.submit {})
    }

    /// A sign-in flood keeps the bcrypt workers busy; they run below the default priority, so on
    /// a two-core controller they cannot take CPU time from the monitor and the pollers.
    @Test func test_bcryptWorkersRunAtALowerPriority() async throws {
        let workers = BcryptWorkers(threads: 1, queueCapacity: 1)
        let nice = Mutex<Int?>(nil)
        #expect(workers.submit { nice.withLock { $0 = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)) } })
        #expect(try await eventually(within: 30) { nice.withLock { $0 } != nil })
        let own = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        let worker = try #require(nice.withLock { $0 })
        #expect(worker >= Int(BcryptWorkers.niceness), "bcrypt worker niceness \(worker)")
        #expect(worker > own || own >= Int(BcryptWorkers.niceness), "the worker runs below the caller (\(worker) vs \(own))")
    }

    @Test func test_refusalsOpenAWindowThenCountUntilItCloses() {
        let refusals = SignInRefusals(window: .seconds(300))
        let key = SignInRefusals.Key(name: "olga", address: "192.0.2.7")
        let other = SignInRefusals.Key(name: "olga", address: "192.0.2.8")
        let start = ContinuousClock.now
        #expect(refusals.note(key, now: start) == .opened)
        #expect(refusals.note(key, now: start + .seconds(1)) == .counted(closesAt: start + .seconds(300)))
        for second in 2...9 {
            #expect(refusals.note(key, now: start + .seconds(second)) == .counted(closesAt: nil))
        }
        #expect(refusals.note(other, now: start + .seconds(3)) == .opened)
        #expect(refusals.close(key)?.count == 9)
        #expect(refusals.close(other) == nil)
        // After the summary a new refusal opens a new window.
        #expect(refusals.note(key, now: start + .seconds(400)) == .opened)
        // A window that saw one refusal only expires quietly.
        #expect(refusals.note(key, now: start + .seconds(800)) == .opened)
    }

    @Test func test_logLinesEscapeControlCharactersInMetadata() {
        let output = DeployJournaldLogTests.CapturedOutput()
        let logger = Logger(label: "isowatch") { label in
            JournaldLogHandler(label: label, fileDescriptor: output.writeDescriptor)
        }
        logger.notice("login_refused", metadata: ["user": "olga\n<3>isowatch: forged\r\u{1B}[2J\\u{a}"])
        logger.notice("two\nlines")
        let lines = output.text().split(separator: "\n").map(String.init)
        #expect(
            lines == [
                #"<5>isowatch: login_refused user=olga\u{a}<3>isowatch: forged\u{d}\u{1b}[2J\\u{a}"#,
                "<5>isowatch: two",
                "<5>lines",
            ])
    }
}
