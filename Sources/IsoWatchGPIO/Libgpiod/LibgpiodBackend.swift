/// Digital lines through the Linux GPIO character device, with libgpiod's v1 API.
///
/// Every libgpiod call runs on one worker thread this backend owns, and each input line has an
/// owned edge thread; Swift callers only await. Chips are opened on first use and stay open until
/// `close()`.
public final class LibgpiodBackend: GPIOBackend {
    let worker: GPIOWorker

    /// - Throws: `GPIOError.threadStartFailed` when the worker thread cannot be created.
    public init() throws(GPIOError) {
        worker = try GPIOWorker(name: "isowatch-gpio")
    }

    public func claimOutput(_ configuration: OutputLineConfiguration) async throws(GPIOError) -> any OutputLine {
        let lineID = try await worker.perform { context throws(GPIOError) in
            try context.requestOutput(configuration)
        }
        return LibgpiodOutputLine(address: configuration.address, lineID: lineID, worker: worker)
    }

    public func claimInput(_ configuration: InputLineConfiguration) async throws(GPIOError) -> any InputLine {
        try configuration.validate()
        let broadcaster = EdgeBroadcaster()
        let lineID = try await worker.perform { context throws(GPIOError) in
            try context.requestInput(configuration, broadcaster: broadcaster)
        }
        return LibgpiodInputLine(address: configuration.address, lineID: lineID, worker: worker, broadcaster: broadcaster)
    }

    /// Releases every line, closes every chip and ends the worker thread.
    public func close() async {
        await worker.stop()
    }
}

final class LibgpiodOutputLine: OutputLine {
    let address: LineAddress
    private let lineID: UInt64
    private let worker: GPIOWorker

    init(address: LineAddress, lineID: UInt64, worker: GPIOWorker) {
        self.address = address
        self.lineID = lineID
        self.worker = worker
    }

    func set(_ active: Bool) async throws(GPIOError) {
        let (lineID, address) = (self.lineID, self.address)
        try await worker.perform { context throws(GPIOError) in
            try context.setValue(lineID: lineID, address: address, active: active)
        }
    }

    func release() async {
        let lineID = self.lineID
        try? await worker.perform { context in context.release(lineID: lineID) }
    }
}

final class LibgpiodInputLine: InputLine {
    let address: LineAddress
    private let lineID: UInt64
    private let worker: GPIOWorker
    private let broadcaster: EdgeBroadcaster

    init(address: LineAddress, lineID: UInt64, worker: GPIOWorker, broadcaster: EdgeBroadcaster) {
        self.address = address
        self.lineID = lineID
        self.worker = worker
        self.broadcaster = broadcaster
    }

    func read() async throws(GPIOError) -> Bool {
        let (lineID, address) = (self.lineID, self.address)
        return try await worker.perform { context throws(GPIOError) in
            try context.getValue(lineID: lineID, address: address)
        }
    }

    var changes: AsyncStream<Bool> { broadcaster.makeStream() }

    func release() async {
        let lineID = self.lineID
        try? await worker.perform { context in context.release(lineID: lineID) }
        // Also when the backend was already closed, the streams must end.
        broadcaster.finish()
    }
}
