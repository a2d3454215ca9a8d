// swift-tools-version: 6.1
// libFuzzer harnesses for isowatch's input handling, kept out of the main package's build.
// Build and run them with ./scripts/fuzz (see FUZZING.md); by hand:
//   swift build --package-path Fuzz -Xswiftc -sanitize=fuzzer,address --scratch-path .build-fuzz
//   .build-fuzz/debug/fuzz-config -max_total_time=60 .build-fuzz/corpus/fuzz-config
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let isowatch = "isowatch"

let package = Package(
    name: "isowatch-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: isowatch, path: "..")],
    targets: [
        // libFuzzer's driver, called from each harness's own main.
        .target(name: "FuzzSupport", swiftSettings: strict),
        // Device profiles: random YAML through the profile parser, then random register images
        // through every decoder the profile (or a shipped one) defines.
        .executableTarget(
            name: "fuzz-profile",
            dependencies: ["FuzzSupport", .product(name: "IsoWatchFuzzable", package: isowatch)],
            swiftSettings: strict),
        // Site configuration files: random YAML through ConfigurationLoader with the shipped profiles.
        .executableTarget(
            name: "fuzz-config",
            dependencies: ["FuzzSupport", .product(name: "IsoWatchFuzzable", package: isowatch)],
            swiftSettings: strict),
        // The simulator's wire code: PDU engine, MBAP parsing, RTU request framing, CRC.
        .executableTarget(
            name: "fuzz-pdu",
            dependencies: [
                "FuzzSupport", .product(name: "IsoWatchFuzzable", package: isowatch),
                .product(name: "IsoWatchSimulatorLibrary", package: isowatch),
            ],
            swiftSettings: strict),
        // Replies as libmodbus receives them: a loopback server answers each request with the
        // fuzzer's bytes, and isowatch's ModbusConnection must classify whatever comes back.
        .executableTarget(
            name: "fuzz-modbus-reply",
            dependencies: ["FuzzSupport", .product(name: "IsoWatchFuzzable", package: isowatch)],
            swiftSettings: strict),
        // The estimator's pulse CSV reader.
        .executableTarget(
            name: "fuzz-csv",
            dependencies: ["FuzzSupport", .product(name: "IsoWatchFuzzable", package: isowatch)],
            swiftSettings: strict),
    ]
)
