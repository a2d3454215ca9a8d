import Foundation
import Synchronization

/// Refused sign-ins, journalled in aggregate: a client that retries cannot make the journal (whose
/// entries are durable, fsync'd and kept for years) grow by one entry per request.
///
/// For each (name, address) the first refusal opens a window of `window` and is journalled at
/// once, so the audit trail shows the first sign of guessing without delay. Refusals later in the
/// window are only counted; when the window ends, one more entry carries that count (none if
/// there were none). So a (name, address) costs at most two entries per window. A refusal after
/// the window opens a new one.
final class SignInRefusals: Sendable {
    struct Key: Hashable, Sendable {
        var name: String
        var address: String
    }

    enum Decision: Equatable {
        /// Journal this refusal now.
        case opened
        /// Counted; `closesAt` is set for the first one counted in a window: schedule the summary then.
        case counted(closesAt: ContinuousClock.Instant?)
    }

    struct Summary: Equatable {
        var count: Int
        var opened: Date
    }

    let window: Duration
    private struct Window {
        var opened: ContinuousClock.Instant
        var openedDate: Date
        var counted: Int
    }
    private let windows = Mutex<[Key: Window]>([:])

    init(window: Duration = .seconds(300)) {
        self.window = window
    }

    func note(_ key: Key, now: ContinuousClock.Instant = .now) -> Decision {
        windows.withLock { windows in
            if var open = windows[key], now - open.opened < window || open.counted > 0 {
                // A window whose summary is still to be written keeps counting until it is written.
                open.counted += 1
                windows[key] = open
                return .counted(closesAt: open.counted == 1 ? open.opened + window : nil)
            }
            windows[key] = Window(opened: now, openedDate: Date(), counted: 0)
            if windows.count > 10_000 {
                // Windows with nothing left to summarise and past their end are only memory.
                windows = windows.filter { $0.value.counted > 0 || now - $0.value.opened < window }
            }
            return .opened
        }
    }

    /// Ends every window; the refusals counted in each that has any (shutdown: nothing is lost).
    func closeAll() -> [(Key, Summary)] {
        windows.withLock { windows in
            defer { windows = [:] }
            return windows.compactMap { key, open in
                open.counted > 0 ? (key, Summary(count: open.counted, opened: open.openedDate)) : nil
            }
        }
    }

    /// Ends the key's window; the refusals counted in it, if any.
    func close(_ key: Key) -> Summary? {
        windows.withLock { windows in
            guard let open = windows.removeValue(forKey: key), open.counted > 0 else { return nil }
            return Summary(count: open.counted, opened: open.openedDate)
        }
    }
}
