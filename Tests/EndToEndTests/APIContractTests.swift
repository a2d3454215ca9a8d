import Foundation
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// Issue 13 §9, "the API matches its contract": schemathesis (a third-party, property-based API
/// tester, pinned in Tests/interop/requirements.txt) generates requests from openapi.yaml, valid and
/// invalid ones, sends them to the real server signed in as an operator, and checks every answer:
/// no server error, no schema-valid request refused, no schema-violating request accepted, and
/// status, content type, headers and body as documented. Fixed seed, deterministic generation, a
/// bounded number of examples: the same requests on every run.
@Suite(.serialized)
struct APIContractTests {
    /// A few IT systems on the simulated RS-485 bus; one (`or-3`) is configured but silent, so the
    /// stale and communication-failure shapes of a status are in the answers too.
    static let configuration = """
        site: { name: "API contract test site" }
        http: { listen: "127.0.0.1:0", open_read: false, users_file: "{USERS}" }
        gpio: { backend: simulated }
        storage: { path: "{DATABASE}" }
        systems:

        """
        + WalkingSkeletonTests.system(
            "or-1", location: "OR 1", profile: "acrel-aim-m10", transport: WalkingSkeletonTests.rtu, unit: 1, timeout: 0.2,
            firstLine: 0)
        + WalkingSkeletonTests.system(
            "or-2", location: "OR 2", profile: "acrel-aim-m10", transport: WalkingSkeletonTests.rtu, unit: 2, timeout: 0.2,
            firstLine: 4)
        + WalkingSkeletonTests.system(
            "or-3", location: "OR 3", profile: "acrel-aim-m10", transport: WalkingSkeletonTests.rtu, unit: 3, timeout: 0.2,
            firstLine: 8)

    /// Units 1 and 2 on the bus answer; unit 3 is absent.
    static func busWithTwoOfThreeUnits() -> SiteDescription {
        let profile = ServiceHarness.profiles["acrel-aim-m10"]!
        let units = [1, 2].map {
            UnitDescription(
                unit: UInt8($0), profileID: "acrel-aim-m10", state: .healthy(publishedBy: profile),
                measurementIntervalSeconds: 0.25)
        }
        return SiteDescription(endpoints: [.rtu(id: "rtu0", serialLine: SerialLine(baud: 19200, parity: .even), units: units)])
    }

    /// `schemathesis` beside the Python that `scripts/setup` made (ISOWATCH_PYTHON, else .venv).
    static func schemathesis() throws -> String {
        let python = URL(fileURLWithPath: try TestTools.python())
        let path = python.deletingLastPathComponent().appending(path: "schemathesis").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ExternalPeer.PeerError.missingTool("no schemathesis at \(path): run ./scripts/setup --python")
        }
        return path
    }

    /// The arguments every run shares: the whole specification, every check, a fixed seed,
    /// deterministic generation, a bounded number of examples, one worker (the machine has two
    /// cores and other tests may run beside this one), and the operator's session cookie plus this
    /// server's own Origin, as the dashboard in a browser sends them.
    /// Run through `env`: the hooks (Tests/interop/contract_hooks.py) tell schemathesis the rules
    /// between `from` and `to` that OpenAPI 3.0 cannot express.
    static func arguments(schemathesis: String, base: String, cookie: String, reportDirectory: URL) -> [String] {
        [
            // In the scratch directory: hypothesis and schemathesis keep caches in the working directory.
            "-C", reportDirectory.deletingLastPathComponent().path,
            "SCHEMATHESIS_HOOKS=contract_hooks", "PYTHONPATH=\(RepositoryPaths.root.appending(path: "Tests/interop").path)",
            schemathesis,
            "run", RepositoryPaths.root.appending(path: "openapi.yaml").path,
            "--url", base,
            "--checks", "all",
            "--seed", "20261205",
            // Deterministic generation also keeps no example database between runs.
            "--generation-deterministic",
            "--max-examples", "25",
            "--workers", "1",
            "--request-timeout", "20",
            "--no-color",
            "--report-dir", reportDirectory.path,
            "-H", "Cookie: \(cookie)",
            "-H", "Origin: \(base)",
        ]
    }

    @Test(.timeLimit(.minutes(5)))
    func test_schemathesisFindsNoDisagreementBetweenTheServerAndOpenAPI() async throws {
        let schemathesis = try Self.schemathesis()
        let users = try TestUsers.file()
        let scratch = FileManager.default.temporaryDirectory.appending(path: "isowatch-contract-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let yaml = Self.configuration.replacingOccurrences(of: "{USERS}", with: users.path)
            .replacingOccurrences(of: "{DATABASE}", with: scratch.appending(path: "history.sqlite").path)
        let harness = try await ServiceHarness(site: Self.busWithTwoOfThreeUnits(), configurationYAML: yaml)
        let client = WebClient(port: harness.httpPort)
        // Two sessions of the operator, both opened before schemathesis's sign-in attempts can
        // trip the per-address sign-in limit: one for everything, one that the sign-out run ends.
        let operatorCookie = try #require(try await client.login("olga", TestUsers.passwords["olga"]!).cookie)
        let signOutCookie = try #require(try await client.login("olga", TestUsers.passwords["olga"]!).cookie)
        // Readings first, so that a live status with a reading is among the answers checked.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try await client.send("GET", "/api/v1/systems/or-1", cookie: operatorCookie).json?["reading"] == nil {
            try await Task.sleep(for: .milliseconds(100))
        }
        let base = "http://127.0.0.1:\(harness.httpPort)"

        // Everything but sign-out (it would end the session the run uses) and the live stream
        // (an endless text/event-stream: every request would end in schemathesis's timeout; its
        // status and events are checked by OpenAPITests and LiveStreamTests).
        let everything = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/env",
                Self.arguments(schemathesis: schemathesis, base: base, cookie: operatorCookie, reportDirectory: scratch.appending(path: "main"))
                    + ["--exclude-path", "/api/v1/logout", "--exclude-path", "/api/v1/stream"],
                timeoutSeconds: 240)
        }
        let stillSignedIn = try await client.send("GET", "/api/v1/session", cookie: operatorCookie)
        // Sign-out on its own, with the second session.
        let signOut = try await onOwnThread {
            try ExternalPeer.run(
                "/usr/bin/env",
                Self.arguments(schemathesis: schemathesis, base: base, cookie: signOutCookie, reportDirectory: scratch.appending(path: "logout"))
                    + ["--include-path", "/api/v1/logout"],
                timeoutSeconds: 120)
        }
        let signedOut = try await client.send("GET", "/api/v1/session", cookie: signOutCookie)
        try await harness.stop()
        try? FileManager.default.removeItem(at: scratch)
        try? FileManager.default.removeItem(at: users)

        #expect(everything.status == 0, "schemathesis found disagreements:\n\(everything.output)")
        #expect(signOut.status == 0, "schemathesis found disagreements in sign-out:\n\(signOut.output)")
        // The runs really tested something, signed in: every operation but the two left out, and
        // the operator's session was in force throughout.
        #expect(everything.output.contains("Selected: 27/29") && everything.output.contains("Tested: 27"), "\(everything.output)")
        #expect(signOut.output.contains("Selected: 1/29") && signOut.output.contains("Tested: 1"), "\(signOut.output)")
        #expect(stillSignedIn.json?["user"] is [String: Any], "the operator's session did not survive the run")
        #expect(signedOut.json?["user"] is NSNull, "sign-out was not exercised: the second session is still open")
    }
}
