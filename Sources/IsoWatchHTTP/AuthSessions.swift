import Foundation
import HummingbirdBcrypt
import Synchronization

/// Someone who signed in, as the request handlers see them.
public struct SignedInUser: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var expires: Date

    public init(name: String, role: Role, expires: Date) {
        self.name = name
        self.role = role
        self.expires = expires
    }
}

/// Sessions live in memory: a restart signs everybody out, which is the safe direction.
final class SessionStore: Sendable {
    private struct Entry {
        var user: SignedInUser
        var deadline: ContinuousClock.Instant
    }

    private let sessions = Mutex<[String: Entry]>([:])
    let lifetime: Duration

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    /// A new session for `name`; returns the token for the cookie.
    func open(name: String, role: Role) -> (token: String, user: SignedInUser) {
        var generator = SystemRandomNumberGenerator()
        // 256 random bits: unguessable, and hex is a valid cookie value.
        let token = (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) * 1e-18
        let user = SignedInUser(name: name, role: role, expires: Date().addingTimeInterval(seconds))
        let now = ContinuousClock.now
        sessions.withLock { sessions in
            // Expired sessions go when the next one opens, so the table stays as small as the staff.
            sessions = sessions.filter { $0.value.deadline > now }
            sessions[token] = Entry(user: user, deadline: now + lifetime)
        }
        return (token, user)
    }

    /// The session's user, if the token names a session that has not expired.
    func user(token: String) -> SignedInUser? {
        let now = ContinuousClock.now
        return sessions.withLock { sessions in
            guard let entry = sessions[token] else { return nil }
            guard entry.deadline > now else {
                sessions[token] = nil
                return nil
            }
            return entry.user
        }
    }

    func close(token: String) {
        _ = sessions.withLock { $0.removeValue(forKey: token) }
    }
}

/// Limits password guessing: after `maximumFailures` failed sign-ins within `window`, further
/// attempts for that user name, or from that client address, are refused until the oldest failure
/// leaves the window. Counting by name stops guessing one account from many machines; counting by
/// address stops one machine trying many names.
final class LoginLimiter: Sendable {
    let maximumFailuresPerUser: Int
    let maximumFailuresPerAddress: Int
    let window: Duration
    private let failures = Mutex<[String: [ContinuousClock.Instant]]>([:])

    init(maximumFailuresPerUser: Int = 5, maximumFailuresPerAddress: Int = 20, window: Duration = .seconds(300)) {
        self.maximumFailuresPerUser = maximumFailuresPerUser
        self.maximumFailuresPerAddress = maximumFailuresPerAddress
        self.window = window
    }

    private func keys(user: String, address: String) -> [(String, Int)] {
        [("user:\(user)", maximumFailuresPerUser), ("address:\(address)", maximumFailuresPerAddress)]
    }

    /// How long the caller must wait before trying again, or nil if it may try now.
    func retryAfter(user: String, address: String) -> Duration? {
        let now = ContinuousClock.now
        return failures.withLock { failures in
            var wait: Duration?
            for (key, limit) in keys(user: user, address: address) {
                let recent = (failures[key] ?? []).filter { now - $0 < window }
                failures[key] = recent.isEmpty ? nil : recent
                if recent.count >= limit {
                    let free = recent[recent.count - limit] + window - now
                    wait = max(wait ?? .zero, free)
                }
            }
            return wait
        }
    }

    func recordFailure(user: String, address: String) {
        let now = ContinuousClock.now
        failures.withLock { failures in
            for (key, _) in keys(user: user, address: address) {
                failures[key, default: []].append(now)
            }
            // Guesses at made-up names from many addresses must not grow the table without end:
            // once it is large, entries whose failures have all left the window go.
            if failures.count > 10_000 {
                failures = failures.filter { entry in entry.value.contains { now - $0 < window } }
            }
        }
    }

    /// A correct password clears the user's count (not the address's: a guesser who also knows
    /// one password must not reset their allowance with it).
    func recordSuccess(user: String) {
        _ = failures.withLock { $0.removeValue(forKey: "user:\(user)") }
    }
}

enum PasswordCheck {
    /// A hash of a password nobody has, checked when the name is unknown so that an unknown name
    /// takes as long to refuse as a wrong password.
    static let decoy = Bcrypt.hash("isowatch-decoy-\(UInt64.random(in: 0...UInt64.max))", cost: UserDirectory.defaultCost)

    /// bcrypt is deliberately slow (a quarter second at cost 12): it runs on a thread of its own,
    /// never on the cooperative pool that serves the live stream and the alarm path.
    /// With no hash (an unknown name) the decoy is checked and the answer is false.
    static func verify(_ password: String, hash: String?) async -> Bool {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                let matches = Bcrypt.verify(password, hash: hash ?? decoy)
                continuation.resume(returning: matches && hash != nil)
            }
            thread.name = "isowatch-bcrypt"
            thread.start()
        }
    }
}
