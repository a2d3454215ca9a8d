import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

@Suite struct SiteFileTests {
    @Test func test_demoSiteLoadsAndServes() throws {
        let site = try SiteFile.load(file: RepositoryPaths.simulatorSites.appendingPathComponent("demo.yaml"))
        #expect(site.endpoints.map(\.id) == ["gw1", "rtu0"])
        #expect(site.endpoints[0].transport == .tcp(host: "127.0.0.1", port: 1502, absentUnitReply: .gatewayException(afterSeconds: 0.2)))
        #expect(site.endpoints[0].units.map(\.profileID) == ["bender-isometer", "trafox-im01-med", "isowatch-frontend"])
        guard case .rtu(let link, let line, _) = site.endpoints[1].transport else {
            Issue.record("rtu0 is not an RTU bus")
            return
        }
        #expect(link == "/tmp/isowatch-demo/rtu0")
        #expect(line == SerialLine(baud: 19200, parity: .even))
        #expect(site.endpoints[1].units.map(\.unit) == [1, 2, 3])
        // Every unit must be valid against the shipped profiles (the simulator checks before opening).
        var local = site
        local.endpoints[0].transport = .tcp(host: "127.0.0.1", port: 0, absentUnitReply: .noReply)
        local.endpoints[1].transport = .rtu(linkPath: nil, serialLine: line, turnaroundSeconds: 0)
        #expect(site.panelListen == PanelListen(host: "127.0.0.1", port: 8082), "hardware/demo/isowatch.yaml's gpio.panel")
        // The commercial devices are driven by their IT system's physics; the front-end runs the
        // measuring circuit itself from its true Re and Ce.
        let commercial = site.endpoints.flatMap(\.units).filter { $0.profileID != "isowatch-frontend" }
        #expect(commercial.allSatisfy { $0.system != nil }, "the demo is physics-driven")
        local.panelListen = PanelListen(port: 0)
        let simulator = try TestSimulator(site: local)
        simulator.stop()
    }

    @Test func test_defaultIdsNumberEachTransportSeparately() throws {
        let yaml = """
            endpoints:
              - listen: 127.0.0.1:0
                units: [{unit: 1, profile: acrel-aim-m10}]
              - link: /tmp/x/rtu
                units: [{unit: 1, profile: acrel-aim-m10}]
              - listen: 127.0.0.1:0
                units: [{unit: 2, profile: acrel-aim-m10}]
            """
        #expect(try SiteFile.parse(yaml: yaml, fileName: "ids.yaml").endpoints.map(\.id) == ["tcp0", "rtu0", "tcp1"])
    }

    @Test func test_unitFieldsAreRead() throws {
        let yaml = """
            endpoints:
              - listen: "[::1]:1502"
                absent_units: no_reply
                units:
                  - unit: 4
                    profile: bender-isometer
                    values:
                      insulation_resistance_ohms: { value: 10000000, validity: above_range }
                      system_voltage_volts: 230
                    faults: [device]
                    online: false
                    wire_fault: { kind: exception, exception_code: 6, count: 2 }
                    measurement_interval_seconds: 0.5
            """
        let endpoint = try SiteFile.parse(yaml: yaml, fileName: "unit.yaml").endpoints[0]
        #expect(endpoint.transport == .tcp(host: "::1", port: 1502, absentUnitReply: .noReply))
        let unit = endpoint.units[0]
        #expect(unit.state.values[.insulationResistanceOhms] == MeasuredValue(10_000_000, validity: .aboveRange))
        #expect(unit.state.values[.systemVoltageVolts] == MeasuredValue(230))
        #expect(unit.state.faults == [.device])
        #expect(!unit.online)
        #expect(unit.wireFault == WireFault(.exception(.serverDeviceBusy), remainingRequests: 2))
        #expect(unit.measurementIntervalSeconds == 0.5)
    }

    @Test func test_everyMistakeIsReportedWithItsLineAndField() {
        let yaml = """
            endpoints:
              - listen: 127.0.0.1:1502
                baud: 9600
                units:
                  - unit: 300
                    profile: acrel-aim-m10
                    valeus: {}
                  - unit: 2
                    profile: acrel-aim-m10
                    faults: [insulation, smoke]
                    wire_fault: { kind: gremlins }
            """
        do {
            _ = try SiteFile.parse(yaml: yaml, fileName: "bad.yaml")
            Issue.record("a broken site file was accepted")
        } catch {
            let found = error.errors.map { "\($0.line) \($0.field)" }
            #expect(found.contains("3 endpoints[0].baud"))
            #expect(found.contains("5 endpoints[0].units[0].unit"))
            #expect(found.contains("7 endpoints[0].units[0].valeus"))
            #expect(found.contains("10 endpoints[0].units[1].faults[1]"))
            #expect(found.contains("11 endpoints[0].units[1].wire_fault"))
            #expect(error.errors.allSatisfy { $0.file == "bad.yaml" })
            #expect(error.description.contains("gremlins"))
        }
    }

    /// Site files are read like the service's configuration: a boolean is true or false (YAML 1.1's
    /// yes/no/on/off are refused, not guessed), and a misspelt wire-fault key is an error.
    @Test func test_booleansAreTrueOrFalseAndWireFaultKeysAreChecked() {
        let yaml = """
            endpoints:
              - listen: 127.0.0.1:0
                units:
                  - unit: 1
                    profile: bender-isometer
                    online: no
                    wire_fault: { kind: crc_error, cuont: 2 }
                  - unit: 2
                    profile: bender-isometer
                    system: { earth_connected: yes }
            """
        do {
            _ = try SiteFile.parse(yaml: yaml, fileName: "bools.yaml")
            Issue.record("yes/no were accepted as booleans")
        } catch {
            let found = Set(error.errors.map { "\($0.line) \($0.field)" })
            #expect(
                found == [
                    "6 endpoints[0].units[0].online", "7 endpoints[0].units[0].wire_fault.cuont",
                    "10 endpoints[0].units[1].system.earth_connected",
                ], "\(error)")
            #expect(error.description.contains("did you mean 'count'"), "\(error)")
        }
    }

    @Test func test_anEndpointNeedsListenOrLink() {
        #expect(throws: ConfigurationErrors.self) {
            try SiteFile.parse(yaml: "endpoints:\n  - units: [{unit: 1, profile: acrel-aim-m10}]\n", fileName: "x.yaml")
        }
    }

    @Test func test_simulatorRefusesASiteThatDoesNotMatchTheProfiles() throws {
        let site = SiteDescription(endpoints: [
            .tcp(units: [
                UnitDescription(unit: 1, profileID: "no-such-device", values: [:]),
                // The Acrel publishes no leakage capacitance.
                UnitDescription(unit: 2, profileID: "acrel-aim-m10", values: [.leakageCapacitanceFarads: 1e-6]),
                UnitDescription(unit: 2, profileID: "acrel-aim-m10", values: [:]),
            ])
        ])
        do {
            _ = try TestSimulator(site: site)
            Issue.record("an impossible site was served")
        } catch let error as SimulatorError {
            #expect(error.description.contains("no profile 'no-such-device'"))
            #expect(error.description.contains("does not publish leakage_capacitance_farads"))
            #expect(error.description.contains("unit id used twice"))
        }
    }
}
