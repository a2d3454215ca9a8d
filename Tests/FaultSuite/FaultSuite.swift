import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchStore
import IsoWatchTesting

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What one run did and found; the JSON report.
struct SuiteOutcome: Sendable, Codable {
    struct PhaseSpan: Sendable, Codable {
        var name: String
        var start: Double
        var end: Double
    }

    struct KillFigure: Sendable, Codable {
        var atSeconds: Double
        var alarmsRaisedAtKill: Int
        /// Kill → every theatre's yellow lamp lit (the watchdog relay dropping, or else the
        /// restarted service claiming its lines in the alarm state).
        var killToAllPanelsInAlarmSeconds: Double?
        /// Restart → a successful poll of every system.
        var restartToAllFreshSeconds: Double?
        /// Restart → every fault still present raised again.
        var restartToFaultsRaisedSeconds: Double?
        var journalEntriesStoredAtKill: Int
    }

    var profile: SuiteProfile
    var seed: UInt64
    var startedAt: Date
    var wallSeconds = 0.0
    var systems: [String] = []
    var diskFaults = ""
    var phases: [PhaseSpan] = []
    var faults: [InjectedFault] = []
    var kills: [KillFigure] = []
    var soakSimulatedHours = 0.0
    var serviceStarts = 0
    var observerSamples = 0
    var observerFailedSamples = 0
    var evaluation = Evaluation()
    var notes: [String] = []
    var aborted: String?
}

/// The suite: a physics-driven 16-system wing served by the simulator in this process, the real
/// `isowatch run` watching it from another, and the faults, in phases.
final class FaultSuite: @unchecked Sendable {
    // @unchecked: driven by one task from `run()`; the observer has its own locking.
    let profile: SuiteProfile
    let seed: UInt64
    let clock = SuiteClock()
    let simulator: Simulator
    let units: [UnitReference]
    let systems: [String]
    let service: ServiceProcess
    let observer: Observer
    let ledger = Ledger()
    let httpPort: Int
    let disk: DiskFaultShim
    let volume: TmpfsVolume?
    let databaseFile: URL
    /// The true systems as the site file sets them, to put back after each fault.
    let baseline: [UnitReference: ITSystemModel]
    let staleAfterSeconds = 3.0
    private var outcome: SuiteOutcome
    private var random: SplitMix64

    init(profile: SuiteProfile, repository: URL, isowatch: URL, scratch: URL, seed: UInt64) async throws {
        self.profile = profile
        self.seed = seed
        random = SplitMix64(seed: seed)
        outcome = SuiteOutcome(profile: profile, seed: seed, startedAt: Date())
        let profiles = try ProfileLibrary.load(directory: repository.appendingPathComponent("hardware/profiles"))
        var site = try SiteFile.load(file: repository.appendingPathComponent("simulator/sites/surgical-wing-physics.yaml"))
        // Ephemeral ports and a link in the scratch directory: the suite runs beside anything.
        site.endpoints = site.endpoints.map { endpoint in
            var endpoint = endpoint
            switch endpoint.transport {
            case .tcp(let host, _, let reply): endpoint.transport = .tcp(host: host, port: 0, absentUnitReply: reply)
            case .rtu(_, let line, let turnaround):
                endpoint.transport = .rtu(
                    linkPath: scratch.appendingPathComponent(endpoint.id).path, serialLine: line, turnaroundSeconds: turnaround)
            }
            return endpoint
        }
        site.panelListen = PanelListen(host: "127.0.0.1", port: 0)
        // The theatre's watchdog relay: it drops every panel within its timeout once the
        // service's heartbeat line stops toggling (a kill, a hang). 2 s: an accelerated soak
        // loads the machine, and a late toggle must not trip it.
        site.panelWatchdog = PanelWatchdog(heartbeat: ScenarioServiceConfiguration.heartbeatLine, timeoutSeconds: 2)
        simulator = try Simulator(site: site, profiles: profiles, clock: SimulationClock(.accelerated(factor: profile.timeFactor)))
        let scenario = Scenario(name: "fault-suite", site: site, durationSeconds: 0, steps: [])
        units = scenario.units
        systems = units.map(\.systemID)
        var baseline: [UnitReference: ITSystemModel] = [:]
        for unit in units {
            baseline[unit] = simulator.device(endpoint: unit.endpoint, unit: unit.unit)?.physics?.system
        }
        self.baseline = baseline

        // The database on a small filesystem of its own when this machine lets us mount one (a
        // real full disk), else in a plain directory where the preloaded shim fakes ENOSPC.
        let databaseDirectory = scratch.appendingPathComponent("db")
        try FileManager.default.createDirectory(at: databaseDirectory, withIntermediateDirectories: true)
        volume = TmpfsVolume.mount(at: databaseDirectory, sizeBytes: 64 << 20)
        databaseFile = databaseDirectory.appendingPathComponent("history.sqlite")
        disk = try DiskFaultShim.build(repositoryRoot: repository, into: scratch.appendingPathComponent("shim"))
        outcome.diskFaults =
            volume == nil
            ? "slow and full disk: LD_PRELOAD shim on the database directory (tmpfs could not be mounted here)"
            : "slow disk: LD_PRELOAD shim; full disk: a 64 MiB tmpfs filled to the last block (the kernel's ENOSPC)"

        httpPort = Int(try freeTCPPort())
        var generator = ScenarioServiceConfiguration()
        generator.httpListen = "127.0.0.1:\(httpPort)"
        generator.staleAfterSeconds = staleAfterSeconds
        generator.profilesDirectory = repository.appendingPathComponent("hardware/profiles").path
        let yaml = generator.yaml(for: scenario, simulator: simulator) + "\nstorage: { path: \"\(databaseFile.path)\" }\n"
        let configuration = scratch.appendingPathComponent("isowatch.yaml")
        try yaml.write(to: configuration, atomically: true, encoding: .utf8)
        service = ServiceProcess(
            executable: isowatch, configuration: configuration, logFile: scratch.appendingPathComponent("isowatch.log"),
            environment: disk.environment(faultDirectory: databaseDirectory))
        observer = Observer(
            clock: clock,
            systems: units.enumerated().map { index, unit in
                Observer.SystemRef(
                    id: unit.systemID,
                    yellowLine: "\(ScenarioServiceConfiguration.outputChip):\(ScenarioServiceConfiguration.lines(systemIndex: index).yellow)")
            },
            httpPort: httpPort, simulator: simulator)
        outcome.systems = systems
    }

    // MARK: - The run

    func run() async -> SuiteOutcome {
        let started = clock.now
        observer.start()
        do {
            try service.start()
            try await phase("start-up") {
                guard await self.waitGreen(self.units, seconds: 90) else { throw SuiteError("the site never turned green after start-up") }
            }
            for rate in profile.wireRates {
                try await phase("wire faults, \(Int((rate * 100).rounded())) % of requests") { try await self.wireFaults(rate: rate) }
            }
            try await phase("total wire outages") { try await self.totalOutages() }
            try await phase("vanished serial adapter") { try await self.vanishedSerialAdapter() }
            try await phase("slow disk") { try await self.slowDisk() }
            try await phase("full disk") { try await self.fullDisk() }
            try await phase("kill -9 during alarm bursts") { try await self.killsDuringBursts() }
            try await phase("soak") { try await self.soak() }
        } catch {
            outcome.aborted = "\(error)"
        }
        if let crash = service.unexpectedExit { outcome.notes.append(crash) }
        service.stop()
        await observer.stop()
        try? disk.set(.healthy)
        try? volume?.drain()
        var journal: [JournalEntry] = []
        do {
            let store = try HistoryStore(settings: StoreSettings(databaseFile: databaseFile))
            journal = try await store.events(JournalQuery(limit: 10_000_000, newestFirst: false))
        } catch {
            outcome.notes.append("the journal could not be read after the run: \(error)")
        }
        volume?.unmount()
        simulator.stop()
        let spans = outcome.phases
        let evaluator = Evaluator(staleAfterSeconds: staleAfterSeconds) { time in
            spans.first { time >= $0.start && time <= $0.end }?.name ?? "between phases"
        }
        outcome.evaluation = evaluator.evaluate(ledger, observer.timelines, journal: journal)
        outcome.faults = ledger.faults
        outcome.notes += ledger.notes
        outcome.serviceStarts = service.starts
        let counts = observer.sampleCounts
        outcome.observerSamples = counts.ok
        outcome.observerFailedSamples = counts.failed
        outcome.wallSeconds = clock.now - started
        return outcome
    }

    private func phase(_ name: String, _ body: () async throws -> Void) async throws {
        let start = clock.now
        log("phase: \(name)")
        defer { outcome.phases.append(.init(name: name, start: start, end: clock.now)) }
        try await body()
        if let crash = service.unexpectedExit { throw SuiteError(crash) }
    }

    func log(_ text: String) {
        FileHandle.standardError.write(Data("[\(String(format: "%7.1f", clock.now)) s] \(text)\n".utf8))
    }

    // MARK: - Waiting

    func waitUntil(seconds: Double, _ condition: () -> Bool) async -> Bool {
        let deadline = clock.now + seconds
        while clock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    func sleep(_ seconds: Double) async {
        try? await Task.sleep(for: .seconds(seconds))
    }

    /// Green: no condition, a successful poll in the last two seconds, yellow lamp dark.
    func isGreen(_ unit: UnitReference) -> Bool {
        let id = unit.systemID
        guard let fresh = observer.lastFresh(id) else { return false }
        return observer.activeConditions(id).isEmpty && clock.now - fresh < 2 && !observer.yellowLit(id)
    }

    func waitGreen(_ units: [UnitReference], seconds: Double = 45) async -> Bool {
        await waitUntil(seconds: seconds) { units.allSatisfy(isGreen) }
    }

    /// After faults were taken away: for each, how long until every system it touched had a
    /// successful poll, and until each was green again. Watched together, so that one fault's
    /// slow recovery does not add to the next one's figure.
    func measureRecovery(_ faults: [(index: Int, units: [UnitReference])]) async {
        var fresh: [Double?] = Array(repeating: nil, count: faults.count)
        var green: [Double?] = Array(repeating: nil, count: faults.count)
        let deadline = clock.now + 60
        while clock.now < deadline && green.contains(where: { $0 == nil }) {
            let now = clock.now
            for (number, fault) in faults.enumerated() {
                guard let cleared = ledger.fault(fault.index).end else { continue }
                if fresh[number] == nil, fault.units.allSatisfy({ (observer.lastFresh($0.systemID) ?? -1) > cleared }) {
                    // The poll itself came before this check: its time is the recovery.
                    fresh[number] = fault.units.compactMap { observer.lastFresh($0.systemID) }.max().map { max(0, $0 - cleared) }
                }
                if green[number] == nil, fault.units.allSatisfy(isGreen) { green[number] = now - cleared }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        for (number, fault) in faults.enumerated() {
            ledger.recovered(fault.index, fresh: fresh[number], green: green[number])
            if green[number] == nil { ledger.notes.append("\(ledger.fault(fault.index).label): not green 60 s after it was taken away") }
        }
    }

    func measureRecovery(_ index: Int, _ units: [UnitReference]) async {
        await measureRecovery([(index, units)])
    }

    // MARK: - Injection

    func device(_ unit: UnitReference) -> SimulatedDevice {
        simulator.device(endpoint: unit.endpoint, unit: unit.unit)!
    }

    func setWireFault(_ fault: WireFault?, on units: [UnitReference]) {
        for unit in units { device(unit).unit.wireFault = fault }
    }

    func patch(_ unit: UnitReference, _ patch: PhysicsPatch) {
        do {
            try patch.apply(to: device(unit))
        } catch {
            ledger.notes.append("\(unit): physics patch refused: \(error)")
        }
    }

    /// Faults of the IT system itself, each on the devices that can report it.
    enum ProcessFault: String, CaseIterable, Sendable {
        case insulation, insulationDip, overload, earthConnection, sensorBreak, deviceFault

        /// What the service must raise, and what it may raise besides.
        ///
        /// A dip is shorter than the 1 s response delay in wall time, but physics runs at the time
        /// factor: 0.15-0.3 s are 36-72 s of a real insulation fault, which a real IMD reports.
        /// It may raise the alarm (the plausibility filter holds the low value until the sudden
        /// recovery is confirmed), but need not.
        var expect: [String] {
            switch self {
            case .insulation: ["insulation"]
            case .insulationDip: []
            case .overload: ["overload"]
            case .earthConnection: ["earth_connection"]
            case .sensorBreak: ["temperature_sensor"]
            case .deviceFault: ["device"]
            }
        }

        var allow: [String] {
            switch self {
            case .insulation: ["insulation_prewarning"]
            case .insulationDip: ["insulation", "insulation_prewarning"]
            // Long enough at 130 % the winding may pass its limit too.
            case .overload: ["overtemperature"]
            default: []
            }
        }

        func supported(by profile: String) -> Bool {
            switch self {
            case .insulation, .insulationDip: true
            case .overload: profile != "bender-isometer"
            case .earthConnection, .sensorBreak: profile == "acrel-aim-m10"
            case .deviceFault: profile == "bender-isometer"
            }
        }
    }

    func apply(_ fault: ProcessFault, _ unit: UnitReference) {
        switch fault {
        case .insulation, .insulationDip: patch(unit, PhysicsPatch(insulationResistanceOhms: 25_000))
        case .overload: patch(unit, PhysicsPatch(loadPercent: 130))
        case .earthConnection: patch(unit, PhysicsPatch(earthConnected: false))
        case .sensorBreak: patch(unit, PhysicsPatch(sensorWiring: "broken"))
        case .deviceFault: patch(unit, PhysicsPatch(forcedFaults: ["device"]))
        }
    }

    func restore(_ fault: ProcessFault, _ unit: UnitReference) {
        guard let original = baseline[unit] else { return }
        switch fault {
        case .insulation, .insulationDip: patch(unit, PhysicsPatch(insulationResistanceOhms: original.insulationResistanceOhms))
        case .overload: device(unit).updatePhysics { $0.system.loadProfile = original.loadProfile }
        case .earthConnection: patch(unit, PhysicsPatch(earthConnected: true))
        case .sensorBreak: patch(unit, PhysicsPatch(sensorWiring: "intact"))
        case .deviceFault: patch(unit, PhysicsPatch(forcedFaults: []))
        }
    }

    func beginProcessFault(_ fault: ProcessFault, _ unit: UnitReference, phase: String) -> Int {
        apply(fault, unit)
        return ledger.begin(
            InjectedFault(
                phase: phase, label: "\(fault.rawValue) on \(unit)", systems: [unit.systemID], start: clock.now,
                expect: fault.expect, allow: fault.allow))
    }

    func endProcessFault(_ fault: ProcessFault, _ unit: UnitReference, index: Int) {
        restore(fault, unit)
        ledger.end(index, at: clock.now)
    }

    static let wireKinds: [WireFault.Kind] = [
        .noReply, .crcError, .exception(.serverDeviceFailure), .truncatedFrame, .dropConnection,
    ]

    /// Units behind the same connection: a dropped connection takes them all along.
    func neighbours(_ unit: UnitReference) -> [String] {
        units.filter { $0.endpoint == unit.endpoint && $0 != unit }.map(\.systemID)
    }

    // MARK: - Phases

    /// Every unit at once, each kind of fault at one rate (the run calls it at rising rates): no
    /// process alarm may come of it, and a communication alarm only where the polls really
    /// stopped getting through.
    func wireFaults(rate: Double) async throws {
        let phase = "wire faults, \(Int((rate * 100).rounded())) % of requests"
        for (number, kind) in Self.wireKinds.enumerated() {
            let fault = WireFault(kind, probability: rate, seed: seed &* 1000 &+ UInt64(number))
            setWireFault(fault, on: units)
            let index = ledger.begin(
                InjectedFault(phase: phase, label: "\(kind.name) at p=\(rate) on every unit", systems: systems, start: clock.now, expect: []))
            await sleep(profile.wireStepSeconds)
            setWireFault(nil, on: units)
            ledger.end(index, at: clock.now)
            await measureRecovery(index, units)
        }
    }

    /// Each kind of fault on every request of one unit: its communication alarm is due.
    func totalOutages() async throws {
        let targets: [(WireFault.Kind, UnitReference)] = [
            (.noReply, UnitReference(endpoint: "gw1", unit: 2)), (.crcError, UnitReference(endpoint: "gw1", unit: 6)),
            (.exception(.serverDeviceFailure), UnitReference(endpoint: "gw2", unit: 3)),
            (.truncatedFrame, UnitReference(endpoint: "rtu0", unit: 2)), (.dropConnection, UnitReference(endpoint: "gw2", unit: 1)),
        ]
        var started: [(Int, UnitReference)] = []
        for (kind, unit) in targets {
            setWireFault(WireFault(kind), on: [unit])
            started.append(
                (
                    ledger.begin(
                        InjectedFault(
                            phase: "total wire outages", label: "\(kind.name) on every request of \(unit)", systems: [unit.systemID],
                            start: clock.now, expect: ["communication"], allow: ["stale_data"],
                            alsoAffects: kind == .dropConnection ? neighbours(unit) : [])), unit
                ))
        }
        await sleep(profile.outageSeconds)
        for (index, unit) in started {
            setWireFault(nil, on: [unit])
            ledger.end(index, at: clock.now)
        }
        await measureRecovery(started.map { index, unit in (index, [unit] + units.filter { neighbours(unit).contains($0.systemID) }) })
    }

    func vanishedSerialAdapter() async throws {
        guard let endpoint = simulator.endpoint("rtu0"), case .rtu(let bus) = endpoint.server else {
            throw SuiteError("the site has no RTU endpoint rtu0")
        }
        let busUnits = units.filter { $0.endpoint == "rtu0" }
        bus.unplug()
        let index = ledger.begin(
            InjectedFault(
                phase: "vanished serial adapter", label: "RS-485 adapter of rtu0 unplugged", systems: busUnits.map(\.systemID),
                start: clock.now, expect: ["communication"], allow: ["stale_data"]))
        await sleep(profile.unplugSeconds)
        try bus.replug()
        ledger.end(index, at: clock.now)
        await measureRecovery(index, busUnits)
    }

    /// Four insulation faults, raised and cleared, while the database's disk is slow: the relays
    /// must not wait for it.
    func slowDisk() async throws {
        try disk.set(.slow(writeMilliseconds: 20, syncMilliseconds: 300))
        try await insulationBurst(phase: "slow disk", picks: [0, 5, 9, 13], hold: profile.slowDiskSeconds)
        try disk.set(.healthy)
    }

    /// The same with no space left at all: alarms still work, journal entries wait in memory and
    /// reach the disk once it has room again.
    func fullDisk() async throws {
        if let volume {
            try volume.fill()
        } else {
            try disk.set(.full)
        }
        try await insulationBurst(phase: "full disk", picks: [1, 6, 10, 14], hold: profile.fullDiskSeconds)
        if let volume {
            try volume.drain()
        } else {
            try disk.set(.healthy)
        }
        // The writer retries once a second; give it a few.
        await sleep(3)
    }

    private func insulationBurst(phase: String, picks: [Int], hold: Double) async throws {
        let targets = picks.map { units[$0 % units.count] }
        var started: [(Int, UnitReference)] = []
        for unit in targets {
            started.append((beginProcessFault(.insulation, unit, phase: phase), unit))
            await sleep(0.3)
        }
        await sleep(max(hold - 0.3 * Double(targets.count), 4))
        for (index, unit) in started { endProcessFault(.insulation, unit, index: index) }
        await measureRecovery(started.map { ($0.0, [$0.1]) })
    }

    /// Six insulation faults in quick succession; SIGKILL once some are raised; restart after a
    /// second as systemd would. Every fault still present must be raised again, and every journal
    /// entry stored before the kill must still be there.
    func killsDuringBursts() async throws {
        for round in 0..<profile.kills {
            let targets = (0..<6).map { units[(round * 5 + $0 * 3) % units.count] }
            var started: [(Int, UnitReference)] = []
            for unit in targets {
                started.append((beginProcessFault(.insulation, unit, phase: "kill -9 during alarm bursts"), unit))
                await sleep(0.25)
            }
            // Kill in the middle of the burst: once a few are raised, the rest on their way.
            _ = await waitUntil(seconds: 15) {
                targets.filter { self.observer.activeConditions($0.systemID).contains("insulation") }.count >= 3
            }
            let raised = targets.filter { observer.activeConditions($0.systemID).contains("insulation") }.count
            let stored = await storedJournal()
            service.kill()
            let killedAt = clock.now
            observer.closeEpisodes()
            ledger.killed(at: killedAt, stored: stored)
            log("killed the service with \(raised) of 6 alarms raised, \(stored.count) journal entries stored")
            // The panel: a watchdog relay drops every theatre within its timeout; without one the
            // lamps wait for the restarted service's claims.
            let allLitWithoutService = await waitUntil(seconds: 4) { self.units.allSatisfy { self.observer.yellowLit($0.systemID) } }
            if !allLitWithoutService { ledger.notes.append("kill \(round + 1): not every panel in alarm within 4 s of the kill") }
            // systemd's RestartSec=1 counts from the exit; the watchdog wait above already took longer.
            await sleep(0.2)
            try service.start()
            let restartedAt = clock.now
            var figure = SuiteOutcome.KillFigure(
                atSeconds: killedAt, alarmsRaisedAtKill: raised, journalEntriesStoredAtKill: stored.count)
            if await waitUntil(seconds: 30, { self.units.allSatisfy { self.observer.yellowLit($0.systemID) } }) || allLitWithoutService {
                figure.killToAllPanelsInAlarmSeconds = firstAllLit(after: killedAt).map { $0 - killedAt }
            }
            if await waitUntil(seconds: 60, { self.units.allSatisfy { (self.observer.lastFresh($0.systemID) ?? -1) > restartedAt } }) {
                figure.restartToAllFreshSeconds = clock.now - restartedAt
            }
            if await waitUntil(seconds: 60, { targets.allSatisfy { self.observer.activeConditions($0.systemID).contains("insulation") } }) {
                figure.restartToFaultsRaisedSeconds = clock.now - restartedAt
            }
            outcome.kills.append(figure)
            for (index, unit) in started { endProcessFault(.insulation, unit, index: index) }
            await measureRecovery(started.map { ($0.0, [$0.1]) })
            guard await waitGreen(units, seconds: 60) else { throw SuiteError("the site did not return to green after kill \(round + 1)") }
        }
    }

    /// The first moment every yellow lamp was lit at once, after `time`.
    private func firstAllLit(after time: Double) -> Double? {
        let timelines = observer.timelines
        let starts = systems.compactMap { id -> Double? in
            timelines[id]?.yellowLit.first { ($0.end ?? .infinity) > time }.map { max($0.start, time) }
        }
        return starts.count == systems.count ? starts.max() : nil
    }

    /// What the service answers as stored in its journal, through its API (up to 10 000 entries,
    /// newest first; the suite's runs stay well below).
    private func storedJournal() async -> [JournalEntry] {
        let url = URL(string: "http://127.0.0.1:\(httpPort)/api/v1/events?limit=10000")!
        guard let (data, _) = try? await URLSession.shared.data(from: url),
            let entries = try? JSONDecoder.isowatch.decode([JournalEntry].self, from: data)
        else {
            ledger.notes.append("the journal could not be read through the API before a kill")
            return []
        }
        return entries
    }

    // MARK: - Soak

    /// A day of the wing at `timeFactor`: each system gets random faults of its own (insulation
    /// faults, dips too short to alarm, overloads, lost earth leads, broken sensors, device
    /// faults, total outages) one after another, and random wire noise (up to 20 % of requests,
    /// every kind) on top.
    func soak() async throws {
        let duration = profile.soakHours * 3600 / profile.timeFactor
        let plan = SoakPlan.make(
            units: units, profiles: units.map { device($0).profile.id }, seconds: duration, generator: &random)
        outcome.soakSimulatedHours = profile.soakHours
        log("soak: \(plan.actions.count / 2) faults over \(Int(duration)) s (\(profile.soakHours) simulated hours)")
        let origin = clock.now
        var open: [Int: Int] = [:]
        for action in plan.actions {
            let due = origin + action.at
            if due > clock.now { await sleep(due - clock.now) }
            let unit = units[action.unit]
            switch (action.kind, action.begins) {
            case (.process(let fault), true):
                open[action.id] = beginProcessFault(fault, unit, phase: "soak")
            case (.process(let fault), false):
                if let index = open.removeValue(forKey: action.id) { endProcessFault(fault, unit, index: index) }
            case (.outage, true):
                setWireFault(WireFault(.noReply), on: [unit])
                open[action.id] = ledger.begin(
                    InjectedFault(
                        phase: "soak", label: "outage of \(unit)", systems: [unit.systemID], start: clock.now,
                        expect: ["communication"], allow: ["stale_data"]))
            case (.noise(let kind, let rate), true):
                setWireFault(WireFault(kind, probability: rate, seed: UInt64(action.id)), on: [unit])
                open[action.id] = ledger.begin(
                    InjectedFault(
                        phase: "soak", label: "\(kind.name) at p=\(rate) on \(unit)", systems: [unit.systemID], start: clock.now,
                        expect: []))
            case (.outage, false), (.noise, false):
                setWireFault(nil, on: [unit])
                if let index = open.removeValue(forKey: action.id) { ledger.end(index, at: clock.now) }
            }
        }
        guard await waitGreen(units, seconds: 60) else { throw SuiteError("the site did not return to green after the soak") }
    }
}
