import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The runner against a live simulator: what it does reaches the registers a Modbus client reads.
@Suite struct ScenarioRunnerTests {
    static let profiles = try! ProfileLibrary.load(directory: RepositoryPaths.profiles)

    static func scenario(_ body: String, duration: Double, timeFactor: Double) throws -> Scenario {
        try ScenarioFile.parse(
            yaml: """
                name: runner-test
                duration_seconds: \(duration)
                time_factor: \(timeFactor)
                site:
                  endpoints:
                    - id: gw1
                      listen: 127.0.0.1:0
                      units:
                        - { unit: 1, profile: acrel-aim-m10, values: { insulation_resistance_ohms: 800000, load_current_amperes: 10, winding_temperature_celsius: 40 } }
                        - { unit: 2, profile: trafox-im01-med, values: { insulation_resistance_ohms: 700000, load_percent: 35, winding_temperature_celsius: 60 } }
                \(body)
                """, fileName: "runner-test.yaml", baseDirectory: RepositoryPaths.root)
    }

    /// Reads the Acrel AIM-M10's insulation (kΩ, register 0x0008) and fault bits (0x000B) as a client would.
    static func acrelRegisters(_ simulator: Simulator) async throws -> (kiloohms: Int, faultBits: Int) {
        let client = try RawModbusTCPClient(port: try #require(simulator.endpoint("gw1")?.tcpPort))
        let reply = try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x04])
        let bytes = Array(try #require(reply.bytes).suffix(8))
        return (Int(bytes[0]) << 8 | Int(bytes[1]), Int(bytes[6]) << 8 | Int(bytes[7]))
    }

    @Test func test_rampEndsAtItsTargetAndStepsReachTheRegisters() async throws {
        let scenario = try Self.scenario(
            """
            timeline:
              - { at: 10, unit: gw1/1, ramp: { insulation_resistance_ohms: 30000 }, over_seconds: 100 }
              - { at: 150, unit: gw1/1, raise_fault: earth_connection }
              - { at: 160, endpoint: gw1, wire_fault: { kind: crc_error, count: 2 } }
            """, duration: 200, timeFactor: 1000)
        let simulator = try Simulator(site: scenario.site, profiles: Self.profiles)
        defer { simulator.stop() }
        let lines = Mutex<[String]>([])
        try await ScenarioRunner(scenario: scenario, simulator: simulator).run(log: { line in lines.withLock { $0.append(line) } })

        let device = try #require(simulator.device(endpoint: "gw1", unit: 1))
        #expect(device.state.values[.insulationResistanceOhms] == MeasuredValue(30_000))
        #expect(device.state.faults == [.earthConnection])
        #expect(simulator.device(endpoint: "gw1", unit: 2)?.unit.wireFault == WireFault(.crcError, remainingRequests: 2))
        // The endpoint-wide wire fault would damage the next two replies; clear it to read unit 1.
        device.unit.wireFault = nil
        let registers = try await Self.acrelRegisters(simulator)
        #expect(registers.kiloohms == 30)
        #expect(registers.faultBits & 0x10 == 0x10)
        let log = lines.withLock { $0 }
        #expect(log.first?.contains("gw1/1  ramp insulation_resistance_ohms->30000.0 over 100.0 s") == true)
        #expect(log.last?.contains("end of runner-test") == true)
    }

    @Test func test_windingTemperatureFollowsTheTransformersThermalModelInPhysicsTime() async throws {
        let scenario = try Self.scenario(
            """
            thermal:
              gw1/2: { ambient_celsius: 25, limit_celsius: 120, initial_celsius: 60 }
            timeline:
              - { at: 0, unit: gw1/2, set: { load_percent: 160 } }
            """, duration: 1800, timeFactor: 18_000)
        let simulator = try Simulator(site: scenario.site, profiles: Self.profiles)
        defer { simulator.stop() }
        try await ScenarioRunner(scenario: scenario, simulator: simulator).run()

        // Closed form: θ(t) = θ∞ + (θ0 − θ∞)·e^(−t/τ) with the IEC 61558-2-15 calibration
        // (limit rise / rated rise 1.75, τ = 3600 s / ln(2.56 / 0.81)) at I/In = 1.6.
        let ratedRise = (120.0 - 25) / 1.75
        let tau = 3600 / log(2.56 / 0.81)
        let settled = 25 + ratedRise * 1.6 * 1.6
        let expected = settled + (60 - settled) * exp(-1800 / tau)
        let celsius = try #require(simulator.device(endpoint: "gw1", unit: 2)?.state.values[.windingTemperatureCelsius]?.value)
        #expect(abs(celsius - expected) < 1e-6, "winding at \(celsius) °C, closed form \(expected) °C")
    }

    @Test func test_physicsTimeStandsStillWhileACheckpointIsObserved() async throws {
        let scenario = try Self.scenario(
            """
            timeline:
              - { at: 5, unit: gw1/1, set: { insulation_resistance_ohms: 20000 } }
              - { at: 10.5, unit: gw1/1, set: { insulation_resistance_ohms: 600000 } }
            expect:
              gw1/1:
                raised: [{ condition: insulation, after: 4, by: 10 }]
            """, duration: 12, timeFactor: 100)
        let simulator = try Simulator(site: scenario.site, profiles: Self.profiles)
        defer { simulator.stop() }
        let device = try #require(simulator.device(endpoint: "gw1", unit: 1))
        let seen = Mutex<[(ScenarioCheckpoint.Kind, Double)]>([])
        try await ScenarioRunner(scenario: scenario, simulator: simulator).run(checkpoint: { check in
            // Far longer than the 0.005 s of wall time left before the next step at this factor.
            try await Task.sleep(for: .milliseconds(300))
            let ohms = device.state.values[.insulationResistanceOhms]?.value ?? 0
            seen.withLock { $0.append((check.kind, ohms)) }
        })
        let observed = seen.withLock { $0 }
        #expect(observed.map(\.0) == [.notYetRaised, .raised])
        #expect(observed.map(\.1) == [800_000, 20_000])
        #expect(device.state.values[.insulationResistanceOhms]?.value == 600_000)
    }

    /// On a device driven by its IT system's physics, a step changes the system, not the
    /// published value: the IMD then follows with its own response time.
    @Test func test_physicsDrivenDeviceIsChangedThroughItsSystemModel() async throws {
        var scenario = try Self.scenario(
            """
            timeline:
              - { at: 1, unit: gw1/1, set: { insulation_resistance_ohms: 30000, load_current_amperes: 20 } }
              - { at: 1, unit: gw1/1, raise_fault: earth_connection }
              - { at: 2, unit: gw1/1, raise_fault: device }
            """, duration: 2, timeFactor: 100)
        scenario.site.endpoints[0].units[0].system = ITSystemModel()
        let simulator = try Simulator(site: scenario.site, profiles: Self.profiles, clock: SimulationClock(.manual))
        defer { simulator.stop() }
        try await ScenarioRunner(scenario: scenario, simulator: simulator).run()
        let device = try #require(simulator.device(endpoint: "gw1", unit: 1))
        let physics = try #require(device.physics)
        #expect(abs(physics.system.insulationResistanceOhms - 30_000) < 1e-6)
        #expect(physics.system.loadCurrentAmperes == 20)
        #expect(!physics.system.earthConnected)
        #expect(physics.forcedFaults == [.device])
        // What the device publishes follows at its next measurement: the lead open, the load.
        simulator.advancePhysics(bySeconds: 2)
        #expect(device.state.faults.isSuperset(of: [.earthConnection, .device]))
        #expect(device.state.values[.loadCurrentAmperes]?.value == 20)
    }

    @Test func test_endpointGoingOfflineSilencesEveryUnitAndDropsItsConnections() async throws {
        let scenario = try Self.scenario(
            """
            timeline:
              - { at: 1, endpoint: gw1, online: false }
            """, duration: 1, timeFactor: 100)
        let simulator = try Simulator(site: scenario.site, profiles: Self.profiles)
        defer { simulator.stop() }
        let client = try RawModbusTCPClient(port: try #require(simulator.endpoint("gw1")?.tcpPort))
        let before = try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x04])
        #expect(before.bytes != nil)
        try await ScenarioRunner(scenario: scenario, simulator: simulator).run()
        #expect(simulator.endpoint("gw1")?.devices.allSatisfy { !$0.unit.isOnline } == true)
        let after = try? await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x04], timeoutSeconds: 0.5)
        #expect(after?.bytes == nil, "the gateway's client connection was dropped and its units are silent")
    }

    @Test func test_controlInterfaceStartsAScenarioOnTheRunningSimulator() async throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "isowatch-scenario-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appending(path: "control.yaml")
        try """
            name: control-start
            duration_seconds: 4
            site:
              endpoints:
                - id: gw1
                  listen: 127.0.0.1:9
                  units: [{ unit: 1, profile: acrel-aim-m10 }, { unit: 2, profile: trafox-im01-med }]
            timeline:
              - { at: 2, unit: gw1/1, set: { insulation_resistance_ohms: 42000 } }
            """.write(to: file, atomically: true, encoding: .utf8)
        let site = try Self.scenario("timeline: []", duration: 1, timeFactor: 1).site
        let simulator = try Simulator(site: site, profiles: Self.profiles)
        defer { simulator.stop() }
        let server = try ControlServer(simulator: simulator, host: "127.0.0.1", port: 0)
        let port = Mutex<Int?>(nil)
        let serving = Task { try await server.run { bound in port.withLock { $0 = bound } } }
        defer { serving.cancel() }
        while port.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(20)) }
        let base = "http://127.0.0.1:\(port.withLock { $0 }!)/api/v1/scenarios"

        func call(_ method: String, _ url: String, _ body: String? = nil) async throws -> (Int, ScenarioControl.RunView?) {
            var request = URLRequest(url: URL(string: url)!)
            request.httpMethod = method
            if let body {
                request.httpBody = Data(body.utf8)
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, try? JSONDecoder().decode(ScenarioControl.RunView.self, from: data))
        }

        let (started, view) = try await call("POST", base, #"{"file": "\#(file.path)", "time_factor": 4}"#)
        #expect(started == 202)
        #expect(view?.scenario == "control-start" && view?.running == true && view?.timeFactor == 4)
        let (refused, _) = try await call("POST", base, #"{"file": "\#(file.path)"}"#)
        #expect(refused == 409)
        var current = view
        for _ in 0..<200 where current?.running != false {
            try await Task.sleep(for: .milliseconds(50))
            current = try await call("GET", base + "/current").1
        }
        #expect(current?.running == false && current?.error == nil)
        #expect(current?.log.contains { $0.contains("gw1/1  set insulation_resistance_ohms=42000.0") } == true)
        #expect(simulator.device(endpoint: "gw1", unit: 1)?.state.values[.insulationResistanceOhms] == MeasuredValue(42_000))
        let (missing, _) = try await call("POST", base, #"{"file": "/nonexistent/scenario.yaml"}"#)
        #expect(missing == 400)
    }
}
