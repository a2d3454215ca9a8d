import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The dashboard as a browser sees it: its files from the service itself, and (in headless
/// Chromium) live tiles, a fault turning a tile yellow, silence behind a sign-in, the languages.
@Suite(.serialized)
struct DashboardTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }
    static let chromedriver = FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    static var browserAvailable: Bool { chromium != nil && chromedriver }

    /// One system polled every 0.2 s, so that what the 2 s of the issue measure is mostly the alarm
    /// machine's 1 s insulation response delay and the dashboard, not the poll period.
    static func system(_ id: String, location: String, profile: String, transport: String, unit: Int, firstLine: Int) -> String {
        """
          - id: \(id)
            name: "\(location)"
            location: "\(location)"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device: { profile: \(profile), transport: \(transport), unit: \(unit), poll_interval_seconds: 0.2, timeout_seconds: 0.15, retries: 1 }
            thresholds: { insulation_response_ohms: 50000, stale_after_seconds: 3 }
            outputs:
              green: { chip: gpiochip0, line: \(firstLine) }
              yellow: { chip: gpiochip0, line: \(firstLine + 1) }
              buzzer: { chip: gpiochip0, line: \(firstLine + 2) }

        """
    }

    static let gateway = "{ tcp: { host: 127.0.0.1, port: {TCP_PORT} } }"
    static let configurationSystems =
        system("or-1", location: "OR 1", profile: "acrel-aim-m10", transport: WalkingSkeletonTests.rtu, unit: 1, firstLine: 0)
        // OR 3's monitor is switched off: configured, absent behind the gateway.
        + system("or-3", location: "OR 3", profile: "bender-isometer", transport: gateway, unit: 3, firstLine: 8)
        + system("icu-1", location: "ICU 1", profile: "bender-isometer", transport: gateway, unit: 1, firstLine: 12)

    static func site() -> SiteDescription {
        let profiles = ServiceHarness.profiles
        func unit(_ id: UInt8, _ profile: String) -> UnitDescription {
            UnitDescription(
                unit: id, profileID: profile, state: .healthy(publishedBy: profiles[profile]!), measurementIntervalSeconds: 0.1)
        }
        return SiteDescription(endpoints: [
            .rtu(id: "rtu0", serialLine: SerialLine(baud: 19200, parity: .even), units: [unit(1, "acrel-aim-m10")]),
            .tcp(id: "gw1", units: [unit(1, "bender-isometer")]),
        ])
    }

    static func configuration(users: URL) -> String {
        """
        site: { name: "Dashboard test site" }
        http: { listen: "127.0.0.1:0", open_read: true, users_file: "\(users.path)" }
        gpio: { backend: simulated }
        systems:

        """ + configurationSystems
    }

    @Test func test_dashboardFilesComeFromTheServiceWithNothingFromElsewhere() async throws {
        let users = try TestUsers.file()
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration(users: users))
        let client = WebClient(port: harness.httpPort)
        let page = try await client.send("GET", "/")
        var files: [String: WebClient.Reply] = [:]
        for name in ["dashboard.css", "dashboard.js", "i18n.js", "charts.js", "configuration.html", "configuration.js", "page.js", "users.html", "users.js"] {
            files[name] = try await client.send("GET", "/\(name)")
        }
        try await harness.stop()

        let html = String(decoding: page.body, as: UTF8.self)
        #expect(page.status == 200)
        #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        #expect(html.contains(#"<html lang="en">"#))
        for (name, reply) in files {
            #expect(reply.status == 200, "\(name)")
            let text = String(decoding: reply.body, as: UTF8.self)
            // No CDN, no fonts from elsewhere: the hospital network may have no internet.
            #expect(!text.contains("http://") && !text.contains("https://") || text.contains("http://www.w3.org/2000/svg"), "\(name)")
            #expect(!text.contains("https://"), "\(name)")
        }
        #expect(files["dashboard.js"]?.headers["content-type"]?.hasPrefix("text/javascript") == true)
        #expect(!html.contains("https://"))
    }

    @Test(
        .enabled(if: DashboardTests.browserAvailable, "chromium and chromium-driver are not installed: run ./scripts/setup"),
        .timeLimit(.minutes(5)))
    func test_browserSeesLiveTilesFaultSilenceAndLanguages() async throws {
        let users = try TestUsers.file()
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration(users: users))
        let control = try ControlServer(simulator: harness.simulator, host: "127.0.0.1", port: 0)
        let controlPort = AsyncStream.makeStream(of: Int.self)
        let controlTask = Task { try await control.run { port in controlPort.continuation.yield(port) } }
        var ports = controlPort.stream.makeAsyncIterator()
        let port = try #require(await ports.next())

        let python = try TestTools.python()
        let script = RepositoryPaths.root.appending(path: "Tests/browser/dashboard_test.py").path
        let arguments = [
            script, "--url", "http://127.0.0.1:\(harness.httpPort)", "--control", "http://127.0.0.1:\(port)",
            "--user", "olga", "--password", TestUsers.passwords["olga"]!, "--systems", "or-1,icu-1",
            "--fault-endpoint", "rtu0", "--fault-unit", "1", "--fault-system", "or-1", "--stale-system", "or-3",
        ]
        let result = try await onOwnThread { try ExternalPeer.run(python, arguments, timeoutSeconds: 240) }
        controlTask.cancel()
        try await harness.stop()

        let lastLine = result.output.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let report = (try? JSONSerialization.jsonObject(with: Data(lastLine.utf8))) as? [String: Any]
        let checks = report?["checks"] as? [String: [String: Any]] ?? [:]
        #expect(result.status == 0, "\(result.output)")
        for name in [
            "language_from_browser", "tiles_appear_green", "tile_colour_green", "grouped_by_location", "tile_shows_insulation",
            "absent_device_tile_grey", "fault_turns_tile_yellow", "fault_turns_tile_yellow_within_2s",
            "silence_asks_for_login", "silence_after_login", "charts_drawn", "insulation_threshold_drawn", "language_switch",
            "language_kept_after_reload",
        ] {
            #expect(checks[name]?["ok"] as? Bool == true, "\(name): \(checks[name]?["detail"] ?? "not run")")
        }
        if let figures = report?["figures"] { print("dashboard figures: \(figures)") }
    }

    /// Issue 13 §8: a degraded add-on is a banner on the dashboard, named and with its reason, and
    /// the banner goes once the add-on works again (here the BMS server, its port held by the test).
    @Test(
        .enabled(if: DashboardTests.browserAvailable, "chromium and chromium-driver are not installed: run ./scripts/setup"),
        .timeLimit(.minutes(4)))
    func test_browserShowsABannerForADegradedAddOnUntilItWorksAgain() async throws {
        let users = try TestUsers.file()
        defer { try? FileManager.default.removeItem(at: users) }
        let holder = try ListeningSocket()
        let yaml = Self.configuration(users: users).replacingOccurrences(
            of: "gpio: { backend: simulated }\n",
            with: "gpio: { backend: simulated }\nbms: { listen: \"127.0.0.1:\(holder.port)\" }\n")
        let harness = try await ServiceHarness(
            site: Self.site(), configurationYAML: yaml, addOnBackoff: AddOnDegradationTests.quickRetry)
        let python = try TestTools.python()
        let script = RepositoryPaths.root.appending(path: "Tests/browser/addon_banner_test.py").path
        let url = "http://127.0.0.1:\(harness.httpPort)"
        let degraded = try await onOwnThread { try ExternalPeer.run(python, [script, "--url", url, "--expect", "bms"], timeoutSeconds: 120) }
        holder.close()
        let recovered = try await eventually(within: 30) { harness.addOns.state(of: "bms")?.status == .ok }
        let cleared = try await onOwnThread { try ExternalPeer.run(python, [script, "--url", url, "--expect", ""], timeoutSeconds: 120) }
        try await harness.stop()

        #expect(degraded.status == 0, "\(degraded.output)")
        #expect(degraded.output.contains("BMS server (Modbus TCP)"), "the banner names the add-on: \(degraded.output)")
        #expect(degraded.output.contains("cannot listen"), "and gives the reason: \(degraded.output)")
        #expect(recovered)
        #expect(cleared.status == 0, "\(cleared.output)")
    }
}
