/// How long and how hard the hostile-client suite runs (`isowatch-faults --profile attack`).
/// `attack` is what SECURITY.md reports; `attack-short` is the same suite cut down to fit CI
/// (every attack still runs, each for a few seconds, at full strength).
struct AttackProfile: Sendable, Codable {
    var name: String
    /// Wall seconds of the quiet phase: faults and latency probes, no attack.
    var quietSeconds: Double
    /// Wall seconds each attack lasts.
    var attackSeconds: Double
    var slowlorisConnections: Int
    var idleConnections: Int
    var streamClients: Int
    var floodAddresses: Int
    /// Sign-in requests with a 1 MB name.
    var oversizedSignIns: Int
    /// Seconds between two lamp-test presses.
    var lampTestPeriodSeconds: Double

    static let full = AttackProfile(
        name: "attack", quietSeconds: 60, attackSeconds: 30, slowlorisConnections: 1000, idleConnections: 200,
        streamClients: 100, floodAddresses: 20, oversizedSignIns: 40, lampTestPeriodSeconds: 3)

    static let short = AttackProfile(
        name: "attack-short", quietSeconds: 12, attackSeconds: 7, slowlorisConnections: 1000, idleConnections: 200,
        streamClients: 100, floodAddresses: 20, oversizedSignIns: 10, lampTestPeriodSeconds: 3)

    static func named(_ name: String) -> AttackProfile? {
        [full, short].first { $0.name == name }
    }
}
