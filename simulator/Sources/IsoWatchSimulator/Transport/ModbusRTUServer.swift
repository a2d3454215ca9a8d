#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import IsoWatchThreads
import Synchronization

/// A multi-drop Modbus RTU bus on a pseudo-terminal: the client opens `slavePath` (or the symlink)
/// like a USB RS-485 adapter, and every unit on the bus answers from here.
///
/// Its own framing rather than libmodbus's slave, which loses sync when it sees a request for
/// another unit (engineering.md). Like a real bus, a frame with a bad CRC, for a unit not on the
/// bus, or for an off-line unit gets no reply at all. A pty ignores the baud rate, so every reply
/// is held back until the exchange would have finished on a real line at `serialLine`.
///
/// `unplug()` and `replug()` act out a USB RS-485 adapter pulled out and put back: the pty goes
/// away (a client holding it gets a hang-up, opening the link fails with ENOENT), and comes back
/// as a new pty behind the same link, serving the same units with their state.
public final class ModbusRTUServer: Sendable {
    /// The symlink to `slavePath`, when one was asked for.
    public let linkPath: String?
    public let serialLine: SerialLine
    public let turnaroundSeconds: Double
    public let units: [UInt8: ServedUnit]

    /// One plugged-in adapter: a pty and the thread serving it.
    private struct Line: Sendable {
        var master: Int32
        /// Kept open so the line stays up while no client has it open: without it the master reads
        /// EIO after a client closes, and a client that reopens would find a dead bus.
        var slave: Int32
        var slavePath: String
        var stopSignal: StopSignal
        var reader: OwnedThread
    }

    private struct State: Sendable {
        var line: Line?
        var lastSlavePath: String
        var stopped = false
    }

    private let state: Mutex<State>
    /// Serialises plugging, unplugging and stopping, which block while the reader thread ends.
    private let plugLock = PThreadMutex()

    /// Opens the pty, creates the symlink, and starts serving.
    /// - Parameter turnaroundSeconds: the slave's think time between request and reply.
    public init(
        units: [ServedUnit], serialLine: SerialLine = SerialLine(), linkPath: String? = nil,
        turnaroundSeconds: Double = 0.003
    ) throws(SystemCallError) {
        self.units = Dictionary(units.map { ($0.unitID, $0) }, uniquingKeysWith: { first, _ in first })
        self.serialLine = serialLine
        self.turnaroundSeconds = turnaroundSeconds
        self.linkPath = linkPath
        self.state = Mutex(State(line: nil, lastSlavePath: ""))
        try plugIn()
    }

    /// The pty's slave side, e.g. /dev/pts/5. While unplugged, the path the adapter last had
    /// (which no longer exists, or is some other pty by now).
    public var slavePath: String {
        state.withLock { $0.line?.slavePath ?? $0.lastSlavePath }
    }

    /// Whether the adapter is plugged in and serving.
    public var isPlugged: Bool {
        state.withLock { $0.line != nil }
    }

    /// Pulls the adapter out: removes the symlink, stops serving and closes the pty, so a client
    /// holding it gets a hang-up (EIO, or end of file on read) and opening the link fails with
    /// ENOENT. The units keep their state. Idempotent.
    public func unplug() {
        plugLock.withLock {
            guard let line = state.withLock({ state -> Line? in
                defer { state.line = nil }
                return state.line
            }) else { return }
            Self.tearDown(line, linkPath: linkPath)
        }
    }

    /// Puts the adapter back: a new pty (its slave path may differ), the symlink pointed at it,
    /// and the same units served again. Idempotent; throws when the pty cannot be opened or the
    /// server was stopped.
    public func replug() throws(SystemCallError) {
        let result = plugLock.withLock { () -> Result<Void, SystemCallError> in
            if state.withLock({ $0.stopped }) {
                return .failure(SystemCallError("replug", code: EBADF, detail: "the RTU server is stopped"))
            }
            do throws(SystemCallError) {
                try plugIn()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// Stops serving, joins the reader thread, closes the pty and removes the symlink. Idempotent.
    public func stop() {
        plugLock.withLock {
            let line = state.withLock { state -> Line? in
                state.stopped = true
                defer { state.line = nil }
                return state.line
            }
            if let line { Self.tearDown(line, linkPath: linkPath) }
        }
    }

    /// Opens a pty, links it and starts its reader; nothing when a line is already up. Called by
    /// init and under `plugLock`.
    private func plugIn() throws(SystemCallError) {
        if state.withLock({ $0.line != nil }) { return }
        var master: Int32 = -1
        var slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else { throw SystemCallError("openpty") }
        guard let name = ttyname(slave) else {
            let error = SystemCallError("ttyname")
            close(master)
            close(slave)
            throw error
        }
        let slavePath = String(cString: name)
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        // Raw: no echo (our replies would come back to us as requests), no CR/LF translation, no
        // signals on 0x03 or 0x1A bytes. Clients set their own termios on open, usually raw too.
        var settings = termios()
        tcgetattr(slave, &settings)
        cfmakeraw(&settings)
        tcsetattr(slave, TCSANOW, &settings)
        setNonBlocking(master)

        do {
            if let linkPath { try Self.link(linkPath, to: slavePath) }
            let stopSignal = try StopSignal()
            let reader = try startThread(name: "sim-rtu-reader") { [self, master] in
                readLoop(master: master, stopSignal: stopSignal)
            }
            state.withLock {
                $0.line = Line(master: master, slave: slave, slavePath: slavePath, stopSignal: stopSignal, reader: reader)
                $0.lastSlavePath = slavePath
            }
        } catch {
            if let linkPath { Self.removeLink(linkPath, ifTo: slavePath) }
            close(master)
            close(slave)
            throw error
        }
    }

    private static func tearDown(_ line: Line, linkPath: String?) {
        // The link goes first, as a device node does when the adapter is pulled: a client that
        // reopens after its hang-up must find nothing, not a pty about to close.
        if let linkPath { removeLink(linkPath, ifTo: line.slavePath) }
        line.stopSignal.fire()
        line.reader.join()
        close(line.master)
        close(line.slave)
    }

    /// Reads requests off the bus. A frame ends when the function code's length rule says so and
    /// its CRC checks out, or else at the silent interval, like a real slave's t3.5 timer.
    private func readLoop(master: Int32, stopSignal: StopSignal) {
        var buffer: [UInt8] = []
        // Never shorter than a few ms: a pty delivers a client's write in bursts the scheduler
        // may split, and a real line has no such jitter to mistake for a gap.
        let silenceSeconds = max(serialLine.frameGapSeconds, 0.005)
        while true {
            let wake = stopSignal.wait(for: master, timeoutSeconds: buffer.isEmpty ? nil : silenceSeconds)
            switch wake {
            case .stopped:
                return
            case .timedOut:
                // The line went silent: whatever is buffered is one frame, or noise to drop.
                if ModbusCRC.isIntact(buffer) {
                    answer(buffer, receivedAt: monotonicSeconds(), master: master, stopSignal: stopSignal)
                }
                buffer.removeAll()
            case .readable:
                guard let bytes = readAvailable(master) else {
                    // No client holds the slave open; wait for one instead of spinning on EIO.
                    guard stopSignal.sleep(until: monotonicSeconds() + 0.05) else { return }
                    continue
                }
                buffer += bytes
                while let length = RTUFraming.requestLength(buffer), buffer.count >= length,
                    ModbusCRC.isIntact(buffer.prefix(length))
                {
                    let frame = Array(buffer.prefix(length))
                    buffer.removeFirst(length)
                    answer(frame, receivedAt: monotonicSeconds(), master: master, stopSignal: stopSignal)
                    if stopSignal.isFired { return }
                }
            }
        }
    }

    private func answer(_ frame: [UInt8], receivedAt: Double, master: Int32, stopSignal: StopSignal) {
        let address = frame[0]
        let function = frame[1]
        let data = frame[2..<(frame.count - 2)]
        if address == 0 {
            // Broadcast (Modbus over Serial Line §2.2): every unit executes a write, none replies.
            guard ModbusFunction(rawValue: function)?.isWrite == true else { return }
            for unit in units.values { _ = unit.handle(function: function, data: data) }
            return
        }
        guard let unit = units[address],
            case .reply(let pdu, let distortion, let extraDelaySeconds) = unit.handle(function: function, data: data)
        else { return }
        var reply = ModbusCRC.sealed([address] + pdu)
        switch distortion {
        case nil: break
        case .corruptCRC: reply[reply.count - 1] ^= 0xFF
        case .truncated: reply = Array(reply.prefix(max(1, reply.count / 2)))
        }
        let due =
            receivedAt + extraDelaySeconds
            + serialLine.exchangeSeconds(
                requestBytes: frame.count, replyBytes: reply.count, turnaroundSeconds: turnaroundSeconds)
        guard stopSignal.sleep(until: due) else { return }
        _ = writeAll(master, reply, socket: false)
    }

    private static func link(_ path: String, to target: String) throws(SystemCallError) {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw SystemCallError("mkdir", code: EACCES, detail: directory)
            }
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            // Replace a stale link from an earlier run, but never a file someone else put there.
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil else {
                throw SystemCallError("symlink", code: EEXIST, detail: "\(path) exists and is not a symlink")
            }
            unlink(path)
        }
        guard symlink(target, path) == 0 else { throw SystemCallError("symlink", detail: path) }
    }

    private static func removeLink(_ path: String, ifTo target: String) {
        guard let current = try? FileManager.default.destinationOfSymbolicLink(atPath: path), current == target
        else { return }
        unlink(path)
    }
}
