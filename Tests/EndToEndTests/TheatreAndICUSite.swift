import IsoWatchSimulator

extension WalkingSkeletonTests {
    /// OR 1 on the RS-485 line and ICU 1 behind the TCP gateway: the two systems the history and
    /// live-stream suites watch (lamp lines 0-2 and 12-14).
    static let theatreAndICUSystems =
        system("or-1", location: "OR 1", profile: "acrel-aim-m10", transport: rtu, unit: 1, timeout: 0.2, firstLine: 0)
        + system(
            "icu-1", location: "ICU 1", profile: "bender-isometer",
            transport: "{ tcp: { host: 127.0.0.1, port: {TCP_PORT} } }", unit: 1, timeout: 0.4, firstLine: 12)

    /// A simulated IMD publishing healthy values four times a second, as its profile's device does.
    static func healthyUnit(_ id: UInt8, _ profile: String) -> UnitDescription {
        UnitDescription(
            unit: id, profileID: profile, state: .healthy(publishedBy: ServiceHarness.profiles[profile]!),
            measurementIntervalSeconds: 0.25)
    }
}
