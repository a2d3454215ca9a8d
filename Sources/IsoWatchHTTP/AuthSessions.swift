import Dispatch
import Foundation
import HummingbirdBcrypt
import IsoWatchThreads
import NIOCore
import Synchronization

/// Someone who signed in, as the request handlers see them: the role and the password flag are
/// those of the users file in force at this request, not those at sign-in.
public struct SignedInUser: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var expires: Date
    /// Signed in with a password an administrator set: only the password change is open to them.
    public var mustChangePassword: Bool

    public init(name: String, role: Role, expires: Date, mustChangePassword: Bool = false) {
        self.name = name
        self.role = role
        self.expires = expires
        self.mustChangePassword = mustChangePassword
    }
}

/// Sessions live in memory: a restart signs everybody out, which is the safe direction.
///
/// A session ends at the first of two deadlines: its absolute lifetime from sign-in, and
/// `idleTimeout` after the last request that used it. It also ends as soon as the users file in
/// force no longer allows it: its user deleted or disabled, or given another password (by an
/// administrator, `isowatch user add` or an edit; a user's own change keeps the session that made
/// it). An ended session is removed when it is next presented (and with the next sign-in), so the
/// table stays as small as the staff.
final class SessionStore: Sendable {
    private struct Entry {
        /// As at sign-in; the role is looked up in the users file at each request.
        var user: SignedInUser
        /// The hashes the session's password may have in the users file: the one checked at
        /// sign-in, and during the user's own change both the old and the new one.
        var passwordBcrypts: Set<String>
        var deadline: ContinuousClock.Instant
        var lastUsed: ContinuousClock.Instant
        /// Why the users file ended the session; it is removed at its next presentation.
        var ended: String?
        /// Live-stream connections of this session, closed when the users file ends it.
        var streams: [any Channel] = []
    }

    /// What a session cookie names.
    enum Lookup: Equatable {
        case active(SignedInUser)
        /// It named a session that has just ended (and is now removed): idle too long, too old, or
        /// no longer allowed by the users file.
        case ended(reason: String)
        /// No such session (never was, signed out, or already removed).
        case unknown

        var user: SignedInUser? {
            if case .active(let user) = self { user } else { nil }
        }
    }

    private let sessions = Mutex<[String: Entry]>([:])
    let lifetime: Duration
    let idleTimeout: Duration
    /// The store's clock: tests move it instead of waiting.
    let now: @Sendable () -> ContinuousClock.Instant

    init(
        lifetime: Duration, idleTimeout: Duration = .seconds(30 * 60),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.lifetime = lifetime
        self.idleTimeout = idleTimeout
        self.now = now
    }

    /// A new session for `account`; returns the token for the cookie.
    func open(_ account: UserAccount) -> (token: String, user: SignedInUser) {
        var generator = SystemRandomNumberGenerator()
        // 256 random bits: unguessable, and hex is a valid cookie value.
        let token = (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) * 1e-18
        let user = SignedInUser(
            name: account.name, role: account.role, expires: Date().addingTimeInterval(seconds),
            mustChangePassword: account.mustChangePassword)
        let now = now()
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.deadline > now && now - $0.value.lastUsed < idleTimeout }
            sessions[token] = Entry(user: user, passwordBcrypts: [account.passwordBcrypt], deadline: now + lifetime, lastUsed: now)
        }
        return (token, user)
    }

    /// The session's user, if the token names a session that has not ended; using it restarts
    /// its idle time.
    func user(token: String, users: UserDirectory? = nil) -> SignedInUser? {
        lookup(token: token, users: users).user
    }

    /// - Parameter users: the users file in force; nil while it cannot be used (sessions then
    ///   keep the role they signed in with).
    func lookup(token: String, users: UserDirectory?) -> Lookup {
        let now = now()
        let (lookup, streams) = sessions.withLock { sessions -> (Lookup, [any Channel]) in
            guard var entry = sessions[token] else { return (.unknown, []) }
            if let reason = entry.ended {
                sessions[token] = nil
                return (.ended(reason: reason), [])
            }
            if entry.deadline <= now {
                sessions[token] = nil
                return (.ended(reason: "the session reached its lifetime"), entry.streams)
            }
            if now - entry.lastUsed >= idleTimeout {
                sessions[token] = nil
                return (.ended(reason: "the session was idle too long"), entry.streams)
            }
            if let users {
                if let reason = Self.endReason(entry, users) {
                    sessions[token] = nil
                    return (.ended(reason: reason), entry.streams)
                }
                if let account = users.account(named: entry.user.name) {
                    entry.user.role = account.role
                    entry.user.mustChangePassword = account.mustChangePassword
                }
            }
            entry.lastUsed = now
            sessions[token] = entry
            return (.active(entry.user), [])
        }
        for stream in streams { stream.close(promise: nil) }
        return lookup
    }

    /// Why the users file no longer allows the session, or nil.
    private static func endReason(_ entry: Entry, _ users: UserDirectory) -> String? {
        let name = entry.user.name
        guard let account = users.account(named: name) else { return "the user '\(name)' was deleted" }
        if account.disabled { return "the user '\(name)' was disabled" }
        if !entry.passwordBcrypts.contains(account.passwordBcrypt) { return "the password of '\(name)' was changed" }
        return nil
    }

    /// Ends, at once, every session `users` no longer allows: each keeps its reason for its next
    /// request (401), and its live streams are closed now.
    func endSessions(notAllowedBy users: UserDirectory) {
        let streams = sessions.withLock { sessions -> [any Channel] in
            var streams: [any Channel] = []
            for (token, entry) in sessions where entry.ended == nil {
                guard let reason = Self.endReason(entry, users) else { continue }
                sessions[token]?.ended = reason
                sessions[token]?.streams = []
                streams += entry.streams
            }
            return streams
        }
        for stream in streams { stream.close(promise: nil) }
    }

    /// Remembers a live-stream connection of the session, to close it when the session ends.
    func attach(stream: any Channel, token: String) {
        sessions.withLock { sessions in
            guard sessions[token] != nil else { return }
            sessions[token]?.streams.removeAll { !$0.isActive }
            sessions[token]?.streams.append(stream)
        }
    }

    /// The user of the session is changing their own password: until `settle`, both hashes keep it.
    func acceptPassword(_ hash: String, token: String) {
        sessions.withLock { _ = $0[token]?.passwordBcrypts.insert(hash) }
    }

    /// After the change (or its failure): only `hash` keeps the session.
    func settlePassword(_ hash: String, token: String) {
        sessions.withLock { $0[token]?.passwordBcrypts = [hash] }
    }

    func close(token: String) {
        _ = sessions.withLock { $0.removeValue(forKey: token) }
    }

    var count: Int {
        sessions.withLock { $0.count }
    }
}

/// Limits password guessing: after `maximumFailuresPerUser` failed sign-ins for a name within
/// `window`, or `maximumFailuresPerAddress` from an address, further attempts are refused until the
/// oldest failure leaves the window. Counting by name stops guessing one account from many
/// machines; counting by address stops one machine trying many names.
///
/// An attempt reserves its slot (counts as a failure) before its password is checked, in the same
/// lock as the check: N parallel guesses then cannot all see the count below the limit. A correct
/// password, or an attempt abandoned before checking, gives the slot back.
final class LoginLimiter: Sendable {
    let maximumFailuresPerUser: Int
    let maximumFailuresPerAddress: Int
    let window: Duration
    private let failures = Mutex<[String: [ContinuousClock.Instant]]>([:])

    enum Admission: Equatable {
        /// May check the password; hand `slot` back to `succeeded` or `abandoned`.
        case admitted(slot: ContinuousClock.Instant)
        /// Over a limit; `byAddress` when the address's own limit is (also) reached.
        case refused(retryAfter: Duration, byAddress: Bool)
    }

    init(maximumFailuresPerUser: Int = 5, maximumFailuresPerAddress: Int = 20, window: Duration = .seconds(300)) {
        self.maximumFailuresPerUser = maximumFailuresPerUser
        self.maximumFailuresPerAddress = maximumFailuresPerAddress
        self.window = window
    }

    private static func userKey(_ user: String) -> String { "user:\(user)" }
    private static func addressKey(_ address: String) -> String { "address:\(address)" }

    func reserve(user: String, address: String) -> Admission {
        let now = ContinuousClock.now
        return failures.withLock { failures in
            var wait: Duration?
            var byAddress = false
            for (key, limit) in [(Self.userKey(user), maximumFailuresPerUser), (Self.addressKey(address), maximumFailuresPerAddress)] {
                let recent = (failures[key] ?? []).filter { now - $0 < window }
                failures[key] = recent.isEmpty ? nil : recent
                if recent.count >= limit {
                    wait = max(wait ?? .zero, recent[recent.count - limit] + window - now)
                    if key.hasPrefix("address:") { byAddress = true }
                }
            }
            if let wait { return .refused(retryAfter: wait, byAddress: byAddress) }
            failures[Self.userKey(user), default: []].append(now)
            failures[Self.addressKey(address), default: []].append(now)
            // Guesses at made-up names from many addresses must not grow the table without end:
            // once it is large, entries whose failures have all left the window go.
            if failures.count > 10_000 {
                failures = failures.filter { entry in entry.value.contains { now - $0 < window } }
            }
            return .admitted(slot: now)
        }
    }

    /// A correct password clears the user's count (not the address's earlier failures: a guesser
    /// who also knows one password must not reset their allowance with it).
    func succeeded(user: String, address: String, slot: ContinuousClock.Instant) {
        failures.withLock { failures in
            failures[Self.userKey(user)] = nil
            Self.remove(slot, Self.addressKey(address), &failures)
        }
    }

    /// The attempt never reached the password check (the workers were busy): it costs nothing.
    func abandoned(user: String, address: String, slot: ContinuousClock.Instant) {
        failures.withLock { failures in
            Self.remove(slot, Self.userKey(user), &failures)
            Self.remove(slot, Self.addressKey(address), &failures)
        }
    }

    private static func remove(_ slot: ContinuousClock.Instant, _ key: String, _ failures: inout [String: [ContinuousClock.Instant]]) {
        guard var list = failures[key], let index = list.firstIndex(of: slot) else { return }
        list.remove(at: index)
        failures[key] = list.isEmpty ? nil : list
    }
}

/// A fixed number of threads that run bcrypt, fed from a queue with a cap. bcrypt is deliberately
/// slow (a quarter second at cost 12) and must never run on the cooperative pool that serves the
/// live stream and the alarm path; one thread per request would let a client start as many as it
/// likes. Beyond the cap a sign-in is answered 503 at once.
final class BcryptWorkers: Sendable {
    /// For the whole process: two threads whatever the number of servers (tests start many).
    static let shared = BcryptWorkers(threads: 2, queueCapacity: 16)

    let threads: Int
    let queueCapacity: Int
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var started = false
    }
    private let state = Mutex(State())
    private let available = DispatchSemaphore(value: 0)

    init(threads: Int, queueCapacity: Int) {
        self.threads = threads
        self.queueCapacity = queueCapacity
    }

    /// Queues `job`; false (and the job is dropped) when `queueCapacity` jobs already wait.
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let (accepted, start) = state.withLock { state -> (Bool, Bool) in
            guard state.jobs.count < queueCapacity else { return (false, false) }
            state.jobs.append(job)
            defer { state.started = true }
            return (true, !state.started)
        }
        if start {
            for index in 0..<threads {
                OwnedThread.essential(name: "isowatch-bcrypt-\(index)") { [self] in work() }
            }
        }
        if accepted { available.signal() }
        return accepted
    }

    /// Scheduling niceness of the worker threads (Linux sets it per thread): a sign-in flood keeps
    /// both workers busy, and on a two-core controller that must not take CPU time from the
    /// monitor's thread, the pollers or the relay drivers, which stay at the default 0.
    static let niceness: Int32 = 10

    private func work() {
        #if os(Linux)
        // Who 0 with PRIO_PROCESS is the calling thread on Linux (nice is per thread there).
        // Never raised back if the whole service already runs nicer than that.
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        if getpriority(which, 0) < Self.niceness { _ = setpriority(which, 0, Self.niceness) }
        #endif
        while true {
            available.wait()
            let job = state.withLock { $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }
            job?()
        }
    }
}

enum PasswordCheck {
    /// A hash of a password nobody has, checked when the name is unknown so that an unknown name
    /// takes as long to refuse as a wrong password.
    static let decoy = Bcrypt.hash("isowatch-decoy-\(UInt64.random(in: 0...UInt64.max))", cost: UserDirectory.defaultCost)

    /// Hashes a new password on one of `workers`' threads; nil when their queue is full.
    static func hash(_ password: String, cost: UInt8 = UserDirectory.defaultCost, workers: BcryptWorkers = .shared) async -> String? {
        await withCheckedContinuation { continuation in
            let accepted = workers.submit {
                continuation.resume(returning: UserDirectory.hash(password: password, cost: cost))
            }
            if !accepted { continuation.resume(returning: nil) }
        }
    }

    /// Checks on one of `workers`' threads. With no hash (an unknown name) the decoy is checked and
    /// the answer is false. nil: the workers' queue is full and nothing was checked.
    static func verify(_ password: String, hash: String?, workers: BcryptWorkers = .shared) async -> Bool? {
        await withCheckedContinuation { continuation in
            let accepted = workers.submit {
                let matches = Bcrypt.verify(password, hash: hash ?? decoy)
                continuation.resume(returning: matches && hash != nil)
            }
            if !accepted { continuation.resume(returning: nil) }
        }
    }
}
