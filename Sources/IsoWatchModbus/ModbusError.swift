import CModbus
import Glibc

/// Why one Modbus transaction failed, sorted by what the poller must do about it.
public enum ModbusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The endpoint could not be opened or connected (TCP refused, serial device missing).
    case connectFailed(String)
    /// An established link broke (peer reset, serial adapter unplugged): reconnect.
    case linkLost(String)
    /// No (complete) reply within the response timeout: an offline unit or a slow one.
    case timeout
    /// The device answered with a Modbus exception (1 illegal function, 2 illegal address, …, 0x0B
    /// gateway target failed to respond).
    case exception(code: UInt8)
    /// A reply arrived but was unusable: bad CRC, wrong length, wrong transaction or unit.
    case malformedReply(String)
    /// Anything else the library reported.
    case other(String)

    public var description: String {
        switch self {
        case let .connectFailed(reason): return "cannot connect: \(reason)"
        case let .linkLost(reason): return "link lost: \(reason)"
        case .timeout: return "no reply within the response timeout"
        case let .exception(code): return "exception \(code) (\(Self.exceptionName(code)))"
        case let .malformedReply(reason): return "malformed reply: \(reason)"
        case let .other(reason): return reason
        }
    }

    /// Whether the link itself must be closed and reopened before the next request.
    public var needsReconnect: Bool {
        switch self {
        case .connectFailed, .linkLost: return true
        default: return false
        }
    }

    public static func exceptionName(_ code: UInt8) -> String {
        switch code {
        case 1: return "illegal function"
        case 2: return "illegal data address"
        case 3: return "illegal data value"
        case 4: return "server device failure"
        case 5: return "acknowledge"
        case 6: return "server device busy"
        case 8: return "memory parity error"
        case 10: return "gateway path unavailable"
        case 11: return "gateway target device failed to respond"
        default: return "unknown exception"
        }
    }

    // libmodbus 3.1.6 reports its own errors as MODBUS_ENOBASE + n; the compound macros
    // (EMBBADCRC = EMBXGTAR + 1, …) do not import into Swift, so the offsets are spelled here.
    private static let base = Int32(MODBUS_ENOBASE)
    private static let badCRC = base + 12
    private static let badData = base + 13
    private static let badException = base + 14
    private static let unknownException = base + 15
    private static let tooMuchData = base + 16
    private static let badUnit = base + 17

    /// Classifies the errno left by a failed libmodbus call. Call it on the line after the call,
    /// on the same thread: errno is thread-local and any later call may overwrite it.
    static func classify(errno code: Int32, duringConnect: Bool = false) -> ModbusError {
        if code > base && code <= base + 11 {
            return .exception(code: UInt8(code - base))
        }
        switch code {
        case badCRC: return .malformedReply("CRC mismatch")
        case badData: return .malformedReply("invalid data (wrong length, transaction or address)")
        case badException: return .malformedReply("invalid exception code")
        case unknownException: return .malformedReply("unknown exception code")
        case tooMuchData: return .malformedReply("too many data")
        case badUnit: return .malformedReply("reply from another unit")
        case ETIMEDOUT: return .timeout
        default: break
        }
        let text = systemErrorText(code)
        if duringConnect { return .connectFailed(text) }
        switch code {
        case ECONNRESET, EPIPE, ECONNREFUSED, ENOTCONN, EBADF, EIO, ENXIO, ENODEV, ENOENT, ECONNABORTED,
            EHOSTUNREACH, ENETUNREACH:
            return .linkLost(text)
        default:
            return .other(text)
        }
    }

    /// `strerror` is not thread-safe (nor is `modbus_strerror`, which wraps it); `strerror_r` is.
    static func systemErrorText(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        // Swift's Glibc module sees the XSI variant: 0 on success, the text in `buffer`.
        let status = buffer.withUnsafeMutableBufferPointer { strerror_r(code, $0.baseAddress!, $0.count) }
        let message = status == 0 ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "unknown error"
        return "\(message) (errno \(code))"
    }
}
