import Foundation
import IsoWatchCore
import IsoWatchService
import IsoWatchSimulator
import IsoWatchSnapshot
import IsoWatchTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 13 §8: an add-on cannot stop the monitor. A BMS port that is taken, a users file that
/// cannot be used or TLS files that do not load leave the monitor, the relays and the heartbeat
/// running; the add-on is shown as degraded on /healthz and in the journal, retried, and back to
/// ok by itself once the cause is gone.
@Suite(.serialized)
struct AddOnDegradationTests {
    /// Retries a tenth of a second apart, so that recovery needs no long wait.
    static let quickRetry = AddOnBackoff(initial: .milliseconds(100), maximum: .milliseconds(400))

    @Test func test_backoffDoublesFromFiveSecondsToAtMostFiveMinutes() {
        let standard = AddOnBackoff.standard
        #expect((1...8).map { standard.delay(afterFailures: $0) } == [5, 10, 20, 40, 80, 160, 300, 300].map { .seconds($0) })
        #expect(standard.delay(afterFailures: 1000) == .seconds(300))
    }

    /// A failure before and after the add-on worked: each turn to degraded and back to ok is one
    /// transition (the failed retries between are not), and the supervisor itself never fails.
    @Test func test_supervisorRetriesUntilTheAddOnWorksAndReportsEachDegradationOnce() async throws {
        let attempts = Counter()
        let transitions = Recorder()
        let board = AddOnBoard()
        // Attempts 1 and 2 fail to start, 3 starts and then fails, 4 starts and runs until shutdown.
        let addOn = AddOn(name: "bms") { started in
            let attempt = attempts.increment()
            struct Refused: Error, CustomStringConvertible { var description: String }
            if attempt <= 2 { throw Refused(description: "port taken (attempt \(attempt))") }
            started()
            if attempt == 3 { throw Refused(description: "connection lost") }
            try await gracefulShutdown()
        }
        let supervisor = AddOnSupervisor(
            addOn, backoff: AddOnBackoff(initial: .milliseconds(10), maximum: .milliseconds(40)), clock: ContinuousClock(),
            board: board, logger: Logger(label: "add-on-test"),
            onTransition: { transition in transitions.append(transition) })
        let group = ServiceGroup(services: [supervisor], logger: Logger(label: "add-on-test"))
        let task = Task { try await group.run() }
        let settled = try await eventually(within: 30) {
            attempts.value == 4 && board.state(of: "bms")?.status == .ok
                && transitions.all.count == 4
        }
        await group.triggerGracefulShutdown()
        try await task.value

        #expect(settled)
        let seen = transitions.all
        #expect(seen.count == 4)
        if seen.count == 4 {
            #expect(seen[0] == .degraded(addOn: "bms", reason: "port taken (attempt 1)"))
            #expect(seen[2] == .degraded(addOn: "bms", reason: "connection lost"))
            for index in [1, 3] {
                guard case .recovered(let name, _) = seen[index] else {
                    Issue.record("transition \(index) is \(seen[index])")
                    continue
                }
                #expect(name == "bms")
            }
        }
        #expect(attempts.value == 4, "no attempt after the shutdown")
    }

    /// The BMS port is held by a listening socket of the test: the service starts and monitors,
    /// /healthz says degraded naming `bms` (still 200); once the port is free the BMS server comes
    /// up at the next retry, answers a Modbus client, and /healthz says ok. One journal entry for
    /// each change.
    @Test(.timeLimit(.minutes(3)))
    func test_aTakenBMSPortDegradesTheBMSServerAloneAndItRecoversOnceThePortIsFree() async throws {
        let mbpoll = try TestTools.tool("mbpoll")
        let holder = try ListeningSocket()
        let database = StoreTestSite.database()
        let harness = try await ServiceHarness(
            site: WalkingSkeletonTests.site(),
            configurationYAML: StoreTestSite.configuration(database: database, bmsPort: holder.port),
            addOnBackoff: Self.quickRetry)
        let client = WebClient(port: harness.httpPort)

        // The monitor and the relays work while the BMS server cannot start.
        let normal = try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        let greenLit = try await eventually { harness.gpio.isActive(WalkingSkeletonTests.or1Green) == true }
        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        let alarm = try await harness.waitFor("or-1", seconds: 10) { $0.alarm.conditions.contains("insulation") }
        // Fail-safe relays: the yellow lamp's relay is energised in normal and drops for the alarm.
        let yellowLit = try await eventually { harness.gpio.isActive(WalkingSkeletonTests.or1Yellow) == false }
        let degraded = try await client.send("GET", "/healthz")

        holder.close()
        let recovered = try await eventually(within: 30) { harness.addOns.state(of: "bms")?.status == .ok }
        let healthy = try await client.send("GET", "/healthz")
        let header = try await onOwnThread { try BMSTests.read(mbpoll, port: holder.port, start: 0, count: 2) }
        let entries = try await Self.events(client, kind: "addon.", atLeast: 2)
        try await harness.stop()

        #expect(normal?.alarm.state == "normal")
        #expect(greenLit)
        #expect(alarm?.alarm.conditions.contains("insulation") == true)
        #expect(yellowLit)
        #expect(degraded.status == 200)
        #expect(degraded.json?["status"] as? String == "degraded")
        let bms = (degraded.json?["add_ons"] as? [[String: Any]])?.first { $0["name"] as? String == "bms" }
        #expect(bms?["status"] as? String == "degraded")
        #expect((bms?["reason"] as? String)?.contains("cannot listen on 127.0.0.1:\(holder.port)") == true, "\(bms ?? [:])")
        #expect(bms?["next_attempt"] is String)
        let others = (degraded.json?["add_ons"] as? [[String: Any]])?.filter { $0["name"] as? String != "bms" } ?? []
        #expect(others.allSatisfy { $0["status"] as? String == "ok" }, "\(others)")

        #expect(recovered)
        #expect(healthy.status == 200)
        #expect(healthy.json?["status"] as? String == "ok", "\(healthy.json ?? [:])")
        #expect(header[0] == 1, "the BMS server answers: map version 1")
        #expect(header[1] == 2, "two IT systems")

        // Newest first: one degraded, one recovered, however many retries failed between.
        #expect(entries.map { $0["kind"] as? String } == ["addon.recovered", "addon.degraded"], "\(entries)")
        #expect(entries.allSatisfy { ($0["detail"] as? [String: Any])?["add_on"] as? String == "bms" })
    }

    /// A users file that cannot be used when the service starts (broken YAML, written after the
    /// configuration was checked): monitoring and open reading go on, sign-in answers 503 with the
    /// reason, /healthz says degraded naming `users`; once the file is fixed, sign-in works.
    @Test(.timeLimit(.minutes(3)))
    func test_aBrokenUsersFileRefusesSignInWith503UntilItIsFixedWhileMonitoringGoesOn() async throws {
        let users = try TestUsers.file()
        let good = try Data(contentsOf: users)
        try Data("users:\n  - { name: olga, role: operator, password_bcrypt: [\n".utf8).write(to: users)
        let database = StoreTestSite.database()
        let http = """
            { listen: "127.0.0.1:0", open_read: true, users_file: "\(users.path)" }
            storage: { path: "\(database.path)" }
            """
        let harness = try await ServiceHarness(
            site: TestUsers.site(), configurationYAML: TestUsers.configuration(http: http), addOnBackoff: Self.quickRetry)
        let client = WebClient(port: harness.httpPort)
        let normal = try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        let degraded = try await client.send("GET", "/healthz")
        let refused = try await client.login("olga", TestUsers.passwords["olga"]!)
        let systems = try await client.send("GET", "/api/v1/systems")
        let page = try await client.send("GET", "/")

        try good.write(to: users)
        let recovered = try await eventually(within: 30) { harness.addOns.state(of: "users")?.status == .ok }
        let healthy = try await client.send("GET", "/healthz")
        let signedIn = try await client.login("olga", TestUsers.passwords["olga"]!)
        let entries = try await Self.events(client, kind: "addon.", atLeast: 2, cookie: signedIn.cookie)
        try await harness.stop()
        try? FileManager.default.removeItem(at: users)

        #expect(normal?.alarm.state == "normal")
        #expect(degraded.status == 200)
        #expect(degraded.json?["status"] as? String == "degraded")
        let entry = (degraded.json?["add_ons"] as? [[String: Any]])?.first { $0["name"] as? String == "users" }
        #expect(entry?["status"] as? String == "degraded")
        #expect((entry?["reason"] as? String)?.contains("YAML syntax error") == true, "\(entry ?? [:])")
        #expect(refused.reply.status == 503)
        #expect((refused.reply.json?["error"] as? String)?.contains("users file") == true, "\(refused.reply.json ?? [:])")
        #expect(refused.reply.headers["retry-after"] != nil)
        #expect(systems.status == 200, "open reading is served while sign-in is down")
        #expect(page.status == 200, "the dashboard is served")

        #expect(recovered)
        #expect(healthy.json?["status"] as? String == "ok", "\(healthy.json ?? [:])")
        #expect(signedIn.reply.status == 200)
        #expect(entries.map { $0["kind"] as? String } == ["addon.recovered", "addon.degraded"], "\(entries)")
        #expect(entries.allSatisfy { ($0["detail"] as? [String: Any])?["add_on"] as? String == "users" })
    }

    /// TLS files that do not load: the HTTP server is the add-on (it must not fall back to plain
    /// HTTP), the monitor runs without it, and HTTPS comes up once valid files are in place.
    @Test(.timeLimit(.minutes(3)))
    func test_brokenTLSFilesKeepTheHTTPServerDownAloneUntilValidFilesAppear() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appending(path: "cert.pem")
        let key = directory.appending(path: "key.pem")
        try Data("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n".utf8).write(to: certificate)
        try Data("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n".utf8).write(to: key)
        let users = try TestUsers.file()
        defer { try? FileManager.default.removeItem(at: users) }
        let http = """
            { listen: "127.0.0.1:0", users_file: "\(users.path)", tls: { certificate: "\(certificate.path)", private_key: "\(key.path)" } }
            """
        let harness = try await ServiceHarness(
            site: TestUsers.site(), configurationYAML: TestUsers.configuration(http: http), addOnBackoff: Self.quickRetry,
            waitForHTTP: false)
        let degraded = try await eventually(within: 30) { harness.addOns.state(of: "http")?.status == .degraded }
        let reason = harness.addOns.state(of: "http")?.reason
        // The relays follow the readings with no HTTP server at all.
        let greenLit = try await eventually { harness.gpio.isActive(WalkingSkeletonTests.or1Green) == true }

        let generated = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.path, "-out", certificate.path, "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                ])
        }
        try #require(generated.status == 0, "openssl: \(generated.output)")
        let port = try await harness.waitForHTTPServer(seconds: 30)
        let health = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/curl", ["-sS", "--cacert", certificate.path, "https://127.0.0.1:\(port)/healthz"])
        }
        try await harness.stop()

        #expect(degraded)
        #expect(reason?.isEmpty == false)
        #expect(greenLit)
        #expect(health.status == 0, "\(health.output)")
        let body = (try? JSONSerialization.jsonObject(with: Data(health.output.utf8))) as? [String: Any]
        #expect(body?["status"] as? String == "ok", "\(health.output)")
    }

    /// The journal entries of a kind prefix, newest first, with their detail, once there are at
    /// least `count` of them (or whatever there is after a generous deadline).
    static func events(_ client: WebClient, kind: String, atLeast count: Int, cookie: String? = nil) async throws
        -> [[String: Any]]
    {
        let deadline = ContinuousClock.now + .seconds(15)
        var entries: [[String: Any]] = []
        repeat {
            let reply = try await client.send("GET", "/api/v1/events?kind=\(kind)", cookie: cookie)
            entries = (try? JSONSerialization.jsonObject(with: reply.body) as? [[String: Any]]) ?? []
            if entries.count >= count { break }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return entries
    }
}

/// A TCP socket listening on a port of 127.0.0.1, as another program holding the port would.
final class ListeningSocket: Sendable {
    let port: UInt16
    private let descriptor: Mutex<Int32?>

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 4) == 0 else {
            Glibc.close(fd)
            throw SystemCallError("bind/listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        descriptor = Mutex(fd)
    }

    func close() {
        descriptor.withLock { fd in
            if let open = fd { Glibc.close(open) }
            fd = nil
        }
    }

    deinit { close() }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() -> Int { count.withLock { $0 += 1; return $0 } }
}

final class Recorder: Sendable {
    private let transitions = Mutex<[AddOnTransition]>([])
    var all: [AddOnTransition] { transitions.withLock { $0 } }
    func append(_ transition: AddOnTransition) { transitions.withLock { $0.append(transition) } }
}
