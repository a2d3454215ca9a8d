import Foundation
import IsoWatchCore
@testable import IsoWatchHTTP
import IsoWatchTesting
import Testing

/// The engineer's configuration page in headless Chromium, on the real HTTP server.
@Suite(.serialized)
struct ConfigurationPageTests {
    /// Runs the page's browser checks against a server with `control`; the common ones and `expected` must pass.
    func browserChecks(control: (any ConfigurationControl)?, expected: [String]) async throws {
        let access = WebAccess(openRead: false, users: try UserDirectory.load(file: TestUsers.file()))
        let server = try await StandaloneHTTP(state: StubLiveState(), access: access, configuration: control)
        let python = try TestTools.python()
        let script = RepositoryPaths.root.appending(path: "Tests/browser/configuration_page_test.py").path
        let arguments = [
            script, "--url", "http://127.0.0.1:\(server.port)", "--user", "erik", "--password", TestUsers.passwords["erik"]!,
        ] + (control == nil ? [] : ["--available"])
        let result = try await onOwnThread { try ExternalPeer.run(python, arguments, timeoutSeconds: 120) }
        try await server.stop()

        let lastLine = result.output.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        let report = (try? JSONSerialization.jsonObject(with: Data(lastLine.utf8))) as? [String: Any]
        let checks = report?["checks"] as? [String: [String: Any]] ?? [:]
        #expect(result.status == 0, "\(result.output)")
        for name in ["link_hidden_before_sign_in", "link_shown_to_engineer", "page_loads", "every_control_labelled"] + expected {
            #expect(checks[name]?["ok"] as? Bool == true, "\(name): \(checks[name]?["detail"] ?? "not run")")
        }
    }

    @Test(
        .enabled(if: DashboardTests.browserAvailable, "chromium and chromium-driver are not installed: run ./scripts/setup"),
        .timeLimit(.minutes(3)))
    func test_thePageLoadsForAnEngineerAndSaysWhyNothingCanBeChanged() async throws {
        try await browserChecks(control: nil, expected: ["shows_why_unavailable", "nothing_to_change"])
    }

    /// The page against the routes' stand-in service: what it shows and sends, not what applying does.
    @Test(
        .enabled(if: DashboardTests.browserAvailable, "chromium and chromium-driver are not installed: run ./scripts/setup"),
        .timeLimit(.minutes(3)))
    func test_previewBeforeApplyAndTheHistory() async throws {
        let control = ConfigurationRoutesTests.StandInControl()
        try await browserChecks(control: control, expected: [
            "shows_file_in_force", "apply_needs_a_preview", "errors_name_line_and_field", "preview_shows_the_diff",
            "apply_enabled_after_preview", "an_edit_needs_a_new_preview", "apply_reports_the_version", "history_lists_versions",
            "view_shows_a_version", "german",
        ])
        let applied = control.calls.withLock { $0 }.filter { $0.action == "apply" }
        #expect(applied.map(\.yaml) == ["site: { name: \"Proposed\" }\n# edited after the preview\n"])
        #expect(applied.first?.comment == "after the inspection")
        #expect(applied.first?.author == "erik")
    }
}
