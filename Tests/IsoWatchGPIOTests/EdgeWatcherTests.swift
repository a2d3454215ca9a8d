import Glibc
import IsoWatchThreads
import Testing

@testable import IsoWatchGPIO

/// The edge thread of the libgpiod backend, fed through a pipe with records laid out as the
/// kernel's `struct gpioevent_data` (u64 timestamp, u32 id, padding), which is exactly what
/// `gpiod_line_event_read_fd` reads from a real line's event descriptor.
@Suite("libgpiod edge thread")
struct EdgeWatcherTests {
    static let risingEdge: UInt32 = 1  // GPIOEVENT_EVENT_RISING_EDGE
    static let fallingEdge: UInt32 = 2  // GPIOEVENT_EVENT_FALLING_EDGE

    final class Pipe: Sendable {
        let readEnd: Int32
        let writeEnd: Int32
        init() throws {
            var descriptors: [Int32] = [0, 0]
            guard pipe(&descriptors) == 0 else { throw GPIOError.threadStartFailed(reason: "pipe failed") }
            readEnd = descriptors[0]
            writeEnd = descriptors[1]
        }

        func writeEvents(_ ids: [UInt32]) {
            var bytes: [UInt8] = []
            for (index, id) in ids.enumerated() {
                withUnsafeBytes(of: UInt64(index).littleEndian) { bytes.append(contentsOf: $0) }
                withUnsafeBytes(of: id.littleEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: [0, 0, 0, 0])
            }
            let written = bytes.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
            precondition(written == bytes.count)
        }
    }

    /// Joins on a thread of its own: joining blocks, and tests run on the cooperative pool too.
    func stop(_ watcher: EdgeWatcher) async throws {
        try await OwnedThread.run(name: "test-join") { watcher.stopAndJoin() }
    }

    @Test(.timeLimit(.minutes(1)))
    func test_kernelEdgesAreDebouncedBeforeTheyAreReported() async throws {
        let events = try Pipe()
        defer { close(events.readEnd); close(events.writeEnd) }
        let broadcaster = EdgeBroadcaster()
        let changes = broadcaster.makeStream()
        let watcher = try EdgeWatcher(
            eventDescriptor: events.readEnd, initialLevel: false, debounceSeconds: 0.03, broadcaster: broadcaster,
            threadName: "test-edges")
        var iterator = changes.makeAsyncIterator()

        // A bouncing press arrives as a burst of edges and ends pressed: reported once, as pressed.
        events.writeEvents([Self.risingEdge, Self.fallingEdge, Self.risingEdge, Self.fallingEdge, Self.risingEdge])
        #expect(await iterator.next() == true)
        events.writeEvents([Self.fallingEdge])
        #expect(await iterator.next() == false)

        try await stop(watcher)
        // Stopping the thread ends the streams; the bounce produced nothing else.
        #expect(await iterator.next() == nil)
    }

    @Test(.timeLimit(.minutes(1)))
    func test_aBurstThatEndsWhereItStartedIsNotReported() async throws {
        let events = try Pipe()
        defer { close(events.readEnd); close(events.writeEnd) }
        let broadcaster = EdgeBroadcaster()
        let changes = broadcaster.makeStream()
        let watcher = try EdgeWatcher(
            eventDescriptor: events.readEnd, initialLevel: true, debounceSeconds: 0.02, broadcaster: broadcaster,
            threadName: "test-edges")
        events.writeEvents([Self.fallingEdge, Self.risingEdge, Self.fallingEdge, Self.risingEdge])
        // Several debounce times pass with the contact back where it started.
        try await Task.sleep(for: .milliseconds(200))
        try await stop(watcher)
        #expect(await collect(changes) == [])
    }

    @Test(.timeLimit(.minutes(1)))
    func test_aVanishedEventDescriptorEndsTheStreams() async throws {
        let events = try Pipe()
        defer { close(events.readEnd) }
        let broadcaster = EdgeBroadcaster()
        let changes = broadcaster.makeStream()
        let watcher = try EdgeWatcher(
            eventDescriptor: events.readEnd, initialLevel: false, debounceSeconds: 0.01, broadcaster: broadcaster,
            threadName: "test-edges")
        // A hang-up is what an unplugged GPIO expander looks like: the watcher must not go quiet.
        close(events.writeEnd)
        #expect(await collect(changes) == [])
        try await stop(watcher)
    }
}
