import Foundation
import Testing

@testable import IsoWatchCore

@Suite struct ConfigurationLoaderTests {
    /// A valid site; each test changes one line (numbers in the comments are the file's lines).
    static let valid = """
        site: { name: "St. Example Hospital, Building C" }
        http: { listen: "127.0.0.1:8080" }
        gpio: { backend: simulated }
        systems:
          - id: or-3
            name: "Operating theatre 3"
            location: "OR 3"
            transformer: { rating_kva: 8, secondary_voltage_volts: 230 }
            device:
              profile: acrel-aim-m10
              transport: { rtu: { device: /dev/ttyUSB0, baud: 19200, parity: E, data_bits: 8, stop_bits: 1 } }
              unit: 3
              poll_interval_seconds: 1.0
              timeout_seconds: 0.5
              retries: 2
            thresholds:
              insulation_response_ohms: 50000
              insulation_prewarning_ohms: 100000
              load_percent: 100
              winding_temperature_celsius: 120
              stale_after_seconds: 5
            outputs:
              green:  { chip: gpiochip0, line: 4 }
              yellow: { chip: gpiochip0, line: 5 }
              buzzer: { chip: gpiochip0, line: 6, active_low: true }
          - id: or-4
            name: "Operating theatre 4"
            location: "OR 4"
            transformer: { rating_kva: 5, secondary_voltage_volts: 230, rated_current_amperes: 21 }
            device:
              profile: bender-isometer
              transport: { tcp: { host: 10.1.2.3 } }
            outputs:
              yellow: { chip: gpiochip0, name: "OR4_YELLOW" }
        """

    private let site = SiteFileFixture(valid: Self.valid)

    @Test func test_validConfigurationParsesWithDefaults() throws {
        let configuration = try site.parse(Self.valid)
        #expect(configuration.site == Site(name: "St. Example Hospital, Building C"))
        #expect(configuration.http == HTTPSettings(host: "127.0.0.1", port: 8080))
        #expect(configuration.gpio.backend == .simulated)
        #expect(configuration.profilesDirectory.path == "/etc/isowatch/profiles")
        #expect(configuration.systems.map(\.id) == ["or-3", "or-4"])

        let theatre3 = configuration.systems[0]
        #expect(theatre3.device == DeviceConfiguration(
            profileID: "acrel-aim-m10",
            transport: .rtu(SerialSettings(device: "/dev/ttyUSB0", baud: 19200, parity: .even, dataBits: 8, stopBits: 1)),
            unit: 3, pollIntervalSeconds: 1, timeoutSeconds: 0.5, retries: 2))
        #expect(theatre3.thresholds == Thresholds(
            insulationResponseOhms: 50_000, insulationPrewarningOhms: 100_000, loadPercent: 100,
            windingTemperatureCelsius: 120, staleAfterSeconds: 5))
        #expect(abs(theatre3.transformer.ratedCurrentAmperes - 8000.0 / 230) < 1e-9, "derived from kVA / V")
        #expect(theatre3.outputs.buzzer == LineReference(chip: "gpiochip0", offset: 6, activeLow: true))
        #expect(theatre3.outputs.all.count == 3)

        let theatre4 = configuration.systems[1]
        #expect(theatre4.device.transport == .tcp(host: "10.1.2.3", port: 502))
        #expect(theatre4.device.unit == 1, "the profile's factory unit id")
        #expect(theatre4.transformer.ratedCurrentAmperes == 21)
        #expect(theatre4.thresholds == Thresholds())
        #expect(theatre4.outputs == OutputLines(yellow: LineReference(chip: "gpiochip0", name: "OR4_YELLOW")))
    }

    @Test func test_serialSettingsDefaultToTheProfiles() throws {
        let configuration = try site.parse(site.replacing(
            "{ rtu: { device: /dev/ttyUSB0, baud: 19200, parity: E, data_bits: 8, stop_bits: 1 } }",
            with: "{ rtu: { device: /dev/ttyUSB0 } }"))
        #expect(configuration.systems[0].device.transport
            == .rtu(SerialSettings(device: "/dev/ttyUSB0", baud: 9600, parity: .none, dataBits: 8, stopBits: 1)))
    }

    @Test func test_unitOutsideModbusRangeIsAnError() {
        let found = site.errors(site.replacing("unit: 3", with: "unit: 0"))
        #expect(found.map(\.description) == ["site.yaml:12:13: field 'systems[0].device.unit': must be 1...247, got 0"])
        site.expectSingleError(site.replacing("unit: 3", with: "unit: 248"), line: 12, field: "systems[0].device.unit")
    }

    @Test func test_nonStandardBaudRateIsAnError() {
        site.expectSingleError(
            site.replacing("baud: 19200", with: "baud: 20000"), line: 11, field: "systems[0].device.transport.rtu.baud",
            reasonContains: "9600, 19200")
    }

    @Test func test_parityIsOneOfNEO() {
        site.expectSingleError(
            site.replacing("parity: E", with: "parity: even"), line: 11, field: "systems[0].device.transport.rtu.parity",
            reasonContains: "N, E, O")
    }

    @Test func test_tcpPortOutsideRangeIsAnError() {
        site.expectSingleError(
            site.replacing("{ tcp: { host: 10.1.2.3 } }", with: "{ tcp: { host: 10.1.2.3, port: 70000 } }"), line: 32,
            field: "systems[1].device.transport.tcp.port", reasonContains: "1...65535")
    }

    @Test func test_transportNeedsExactlyOneOfTcpAndRtu() {
        site.expectSingleError(
            site.replacing("{ tcp: { host: 10.1.2.3 } }", with: "{ tcp: { host: 10.1.2.3 }, rtu: { device: /dev/ttyS0 } }"),
            line: 32, field: "systems[1].device.transport", reasonContains: "exactly one")
    }

    @Test func test_pollIntervalRange() {
        site.expectSingleError(
            site.replacing("poll_interval_seconds: 1.0", with: "poll_interval_seconds: 0.05"), line: 13,
            field: "systems[0].device.poll_interval_seconds", reasonContains: "0.1...3600")
    }

    @Test func test_timeoutMustBeShorterThanPollInterval() {
        site.expectSingleError(
            site.replacing("timeout_seconds: 0.5", with: "timeout_seconds: 1.0"), line: 14,
            field: "systems[0].device.timeout_seconds", reasonContains: "below poll_interval_seconds")
    }

    @Test func test_transformerRatingFollowsIEC61558_2_15() {
        site.expectSingleError(
            site.replacing("rating_kva: 8", with: "rating_kva: 12"), line: 8, field: "systems[0].transformer.rating_kva",
            reasonContains: "IEC 61558-2-15")
        site.expectSingleError(
            site.replacing("rating_kva: 8, secondary_voltage_volts: 230", with: "rating_kva: 8, secondary_voltage_volts: 400"),
            line: 8, field: "systems[0].transformer.secondary_voltage_volts", reasonContains: "250 V")
    }

    @Test func test_insulationResponseBelowFiftyKiloohmsIsRejectedCitingIEC60364_7_710() {
        let found = site.errors(site.replacing("insulation_response_ohms: 50000", with: "insulation_response_ohms: 30000"))
        #expect(found.count == 1)
        #expect(found.first?.line == 17)
        #expect(found.first?.column == 33)
        #expect(found.first?.field == "systems[0].thresholds.insulation_response_ohms")
        #expect(found.first?.reason.contains("IEC 60364-7-710") == true)
        #expect(found.first?.reason.hasSuffix("got 30000") == true)
    }

    @Test func test_prewarningMustNotBeBelowResponse() {
        site.expectSingleError(
            site.replacing("insulation_prewarning_ohms: 100000", with: "insulation_prewarning_ohms: 40000"), line: 18,
            field: "systems[0].thresholds.insulation_prewarning_ohms", reasonContains: "above insulation_response_ohms")
    }

    @Test func test_staleTimeMustExceedPollInterval() {
        site.expectSingleError(
            site.replacing("stale_after_seconds: 5", with: "stale_after_seconds: 1"), line: 21,
            field: "systems[0].thresholds.stale_after_seconds")
    }

    @Test func test_misspeltKeyIsAnErrorWithSuggestion() {
        let found = site.errors(site.replacing("    thresholds:", with: "    treshold:"))
        #expect(found.count == 1)
        #expect(found.first?.line == 16)
        #expect(found.first?.column == 5)
        #expect(found.first?.field == "systems[0].treshold")
        #expect(found.first?.reason.hasPrefix("unknown key 'treshold'; did you mean 'thresholds'?") == true)
    }

    @Test func test_unknownProfileIsAnErrorWithSuggestion() {
        site.expectSingleError(
            site.replacing("profile: acrel-aim-m10", with: "profile: acrel-aim-m11"), line: 10,
            field: "systems[0].device.profile", reasonContains: "did you mean 'acrel-aim-m10'?")
    }

    @Test func test_systemIdsAreUnique() {
        site.expectSingleError(
            site.replacing("- id: or-4", with: "- id: or-3"), line: 26, field: "systems[1].id",
            reasonContains: "systems[0] (line 5)")
    }

    @Test func test_systemIdIsLowerCaseLettersDigitsAndDashes() {
        site.expectSingleError(site.replacing("- id: or-4", with: "- id: OR 4"), line: 26, field: "systems[1].id")
    }

    @Test func test_twoSystemsOnTheSameTransportAndUnitIsAnError() {
        let yaml = site.replacing(
            "transport: { tcp: { host: 10.1.2.3 } }",
            with: "transport: { rtu: { device: /dev/ttyUSB0 } }\n      unit: 3")
        site.expectSingleError(yaml, line: 33, field: "systems[1].device.unit", reasonContains: "already polls unit 3")
        // The same unit on another bus is a different device.
        #expect(site.errors(yaml.replacingOccurrences(of: "{ device: /dev/ttyUSB0 } }\n", with: "{ device: /dev/ttyUSB1 } }\n")).isEmpty)
    }

    @Test func test_twoSystemsOnTheSameTcpGatewayAndUnitIsAnError() {
        let yaml = site.replacing(
            "{ rtu: { device: /dev/ttyUSB0, baud: 19200, parity: E, data_bits: 8, stop_bits: 1 } }",
            with: "{ tcp: { host: 10.1.2.3, port: 502 } }"
        ).replacingOccurrences(of: "unit: 3", with: "unit: 1")
        site.expectSingleError(yaml, line: 30, field: "systems[1].device.unit", reasonContains: "10.1.2.3:502")
    }

    @Test func test_systemsSharingASerialBusAgreeOnItsSettings() {
        site.expectSingleError(
            site.replacing(
                "transport: { tcp: { host: 10.1.2.3 } }",
                with: "transport: { rtu: { device: /dev/ttyUSB0, baud: 9600 } }"),
            line: 32, field: "systems[1].device.transport.rtu", reasonContains: "one serial bus has one line setting")
    }

    @Test func test_oneGPIOLineCannotDriveTwoOutputs() {
        site.expectSingleError(
            site.replacing(#"yellow: { chip: gpiochip0, name: "OR4_YELLOW" }"#, with: "yellow: { chip: gpiochip0, line: 5 }"),
            line: 34, field: "systems[1].outputs.yellow", reasonContains: "yellow output of systems[0]")
        site.expectSingleError(
            site.replacing("buzzer: { chip: gpiochip0, line: 6, active_low: true }", with: "buzzer: { chip: gpiochip0, line: 4 }"),
            line: 25, field: "systems[0].outputs.buzzer", reasonContains: "green output of systems[0]")
    }

    /// The valid file with panel inputs added to systems[0] after its buzzer (line 25); the
    /// inputs start at line 26.
    private func withInputs(_ lines: String) -> String {
        let indented = lines.split(separator: "\n").map { "      \($0)" }.joined(separator: "\n")
        return site.replacing(
            "buzzer: { chip: gpiochip0, line: 6, active_low: true }",
            with: "buzzer: { chip: gpiochip0, line: 6, active_low: true }\n    inputs:\n\(indented)")
    }

    @Test func test_panelInputsParseWithDefaultDebounce() throws {
        let configuration = try site.parse(
            withInputs("""
                mute: { chip: gpiochip0, line: 16, active_low: true }
                test: { chip: gpiochip0, line: 17, debounce_seconds: 0.2 }
                acknowledge: { chip: gpiochip0, name: "OR3_ACK" }
                imd_alarm_contact: { chip: gpiochip0, line: 19 }
                """))
        let inputs = configuration.systems[0].inputs
        #expect(inputs.mute == InputLineReference(chip: "gpiochip0", offset: 16, activeLow: true, debounceSeconds: 0.05))
        #expect(inputs.test == InputLineReference(chip: "gpiochip0", offset: 17, debounceSeconds: 0.2))
        #expect(inputs.acknowledge == InputLineReference(chip: "gpiochip0", name: "OR3_ACK"))
        #expect(inputs.imdAlarmContact?.offset == 19 && inputs.imdAlarmContact?.activeLow == false)
        #expect(configuration.systems[1].inputs == InputLines())
    }

    @Test func test_unknownInputKeyIsAnError() {
        site.expectSingleError(
            withInputs("silence: { chip: gpiochip0, line: 16 }"), line: 27, field: "systems[0].inputs.silence")
        site.expectSingleError(
            withInputs("mute: { chip: gpiochip0, line: 16, energise: alarm }"), line: 27,
            field: "systems[0].inputs.mute.energise")
    }

    @Test func test_inputNeedsExactlyOneOfLineAndName() {
        site.expectSingleError(
            withInputs(#"mute: { chip: gpiochip0, line: 16, name: "M" }"#), line: 27, field: "systems[0].inputs.mute")
        site.expectSingleError(withInputs("mute: { chip: gpiochip0 }"), line: 27, field: "systems[0].inputs.mute")
    }

    @Test func test_debounceIsFiveMillisecondsToTwoSeconds() throws {
        site.expectSingleError(
            withInputs("test: { chip: gpiochip0, line: 17, debounce_seconds: 0.001 }"), line: 27,
            field: "systems[0].inputs.test.debounce_seconds", reasonContains: "0.005...2")
        site.expectSingleError(
            withInputs("test: { chip: gpiochip0, line: 17, debounce_seconds: 2.5 }"), line: 27,
            field: "systems[0].inputs.test.debounce_seconds", reasonContains: "0.005...2")
        let edges = try site.parse(
            withInputs("""
                mute: { chip: gpiochip0, line: 16, debounce_seconds: 0.005 }
                test: { chip: gpiochip0, line: 17, debounce_seconds: 2 }
                """)
        ).systems[0].inputs
        #expect(edges.mute?.debounceSeconds == 0.005)
        #expect(edges.test?.debounceSeconds == 2)
    }

    @Test func test_oneGPIOLineCannotServeAnInputAndAnOutput() {
        // Line 5 is systems[0]'s yellow output.
        site.expectSingleError(
            withInputs("mute: { chip: gpiochip0, line: 5 }"), line: 27, field: "systems[0].inputs.mute",
            reasonContains: "yellow output of systems[0]")
        // Two inputs on one line.
        site.expectSingleError(
            withInputs("""
                mute: { chip: gpiochip0, line: 16 }
                acknowledge: { chip: gpiochip0, line: 16 }
                """), line: 28, field: "systems[0].inputs.acknowledge", reasonContains: "mute input of systems[0]")
        // A later system's output, by name: reported where the second use is.
        site.expectSingleError(
            withInputs(#"imd_alarm_contact: { chip: gpiochip0, name: "OR4_YELLOW" }"#), line: 36,
            field: "systems[1].outputs.yellow", reasonContains: "imd_alarm_contact input of systems[0]")
    }

    @Test func test_lineReferenceNeedsExactlyOneOfLineAndName() {
        site.expectSingleError(
            site.replacing("green:  { chip: gpiochip0, line: 4 }", with: #"green:  { chip: gpiochip0, line: 4, name: "G" }"#),
            line: 23, field: "systems[0].outputs.green")
        site.expectSingleError(
            site.replacing("green:  { chip: gpiochip0, line: 4 }", with: "green:  { chip: gpiochip0 }"),
            line: 23, field: "systems[0].outputs.green")
    }

    @Test func test_relaysAreEnergisedToNormalUnlessConfiguredOtherwise() throws {
        let defaults = try site.parse(Self.valid).systems[0].outputs
        #expect(defaults.all.map(\.energise) == [.normal, .normal, .normal])

        let configured = try site.parse(
            site.replacing(
                "buzzer: { chip: gpiochip0, line: 6, active_low: true }",
                with: "buzzer: { chip: gpiochip0, line: 6, active_low: true, energise: alarm }")
        ).systems[0].outputs
        #expect(configured.buzzer == LineReference(chip: "gpiochip0", offset: 6, activeLow: true, energise: .alarm))
        #expect(configured.yellow?.energise == .normal)
    }

    @Test func test_energiseIsNormalOrAlarm() {
        site.expectSingleError(
            site.replacing("yellow: { chip: gpiochip0, line: 5 }", with: "yellow: { chip: gpiochip0, line: 5, energise: alram }"),
            line: 24, field: "systems[0].outputs.yellow.energise", reasonContains: "did you mean 'alarm'")
    }

    @Test func test_greenLampCannotBeEnergisedInAlarmBecauseAStoppedServiceWouldLightIt() {
        site.expectSingleError(
            site.replacing("green:  { chip: gpiochip0, line: 4 }", with: "green:  { chip: gpiochip0, line: 4, energise: alarm }"),
            line: 23, field: "systems[0].outputs.green.energise", reasonContains: "rest contact")
    }

    @Test func test_gpioBackendIsRequired() {
        site.expectSingleError(site.replacing("gpio: { backend: simulated }\n", with: ""), line: 1, field: "gpio")
        site.expectSingleError(
            site.replacing("backend: simulated", with: "backend: sysfs"), line: 3, field: "gpio.backend",
            reasonContains: "libgpiod, simulated")
    }

    @Test func test_httpListenIsHostColonPort() throws {
        site.expectSingleError(
            site.replacing(#"listen: "127.0.0.1:8080""#, with: #"listen: "localhost""#), line: 2, field: "http.listen")
        let configuration = try site.parse(site.replacing(#"listen: "127.0.0.1:8080""#, with: #"listen: "[::1]:9090""#))
        #expect(configuration.http == HTTPSettings(host: "::1", port: 9090))
    }

    @Test func test_httpSessionAndConnectionLimits() throws {
        let listen = #"listen: "127.0.0.1:8080""#
        let configuration = try site.parse(
            site.replacing(
                listen,
                with: listen + ", session_idle_minutes: 15, idle_timeout_seconds: 10, max_connections: 64, max_connections_per_client: 5, max_stream_clients: 8"))
        #expect(configuration.http.sessionIdleMinutes == 15)
        #expect(configuration.http.idleTimeoutSeconds == 10)
        #expect(configuration.http.maximumConnections == 64)
        #expect(configuration.http.maximumConnectionsPerClient == 5)
        #expect(configuration.http.maximumStreamClients == 8)
        let defaults = try site.parse(site.valid)
        #expect(defaults.http.sessionIdleMinutes == 30)
        #expect(defaults.http.maximumConnections == 256)
        #expect(defaults.http.maximumConnectionsPerClient == 64)
        #expect(defaults.http.maximumStreamClients == 64)
        site.expectSingleError(
            site.replacing(listen, with: listen + ", session_idle_minutes: 0"), line: 2, field: "http.session_idle_minutes")
        site.expectSingleError(site.replacing(listen, with: listen + ", max_connections: 0"), line: 2, field: "http.max_connections")
        site.expectSingleError(
            site.replacing(listen, with: listen + ", idle_timeout_seconds: 0"), line: 2, field: "http.idle_timeout_seconds")
    }

    @Test func test_quotedNumberIsNotANumber() {
        site.expectSingleError(
            site.replacing("retries: 2", with: #"retries: "2""#), line: 15, field: "systems[0].device.retries",
            reasonContains: "quoted string")
    }

    @Test func test_yamlSyntaxErrorCarriesFileLineAndColumn() {
        let found = site.errors(site.replacing("location: \"OR 3\"", with: "location: \"OR 3"))
        #expect(found.count == 1)
        #expect(found.first?.field == "")
        #expect((found.first?.line ?? 0) >= 7)
        #expect(found.first?.description.hasPrefix("site.yaml:") == true)
    }

    @Test func test_everyErrorIsReportedNotOnlyTheFirst() {
        let yaml = site.replacing("unit: 3", with: "unit: 0")
            .replacingOccurrences(of: "rating_kva: 8", with: "rating_kva: 20")
            .replacingOccurrences(of: "insulation_response_ohms: 50000", with: "insulation_response_ohms: 1000")
            .replacingOccurrences(of: "profile: bender-isometer", with: "profile: bender")
        #expect(site.errors(yaml).map(\.line) == [8, 12, 17, 31])
    }

    @Test func test_loadResolvesProfilesDirectoryRelativeToTheFile() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-config-\(UUID())")
        let configDirectory = root.appendingPathComponent("etc")
        try FileManager.default.createDirectory(at: configDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createSymbolicLink(
            at: root.appendingPathComponent("profiles"), withDestinationURL: Repository.profilesDirectory)
        let file = configDirectory.appendingPathComponent("isowatch.yaml")
        try ("profiles_directory: ../profiles\n" + Self.valid).write(to: file, atomically: true, encoding: .utf8)

        let configuration = try ConfigurationLoader.load(file: file)
        #expect(configuration.profilesDirectory.path == root.appendingPathComponent("profiles").standardized.path)
        #expect(configuration.systems.count == 2)

        // The library is loaded from that directory and used to check profile ids.
        try ("profiles_directory: ../profiles\n" + site.replacing("profile: acrel-aim-m10", with: "profile: nope"))
            .write(to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationErrors.self) { try ConfigurationLoader.load(file: file) }
        #expect(error?.errors.map(\.field) == ["systems[0].device.profile"])
        #expect(error?.errors.first?.line == 11)
        #expect(error?.errors.first?.file == file.path)
    }

    @Test func test_missingProfilesDirectoryIsReported() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("isowatch-config-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("isowatch.yaml")
        try ("profiles_directory: no-such-folder\n" + Self.valid).write(to: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationErrors.self) { try ConfigurationLoader.load(file: file) }
        #expect(error?.errors.first?.field == "profiles_directory")
        #expect(error?.errors.first?.line == 1)
        #expect(error?.errors.contains { $0.file.hasSuffix("no-such-folder") && $0.line == 0 } == true)
    }
}

struct HostPortTests {
    @Test func test_hostPortAcceptsNamesAddressesAndBracketedIPv6() {
        #expect(HostPort("127.0.0.1:502") == HostPort(host: "127.0.0.1", port: 502))
        #expect(HostPort("gateway.or-wing.local:1502") == HostPort(host: "gateway.or-wing.local", port: 1502))
        #expect(HostPort("[::1]:8080") == HostPort(host: "::1", port: 8080))
        #expect(HostPort("127.0.0.1:0")?.port == 0)
    }

    @Test func test_hostPortRejectsWhatIsNotOneAddress() {
        for text in ["127.0.0.1", ":502", "host:", "host:65536", "host:-1", "::1:8080", "[::1]8080", "host:50x"] {
            #expect(HostPort(text) == nil, "\(text)")
        }
    }
}
