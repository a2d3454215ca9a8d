import Foundation
import IsoWatchTesting
import Testing

/// scripts/install run for real into a temporary root (`--prefix` and `--sysconfdir` inside it, so
/// the account, udev and systemd steps are skipped), and the tree it leaves checked the way the
/// box would use it: the installed binary validates the installed configuration against the
/// installed profiles, and systemd accepts the installed unit.
@Suite(.serialized)
struct DeployInstallTests {
    struct Installation {
        let root: URL
        var prefix: URL { root.appending(path: "usr") }
        var sysconfdir: URL { root.appending(path: "etc") }
        var binary: URL { prefix.appending(path: "bin/isowatch") }
        var configuration: URL { sysconfdir.appending(path: "isowatch/isowatch.yaml") }
        var unit: URL { sysconfdir.appending(path: "systemd/system/isowatch.service") }
        var udevRules: URL { sysconfdir.appending(path: "udev/rules.d/60-isowatch.rules") }

        init() throws {
            root = FileManager.default.temporaryDirectory.appending(path: "isowatch-install-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }

        func install(_ extra: [String] = []) async throws -> (status: Int32, output: String) {
            let built = try RepositoryPaths.requiredProduct("isowatch")
            let arguments =
                [
                    RepositoryPaths.root.appending(path: "scripts/install").path, "--binary", built.path,
                    "--prefix", prefix.path, "--sysconfdir", sysconfdir.path,
                ] + extra
            return try await onOwnThread { try ExternalPeer.run("/bin/bash", arguments, timeoutSeconds: 120) }
        }

        /// Every file below the root with its contents and modification time.
        func snapshot() throws -> [String: (Data, Date)] {
            var files: [String: (Data, Date)] = [:]
            let enumerator = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey, .contentModificationDateKey])
            while let url = enumerator?.nextObject() as? URL {
                let values = try url.resourceValues(forKeys: [.isRegularFileKey, .contentModificationDateKey])
                guard values.isRegularFile == true else { continue }
                files[url.path] = (try Data(contentsOf: url), values.contentModificationDate ?? .distantPast)
            }
            return files
        }
    }

    @Test func test_installPlacesBinaryProfilesConfigurationUnitAndUdevRules() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        let result = try await installation.install()
        #expect(result.status == 0, "\(result.output)")

        let files = FileManager.default
        #expect(files.isExecutableFile(atPath: installation.binary.path))
        let shippedProfiles = try files.contentsOfDirectory(atPath: RepositoryPaths.profiles.path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        let installedProfiles = try files.contentsOfDirectory(
            atPath: installation.prefix.appending(path: "share/isowatch/profiles").path
        ).sorted()
        #expect(!shippedProfiles.isEmpty)
        #expect(installedProfiles == shippedProfiles)
        #expect(files.fileExists(atPath: installation.udevRules.path))
        #expect(files.fileExists(atPath: installation.sysconfdir.appending(path: "sysusers.d/isowatch.conf").path))
        #expect(files.fileExists(atPath: installation.prefix.appending(path: "share/doc/isowatch/wiring.md").path))
        // The configuration may hold site details: not world-readable.
        let mode = try files.attributesOfItem(atPath: installation.configuration.path)[.posixPermissions] as? Int
        #expect(mode == 0o640)

        let unit = try String(contentsOf: installation.unit, encoding: .utf8)
        #expect(unit.contains("ExecStart=\(installation.binary.path) run --config \(installation.configuration.path)"))
        #expect(!unit.contains("/usr/local/"), "every path follows the prefix")
        #expect(result.output.contains("skipped: creating user isowatch"), "\(result.output)")
    }

    /// The skeleton is a configuration the service accepts as it stands (ExecStartPre runs this
    /// check), with the installed profiles.
    @Test func test_installedConfigurationSkeletonPassesTheInstalledCheckConfig() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        let installed = try await installation.install()
        try #require(installed.status == 0, "\(installed.output)")
        let binary = installation.binary.path
        let configuration = installation.configuration.path
        let check = try await onOwnThread { try ExternalPeer.run(binary, ["check-config", configuration]) }
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("valid, 1 IT system(s)"), "\(check.output)")
    }

    /// systemd-analyze verify exits 0 even for unknown keys and bad values; it only prints them. So
    /// any output at all is a failure.
    @Test func test_installedUnitPassesSystemdAnalyzeVerifyWithoutAWarning() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        let installed = try await installation.install()
        try #require(installed.status == 0, "\(installed.output)")
        let analyze = try TestTools.tool("systemd-analyze")
        let unit = installation.unit.path
        let verified = try await onOwnThread { try ExternalPeer.run(analyze, ["verify", unit]) }
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.trimmingCharacters(in: .whitespacesAndNewlines) == "", "\(verified.output)")

        let unitText = try String(contentsOf: installation.unit, encoding: .utf8)
        for required in ["Type=notify", "WatchdogSec=", "Restart=always", "User=isowatch", "NoNewPrivileges=yes"] {
            #expect(unitText.contains(required), "the unit lacks \(required)")
        }
    }

    /// Issue 13 §8: devices closed but for the serial adapters and GPIO chips, the system-service
    /// system calls only, other processes invisible, and no descriptor that libmodbus's select()
    /// cannot hold. Read as systemd reads it: the last assignment of a key wins.
    @Test func test_unitClosesDevicesFiltersSystemCallsAndKeepsDescriptorsBelowSelectsLimit() throws {
        let text = try String(
            contentsOf: RepositoryPaths.root.appending(path: "hardware/deploy/isowatch.service"), encoding: .utf8)
        var settings: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            settings[String(line[..<equals]), default: []].append(String(line[line.index(after: equals)...]))
        }
        #expect(settings["DevicePolicy"]?.last == "closed")
        let allowed = Set(settings["DeviceAllow"] ?? [])
        #expect(allowed == ["char-ttyUSB rw", "char-ttyACM rw", "char-gpiochip rw"], "\(allowed)")
        #expect(settings["SystemCallFilter"]?.last == "@system-service")
        #expect(settings["SystemCallErrorNumber"]?.last == "EPERM")
        #expect(settings["ProtectProc"]?.last == "invisible")
        let files = try #require(settings["LimitNOFILE"]?.last, "LimitNOFILE must be set (the default soft limit may be raised)")
        // "N" or "SOFT:HARD": both at most 1024.
        let limits = files.split(separator: ":").map { Int($0) }
        #expect(!limits.isEmpty && limits.allSatisfy { ($0 ?? .max) <= 1024 }, "LimitNOFILE=\(files)")
    }

    /// The account, made by systemd-sysusers in a temporary root with this machine's users and
    /// groups: a system user isowatch in dialout (serial adapters) and gpio (GPIO chips).
    @Test func test_sysusersCreatesTheServiceAccountInTheSerialAndGPIOGroups() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        let etc = installation.root.appending(path: "etc")
        try FileManager.default.createDirectory(at: etc.appending(path: "sysusers.d"), withIntermediateDirectories: true)
        for file in ["passwd", "group"] {
            try FileManager.default.copyItem(atPath: "/etc/\(file)", toPath: etc.appending(path: file).path)
        }
        try FileManager.default.copyItem(
            at: RepositoryPaths.root.appending(path: "hardware/deploy/isowatch.sysusers"),
            to: etc.appending(path: "sysusers.d/isowatch.conf"))
        let sysusers = try TestTools.tool("systemd-sysusers")
        let root = installation.root.path
        let result = try await onOwnThread { try ExternalPeer.run(sysusers, ["--root=\(root)"]) }
        #expect(result.status == 0, "\(result.output)")

        let passwd = try String(contentsOf: etc.appending(path: "passwd"), encoding: .utf8).split(separator: "\n")
        let user = try #require(passwd.first { $0.hasPrefix("isowatch:") }).split(separator: ":", omittingEmptySubsequences: false)
        #expect(Int(user[2]).map { $0 > 0 && $0 < 1000 } == true, "a system user, not root: \(user)")
        #expect(user[6] == "/usr/sbin/nologin")
        let groups = try String(contentsOf: etc.appending(path: "group"), encoding: .utf8).split(separator: "\n")
        for group in ["dialout", "gpio"] {
            let line = try #require(groups.first { $0.hasPrefix("\(group):") }, "no group \(group)")
            #expect(line.split(separator: ":").last?.split(separator: ",").contains("isowatch") == true, "\(line)")
        }
    }

    @Test func test_secondInstallChangesNothingAndKeepsAnEditedConfiguration() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        try #require(try await installation.install().status == 0)
        let edited = try String(contentsOf: installation.configuration, encoding: .utf8)
            .replacingOccurrences(of: "CHANGE ME: hospital, building", with: "St. Example, Building C")
        try edited.write(to: installation.configuration, atomically: false, encoding: .utf8)
        let before = try installation.snapshot()

        let again = try await installation.install()
        #expect(again.status == 0, "\(again.output)")
        let after = try installation.snapshot()
        #expect(try String(contentsOf: installation.configuration, encoding: .utf8) == edited)
        // Only the shipped skeleton beside the edited one is new; nothing else is rewritten.
        let distPath = installation.configuration.path + ".dist"
        #expect(Set(after.keys) == Set(before.keys).union([distPath]))
        for (path, (data, modified)) in before {
            #expect(after[path]?.0 == data, "\(path) changed")
            #expect(after[path]?.1 == modified, "\(path) was rewritten")
        }
        #expect(!again.output.contains("installed \(installation.binary.path)"), "\(again.output)")

        let third = try await installation.install()
        #expect(third.status == 0)
        #expect(try installation.snapshot().mapValues(\.1) == after.mapValues(\.1), "a third run rewrites nothing")
    }

    @Test func test_dryRunPrintsThePlanAndWritesNothing() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        let result = try await installation.install(["--dry-run"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("would install \(installation.unit.path)"), "\(result.output)")
        #expect(result.output.contains("would install \(installation.binary.path)"), "\(result.output)")
        #expect(try installation.snapshot().isEmpty)
    }

    @Test func test_unknownOptionIsRefusedBeforeAnythingIsWritten() async throws {
        let installation = try Installation()
        defer { installation.remove() }
        let result = try await installation.install(["--prefx", "/tmp"])
        #expect(result.status == 64, "\(result.output)")
        #expect(result.output.contains("unknown option '--prefx'"))
        #expect(try installation.snapshot().isEmpty)
    }
}
