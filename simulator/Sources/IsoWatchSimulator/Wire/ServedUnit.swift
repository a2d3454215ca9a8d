import IsoWatchCore
import Synchronization

/// One unit id as a Modbus server presents it: its register image, whether it is on line, and
/// the wire fault a test bench injected. Thread-safe; the transports call it from their threads,
/// the device layer and the control interface from theirs.
public final class ServedUnit: Sendable {
    /// What a transport should do with one request.
    public enum Disposition: Sendable, Equatable {
        /// The unit is off line: RTU stays silent, a TCP gateway reports 0x0B.
        case offline
        /// A wire fault swallowed the request.
        case silent
        case reply(pdu: [UInt8], distortion: Distortion?, extraDelaySeconds: Double)
        case dropConnection
    }

    /// How a reply is damaged on its way out.
    public enum Distortion: Sendable, Equatable {
        case corruptCRC
        case truncated
    }

    private struct State {
        var image: RegisterImage
        var online: Bool
        var wireFault: WireFault?
    }

    /// Called under the unit's lock with every write and the image after it, so the device
    /// behind the unit sees a write before any other request does.
    public typealias WriteHandler = @Sendable (_ writes: [RegisterWrite], _ image: RegisterImage) -> Void

    public let unitID: UInt8
    private let state: Mutex<State>
    private let writeHandler = Mutex<WriteHandler?>(nil)
    private let observers = Mutex<(next: Int, continuations: [Int: AsyncStream<RegisterWrite>.Continuation])>(
        (0, [:]))

    public init(unitID: UInt8, image: RegisterImage = RegisterImage(), online: Bool = true) {
        self.unitID = unitID
        self.state = Mutex(State(image: image, online: online, wireFault: nil))
    }

    public var image: RegisterImage { state.withLock { $0.image } }

    public func updateImage(_ body: (inout RegisterImage) -> Void) {
        state.withLock { body(&$0.image) }
    }

    public var isOnline: Bool {
        get { state.withLock { $0.online } }
        set { state.withLock { $0.online = newValue } }
    }

    public var wireFault: WireFault? {
        get { state.withLock { $0.wireFault } }
        set { state.withLock { $0.wireFault = newValue } }
    }

    func setWriteHandler(_ handler: WriteHandler?) {
        writeHandler.withLock { $0 = handler }
    }

    /// Every write a client makes from now on, in order. Each call returns a new stream.
    public func writes() -> AsyncStream<RegisterWrite> {
        let (stream, continuation) = AsyncStream<RegisterWrite>.makeStream()
        let key = observers.withLock { observers in
            let key = observers.next
            observers.next += 1
            observers.continuations[key] = continuation
            return key
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.observers.withLock { $0.continuations.removeValue(forKey: key) }
        }
        return stream
    }

    /// Decides and executes one request: the wire fault (if any) first, then the PDU engine. A
    /// request a probabilistic fault spares is served as if there were no fault.
    public func handle(function: UInt8, data: ArraySlice<UInt8>) -> Disposition {
        let (disposition, writes) = state.withLock { state -> (Disposition, [RegisterWrite]) in
            guard state.online else { return (.offline, []) }
            var fault: WireFault.Kind?
            if var wireFault = state.wireFault {
                if wireFault.strikesNextRequest(unitID: unitID) {
                    fault = wireFault.kind
                    if let remaining = wireFault.remainingRequests { wireFault.remainingRequests = remaining - 1 }
                }
                let exhausted = (wireFault.remainingRequests ?? 1) < 1
                state.wireFault = exhausted ? nil : wireFault
            }
            switch fault {
            case .noReply: return (.silent, [])
            case .dropConnection: return (.dropConnection, [])
            case .exception(let code):
                let pdu = ModbusPDUEngine.exception(function, code).response
                return (.reply(pdu: pdu, distortion: nil, extraDelaySeconds: 0), [])
            case .crcError, .truncatedFrame, .delay, nil:
                let outcome = ModbusPDUEngine.respond(function: function, data: data, image: &state.image)
                if !outcome.writes.isEmpty, let handler = writeHandler.withLock({ $0 }) {
                    handler(outcome.writes, state.image)
                }
                let distortion: Distortion? =
                    switch fault {
                    case .crcError: .corruptCRC
                    case .truncatedFrame: .truncated
                    default: nil
                    }
                let delay = if case .delay(let seconds) = fault { seconds } else { 0.0 }
                return (.reply(pdu: outcome.response, distortion: distortion, extraDelaySeconds: delay), outcome.writes)
            }
        }
        if !writes.isEmpty {
            let continuations = observers.withLock { Array($0.continuations.values) }
            for continuation in continuations {
                for write in writes { continuation.yield(write) }
            }
        }
        return disposition
    }
}
