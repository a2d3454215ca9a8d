import Foundation
import IsoWatchCore
@testable import IsoWatchHTTP
import IsoWatchSimulator
import IsoWatchSnapshot
import IsoWatchTesting
import IsoWatchThreads
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A server-sent-events client over a plain TCP socket, on a thread of its own: it speaks
/// HTTP/1.1, undoes the chunked transfer encoding and splits the stream into events, as a
/// browser's EventSource does. Every event is kept with the instant it arrived.
final class EventStreamClient: @unchecked Sendable {
    // @unchecked: all mutable state is guarded by `condition`; `socket` is set once in init.
    struct Event: Sendable {
        var name: String
        var data: String
        var receivedAt: ContinuousClock.Instant
    }

    private let socket: Int32
    private let condition = NSCondition()
    private var events: [Event] = []
    private var status: Int?
    private var headerText = ""
    private var ended = false

    init(port: Int, path: String = "/api/v1/stream", cookie: String? = nil) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw ExternalPeer.PeerError.missingTool("socket(): \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw ExternalPeer.PeerError.missingTool("connect to port \(port): errno \(errno)")
        }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
        if let cookie { request += "Cookie: \(cookie)\r\n" }
        request += "\r\n"
        _ = request.withCString { Glibc.send(socket, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        OwnedThread.essential(name: "sse-client") { [self] in readLoop() }
    }

    private func readLoop() {
        var raw: [UInt8] = []
        var body: [UInt8] = []
        var headersDone = false
        var chunked = false
        var chunkRemaining = 0
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = Glibc.recv(socket, &buffer, buffer.count, 0)
            if count <= 0 { break }
            raw.append(contentsOf: buffer[0..<count])
            if !headersDone {
                guard let end = Self.find([13, 10, 13, 10], in: raw) else { continue }
                let head = String(decoding: raw[0..<end], as: UTF8.self)
                raw.removeFirst(end + 4)
                headersDone = true
                chunked = head.lowercased().contains("transfer-encoding: chunked")
                let code = head.split(separator: " ").dropFirst().first.flatMap { Int($0) }
                condition.withLock {
                    status = code
                    headerText = head
                    condition.broadcast()
                }
            }
            // Undo the chunked encoding: "<hex size>\r\n<data>\r\n" … "0\r\n\r\n".
            while chunked && !raw.isEmpty {
                if chunkRemaining > 0 {
                    let take = min(chunkRemaining, raw.count)
                    body.append(contentsOf: raw[0..<take])
                    raw.removeFirst(take)
                    chunkRemaining -= take
                    if chunkRemaining == 0 { chunkRemaining = -2 }  // the CRLF after the data
                } else if chunkRemaining < 0 {
                    guard raw.count >= 2 else { break }
                    raw.removeFirst(2)
                    chunkRemaining = 0
                } else {
                    guard let lineEnd = Self.find([13, 10], in: raw) else { break }
                    let size = Int(String(decoding: raw[0..<lineEnd], as: UTF8.self), radix: 16) ?? 0
                    raw.removeFirst(lineEnd + 2)
                    chunkRemaining = size == 0 ? 0 : size
                    if size == 0 { raw.removeAll() }
                }
            }
            if !chunked {
                body.append(contentsOf: raw)
                raw.removeAll()
            }
            // An event ends with a blank line.
            while let end = Self.find([10, 10], in: body) {
                let block = String(decoding: body[0..<end], as: UTF8.self)
                body.removeFirst(end + 2)
                var name = "message"
                var data: [String] = []
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") { continue }
                    if line.hasPrefix("event:") { name = line.dropFirst(6).trimmingCharacters(in: .whitespaces) }
                    if line.hasPrefix("data:") { data.append(String(line.dropFirst(5).drop(while: { $0 == " " }))) }
                }
                guard !data.isEmpty else { continue }
                let event = Event(name: name, data: data.joined(separator: "\n"), receivedAt: .now)
                condition.withLock {
                    events.append(event)
                    condition.broadcast()
                }
            }
        }
        condition.withLock {
            ended = true
            condition.broadcast()
        }
    }

    private static func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        for start in 0...(bytes.count - pattern.count) where bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
            return start
        }
        return nil
    }

    // The waits below block a thread: tests call them through the async wrappers, which run them
    // on a thread of their own, never on the cooperative pool that the service under test needs.

    /// The response's status code, once the headers are in.
    func responseStatus(timeoutSeconds: Double = 20) async -> Int? {
        (try? await onOwnThread { self.blockingResponseStatus(timeoutSeconds: timeoutSeconds) }) ?? nil
    }

    /// The first event at or after position `index` that satisfies `predicate`; `index` moves past it.
    func next(
        after index: inout Int, timeoutSeconds: Double, where predicate: @escaping @Sendable (Event) -> Bool = { _ in true }
    ) async -> Event? {
        let start = index
        let (event, end) = (try? await onOwnThread { () -> (Event?, Int) in
            var position = start
            let event = self.blockingNext(after: &position, timeoutSeconds: timeoutSeconds, where: predicate)
            return (event, position)
        }) ?? (nil, start)
        index = end
        return event
    }

    /// Waits until the server ends the stream.
    func waitForEnd(timeoutSeconds: Double) async -> Bool {
        (try? await onOwnThread { self.blockingWaitForEnd(timeoutSeconds: timeoutSeconds) }) ?? false
    }

    func close() async {
        _ = try? await onOwnThread { self.blockingClose() }
    }

    private func blockingResponseStatus(timeoutSeconds: Double) -> Int? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        return condition.withLock {
            while status == nil && !ended && condition.wait(until: deadline) {}
            return status
        }
    }

    var responseHeaders: String { condition.withLock { headerText } }

    private func blockingNext(after index: inout Int, timeoutSeconds: Double, where predicate: (Event) -> Bool) -> Event? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        return condition.withLock {
            while true {
                while index < events.count {
                    let event = events[index]
                    index += 1
                    if predicate(event) { return event }
                }
                if ended || !condition.wait(until: deadline) { return nil }
            }
        }
    }

    var hasEnded: Bool { condition.withLock { ended } }

    private func blockingWaitForEnd(timeoutSeconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        return condition.withLock {
            while !ended && condition.wait(until: deadline) {}
            return ended
        }
    }

    private func blockingClose() {
        Glibc.shutdown(socket, Int32(SHUT_RDWR))
        _ = blockingWaitForEnd(timeoutSeconds: 10)
        Glibc.close(socket)
    }

    static func status(_ event: Event) -> ServiceHarness.SystemView? {
        try? JSONDecoder().decode(ServiceHarness.SystemView.self, from: Data(event.data.utf8))
    }
}

/// A live state the test drives: no system, no monitor; statuses published by hand.
final class StubLiveState: LiveStateProvider {
    let broadcaster = LiveBroadcaster(bufferPerSubscriber: 100_000)

    func systems() async -> [SystemStatus] { [] }
    func statusUpdates() -> AsyncStream<SystemStatus> { broadcaster.subscribe() }
    func perform(_ action: OperatorAction, system: String, user: String) async -> ActionOutcome { .noSuchSystem }
}

/// The real HTTP server alone (no monitor, no simulator) on a free loopback port, for what needs
/// a hand on its inputs: the sessions' clock, the statuses of the live stream.
final class StandaloneHTTP: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(
        state: any LiveStateProvider, access: WebAccess, limits: HTTPLimits = HTTPLimits(),
        configuration: (any ConfigurationControl)? = nil
    ) async throws {
        var logger = Logger(label: "isowatch-standalone")
        logger.logLevel = .warning
        let bound = Mutex<Int?>(nil)
        let service = try HTTPServer.makeApplication(
            state: state, host: "127.0.0.1", port: 0, logger: logger, access: access, limits: limits,
            configuration: configuration, onListening: { port in bound.withLock { $0 = port } })
        group = ServiceGroup(services: [service], logger: logger)
        task = Task { [group] in try await group.run() }
        _ = try await eventually(within: 30) { bound.withLock { $0 } != nil }
        guard let port = bound.withLock({ $0 }) else {
            throw ExternalPeer.PeerError.missingTool("the HTTP server did not start within 30 s")
        }
        self.port = port
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// A TCP client that sends one request and then does nothing at all: it never reads, so the
/// server's writes to it fill the socket buffers and then wait. Its receive buffer is made small.
final class StalledClient: Sendable {
    let socket: Int32

    /// - Parameter source: the client end's address (127.0.0.2 … are all loopback on Linux), so a
    ///   test can play several hosts.
    init(port: Int, request: String, source: String? = nil) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var small: Int32 = 4096
        _ = setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                Glibc.close(socket)
                throw ExternalPeer.PeerError.missingTool("bind \(source): errno \(errno)")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw ExternalPeer.PeerError.missingTool("connect to port \(port): errno \(errno)")
        }
        _ = request.withCString { Glibc.send(socket, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    /// Reads everything the server sent until it closes the connection; false if it is still
    /// open after `timeoutSeconds` without data.
    func drainUntilClosed(timeoutSeconds: Int) async -> Bool {
        let socket = socket
        return (try? await onOwnThread { () -> Bool in
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            _ = setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = Glibc.recv(socket, &buffer, buffer.count, 0)
                if count == 0 { return true }
                if count < 0 { return errno == ECONNRESET }
            }
        }) ?? false
    }

    /// Waits for the first bytes the server sends; how many arrived (0: closed or nothing in time).
    func firstBytes(timeoutSeconds: Int) async -> Int {
        let socket = socket
        return (try? await onOwnThread { () -> Int in
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            _ = setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 65536)
            return max(0, Glibc.recv(socket, &buffer, buffer.count, 0))
        }) ?? 0
    }

    func close() {
        Glibc.close(socket)
    }
}

/// `GET /api/v1/stream`: a new reading or an alarm change reaches a connected client as an event.
@Suite(.serialized)
struct LiveStreamTests {
    static let configuration = """
        site: { name: "Live stream test site" }
        http: { listen: "127.0.0.1:0" }
        gpio: { backend: simulated }
        systems:

        """
        + WalkingSkeletonTests.theatreAndICUSystems

    static func site() -> SiteDescription {
        let unit = WalkingSkeletonTests.healthyUnit
        return SiteDescription(endpoints: [
            .rtu(id: "rtu0", serialLine: SerialLine(baud: 19200, parity: .even), units: [unit(1, "acrel-aim-m10")]),
            .tcp(id: "gw1", units: [unit(1, "bender-isometer")]),
        ])
    }

    @Test(.timeLimit(.minutes(2)))
    func test_streamStartsWithEverySystemThenSendsANewReadingAndTheAlarmItRaises() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration)
        try await harness.waitFor("or-1", seconds: 15) { $0.alarm.state == "normal" }
        let client = try EventStreamClient(port: harness.httpPort)
        let status = await client.responseStatus()
        let headers = client.responseHeaders.lowercased()
        var index = 0
        // The snapshot: one status event per configured system, in configuration order.
        let first = await client.next(after: &index, timeoutSeconds: 10)
        let second = await client.next(after: &index, timeoutSeconds: 10)

        harness.simulator.device(endpoint: "rtu0", unit: 1)?.update {
            $0.values[.insulationResistanceOhms] = MeasuredValue(30_000)
        }
        let newReading = await client.next(after: &index, timeoutSeconds: 15) {
            EventStreamClient.status($0).map { $0.id == "or-1" && $0.reading?["insulation_resistance_ohms"]?.number == 30_000 }
                ?? false
        }
        let alarm = await client.next(after: &index, timeoutSeconds: 15) {
            EventStreamClient.status($0).map { $0.id == "or-1" && $0.alarm.conditions.contains("insulation") } ?? false
        }
        await client.close()
        try await harness.stop()

        #expect(status == 200)
        #expect(headers.contains("content-type: text/event-stream"))
        #expect(first?.name == "status")
        #expect(first.flatMap(EventStreamClient.status)?.id == "or-1")
        #expect(second.flatMap(EventStreamClient.status)?.id == "icu-1")
        #expect(newReading != nil, "no event carried the new insulation value")
        #expect(alarm.flatMap(EventStreamClient.status)?.alarm.state == "alarm")
        #expect(alarm.flatMap(EventStreamClient.status)?.outputs.yellow == true)
        if let newReading, let alarm { #expect(newReading.receivedAt <= alarm.receivedAt) }
    }

    @Test(.timeLimit(.minutes(2)))
    func test_shutdownEndsOpenStreams() async throws {
        let harness = try await ServiceHarness(site: Self.site(), configurationYAML: Self.configuration)
        let client = try EventStreamClient(port: harness.httpPort)
        var index = 0
        let snapshot = await client.next(after: &index, timeoutSeconds: 10)
        // The service must stop although a client still listens (the time limit fails a hang).
        try await harness.stop()
        let ended = await client.waitForEnd(timeoutSeconds: 20)
        await client.close()
        #expect(snapshot != nil)
        #expect(ended)
    }

    @Test func test_slowSubscriberIsDroppedAndPublishingNeverWaits() async throws {
        let broadcaster = LiveBroadcaster(bufferPerSubscriber: 8)
        let slow = broadcaster.subscribe()
        let reader = broadcaster.subscribe()
        #expect(broadcaster.subscriberCount == 2)
        var received: [Double] = []
        let readTask = Task {
            var values: [Double] = []
            for await status in reader {
                values.append(status.reading?.values[.insulationResistanceOhms] ?? -1)
                if values.count == 5 { break }
            }
            return values
        }
        // Five statuses the reader takes as they come, then more than the slow one can buffer.
        for ohms in 1...5 { broadcaster.publish(Self.status(ohms: Double(ohms) * 1000)) }
        received = await readTask.value
        for ohms in 6...20 { broadcaster.publish(Self.status(ohms: Double(ohms) * 1000)) }

        var slowReceived: [Double] = []
        for await status in slow { slowReceived.append(status.reading?.values[.insulationResistanceOhms] ?? -1) }
        // The slow one got what fit in its buffer, in order, and then its stream ended.
        #expect(slowReceived == (1...8).map { Double($0) * 1000 })
        #expect(received == (1...5).map { Double($0) * 1000 })
        #expect(broadcaster.subscriberCount == 0)
    }

    /// Each change is encoded once, whatever the number of clients; every client gets the same bytes.
    @Test func test_eachUpdateIsEncodedOnceForAllClients() async throws {
        let source = LiveBroadcaster()
        let encodings = Mutex(0)
        let hub = LiveStreamHub(
            maximumClients: 8, keepAliveInterval: .seconds(3600), updates: { source.subscribe() },
            encode: { status in
                encodings.withLock { $0 += 1 }
                return LiveRoutes.event(status)
            })
        let members = (0..<5).compactMap { _ in hub.join(onDrop: {}) }
        try #require(members.count == 5)
        // The hub subscribes from its own task: wait until it listens before publishing.
        #expect(try await eventually(within: 30) { source.subscriberCount == 1 })
        for ohms in 1...10 { source.publish(Self.status(ohms: Double(ohms) * 1000)) }
        var received: [[ByteBuffer]] = []
        for member in members {
            var buffers: [ByteBuffer] = []
            for await buffer in member.events {
                buffers.append(buffer)
                if buffers.count == 10 { break }
            }
            received.append(buffers)
        }
        #expect(encodings.withLock { $0 } == 10)
        #expect(received.allSatisfy { $0 == received[0] })
        #expect(received[0].count == 10)
        #expect(String(buffer: received[0][0]).hasPrefix("event: status\ndata: {"))
        // The cap: eight places; the ninth is refused.
        let more = (0..<4).map { _ in hub.join(onDrop: {}) }
        #expect(more.map { $0 != nil } == [true, true, true, false])
        for member in members { hub.leave(member.id) }
        #expect(hub.clientCount == 3)
    }

    /// A client that never reads is dropped (its connection closed) once it falls the buffer
    /// behind; a client that reads gets every change meanwhile.
    @Test(.timeLimit(.minutes(3)))
    func test_clientThatDoesNotReadIsDroppedAndOthersKeepUp() async throws {
        let state = StubLiveState()
        let server = try await StandaloneHTTP(
            state: state, access: .openReadOnly, limits: HTTPLimits(maximumStreamClients: 4, streamBufferPerClient: 64))
        let stalled = try StalledClient(
            port: server.port, request: "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
        let reader = try EventStreamClient(port: server.port)
        let readerStatus = await reader.responseStatus()
        // 16 KiB per event: a few megabytes fill the socket buffers of the client that does not read.
        let padding = String(repeating: "x", count: 16 * 1024)
        var index = 0
        var missed: [Int] = []
        // In batches of 16, each read before the next is published: the reader stays well inside
        // its 64 events of buffer, as a browser that reads does.
        for batch in stride(from: 1, through: 300, by: 16) {
            let numbers = batch...min(batch + 15, 300)
            for number in numbers {
                var status = Self.status(ohms: Double(number))
                status.name = padding
                state.broadcaster.publish(status)
            }
            for number in numbers {
                let event = await reader.next(after: &index, timeoutSeconds: 30) {
                    EventStreamClient.status($0)?.reading?["insulation_resistance_ohms"]?.number == Double(number)
                }
                if event == nil { missed.append(number) }
            }
        }
        let stalledWasClosed = await stalled.drainUntilClosed(timeoutSeconds: 30)
        await reader.close()
        stalled.close()
        try await server.stop()

        #expect(readerStatus == 200)
        #expect(missed.isEmpty, "the reading client missed \(missed.count) events")
        #expect(stalledWasClosed, "the client that never read was not dropped")
    }

    /// Beyond `max_stream_clients` the stream is answered 503 with a reason; a place that frees
    /// up is taken again.
    @Test(.timeLimit(.minutes(2)))
    func test_streamClientsBeyondTheCapGet503() async throws {
        let state = StubLiveState()
        let server = try await StandaloneHTTP(state: state, access: .openReadOnly, limits: HTTPLimits(maximumStreamClients: 2))
        let first = try EventStreamClient(port: server.port)
        let second = try EventStreamClient(port: server.port)
        let statuses = [await first.responseStatus(), await second.responseStatus()]
        let refused = try await HostileClientTests.curl(server.port, "/api/v1/stream", ["-D", "-"])
        await first.close()
        // The server notices the closed stream at its next write: publish until a place is free.
        var readmitted: Int?
        for ohms in 1...600 where readmitted != 200 {
            state.broadcaster.publish(Self.status(ohms: Double(ohms)))
            let third = try EventStreamClient(port: server.port)
            readmitted = await third.responseStatus()
            await third.close()
        }
        await second.close()
        try await server.stop()

        #expect(statuses == [200, 200])
        #expect(refused.status == 503)
        #expect(refused.body.contains("maximum of 2 clients"), "\(refused.body)")
        #expect(refused.body.lowercased().contains("retry-after:"))
        #expect(readmitted == 200)
    }

    @Test func test_unchangedStatusIsNotPublishedAgain() async throws {
        let broadcaster = LiveBroadcaster()
        let stream = broadcaster.subscribe()
        broadcaster.publish(Self.status(ohms: 1000))
        broadcaster.publish(Self.status(ohms: 1000))
        broadcaster.publish(Self.status(ohms: 2000))
        broadcaster.finish()
        var values: [Double] = []
        for await status in stream { values.append(status.reading?.values[.insulationResistanceOhms] ?? -1) }
        #expect(values == [1000, 2000])
    }

    static func status(ohms: Double) -> SystemStatus {
        var reading = DecodedReading(timestamp: Date(timeIntervalSince1970: 0))
        reading.values[.insulationResistanceOhms] = MeasuredValue(ohms)
        return SystemStatus(
            id: "or-1", name: "OR 1", location: "OR 1", device: .init(profile: "p", endpoint: "e", unit: 1),
            reading: ReadingDocument(reading), stale: false, communication: .init(ok: true),
            alarm: .init(state: .normal, conditions: [], silenced: false),
            outputs: .init(green: true, yellow: false, buzzer: false, commonAlarm: false))
    }
}
