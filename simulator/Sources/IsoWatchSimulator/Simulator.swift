import IsoWatchCore

/// Why a site cannot be served.
public struct SimulatorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One endpoint while it runs: its server and its devices.
public final class RunningEndpoint: Sendable {
    public enum Server: Sendable {
        case tcp(ModbusTCPServer)
        case rtu(ModbusRTUServer)
    }

    public let id: String
    public let server: Server
    /// In the order the site lists them.
    public let devices: [SimulatedDevice]

    init(id: String, server: Server, devices: [SimulatedDevice]) {
        self.id = id
        self.server = server
        self.devices = devices
    }

    public func device(unit: UInt8) -> SimulatedDevice? {
        devices.first { $0.unitID == unit }
    }

    /// The bound TCP port, for a TCP endpoint.
    public var tcpPort: UInt16? {
        if case .tcp(let server) = server { server.port } else { nil }
    }

    /// The pty slave path, for an RTU endpoint.
    public var ptyPath: String? {
        if case .rtu(let server) = server { server.slavePath } else { nil }
    }

    /// The RTU server, for an RTU endpoint: `unplug()` / `replug()` act out its adapter.
    public var rtuServer: ModbusRTUServer? {
        if case .rtu(let server) = server { server } else { nil }
    }

    /// One line saying where the endpoint is: `tcp 127.0.0.1:1502 units 1,2` or
    /// `rtu /dev/pts/5 (link /tmp/isowatch/rtu0) units 3,4 @19200 8E1`.
    public var summary: String {
        let units = devices.map { String($0.unitID) }.joined(separator: ",")
        switch server {
        case .tcp(let server):
            let host = server.host.contains(":") ? "[\(server.host)]" : server.host
            return "tcp \(host):\(server.port) units \(units)"
        case .rtu(let server):
            let link = server.linkPath.map { " (link \($0))" } ?? ""
            return "rtu \(server.slavePath)\(link) units \(units) @\(server.serialLine.baud) \(server.serialLine.notation)"
        }
    }

    func stop() {
        switch server {
        case .tcp(let server): server.stop()
        case .rtu(let server): server.stop()
        }
    }
}

/// A running simulator: every endpoint of a site served on threads it owns, and a clock that
/// completes each device's measurements. `stop()` ends it all; nothing runs on Swift's pool.
public final class Simulator: Sendable {
    public let endpoints: [RunningEndpoint]
    /// Physics time: what thermal models, load profiles and device response times follow.
    public let clock: SimulationClock
    /// The theatre panel: relay outputs to observe, buttons and contacts to drive.
    public let panel: SimulatedPanel
    /// Serves `panel` to the service's `SimulatorPanelBackend`, when the site asks for it.
    public let panelServer: PanelServer?
    private let measurementClock: MeasurementClock
    /// Devices with a sample ring (isowatch-frontend): driven sample by sample in real time by
    /// their own thread, not by the measurement clock.
    public let frontEnds: [FrontEndDevice]

    /// Checks the whole site first (so nothing half-starts), then opens every endpoint.
    /// `clock` sets the time factor, or makes physics time manual (`advancePhysics`).
    public init(site: SiteDescription, profiles: ProfileLibrary, clock: SimulationClock = SimulationClock())
        throws(SimulatorError)
    {
        self.clock = clock
        let panel = SimulatedPanel(watchdog: site.panelWatchdog)
        self.panel = panel
        try Self.validate(site, profiles)
        // The panel before the endpoints: a bench that waits for an endpoint (the RTU link)
        // before starting the service then finds the panel listening too.
        do {
            panelServer = try site.panelListen.map { listen throws(SystemCallError) in
                try PanelServer(host: listen.host, port: listen.port, panel: panel)
            }
        } catch {
            throw SimulatorError("panel: \(error)")
        }
        var running: [RunningEndpoint] = []
        do throws(SimulatorError) {
            for endpoint in site.endpoints {
                let devices = try endpoint.units.map { description throws(SimulatorError) in
                    try Self.makeDevice(description, profile: profiles[description.profileID]!, endpoint: endpoint.id)
                }
                let units = devices.map(\.unit)
                let server: RunningEndpoint.Server
                do {
                    switch endpoint.transport {
                    case .tcp(let host, let port, let absentUnitReply):
                        server = .tcp(try ModbusTCPServer(host: host, port: port, units: units, absentUnitReply: absentUnitReply))
                    case .rtu(let linkPath, let serialLine, let turnaroundSeconds):
                        server = .rtu(
                            try ModbusRTUServer(
                                units: units, serialLine: serialLine, linkPath: linkPath, turnaroundSeconds: turnaroundSeconds))
                    }
                } catch {
                    throw SimulatorError("endpoint '\(endpoint.id)': \(error)")
                }
                running.append(RunningEndpoint(id: endpoint.id, server: server, devices: devices))
            }
            do {
                measurementClock = try MeasurementClock(
                    devices: running.flatMap(\.devices).filter { $0.profile.sampleWindow == nil }, clock: clock)
                frontEnds = try running.flatMap(\.devices).filter { $0.profile.sampleWindow != nil }.map {
                    try FrontEndDevice(device: $0, seed: UInt64($0.unitID))
                }
            } catch {
                throw SimulatorError("measurement clock: \(error)")
            }
        } catch {
            running.forEach { $0.stop() }
            panelServer?.stop()
            throw error
        }
        endpoints = running
    }

    public func endpoint(_ id: String) -> RunningEndpoint? {
        endpoints.first { $0.id == id }
    }

    public func device(endpoint id: String, unit: UInt8) -> SimulatedDevice? {
        endpoint(id)?.device(unit: unit)
    }

    /// Moves a manual clock forward and completes every measurement that falls due, on the
    /// caller's thread, so a test steps physics time without waiting for anything.
    public func advancePhysics(bySeconds seconds: Double) {
        let now = clock.advanceManual(bySeconds: seconds)
        for device in endpoints.flatMap(\.devices) where device.profile.sampleWindow == nil {
            device.measure(untilPhysicsSeconds: now)
        }
    }

    /// Closes every listener, connection and pty, removes symlinks and joins every thread.
    public func stop() {
        frontEnds.forEach { $0.stop() }
        measurementClock.stop()
        panelServer?.stop()
        panel.stopWatchdog()
        endpoints.forEach { $0.stop() }
    }

    private static func makeDevice(_ description: UnitDescription, profile: DeviceProfile, endpoint: String)
        throws(SimulatorError) -> SimulatedDevice
    {
        do {
            let device = try SimulatedDevice(
                profile: profile, unitID: description.unit, state: description.state,
                measurementIntervalSeconds: description.measurementIntervalSeconds, online: description.online,
                physics: description.system.map { DevicePhysics(system: $0) })
            device.unit.wireFault = description.wireFault
            return device
        } catch {
            throw SimulatorError("endpoint '\(endpoint)', unit \(description.unit): \(error)")
        }
    }

    private static func validate(_ site: SiteDescription, _ profiles: ProfileLibrary) throws(SimulatorError) {
        var problems: [String] = []
        var endpointIDs: Set<String> = []
        var links: Set<String> = []
        for endpoint in site.endpoints {
            let name = "endpoint '\(endpoint.id)'"
            if !endpointIDs.insert(endpoint.id).inserted { problems.append("\(name): id used twice") }
            if case .rtu(let linkPath?, _, _) = endpoint.transport, !links.insert(linkPath).inserted {
                problems.append("\(name): link \(linkPath) used by another endpoint")
            }
            if endpoint.units.isEmpty { problems.append("\(name): no units") }
            var unitIDs: Set<UInt8> = []
            for unit in endpoint.units {
                let where_ = "\(name), unit \(unit.unit)"
                if !(1...247).contains(unit.unit) { problems.append("\(where_): unit id must be 1...247") }
                if !unitIDs.insert(unit.unit).inserted { problems.append("\(where_): unit id used twice") }
                if !(unit.measurementIntervalSeconds > 0.01) {
                    problems.append("\(where_): measurement interval must be over 0.01 s")
                }
                guard let profile = profiles[unit.profileID] else {
                    problems.append(
                        "\(where_): no profile '\(unit.profileID)' (have: \(profiles.ids.joined(separator: ", ")))")
                    continue
                }
                // A front-end publishes raw samples; its true Re and Ce are what the service estimates.
                let truths: Set<Quantity> =
                    profile.sampleWindow == nil ? [] : [.insulationResistanceOhms, .leakageCapacitanceFarads]
                for quantity in unit.state.values.keys.sorted() where profile.fields[quantity] == nil && !truths.contains(quantity) {
                    let published = profile.fields.keys.sorted().map(\.rawValue).joined(separator: ", ")
                    problems.append(
                        "\(where_): profile '\(profile.id)' does not publish \(quantity.rawValue) (it has: \(published))")
                }
                for name in unit.state.auxiliary.keys.sorted() where profile.auxiliary[name] == nil {
                    problems.append("\(where_): profile '\(profile.id)' has no auxiliary field '\(name)'")
                }
            }
        }
        guard problems.isEmpty else { throw SimulatorError(problems.joined(separator: "\n")) }
    }
}
