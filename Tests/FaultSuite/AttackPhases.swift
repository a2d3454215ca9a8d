import Foundation
import IsoWatchSimulator
import IsoWatchTesting
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The attacks, each for `profile.attackSeconds`, from this process. Blocking clients run on
/// `AttackThread`s; the driving task only waits for them.
extension AttackSuite {
    /// Counts by outcome, shared by the threads of one attack.
    final class Tally: Sendable {
        private let counts = Mutex<[String: Int]>([:])
        func add(_ key: String, _ amount: Int = 1) { counts.withLock { $0[key, default: 0] += amount } }
        var all: [String: Int] { counts.withLock { $0 } }
    }

    /// Runs `threads` for the attack's time, then stops and joins them.
    func hold(_ threads: [AttackThread]) async throws {
        try await Task.sleep(for: .seconds(profile.attackSeconds))
        for thread in threads { thread.stop() }
        for thread in threads { await thread.join() }
    }

    // MARK: Path tricks

    /// Spellings of guarded routes that a prefix check, a router and a client may each read
    /// differently. None may be answered 200 (or with a system's data) without a session.
    func pathTricks() async throws {
        let id = systems[0]
        let spellings = [
            "//api/v1/systems", "///api/v1/systems", "/api//v1/systems", "/api/v1//systems", "/%2Fapi/v1/systems",
            "/%2fapi%2fv1%2fsystems", "/api/v1/%73ystems", "/%61pi/v1/systems", "/api/v1/./systems", "/./api/v1/systems",
            "/api/./v1/systems", "/api/v1/../v1/systems", "/api/v1/%2e/systems", "/api/v1/systems/%2e%2e/systems",
            "/api/v1/systems/x/../../systems", "/api/v1/systems/", "/api/v1/systems;x", "//api/v1/systems/\(id)",
            "//api/v1/systems/\(id)/readings", "//api/v1/systems/\(id)/readings.csv", "//api/v1/systems/\(id)/report",
            "//api/v1/events", "//api/v1/alarms", "//api/v1/stream", "/api/v1/systems/\(id)%2f", "/api/v1/systems?x=/../",
            "/api/v1/systems",
        ]
        let port = httpPort
        let results = Mutex<[String: (statuses: Set<Int>, leaked: Bool)]>([:])
        let thread = AttackThread(name: "attack-paths") { thread in
            while !thread.stopped {
                for path in spellings where !thread.stopped {
                    let answer = HTTPExchange.perform(port: port, method: "GET", path: path, timeoutSeconds: 2)
                    let leaked = answer.map { $0.status == 200 || $0.body.contains("insulation") || $0.body.contains(id) } ?? false
                    results.withLock { results in
                        var entry = results[path] ?? ([], false)
                        entry.statuses.insert(answer?.status ?? 0)
                        entry.leaked = entry.leaked || leaked
                        results[path] = entry
                    }
                }
            }
        }
        try await hold([thread])
        let seen = results.withLock { $0 }
        var figure = AttackFigure(attack: "path tricks", ownHeld: true)
        figure.requiresHealthz = true
        figure.pathTricks = spellings.map { path in
            let entry = seen[path] ?? ([], false)
            return .init(path: path, statuses: entry.statuses.sorted(), refused: !entry.leaked && !entry.statuses.isEmpty)
        }
        for trick in figure.pathTricks! {
            figure.counts["requests answered \(trick.statuses.map(String.init).joined(separator: "/"))", default: 0] += 1
            if !trick.refused { figure.findings.append("\(trick.path) served without a session (\(trick.statuses))") }
        }
        figure.ownHeld = figure.findings.isEmpty
        outcome.attacks.append(figure)
    }

    // MARK: Sign-in abuse

    /// Sign-ins with a 1 MB name from 127.0.0.1, and a flood of wrong guesses from twenty other
    /// loopback addresses at once. Storage must not grow by more than a few journal entries.
    func signInAbuse() async throws {
        let port = httpPort
        let tally = Tally()
        let oversized = profile.oversizedSignIns
        let bigName = String(repeating: "a", count: 1 << 20)
        let bigBody = Array("{\"name\":\"\(bigName)\",\"password\":\"x\"}".utf8)
        var threads = [
            AttackThread(name: "attack-oversized") { thread in
                var sent = 0
                while sent < oversized && !thread.stopped {
                    let answer = HTTPExchange.perform(
                        port: port, method: "POST", path: "/api/v1/login", headers: ["Content-Type": "application/json"], body: bigBody,
                        timeoutSeconds: 5)
                    tally.add("1 MB name: \(answer.map { String($0.status) } ?? "closed")")
                    sent += 1
                }
            }
        ]
        let names = ["admin", "root", "operator", "nurse", "guest", "service", "engineer", "test"]
        for address in 0..<profile.floodAddresses {
            let source = "127.0.0.\(2 + address)"
            let threadSeed = seed &+ 7919 &* UInt64(address + 1)
            threads.append(
                AttackThread(name: "attack-flood-\(address)") { thread in
                    var random = SplitMix64(seed: threadSeed)
                    var attempt = 0
                    while !thread.stopped {
                        attempt += 1
                        let name = random.next() % 2 == 0 ? names[Int(random.next() % UInt64(names.count))] : "user\(random.next() % 1000)"
                        let body = Array("{\"name\":\"\(name)\",\"password\":\"guess-\(attempt)\"}".utf8)
                        let answer = HTTPExchange.perform(
                            port: port, method: "POST", path: "/api/v1/login", headers: ["Content-Type": "application/json"], body: body,
                            source: source, timeoutSeconds: 5)
                        tally.add("flood: \(answer.map { String($0.status) } ?? "no answer")")
                    }
                })
        }
        try await hold(threads)
        var figure = AttackFigure(attack: "sign-in abuse", ownHeld: true, counts: tally.all)
        figure.requiresHealthz = true
        // A few aggregated journal entries per name and address: far below a megabyte.
        figure.storageBudgetBytes = 4 << 20
        for (key, count) in figure.counts where key.hasSuffix(": 200") {
            figure.findings.append("\(count) sign-ins with a wrong password or a 1 MB name answered 200")
        }
        for (key, count) in figure.counts where key.hasPrefix("1 MB name") && !(key.hasSuffix(": 413") || key.hasSuffix(": closed")) {
            figure.findings.append("\(count) sign-ins with a 1 MB name were read (\(key)) instead of refused at the body cap")
        }
        // The operator signs in from another address after the flood (information: the limits
        // are per name and per address, so it should succeed).
        let body = Array("{\"name\":\"\(Self.operatorName)\",\"password\":\"\(Self.operatorPassword)\"}".utf8)
        let after = try await onOwnThread {
            HTTPExchange.perform(
                port: port, method: "POST", path: "/api/v1/login", headers: ["Content-Type": "application/json"], body: body,
                timeoutSeconds: 10)
        }
        figure.counts["operator sign-in right after the flood: \(after.map { String($0.status) } ?? "no answer")"] = 1
        figure.ownHeld = figure.findings.isEmpty
        outcome.attacks.append(figure)
    }

    // MARK: Connections

    /// Slowloris: many connections, each sending its request headers one byte a second and
    /// never finishing them.
    func slowloris() async throws {
        let port = httpPort
        let tally = Tally()
        let wanted = profile.slowlorisConnections
        let thread = AttackThread(name: "attack-slowloris") { thread in
            var sockets: [RawSocket] = []
            var lastRound = Date.distantPast
            while !thread.stopped {
                // Open as many as wanted, a burst at a time, while trickling bytes on the rest.
                var opened = 0
                while sockets.count < wanted, opened < 50, !thread.stopped {
                    opened += 1
                    guard let socket = try? RawSocket(port: port, source: AttackSources.slowloris, timeoutSeconds: 1),
                        socket.send(Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".utf8))
                    else {
                        tally.add("connections refused or timed out")
                        break
                    }
                    sockets.append(socket)
                    tally.add("connections opened")
                }
                if Date().timeIntervalSince(lastRound) >= 1 {
                    lastRound = Date()
                    var kept: [RawSocket] = []
                    for socket in sockets {
                        if socket.sendWithoutWaiting([UInt8(ascii: "a")]) != nil, !socket.closedByPeer {
                            kept.append(socket)
                        } else {
                            tally.add("connections closed by the server")
                            socket.close()
                        }
                    }
                    sockets = kept
                }
                _ = thread.pause(0.05)
            }
            tally.add("connections open at the end", sockets.count)
            for socket in sockets { socket.close() }
        }
        try await hold([thread])
        var figure = AttackFigure(attack: "slowloris", ownHeld: true, counts: tally.all)
        figure.requiresHealthz = true
        outcome.attacks.append(figure)
    }

    /// Connections that send nothing at all.
    func idleConnections() async throws {
        let port = httpPort
        let tally = Tally()
        let wanted = profile.idleConnections
        let thread = AttackThread(name: "attack-idle") { thread in
            var sockets: [RawSocket] = []
            for _ in 0..<wanted where !thread.stopped {
                if let socket = try? RawSocket(port: port, source: AttackSources.idle, timeoutSeconds: 1) {
                    sockets.append(socket)
                } else {
                    tally.add("connections refused or timed out")
                }
            }
            tally.add("connections opened", sockets.count)
            while thread.pause(0.2) {}
            tally.add("closed by the server by the end", sockets.filter(\.closedByPeer).count)
            for socket in sockets { socket.close() }
        }
        try await hold([thread])
        var figure = AttackFigure(attack: "idle connections", ownHeld: true, counts: tally.all)
        figure.requiresHealthz = true
        outcome.attacks.append(figure)
    }

    /// Signed-in live-stream clients with a tiny receive buffer that never read a byte.
    func streamNonReaders() async throws {
        let port = httpPort
        let tally = Tally()
        let wanted = profile.streamClients
        let request = Array("GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\nCookie: \(cookie)\r\n\r\n".utf8)
        let thread = AttackThread(name: "attack-sse") { thread in
            var sockets: [RawSocket] = []
            for _ in 0..<wanted where !thread.stopped {
                if let socket = try? RawSocket(port: port, source: AttackSources.stream, receiveBuffer: 2048, timeoutSeconds: 1), socket.send(request) {
                    sockets.append(socket)
                } else {
                    tally.add("connections refused or timed out")
                }
            }
            tally.add("streams requested", sockets.count)
            while thread.pause(0.2) {}
            for socket in sockets {
                let head = socket.peek(12)
                tally.add(head.hasPrefix("HTTP/1.1 ") ? "answered \(head.dropFirst(9).prefix(3))" : "no answer")
                if socket.closedByPeer { tally.add("closed by the server by the end") }
                socket.close()
            }
        }
        try await hold([thread])
        var figure = AttackFigure(attack: "live-stream clients that never read", ownHeld: true, counts: tally.all)
        figure.requiresHealthz = true
        outcome.attacks.append(figure)
    }

    /// A BMS client that pipelines read requests of 125 registers and never reads a reply.
    func bmsNonReader() async throws {
        let port = bmsPort
        let tally = Tally()
        let thread = AttackThread(name: "attack-bms") { thread in
            var socket = try? RawSocket(port: port, receiveBuffer: 2048, timeoutSeconds: 1)
            var transaction: UInt16 = 0
            while !thread.stopped {
                guard let connection = socket else {
                    tally.add("connections refused")
                    _ = thread.pause(0.2)
                    socket = try? RawSocket(port: port, receiveBuffer: 2048, timeoutSeconds: 1)
                    continue
                }
                transaction &+= 1
                switch connection.sendWithoutWaiting(BMSRequest.readInputRegisters(transaction: transaction, address: 100, count: 125)) {
                case nil:
                    tally.add("connections closed by the server")
                    connection.close()
                    socket = nil
                case 0?:
                    tally.add("sends that found the buffers full")
                    usleep(5000)
                default:
                    tally.add("requests sent")
                }
            }
            socket?.close()
        }
        try await hold([thread])
        var figure = AttackFigure(attack: "BMS client that never reads", ownHeld: true, counts: tally.all)
        figure.requiresBMS = true
        outcome.attacks.append(figure)
    }

    // MARK: Lamp test

    /// A real insulation fault on one system, then the lamp test pressed through the API every
    /// few seconds by a signed-in operator: the API must report the system in `alarm` with its
    /// insulation condition every time it is asked, test or no test.
    func lampTestPresses() async throws {
        let port = httpPort
        let cookie = cookie
        let id = lampUnit.systemID
        let start = clock.now
        setInsulation(lampUnit, 25_000)
        var figure = AttackFigure(attack: "lamp test on a real fault", ownHeld: true)
        figure.requiresHealthz = true
        defer {
            setInsulation(lampUnit, nil)
            records.fault(
                InjectedFault(
                    phase: "", label: "insulation 25 kΩ on \(lampUnit) under lamp-test presses", systems: [id], start: start, end: clock.now,
                    expect: ["insulation"], allow: ["insulation_prewarning"]))
        }
        guard await waitUntil(seconds: 20, { self.observer.activeConditions(id).contains("insulation") }) else {
            figure.ownHeld = false
            figure.findings.append("the insulation fault was never raised before the presses")
            outcome.attacks.append(figure)
            return
        }
        let deadline = clock.now + profile.attackSeconds
        var lastPress = -Double.infinity
        var asked = 0
        var notAlarm: [String] = []
        while clock.now < deadline {
            if clock.now - lastPress >= profile.lampTestPeriodSeconds {
                lastPress = clock.now
                let pressed = try await onOwnThread {
                    HTTPExchange.perform(port: port, method: "POST", path: "/api/v1/systems/\(id)/test", headers: ["Cookie": cookie])
                }
                figure.counts["test presses answered \(pressed.map { String($0.status) } ?? "nothing")", default: 0] += 1
            }
            let answer = try await onOwnThread {
                HTTPExchange.perform(port: port, method: "GET", path: "/api/v1/systems/\(id)", headers: ["Cookie": cookie])
            }
            asked += 1
            struct Status: Decodable {
                struct Alarm: Decodable {
                    var state: String
                    var conditions: [String]
                    var test_in_progress: Bool?
                }
                var alarm: Alarm
            }
            if let answer, answer.status == 200, let status = try? JSONDecoder().decode(Status.self, from: Data(answer.body.utf8)) {
                if status.alarm.test_in_progress == true { figure.counts["status reads during a test", default: 0] += 1 }
                if status.alarm.state != "alarm" || !status.alarm.conditions.contains("insulation") {
                    notAlarm.append("t=\(Evaluator.f(clock.now)) s: state \(status.alarm.state), conditions \(status.alarm.conditions)")
                }
            } else {
                notAlarm.append("t=\(Evaluator.f(clock.now)) s: no status (\(answer.map { String($0.status) } ?? "no answer"))")
            }
            try await Task.sleep(for: .milliseconds(500))
        }
        figure.counts["status reads"] = asked
        figure.counts["status reads not in alarm with insulation"] = notAlarm.count
        figure.findings += notAlarm.prefix(5).map { "fault hidden: \($0)" }
        figure.ownHeld = notAlarm.isEmpty
        outcome.attacks.append(figure)
    }
}

/// Where each connection attack comes from: a host of its own (127.0.0.x are all loopback on
/// Linux), as an attacker on the network would be, and apart from the well-behaved clients on
/// 127.0.0.1, so that the per-client connection cap is what is tried, not the suite's own
/// clients' share.
enum AttackSources {
    static let slowloris = "127.0.0.50"
    static let idle = "127.0.0.51"
    static let stream = "127.0.0.52"
}
