// swift-tools-version: 6.1
// isowatch: a monitor for the isolated power supplies (medical IT systems) of operating theatres.
// Module graph (arrows point down toward IsoWatchCore, which is pure and imports no C, NIO or clock):
//   isowatch (CLI) → IsoWatchService → IsoWatchHTTP, IsoWatchAlarms, IsoWatchEstimator, IsoWatchModbus,
//                                       IsoWatchGPIO, IsoWatchBMS, IsoWatchSnapshot → IsoWatchCore
//   IsoWatchHTTP → IsoWatchSnapshot, IsoWatchStore (history routes) → IsoWatchCore
//   IsoWatchBMS → IsoWatchSnapshot → IsoWatchAlarms → IsoWatchCore
//   Only IsoWatchRuntime.swift (the assembly) in IsoWatchService imports IsoWatchHTTP.
//   isowatch-sim → IsoWatchSimulator → IsoWatchCore
//   Every module that blocks (Modbus, GPIO, BMS, Store, HTTP, Service, the simulator) → IsoWatchThreads,
//   which depends on nothing.
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "isowatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "isowatch", targets: ["isowatch"]),
        .executable(name: "isowatch-sim", targets: ["isowatch-sim"]),
        // For Fuzz/Package.swift (libFuzzer harnesses built apart from this package).
        .library(name: "IsoWatchFuzzable", targets: ["IsoWatchCore", "IsoWatchModbus", "IsoWatchEstimator"]),
        .library(name: "IsoWatchSimulatorLibrary", targets: ["IsoWatchSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        // SHA-256 for the journal's hash chain and the configuration fingerprints.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
    ],
    targets: [
        // System libraries. Only IsoWatchModbus imports CModbus, only IsoWatchGPIO imports CGPIOD.
        .systemLibrary(
            name: "CModbus", path: "Sources/CModbus", pkgConfig: "libmodbus",
            providers: [.apt(["libmodbus-dev"])]),
        .systemLibrary(
            name: "CGPIOD", path: "Sources/CGPIOD", pkgConfig: "libgpiod",
            providers: [.apt(["libgpiod-dev"])]),
        // sd_notify(3) for systemd readiness and the watchdog; only IsoWatchService's
        // SystemdWatchdog.swift imports it.
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]),

        // Pure domain: readings and units, device profiles and register decoding, configuration.
        .target(
            name: "IsoWatchCore",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        // The IEC 60364-7-710 alarm logic: a pure state machine per IT system (no I/O, no clock).
        .target(
            name: "IsoWatchAlarms",
            dependencies: ["IsoWatchCore"],
            swiftSettings: strict),
        // What the monitor publishes and every surface reads (API, live stream, metrics, BMS): the
        // typed status of each IT system, the operator's actions, the live fan-out, add-on health.
        .target(
            name: "IsoWatchSnapshot",
            dependencies: ["IsoWatchCore", "IsoWatchAlarms"],
            swiftSettings: strict),
        // libmodbus client buses (TCP, RTU), each on a thread it owns.
        .target(
            name: "IsoWatchModbus",
            dependencies: ["CModbus", "IsoWatchCore", "IsoWatchThreads"],
            swiftSettings: strict),
        // Digital lines: the protocol, the libgpiod v1 backend and the simulated backend.
        .target(
            name: "IsoWatchGPIO",
            dependencies: ["CGPIOD", "IsoWatchThreads"],
            swiftSettings: strict),
        // Operator-facing HTTP API.
        .target(
            name: "IsoWatchHTTP",
            dependencies: [
                "IsoWatchCore", "IsoWatchSnapshot", "IsoWatchStore", "IsoWatchThreads",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: strict),
        // Composition: configuration → pollers → alarms → outputs and live state.
        .target(
            name: "IsoWatchService",
            dependencies: [
                "IsoWatchCore", "IsoWatchAlarms", "IsoWatchModbus", "IsoWatchGPIO", "IsoWatchHTTP", "CSystemd",
                "IsoWatchEstimator", "IsoWatchStore", "IsoWatchBMS", "IsoWatchSnapshot", "IsoWatchThreads",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "isowatch",
            dependencies: [
                "IsoWatchService", "IsoWatchCore", "IsoWatchModbus", "IsoWatchHTTP", "IsoWatchEstimator", "IsoWatchStore",
                "IsoWatchThreads",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),

        // The simulator: device emulation and Modbus servers (own framing, see simulator/README.md).
        .target(
            name: "IsoWatchSimulator",
            dependencies: [
                "IsoWatchCore", "IsoWatchThreads",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "simulator/Sources/IsoWatchSimulator",
            swiftSettings: strict),
        .executableTarget(
            name: "isowatch-sim",
            dependencies: [
                "IsoWatchSimulator", "IsoWatchCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "simulator/Sources/isowatch-sim",
            swiftSettings: strict),

        // Reading-to-relay latency through the whole service against the simulator (scripts/bench).
        .executableTarget(
            name: "isowatch-bench",
            dependencies: [
                "IsoWatchService", "IsoWatchCore", "IsoWatchAlarms", "IsoWatchGPIO", "IsoWatchModbus",
                "IsoWatchSimulator",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Benchmarks/isowatch-bench",
            swiftSettings: strict),

        // MARK: further library and executable targets (insert new blocks directly below this line)
        // Owned threads: a named thread for blocking work and the ways to wait for it, and the
        // monitor's serial executor. No C library, so every module that blocks can depend on it.
        .target(name: "IsoWatchThreads", swiftSettings: strict),
        // The fault and soak suite (issue 7): the simulator in process, the real `isowatch run` as a
        // child it kills and restarts, wire, disk and process faults, and the figures (scripts/faults).
        .executableTarget(
            name: "isowatch-faults",
            dependencies: [
                "IsoWatchSimulator", "IsoWatchCore", "IsoWatchStore", "IsoWatchTesting", "IsoWatchThreads",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tests/FaultSuite",
            swiftSettings: strict),
        // Scale benchmark, isowatch's side of the Modbus throughput comparison (scripts/bench-scale).
        .executableTarget(
            name: "isowatch-scale",
            dependencies: ["IsoWatchCore", "IsoWatchModbus", "IsoWatchThreads"],
            path: "Benchmarks/isowatch-scale",
            exclude: ["modbus_loop.c", "scale.py", "pymodbus_loop.py"],
            swiftSettings: strict),
        // The adaptive-pulse estimator: pure Swift, no clock, no I/O (issue 4).
        .target(name: "IsoWatchEstimator", swiftSettings: strict),
        // Estimator accuracy, response time, immunity and cost against the simulator (scripts/bench-estimator).
        .executableTarget(
            name: "isowatch-estimator-bench",
            dependencies: ["IsoWatchEstimator", "IsoWatchSimulator"],
            path: "Benchmarks/isowatch-estimator-bench",
            swiftSettings: strict),
        // History and the event journal in SQLite (GRDB, WAL); its writer runs on a thread it owns.
        .target(
            name: "IsoWatchStore",
            dependencies: [
                "IsoWatchCore", "IsoWatchThreads", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // The Modbus TCP server for the building management system (libmodbus, on a thread it owns).
        .target(
            name: "IsoWatchBMS",
            dependencies: ["CModbus", "IsoWatchCore", "IsoWatchAlarms", "IsoWatchSnapshot", "IsoWatchThreads"],
            swiftSettings: strict),
        // Appends journal entries in bursts and prints each id once stored: the kill -9 test's child.
        .executableTarget(
            name: "isowatch-journal-probe",
            dependencies: ["IsoWatchStore"],
            path: "Tests/JournalProbe",
            swiftSettings: strict),
        // History query time and database growth per system and day (scripts/bench-store).
        .executableTarget(
            name: "isowatch-store-bench",
            dependencies: ["IsoWatchStore", "IsoWatchCore"],
            path: "Benchmarks/isowatch-store-bench",
            swiftSettings: strict),

        // Shared by the test targets: starting the simulator, locating tools, temp files.
        .target(
            name: "IsoWatchTesting",
            dependencies: [
                "IsoWatchCore", "IsoWatchSimulator", "IsoWatchThreads",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/IsoWatchTesting",
            swiftSettings: strict),

        .testTarget(name: "IsoWatchCoreTests", dependencies: ["IsoWatchCore"], swiftSettings: strict),
        .testTarget(
            name: "IsoWatchAlarmsTests",
            dependencies: [
                "IsoWatchAlarms", "IsoWatchTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "IsoWatchModbusTests",
            dependencies: ["IsoWatchModbus", "IsoWatchTesting", "IsoWatchSimulator", "IsoWatchThreads"],
            swiftSettings: strict),
        .testTarget(
            name: "IsoWatchGPIOTests", dependencies: ["IsoWatchGPIO", "IsoWatchSimulator", "IsoWatchThreads"],
            swiftSettings: strict),
        .testTarget(name: "SimulatorTests", dependencies: ["IsoWatchSimulator", "IsoWatchTesting"], swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "IsoWatchService", "IsoWatchTesting", "IsoWatchSimulator", "IsoWatchGPIO", "IsoWatchCore",
                "IsoWatchAlarms", "IsoWatchHTTP", "IsoWatchStore", "IsoWatchBMS", "IsoWatchModbus", "IsoWatchSnapshot",
                "IsoWatchThreads",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict),
        // MARK: further test targets (insert new blocks directly below this line)
        .testTarget(name: "IsoWatchThreadsTests", dependencies: ["IsoWatchThreads"], swiftSettings: strict),
        .testTarget(
            name: "IsoWatchServiceTests",
            dependencies: [
                "IsoWatchService", "IsoWatchCore", "IsoWatchModbus", "IsoWatchSnapshot", "IsoWatchTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "IsoWatchEstimatorTests",
            dependencies: [
                "IsoWatchEstimator", "IsoWatchSimulator", "IsoWatchTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "IsoWatchStoreTests", dependencies: ["IsoWatchStore", "IsoWatchCore", "IsoWatchTesting"],
            swiftSettings: strict),
    ]
)
