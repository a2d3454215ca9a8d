import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchStore
import IsoWatchTesting
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The hostile-client suite (issue 13, "Proof"): the 16-system wing of the fault suite, watched by
/// the real `isowatch run` in another process, with insulation faults on a seeded schedule, while
/// clients that do not play by the rules attack its HTTP API and its BMS server one after another.
/// What must hold: no alarm missed or raised falsely, no journal entry lost, the monitor's
/// heartbeat well inside the watchdog's timeout, the service up under the same pid, every path
/// trick refused, and each attack leaving the well-behaved clients served.
final class AttackSuite: @unchecked Sendable {
    // @unchecked: driven by one task from `run()`; shared records sit behind their own locks.
    let profile: AttackProfile
    let seed: UInt64
    let clock = SuiteClock()
    let simulator: Simulator
    let units: [UnitReference]
    let systems: [String]
    let service: ServiceProcess
    let observer: Observer
    let httpPort: Int
    let bmsPort: Int
    let databaseFile: URL
    let baseline: [UnitReference: ITSystemModel]
    let staleAfterSeconds = 3.0
    /// The panel's watchdog relay drops every theatre when the heartbeat line stops for this long.
    let watchdogTimeoutSeconds = 2.0
    /// The alarm machine's default insulation response delay (the generated configuration keeps it).
    let insulationResponseDelaySeconds = 1.0
    static let operatorName = "olga"
    static let operatorPassword = "attack-suite-operator"

    /// Latency probes: the four Bender units behind gw2. Lamp test: gw1 unit 1. The seeded
    /// insulation faults: every other system.
    let probeUnits: [UnitReference]
    let lampUnit: UnitReference
    let faultUnits: [UnitReference]

    let records = AttackRecords()
    var outcome: AttackOutcome
    var cookie = ""
    private var phases: [AttackOutcome.Phase] = []

    init(profile: AttackProfile, repository: URL, isowatch: URL, scratch: URL, seed: UInt64) async throws {
        self.profile = profile
        self.seed = seed
        outcome = AttackOutcome(profile: profile, seed: seed, startedAt: Date())
        let profiles = try ProfileLibrary.load(directory: repository.appendingPathComponent("hardware/profiles"))
        var site = try SiteFile.load(file: repository.appendingPathComponent("simulator/sites/surgical-wing-physics.yaml"))
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
        site.panelWatchdog = PanelWatchdog(heartbeat: ScenarioServiceConfiguration.heartbeatLine, timeoutSeconds: watchdogTimeoutSeconds)
        simulator = try Simulator(site: site, profiles: profiles, clock: SimulationClock(.accelerated(factor: 240)))
        let scenario = Scenario(name: "attack-suite", site: site, durationSeconds: 0, steps: [])
        units = scenario.units
        systems = units.map(\.systemID)
        var baseline: [UnitReference: ITSystemModel] = [:]
        for unit in units {
            baseline[unit] = simulator.device(endpoint: unit.endpoint, unit: unit.unit)?.physics?.system
        }
        self.baseline = baseline
        let lamp = UnitReference(endpoint: "gw1", unit: 1)
        probeUnits = units.filter { $0.endpoint == "gw2" }
        lampUnit = lamp
        faultUnits = units.filter { $0.endpoint != "gw2" && $0 != lamp }
        guard probeUnits.count == 4, units.contains(lamp) else { throw SuiteError("the wing no longer has gw2 units 1-4 and gw1 unit 1") }

        let databaseDirectory = scratch.appendingPathComponent("db")
        try FileManager.default.createDirectory(at: databaseDirectory, withIntermediateDirectories: true)
        databaseFile = databaseDirectory.appendingPathComponent("history.sqlite")
        let usersFile = scratch.appendingPathComponent("users.yaml")
        try Self.addOperator(isowatch: isowatch, usersFile: usersFile)

        httpPort = Int(try freeTCPPort())
        bmsPort = Int(try freeTCPPort())
        var generator = ScenarioServiceConfiguration()
        generator.httpListen = "127.0.0.1:\(httpPort)"
        generator.staleAfterSeconds = staleAfterSeconds
        generator.profilesDirectory = repository.appendingPathComponent("hardware/profiles").path
        let plainHTTP = "http: { listen: \"127.0.0.1:\(httpPort)\" }"
        var yaml = generator.yaml(for: scenario, simulator: simulator)
        guard yaml.contains(plainHTTP) else { throw SuiteError("the generated configuration's http line changed: \(plainHTTP) not found") }
        // Reading needs a session (open_read: false), as on a hospital network; Prometheus (the
        // observer) may scrape /metrics without one, as the fleet set-up says.
        yaml = yaml.replacingOccurrences(
            of: plainHTTP,
            with: "http: { listen: \"127.0.0.1:\(httpPort)\", users_file: \"\(usersFile.path)\", open_read: false, metrics: open }")
        yaml += "\nstorage: { path: \"\(databaseFile.path)\" }\nbms: { listen: \"127.0.0.1:\(bmsPort)\" }\n"
        let configuration = scratch.appendingPathComponent("isowatch.yaml")
        try yaml.write(to: configuration, atomically: true, encoding: .utf8)
        service = ServiceProcess(
            executable: isowatch, configuration: configuration, logFile: scratch.appendingPathComponent("isowatch.log"), environment: [:])
        observer = Observer(
            clock: clock,
            systems: units.enumerated().map { index, unit in
                Observer.SystemRef(
                    id: unit.systemID,
                    yellowLine: "\(ScenarioServiceConfiguration.outputChip):\(ScenarioServiceConfiguration.lines(systemIndex: index).yellow)")
            },
            httpPort: httpPort, simulator: simulator)
        outcome.systems = systems
        outcome.watchdogTimeoutSeconds = watchdogTimeoutSeconds
    }

    /// The operator the lamp-test attack signs in as, through the real `isowatch user add`.
    static func addOperator(isowatch: URL, usersFile: URL) throws {
        let process = Process()
        process.executableURL = isowatch
        process.arguments = ["user", "add", operatorName, "--role", "operator", "--users", usersFile.path]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data("\(operatorPassword)\n".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SuiteError("isowatch user add failed: \(process.terminationStatus)") }
    }

    func yellowLine(_ unit: UnitReference) -> String {
        let index = units.firstIndex(of: unit)!
        return "\(ScenarioServiceConfiguration.outputChip):\(ScenarioServiceConfiguration.lines(systemIndex: index).yellow)"
    }

    func device(_ unit: UnitReference) -> SimulatedDevice {
        simulator.device(endpoint: unit.endpoint, unit: unit.unit)!
    }

    func setInsulation(_ unit: UnitReference, _ ohms: Double?) {
        let value = ohms ?? baseline[unit]?.insulationResistanceOhms ?? 1_000_000
        do {
            try PhysicsPatch(insulationResistanceOhms: value).apply(to: device(unit))
        } catch {
            records.note("\(unit): physics patch refused: \(error)")
        }
    }

    func log(_ text: String) {
        FileHandle.standardError.write(Data("[\(String(format: "%7.1f", clock.now)) s] \(text)\n".utf8))
    }

    // MARK: - The run

    func run() async -> AttackOutcome {
        let started = clock.now
        observer.start()
        var background: [AttackThread] = []
        var probes: [AttackThread] = []
        var faults: Task<Void, Never>?
        do {
            try startService()
            outcome.pidAtStart = service.pid
            background.append(heartbeatWatcher())
            try await phase("start-up") {
                guard await self.waitUntil(seconds: 90, { self.units.allSatisfy(self.isGreen) }) else {
                    throw SuiteError("the site never turned green after start-up")
                }
                try await self.signIn()
            }
            background.append(healthProbe())
            background.append(bmsProbe())
            probes = probeUnits.enumerated().map { latencyProbe($1, number: $0) }
            faults = Task { await self.seededFaults() }
            try await phase("quiet") { try await Task.sleep(for: .seconds(self.profile.quietSeconds)) }
            try await phase("path tricks", attack: true) { try await self.pathTricks() }
            try await phase("sign-in abuse", attack: true) { try await self.signInAbuse() }
            try await phase("slowloris", attack: true) { try await self.slowloris() }
            try await phase("idle connections", attack: true) { try await self.idleConnections() }
            try await phase("live-stream clients that never read", attack: true) { try await self.streamNonReaders() }
            try await phase("BMS client that never reads", attack: true) { try await self.bmsNonReader() }
            try await phase("lamp test on a real fault", attack: true) { try await self.lampTestPresses() }
            await stopFaults(probes, faults)
            try await phase("settle") {
                if !(await self.waitUntil(seconds: 60, { self.units.allSatisfy(self.isGreen) })) {
                    self.records.note("the site was not green 60 s after the attacks")
                }
            }
        } catch {
            outcome.aborted = "\(error)"
            await stopFaults(probes, faults)
        }
        outcome.healthzAtEnd = await finalHealth()
        outcome.pidAtEnd = service.pid
        outcome.unexpectedExit = service.unexpectedExit
        for thread in background { thread.stop() }
        for thread in background { await thread.join() }
        service.stop()
        await observer.stop()
        var journal: [JournalEntry] = []
        do {
            let store = try HistoryStore(settings: StoreSettings(databaseFile: databaseFile))
            journal = try await store.events(JournalQuery(limit: 10_000_000, newestFirst: false))
        } catch {
            records.note("the journal could not be read after the run: \(error)")
        }
        simulator.stop()
        outcome.serviceStarts = service.starts
        outcome.wallSeconds = clock.now - started
        evaluate(journal: journal)
        return outcome
    }

    /// Ends the latency probes and the seeded faults; each puts its system's insulation back.
    private func stopFaults(_ probes: [AttackThread], _ faults: Task<Void, Never>?) async {
        for probe in probes { probe.stop() }
        faults?.cancel()
        for probe in probes { await probe.join() }
        await faults?.value
    }

    /// With the descriptor limit systemd gives a service (LimitNOFILE's default soft limit, 1024;
    /// the unit must keep it so: libmodbus uses select()), so that exhausting it is the attack it
    /// would be in a hospital.
    private func startService() throws {
        var original = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        var limited = original
        limited.rlim_cur = min(original.rlim_cur, 1024)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limited)
        defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original) }
        try service.start()
        outcome.serviceDescriptorLimit = Int(limited.rlim_cur)
    }

    private func phase(_ name: String, attack: Bool = false, _ body: () async throws -> Void) async throws {
        let start = clock.now
        let storageStart = storageBytes()
        log("phase: \(name)")
        defer {
            phases.append(
                .init(name: name, isAttack: attack, start: start, end: clock.now, storageBytesStart: storageStart, storageBytesEnd: storageBytes()))
        }
        try await body()
        if let crash = service.unexpectedExit { throw SuiteError(crash) }
    }

    func waitUntil(seconds: Double, _ condition: () -> Bool) async -> Bool {
        let deadline = clock.now + seconds
        while clock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// Green: no condition, a successful poll in the last two seconds, yellow lamp dark.
    func isGreen(_ unit: UnitReference) -> Bool {
        let id = unit.systemID
        guard let fresh = observer.lastFresh(id) else { return false }
        return observer.activeConditions(id).isEmpty && clock.now - fresh < 2 && !observer.yellowLit(id)
    }

    /// The history database and its write-ahead log, in bytes.
    func storageBytes() -> Int64 {
        [databaseFile.path, databaseFile.path + "-wal", databaseFile.path + "-shm"].reduce(0) { total, path in
            total + ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0)
        }
    }

    private func signIn() async throws {
        let port = httpPort
        let body = Array("{\"name\":\"\(Self.operatorName)\",\"password\":\"\(Self.operatorPassword)\"}".utf8)
        let answer = try await onOwnThread {
            HTTPExchange.perform(
                port: port, method: "POST", path: "/api/v1/login", headers: ["Content-Type": "application/json"], body: body,
                timeoutSeconds: 10)
        }
        guard let answer, answer.status == 200, let setCookie = answer.headers["set-cookie"],
            let pair = setCookie.split(separator: ";").first
        else { throw SuiteError("the operator could not sign in: \(answer.map { "\($0.status) \($0.body)" } ?? "no answer")") }
        cookie = String(pair)
    }

    private func finalHealth() async -> Bool {
        let port = httpPort
        let deadline = clock.now + 15
        while clock.now < deadline {
            let answer = try? await onOwnThread { HTTPExchange.perform(port: port, method: "GET", path: "/healthz") }
            if answer?.status == 200 { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    // MARK: - What the suite watches in the background

    /// The panel's heartbeat line (what the watchdog relay sees) every 10 ms, and the service's
    /// resident memory and open descriptors every half second.
    private func heartbeatWatcher() -> AttackThread {
        let panel = simulator.panel
        let pid = service.pid
        let clock = clock
        let records = records
        return AttackThread(name: "attack-heartbeat") { thread in
            var lastProc = -1.0
            while !thread.stopped {
                let now = clock.now
                if let status = panel.watchdogStatus, let age = status.lastToggleAgeSeconds {
                    records.heartbeat(at: now, age: age)
                }
                if let pid, now - lastProc >= 0.5 {
                    lastProc = now
                    records.process(at: now, residentBytes: Self.residentBytes(pid), descriptors: Self.descriptors(pid))
                }
                usleep(10_000)
            }
        }
    }

    static func residentBytes(_ pid: Int32) -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Int64(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    static func descriptors(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }

    /// A well-behaved HTTP client: `GET /healthz` every half second, three seconds to answer.
    private func healthProbe() -> AttackThread {
        let port = httpPort
        let clock = clock
        let records = records
        return AttackThread(name: "attack-healthz") { thread in
            repeat {
                let answer = HTTPExchange.perform(port: port, method: "GET", path: "/healthz", timeoutSeconds: 3)
                records.health(at: clock.now, ok: answer?.status == 200)
            } while thread.pause(0.5)
        }
    }

    /// A well-behaved BMS: reads the header registers every half second on one connection, and
    /// connects again after a failure.
    private func bmsProbe() -> AttackThread {
        let port = bmsPort
        let clock = clock
        let records = records
        return AttackThread(name: "attack-bms-probe") { thread in
            var socket: RawSocket?
            var transaction: UInt16 = 0
            repeat {
                transaction &+= 1
                if socket == nil { socket = try? RawSocket(port: port, timeoutSeconds: 2) }
                var ok = false
                if let connection = socket, connection.send(BMSRequest.readInputRegisters(transaction: transaction, address: 0, count: 4)),
                    let reply = connection.receive(limit: 256), reply.count >= 9 + 8, reply[7] == 4,
                    reply[0] == UInt8(transaction >> 8), reply[1] == UInt8(transaction & 0xFF)
                {
                    ok = true
                }
                if !ok {
                    socket?.close()
                    socket = nil
                }
                records.bms(at: clock.now, ok: ok)
            } while thread.pause(0.5)
            socket?.close()
        }
    }

    // MARK: - Faults and latency probes

    /// Insulation faults (25 kΩ, 4-8 s) on the systems that are neither probes nor the lamp-test
    /// system, at most three at once, in an order and with durations drawn from the seed.
    private func seededFaults() async {
        var random = SplitMix64(seed: seed)
        var open: [(unit: UnitReference, start: Double, until: Double)] = []
        var next = clock.now + 1
        while !Task.isCancelled {
            let now = clock.now
            for fault in open where fault.until <= now {
                setInsulation(fault.unit, nil)
                records.fault(
                    InjectedFault(
                        phase: "", label: "insulation 25 kΩ on \(fault.unit)", systems: [fault.unit.systemID], start: fault.start,
                        end: clock.now, expect: ["insulation"], allow: ["insulation_prewarning"]))
            }
            open.removeAll { $0.until <= now }
            if now >= next, open.count < 3 {
                let free = faultUnits.filter { unit in !open.contains { $0.unit == unit } }
                let unit = free[Int(random.next() % UInt64(free.count))]
                let hold = 4 + Double(random.next() % 4000) / 1000
                setInsulation(unit, 25_000)
                open.append((unit, clock.now, clock.now + hold))
                next = clock.now + 1 + Double(random.next() % 2000) / 1000
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        // Faults still open when the attacks end are cut short: one that lasted less than the
        // shortest scheduled hold may raise its alarm, but need not (a dip, as the fault suite has).
        for fault in open {
            setInsulation(fault.unit, nil)
            let held = clock.now - fault.start >= 4
            records.fault(
                InjectedFault(
                    phase: "", label: "insulation 25 kΩ on \(fault.unit)\(held ? "" : ", cut short")", systems: [fault.unit.systemID],
                    start: fault.start, end: clock.now, expect: held ? ["insulation"] : [],
                    allow: held ? ["insulation_prewarning"] : ["insulation", "insulation_prewarning"]))
        }
    }

    /// Reading → relay latency on one Bender unit, over and over: the insulation goes to 150 kΩ,
    /// then, just after a poll, to 30 kΩ (a step the service's plausibility filter takes at once).
    /// A one-request marker on the unit (a wire "fault" of zero delay that the next request
    /// uses up) times every request to within a few milliseconds; the onset reading is the first
    /// request after the device's registers show the fault. Latency: the yellow relay dropping,
    /// minus (onset + the configured response delay), as the latency benchmark counts it.
    private func latencyProbe(_ unit: UnitReference, number: Int) -> AttackThread {
        let device = device(unit)
        let panel = simulator.panel
        let line = yellowLine(unit)
        let clock = clock
        let records = records
        let responseDelay = insulationResponseDelaySeconds
        let probeSeed = seed &+ 101 &* UInt64(number + 1)
        return AttackThread(name: "attack-probe-\(number)") { [self] thread in
            var random = SplitMix64(seed: probeSeed)
            let marker = WireFault(.delay(seconds: 0), remainingRequests: 1)
            device.unit.wireFault = marker
            var requests: [Double] = []
            /// Records a request the marker caught and arms it again; returns the time now.
            func watch() -> Double {
                let now = clock.now
                if device.unit.wireFault == nil {
                    requests.append(now)
                    if requests.count > 64 { requests.removeFirst(requests.count - 64) }
                    device.unit.wireFault = marker
                }
                return now
            }
            func insulation() -> Double { device.reading[.insulationResistanceOhms]?.value ?? .infinity }
            func lit() -> Bool { panel.effectivelyEnergised(line) == false }
            /// Polls every 3 ms until `condition` or the deadline; false when stopped or late.
            func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
                let deadline = clock.now + seconds
                while watch() < deadline {
                    if condition() { return true }
                    usleep(3000)
                }
                return condition()
            }
            _ = thread.pause(Double(number) * 0.7)
            while !thread.stopped {
                let start = clock.now
                setInsulation(unit, 150_000)
                var label = "latency probe on \(unit)"
                // Two polls at 150 kΩ, so that the service has taken the intermediate value.
                let seen = wait(5) { insulation() <= 160_000 }
                let settledAt = clock.now
                let twoPolls = seen && wait(3) { requests.filter { $0 > settledAt }.count >= 2 }
                // Just after a poll (its requests come within a few ms of each other), the fault.
                let quiet = twoPolls && wait(2) { (requests.last ?? 0) < clock.now - 0.05 && clock.now - (requests.last ?? 0) < 0.2 }
                var measured = false
                if quiet {
                    let changedAt = clock.now
                    setInsulation(unit, 30_000)
                    if wait(0.3, { insulation() <= 50_000 }) {
                        let visibleAt = clock.now
                        if wait(3, { requests.contains { $0 > changedAt } }) {
                            let onset = requests.first { $0 > changedAt }!
                            if onset > visibleAt + 0.004, wait(10, lit) {
                                records.latency(onset: onset, seconds: clock.now - (onset + responseDelay))
                                measured = true
                            }
                        }
                    }
                }
                if !measured {
                    records.discardedLatencySample()
                    label += " (sample discarded)"
                    _ = wait(10, lit)
                }
                _ = wait(0.5) { false }
                setInsulation(unit, nil)
                records.fault(
                    InjectedFault(
                        phase: "", label: label, systems: [unit.systemID], start: start, end: clock.now, expect: ["insulation"],
                        allow: ["insulation_prewarning"]))
                _ = wait(20) { !lit() || thread.stopped }
                _ = wait(0.5 + Double(random.next() % 1500) / 1000) { thread.stopped }
            }
            device.unit.wireFault = nil
        }
    }

    // MARK: - Evaluation

    private func evaluate(journal: [JournalEntry]) {
        let spans = phases
        outcome.phases = spans
        let ledger = Ledger()
        for fault in records.faults.sorted(by: { $0.start < $1.start }) {
            var fault = fault
            fault.phase = spans.first { fault.start >= $0.start && fault.start <= $0.end }?.name ?? "between phases"
            ledger.begin(fault)
        }
        let evaluator = Evaluator(staleAfterSeconds: staleAfterSeconds) { time in
            spans.first { time >= $0.start && time <= $0.end }?.name ?? "between phases"
        }
        let timelines = observer.timelines
        outcome.evaluation = evaluator.evaluate(ledger, timelines, journal: journal)
        outcome.faultsInjected = ledger.faults.count
        // What the theatre saw, whatever the API could answer: every fault that must raise an
        // alarm must light its system's yellow lamp while it lasts (or within the late start).
        for fault in ledger.faults where !fault.expect.isEmpty {
            for system in fault.systems {
                let lit = timelines[system]?.yellowLit.contains {
                    $0.overlaps(fault.start, (fault.end ?? .infinity) + evaluator.lateStartSeconds)
                } ?? false
                if !lit { outcome.lampNotLit.append("\(system): \(fault.label) at t=\(Evaluator.f(fault.start)) s") }
            }
        }
        let counts = observer.sampleCounts
        outcome.metricsScrapes = counts.ok
        outcome.metricsScrapesFailed = counts.failed
        outcome.notes += records.notes + ledger.notes

        let heartbeats = records.heartbeats
        let latencies = records.latencies
        let health = records.healthProbes
        let bms = records.bmsProbes
        let process = records.processSamples
        for index in outcome.phases.indices {
            let span = outcome.phases[index]
            func inside(_ time: Double) -> Bool { time >= span.start && time <= span.end }
            outcome.phases[index].heartbeatAgeMaxSeconds = heartbeats.filter { inside($0.time) }.map(\.age).max()
            outcome.phases[index].latencySeconds = latencies.filter { inside($0.onset) }.map(\.seconds)
            let healthHere = health.filter { inside($0.time) }
            outcome.phases[index].healthzAnswered = healthHere.filter(\.ok).count
            outcome.phases[index].healthzAsked = healthHere.count
            let bmsHere = bms.filter { inside($0.time) }
            outcome.phases[index].bmsAnswered = bmsHere.filter(\.ok).count
            outcome.phases[index].bmsAsked = bmsHere.count
            let processHere = process.filter { inside($0.time) }
            outcome.phases[index].residentBytesMax = processHere.compactMap(\.residentBytes).max()
            outcome.phases[index].descriptorsMax = processHere.compactMap(\.descriptors).max()
        }
        let monitored = outcome.phases.filter { $0.name != "start-up" }
        outcome.heartbeatAgeMaxSeconds = monitored.compactMap(\.heartbeatAgeMaxSeconds).max()
        outcome.heartbeatAgeMaxQuietSeconds = outcome.phases.first { $0.name == "quiet" }?.heartbeatAgeMaxSeconds
        // The panel records a trip only after a first heartbeat edge: start-up is not one.
        outcome.watchdogTrips = simulator.panel.watchdogHistory.filter { $0.tripped }.count
        let quiet = outcome.phases.filter { $0.name == "quiet" }.flatMap(\.latencySeconds)
        let attacked = outcome.phases.filter(\.isAttack).flatMap(\.latencySeconds)
        outcome.latencyQuiet = LatencyFigure(quiet)
        outcome.latencyUnderAttack = LatencyFigure(attacked)
        if let quietP99 = outcome.latencyQuiet.p99Seconds, let attackP99 = outcome.latencyUnderAttack.p99Seconds, quietP99 > 0 {
            outcome.latencyP99Ratio = attackP99 / quietP99
        }
        outcome.latencySamplesDiscarded = records.discarded
        let beforeAttacks = outcome.phases.first(where: \.isAttack)?.storageBytesStart ?? 0
        let afterAttacks = outcome.phases.last(where: \.isAttack)?.storageBytesEnd ?? 0
        outcome.storageBytesBeforeAttacks = beforeAttacks
        outcome.storageBytesAfterAttacks = afterAttacks
        if let quietPhase = outcome.phases.first(where: { $0.name == "quiet" }) {
            let attackSeconds = outcome.phases.filter(\.isAttack).reduce(0) { $0 + $1.end - $1.start }
            let rate = Double(quietPhase.storageBytesEnd - quietPhase.storageBytesStart) / max(quietPhase.end - quietPhase.start, 1)
            outcome.storageBytesExpectedWithoutAttacks = Int64(rate * attackSeconds)
        }
        for index in outcome.attacks.indices {
            outcome.attacks[index].judge(outcome.phases.first { $0.name == outcome.attacks[index].attack })
        }
        outcome.serviceStayedUp =
            outcome.aborted == nil && outcome.unexpectedExit == nil && outcome.serviceStarts == 1 && outcome.pidAtStart != nil
            && outcome.pidAtStart == outcome.pidAtEnd && outcome.healthzAtEnd
        outcome.checks = checks()
    }

    private func checks() -> [AttackOutcome.Check] {
        var checks: [AttackOutcome.Check] = []
        let evaluation = outcome.evaluation
        checks.append(
            .init(
                name: "no alarm missed", passed: evaluation.totalMissed == 0 && outcome.lampNotLit.isEmpty,
                detail: "\(evaluation.totalMissed) missed by the API/metrics, \(outcome.lampNotLit.count) without the yellow lamp"))
        checks.append(.init(name: "no false alarm", passed: evaluation.totalFalse == 0, detail: "\(evaluation.totalFalse)"))
        checks.append(
            .init(
                name: "no journal entry lost", passed: evaluation.journalLost.isEmpty,
                detail: "\(evaluation.journalLost.count) lost of \(evaluation.journalEntries)"))
        let age = outcome.heartbeatAgeMaxSeconds
        checks.append(
            .init(
                name: "heartbeat inside the watchdog timeout",
                passed: age.map { $0 < watchdogTimeoutSeconds } ?? false && outcome.watchdogTrips == 0,
                detail: "max age \(age.map(SuiteReport.number) ?? "none") s of \(SuiteReport.number(watchdogTimeoutSeconds)) s, \(outcome.watchdogTrips) watchdog trips"))
        checks.append(
            .init(
                name: "service stayed up", passed: outcome.serviceStayedUp,
                detail: "pid \(outcome.pidAtStart.map(String.init) ?? "-") → \(outcome.pidAtEnd.map(String.init) ?? "-"), starts \(outcome.serviceStarts), /healthz at the end \(outcome.healthzAtEnd ? "200" : "no answer")"))
        for attack in outcome.attacks {
            checks.append(.init(name: "attack held: \(attack.attack)", passed: attack.held, detail: attack.verdict))
        }
        return checks
    }
}

/// What the background threads record, behind one lock.
final class AttackRecords: Sendable {
    struct Sample: Sendable {
        var time: Double
        var ok: Bool
    }

    struct ProcessSample: Sendable {
        var time: Double
        var residentBytes: Int64?
        var descriptors: Int?
    }

    private struct State {
        var heartbeats: [(time: Double, age: Double)] = []
        var latencies: [(onset: Double, seconds: Double)] = []
        var discarded = 0
        var health: [Sample] = []
        var bms: [Sample] = []
        var process: [ProcessSample] = []
        var faults: [InjectedFault] = []
        var notes: [String] = []
    }

    private let state = Mutex(State())

    func heartbeat(at time: Double, age: Double) { state.withLock { $0.heartbeats.append((time, age)) } }
    func latency(onset: Double, seconds: Double) { state.withLock { $0.latencies.append((onset, seconds)) } }
    func discardedLatencySample() { state.withLock { $0.discarded += 1 } }
    func health(at time: Double, ok: Bool) { state.withLock { $0.health.append(Sample(time: time, ok: ok)) } }
    func bms(at time: Double, ok: Bool) { state.withLock { $0.bms.append(Sample(time: time, ok: ok)) } }
    func process(at time: Double, residentBytes: Int64?, descriptors: Int?) {
        state.withLock { $0.process.append(ProcessSample(time: time, residentBytes: residentBytes, descriptors: descriptors)) }
    }
    func fault(_ fault: InjectedFault) { state.withLock { $0.faults.append(fault) } }
    func note(_ text: String) { state.withLock { $0.notes.append(text) } }

    var heartbeats: [(time: Double, age: Double)] { state.withLock { $0.heartbeats } }
    var latencies: [(onset: Double, seconds: Double)] { state.withLock { $0.latencies } }
    var discarded: Int { state.withLock { $0.discarded } }
    var healthProbes: [Sample] { state.withLock { $0.health } }
    var bmsProbes: [Sample] { state.withLock { $0.bms } }
    var processSamples: [ProcessSample] { state.withLock { $0.process } }
    var faults: [InjectedFault] { state.withLock { $0.faults } }
    var notes: [String] { state.withLock { $0.notes } }
}
