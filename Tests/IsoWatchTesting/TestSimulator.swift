import Foundation
import IsoWatchCore
import IsoWatchSimulator
import Synchronization

/// An in-process simulator for tests: serves a site built in code (TCP on an ephemeral port,
/// RTU on a fresh pty), exposes where it is and its devices, and stops cleanly.
///
/// ```swift
/// let simulator = try TestSimulator(tcpUnits: [UnitDescription(unit: 1, profileID: "bender-isometer",
///                                                             values: [.insulationResistanceOhms: 30_000])])
/// defer { simulator.stop() }
/// let port = simulator.tcpPort
/// simulator.device(unit: 1).update { $0.values[.insulationResistanceOhms] = MeasuredValue(20_000) }
/// ```
public final class TestSimulator: Sendable {
    public let simulator: Simulator
    public let profiles: ProfileLibrary
    private let control = Mutex<Task<Void, any Error>?>(nil)

    /// The shipped profiles (hardware/profiles), loaded once per process.
    public static func shippedProfiles() throws -> ProfileLibrary {
        try ProfileLibrary.load(directory: RepositoryPaths.profiles)
    }

    /// `clock`: `SimulationClock(.manual)` for tests that step physics time themselves
    /// (`simulator.advancePhysics(bySeconds:)`).
    public init(site: SiteDescription, profiles: ProfileLibrary? = nil, clock: SimulationClock = SimulationClock()) throws {
        self.profiles = try profiles ?? Self.shippedProfiles()
        self.simulator = try Simulator(site: site, profiles: self.profiles, clock: clock)
    }

    /// One TCP endpoint `tcp0` on 127.0.0.1 (ephemeral port) and/or one RTU bus `rtu0` on a pty.
    public convenience init(
        tcpUnits: [UnitDescription] = [], rtuUnits: [UnitDescription] = [], serialLine: SerialLine = SerialLine(),
        rtuLinkPath: String? = nil, absentUnitReply: AbsentUnitReply = .gatewayException(afterSeconds: 0.05),
        profiles: ProfileLibrary? = nil
    ) throws {
        var endpoints: [EndpointDescription] = []
        if !tcpUnits.isEmpty { endpoints.append(.tcp(absentUnitReply: absentUnitReply, units: tcpUnits)) }
        if !rtuUnits.isEmpty { endpoints.append(.rtu(linkPath: rtuLinkPath, serialLine: serialLine, units: rtuUnits)) }
        try self.init(site: SiteDescription(endpoints: endpoints), profiles: profiles)
    }

    /// The port of the first TCP endpoint.
    public var tcpPort: UInt16 {
        guard let port = simulator.endpoints.lazy.compactMap(\.tcpPort).first else {
            preconditionFailure("this TestSimulator has no TCP endpoint")
        }
        return port
    }

    /// The pty path of the first RTU endpoint.
    public var ptyPath: String {
        guard let path = simulator.endpoints.lazy.compactMap(\.ptyPath).first else {
            preconditionFailure("this TestSimulator has no RTU endpoint")
        }
        return path
    }

    /// The device at `unit` of `endpoint` (default: the first endpoint that has that unit).
    public func device(endpoint: String? = nil, unit: UInt8) -> SimulatedDevice {
        let candidates = endpoint.map { id in simulator.endpoints.filter { $0.id == id } } ?? simulator.endpoints
        guard let device = candidates.lazy.compactMap({ $0.device(unit: unit) }).first else {
            preconditionFailure("no unit \(unit) on \(endpoint ?? "any endpoint")")
        }
        return device
    }

    /// Starts the control interface on an ephemeral loopback port and returns its base URL.
    public func startControl() async throws -> URL {
        let server = try ControlServer(simulator: simulator, host: "127.0.0.1", port: 0)
        let port = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            let resumed = Atomic(false)
            let task = Task {
                do {
                    try await server.run { port in
                        if !resumed.exchange(true, ordering: .relaxed) { continuation.resume(returning: port) }
                    }
                } catch {
                    if !resumed.exchange(true, ordering: .relaxed) { continuation.resume(throwing: error) }
                    throw error
                }
            }
            control.withLock { $0 = task }
        }
        return URL(string: "http://127.0.0.1:\(port)")!
    }

    /// Stops the control interface (if started; it winds down on its own after cancellation)
    /// and the simulator, whose threads are joined before this returns. Idempotent.
    public func stop() {
        control.withLock { $0 }?.cancel()
        simulator.stop()
    }
}
