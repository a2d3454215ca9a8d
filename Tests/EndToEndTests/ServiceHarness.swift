import Foundation
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchModbus
import IsoWatchService
import IsoWatchSimulator
import IsoWatchSnapshot
import IsoWatchTesting
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The simulator on one side of real loopback TCP and a real pseudo-terminal, the whole service on
/// the other, with its HTTP server on an ephemeral port and its outputs on a simulated GPIO chip.
final class ServiceHarness: Sendable {
    let simulator: Simulator
    let gpio: SimulatedGPIOBackend
    let configuration: Configuration
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    /// The add-ons' health (HTTP server, users file, BMS server), as `/healthz` shows it.
    let addOns: AddOnBoard
    /// The service as assembled (its configuration changes, its monitor for `@testable` tests).
    let runtime: IsoWatchRuntime
    private let boundPort = BoundPort()
    /// The port the HTTP server listens on (the latest, should it have been restarted).
    var httpPort: Int { boundPort.port ?? 0 }

    private final class BoundPort: Sendable {
        private let value = Mutex<Int?>(nil)
        var port: Int? { value.withLock { $0 } }
        func set(_ port: Int) { value.withLock { $0 = port } }
    }

    static let profiles = try! ProfileLibrary.load(directory: RepositoryPaths.profiles)

    /// `configuration` is YAML in which `{TCP_PORT}` and `{RTU_PATH}` stand for where the simulator listens.
    /// - Parameters:
    ///   - addOnBackoff: how add-ons that cannot start are retried (short in tests).
    ///   - waitForHTTP: return only once the HTTP server listens (false: for a server that cannot start).
    ///   - configurationFile: where to write the configuration (then the service is started from
    ///     that file, as `isowatch run --config` does, and can reload it).
    ///   - observeOutcome: sees every poll outcome as it enters the service.
    init(
        site: SiteDescription, configurationYAML: String, addOnBackoff: AddOnBackoff = .standard, waitForHTTP: Bool = true,
        configurationFile: URL? = nil, observeOutcome: @escaping @Sendable (PollOutcome) -> Void = { _ in }
    ) async throws {
        simulator = try Simulator(site: site, profiles: Self.profiles)
        let tcpPort = simulator.endpoints.compactMap(\.tcpPort).first.map(Int.init) ?? 0
        let ptyPath = simulator.endpoints.compactMap(\.ptyPath).first ?? "/nonexistent"
        var yaml = configurationYAML
            .replacingOccurrences(of: "{TCP_PORT}", with: String(tcpPort))
            .replacingOccurrences(of: "{RTU_PATH}", with: ptyPath)
        // The shipped profiles, named, so that a configuration sent back to the service (a reload,
        // the API) finds them as the started one did.
        if !yaml.contains("profiles_directory:") { yaml = "profiles_directory: \(RepositoryPaths.profiles.path)\n" + yaml }
        if let configurationFile {
            try Data(yaml.utf8).write(to: configurationFile)
            configuration = try ConfigurationLoader.load(file: configurationFile, profiles: Self.profiles)
        } else {
            configuration = try ConfigurationLoader.parse(
                yaml: yaml, fileName: "end-to-end.yaml", baseDirectory: RepositoryPaths.root.appending(path: "hardware/demo"),
                profiles: Self.profiles)
        }
        gpio = SimulatedGPIOBackend(chips: [SimulatedChip(name: "gpiochip0")])

        var logger = Logger(label: "isowatch-e2e")
        logger.logLevel = .warning
        let port = boundPort
        let runtime = try await IsoWatchRuntime.make(
            configuration: configuration, profiles: Self.profiles, gpio: gpio, logger: logger,
            onListening: { bound in port.set(bound) }, observeOutcome: observeOutcome, addOnBackoff: addOnBackoff)
        self.runtime = runtime
        addOns = runtime.addOns
        group = ServiceGroup(services: runtime.services, logger: logger)
        task = Task { [group] in try await group.run() }
        if waitForHTTP { try await waitForHTTPServer(seconds: 30) }
    }

    /// Waits until the HTTP server listens; returns its port.
    @discardableResult
    func waitForHTTPServer(seconds: Double) async throws -> Int {
        let deadline = Date().addingTimeInterval(seconds)
        while boundPort.port == nil && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        guard let bound = boundPort.port else {
            throw ExternalPeer.PeerError.missingTool("the HTTP server did not start within \(Int(seconds)) s")
        }
        return bound
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
        simulator.stop()
    }

    // MARK: - The HTTP API, as a facility engineer's tool would use it

    struct SystemView: Decodable {
        struct Alarm: Decodable {
            var state: String
            var conditions: [String]
            var silenced: Bool
        }
        struct Outputs: Decodable {
            var green: Bool
            var yellow: Bool
            var buzzer: Bool
        }
        var id: String
        var stale: Bool
        var reading: [String: JSONValue]?
        var alarm: Alarm
        var outputs: Outputs
    }

    enum JSONValue: Decodable {
        case number(Double), string(String), list([String]), other
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Double.self) {
                self = .number(number)
            } else if let string = try? container.decode(String.self) {
                self = .string(string)
            } else if let list = try? container.decode([String].self) {
                self = .list(list)
            } else {
                self = .other
            }
        }
        var number: Double? { if case let .number(value) = self { value } else { nil } }
        var list: [String]? { if case let .list(value) = self { value } else { nil } }
    }

    func get(_ path: String) async throws -> (status: Int, body: Data) {
        let url = URL(string: "http://127.0.0.1:\(httpPort)\(path)")!
        let (data, response) = try await URLSession.shared.data(from: url)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    func systems() async throws -> [SystemView] {
        let (status, body) = try await get("/api/v1/systems")
        guard status == 200 else { throw ExternalPeer.PeerError.missingTool("GET /api/v1/systems: \(status)") }
        return try JSONDecoder().decode([SystemView].self, from: body)
    }

    func system(_ id: String) async throws -> SystemView? {
        try await systems().first { $0.id == id }
    }

    /// Polls the API until `condition` holds for the system, or the time is up; returns the last view.
    @discardableResult
    func waitFor(_ id: String, seconds: Double, _ condition: (SystemView) -> Bool) async throws -> SystemView? {
        let deadline = Date().addingTimeInterval(seconds)
        var last: SystemView?
        repeat {
            last = try await system(id)
            if let last, condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        return last
    }
}
