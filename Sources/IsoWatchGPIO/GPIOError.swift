import IsoWatchThreads

/// Why a GPIO operation failed. Every message names the chip or line and, where the kernel gave
/// one, the operating system's reason, because the person reading it is standing at a switchboard.
public enum GPIOError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The chip does not exist (ENOENT). `path` is the device node that was tried.
    case chipNotFound(chip: String, path: String, reason: String)
    /// The chip exists but could not be opened: permissions, or the node is not a GPIO chip.
    case chipOpenFailed(chip: String, path: String, reason: String)
    /// No line with that offset or name on the chip.
    case lineNotFound(LineAddress, reason: String)
    /// Another consumer (in this process or another) holds the line.
    case busy(LineAddress, consumer: String?)
    /// The kernel refused the request for another reason (for example bias flags on an old kernel).
    case requestFailed(LineAddress, reason: String)
    /// Reading or driving a claimed line failed.
    case ioFailed(LineAddress, operation: String, reason: String)
    /// The line handle was used after `release()`.
    case lineReleased(LineAddress)
    /// The request itself makes no sense (a negative debounce time, pressing an output).
    case invalidRequest(LineAddress, reason: String)
    /// The backend was closed; no line can be claimed or driven through it any more.
    case backendClosed
    /// The backend could not start a thread it needs.
    case threadStartFailed(reason: String)

    public var description: String {
        switch self {
        case .chipNotFound(let chip, let path, let reason):
            return "GPIO chip '\(chip)' not found (\(path): \(reason))"
        case .chipOpenFailed(let chip, let path, let reason):
            return "GPIO chip '\(chip)' could not be opened (\(path): \(reason))"
        case .lineNotFound(let address, let reason):
            switch address.selector {
            case .offset(let offset):
                return "GPIO line \(offset) not found on chip '\(address.chip)' (\(reason))"
            case .name(let name):
                return "GPIO line named '\(name)' not found on chip '\(address.chip)' (\(reason))"
            }
        case .busy(let address, let consumer):
            if let consumer, !consumer.isEmpty {
                return "GPIO line \(address) is busy (claimed by '\(consumer)')"
            }
            return "GPIO line \(address) is busy (claimed by another consumer)"
        case .requestFailed(let address, let reason):
            return "GPIO line \(address) could not be claimed (\(reason))"
        case .ioFailed(let address, let operation, let reason):
            return "GPIO line \(address): \(operation) failed (\(reason))"
        case .lineReleased(let address):
            return "GPIO line \(address) was already released"
        case .invalidRequest(let address, let reason):
            return "GPIO line \(address): \(reason)"
        case .backendClosed:
            return "GPIO backend is closed"
        case .threadStartFailed(let reason):
            return "GPIO backend could not start its thread (\(reason))"
        }
    }
}

/// Starts a thread of this module's; a refusal is reported as `GPIOError.threadStartFailed`.
func startThread(name: String, _ body: @escaping @Sendable () -> Void) throws(GPIOError) -> OwnedThread {
    do {
        return try OwnedThread(name: name, body)
    } catch {
        throw .threadStartFailed(reason: errnoText(error.code))
    }
}
