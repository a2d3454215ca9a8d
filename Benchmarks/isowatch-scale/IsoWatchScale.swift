import Foundation
import IsoWatchCore
import IsoWatchModbus
import IsoWatchThreads
import Synchronization

/// isowatch's side of the Modbus throughput comparison in the scale benchmark (scripts/bench-scale,
/// which drives the whole run): the real `BusPoller` with one device polled back to back (poll
/// interval 1 µs: the scheduler keeps each device's phase by stepping whole intervals, so the
/// interval must be above 0), against a simulator in another process.
///
///   isowatch-scale blocks --profile bender-isometer
///       prints the register blocks one poll reads, as the C loop and pymodbus are given them
///   isowatch-scale throughput --tcp 127.0.0.1:1502 --unit 1 --profile bender-isometer --seconds 10
///   isowatch-scale throughput --rtu /dev/pts/5 --baud 19200 --parity E --unit 1 --profile … --seconds 10
///       prints {"polls", "requests", "failures", "seconds", "request_bytes", "reply_bytes"}
///       --decode none: the poller without the profile's register decoding (an empty reading per
///       poll), to tell the scheduler's cost from the decoder's; --scheduler none: neither
///   isowatch-scale jitter --gateways 127.0.0.1:1502,127.0.0.1:1503 --units 16 --profile … --seconds 30
///       the service's poll schedule (one BusPoller per gateway, every unit at 1 s), prints the
///       deviation of each device's poll-to-poll interval from 1 s: p50, p99, max in ms
@main
struct IsoWatchScale {
    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard !arguments.isEmpty else { fail("usage: isowatch-scale blocks|throughput …") }
        let command = arguments.removeFirst()
        var options: [String: String] = [:]
        while let key = arguments.first, key.hasPrefix("--"), arguments.count >= 2 {
            options[String(key.dropFirst(2))] = arguments[1]
            arguments.removeFirst(2)
        }
        let profilesDirectory = URL(fileURLWithPath: options["profiles"] ?? "hardware/profiles")
        let library = try ProfileLibrary.load(directory: profilesDirectory)
        guard let profile = library[options["profile"] ?? "bender-isometer"] else { fail("unknown profile") }
        let blocks = profile.readBlocks()

        switch command {
        case "blocks":
            let described = blocks.map { ["table": $0.table.rawValue, "address": Int($0.address), "count": Int($0.count)] as [String: Any] }
            let data = try JSONSerialization.data(withJSONObject: described)
            print(String(decoding: data, as: UTF8.self))
        case "throughput":
            let endpoint: Transport
            if let tcp = options["tcp"], let address = HostPort(tcp) {
                endpoint = .tcp(host: address.host, port: address.port)
            } else if let device = options["rtu"] {
                endpoint = .rtu(
                    SerialSettings(
                        device: device, baud: Int(options["baud"] ?? "19200") ?? 19200,
                        parity: Parity(rawValue: options["parity"] ?? "E") ?? .even, dataBits: 8, stopBits: 1))
            } else {
                fail("give --tcp HOST:PORT or --rtu DEVICE")
            }
            let seconds = Double(options["seconds"] ?? "10") ?? 10
            let unit = UInt8(options["unit"] ?? "1") ?? 1
            if options["scheduler"] == "none" {
                print(try await connectionThroughput(endpoint: endpoint, unit: unit, blocks: blocks, seconds: seconds))
            } else {
                print(
                    try await throughput(
                        endpoint: endpoint, unit: unit, profile: profile, blocks: blocks, seconds: seconds,
                        decoding: options["decode"] != "none"))
            }
        case "jitter":
            let gateways = (options["gateways"] ?? "").split(separator: ",").compactMap { HostPort(String($0)) }
            guard !gateways.isEmpty else { fail("give --gateways HOST:PORT,…") }
            let units = Int(options["units"] ?? "16") ?? 16
            let seconds = Double(options["seconds"] ?? "30") ?? 30
            print(try await jitter(gateways: gateways, units: units, profile: profile, blocks: blocks, seconds: seconds))
        default:
            fail("unknown command \(command)")
        }
    }

    static func throughput(
        endpoint: Transport, unit: UInt8, profile: DeviceProfile, blocks: [RegisterBlock], seconds: Double,
        decoding: Bool
    ) async throws -> String {
        struct Counts { var polls = 0, failures = 0 }
        let counts = Mutex(Counts())
        let measuring = Mutex(false)
        let device = PolledDevice(
            id: "throughput", unit: unit, blocks: blocks, pollIntervalSeconds: 0.000_001, timeoutSeconds: 0.5, retries: 0,
            decode: { image, date in decoding ? try profile.decode(image, at: date) : DecodedReading(timestamp: date) })
        let poller = BusPoller(endpoint: endpoint, devices: [device]) { outcome in
            guard measuring.withLock({ $0 }) else { return }
            counts.withLock { counts in
                if case .success = outcome.result { counts.polls += 1 } else { counts.failures += 1 }
            }
        }
        poller.start()
        // Connect and warm up before the window opens.
        try await Task.sleep(for: .seconds(1))
        let start = ContinuousClock.now
        measuring.withLock { $0 = true }
        try await Task.sleep(for: .seconds(seconds))
        measuring.withLock { $0 = false }
        let elapsed = start.duration(to: .now)
        await poller.stop()
        let final = counts.withLock { $0 }
        let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // RTU frame sizes: address, function, 4 bytes of request, CRC; address, function, byte
        // count, the words, CRC.
        let requestBytes = blocks.count * 8
        let replyBytes = blocks.reduce(0) { $0 + 5 + 2 * Int($1.count) }
        return """
            {"polls": \(final.polls), "requests": \(final.polls * blocks.count), "failures": \(final.failures), \
            "seconds": \(String(format: "%.3f", elapsedSeconds)), "request_bytes": \(requestBytes), "reply_bytes": \(replyBytes)}
            """
    }

    /// isowatch's libmodbus wrapper alone (`ModbusConnection.read` in a loop on a thread of its
    /// own), to tell the wrapper's cost from the poll scheduler's.
    static func connectionThroughput(endpoint: Transport, unit: UInt8, blocks: [RegisterBlock], seconds: Double)
        async throws -> String
    {
        try await OwnedThread.run(name: "isowatch-scale-connection") {
            let connection = ModbusConnection(endpoint: endpoint)
            defer { connection.close() }
            var requests = 0
            var failures = 0
            let start = ContinuousClock.now
            let end = start + .seconds(seconds)
            while ContinuousClock.now < end {
                for block in blocks {
                    do {
                        _ = try connection.read(unit: unit, block: block, timeoutSeconds: 0.5)
                    } catch {
                        failures += 1
                    }
                    requests += 1
                }
            }
            let elapsed = start.duration(to: .now)
            let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return """
                {"polls": \(requests / max(1, blocks.count)), "requests": \(requests), "failures": \(failures), \
                "seconds": \(String(format: "%.3f", elapsedSeconds))}
                """
        }
    }

    static func jitter(
        gateways: [HostPort], units: Int, profile: DeviceProfile, blocks: [RegisterBlock], seconds: Double
    ) async throws -> String {
        let arrivals = Mutex<[String: [ContinuousClock.Instant]]>([:])
        let failures = Mutex(0)
        let measuring = Mutex(false)
        let pollers = gateways.enumerated().map { index, gateway in
            BusPoller(
                endpoint: .tcp(host: gateway.host, port: gateway.port),
                devices: (1...units).map { unit in
                    PolledDevice(
                        id: "gw\(index)-u\(unit)", unit: UInt8(unit), blocks: blocks, pollIntervalSeconds: 1,
                        timeoutSeconds: 0.5, retries: 2, decode: { image, date in try profile.decode(image, at: date) })
                }
            ) { outcome in
                guard measuring.withLock({ $0 }) else { return }
                guard case .success = outcome.result else {
                    failures.withLock { $0 += 1 }
                    return
                }
                arrivals.withLock { $0[outcome.deviceID, default: []].append(outcome.receivedAt) }
            }
        }
        for poller in pollers { poller.start() }
        try await Task.sleep(for: .seconds(3))
        measuring.withLock { $0 = true }
        try await Task.sleep(for: .seconds(seconds))
        measuring.withLock { $0 = false }
        for poller in pollers { await poller.stop() }
        var deviations: [Double] = []
        for instants in arrivals.withLock({ $0 }).values {
            for (earlier, later) in zip(instants, instants.dropFirst()) {
                let interval = earlier.duration(to: later)
                let intervalSeconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
                deviations.append(abs(intervalSeconds - 1) * 1000)
            }
        }
        deviations.sort()
        func percentile(_ p: Double) -> Double {
            deviations.isEmpty ? .nan : deviations[min(deviations.count - 1, Int(Double(deviations.count) * p))]
        }
        return """
            {"devices": \(gateways.count * units), "intervals": \(deviations.count), "failures": \(failures.withLock { $0 }), \
            "p50_ms": \(String(format: "%.3f", percentile(0.5))), "p99_ms": \(String(format: "%.3f", percentile(0.99))), \
            "max_ms": \(String(format: "%.3f", deviations.last ?? .nan))}
            """
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("isowatch-scale: \(message)\n".utf8))
        exit(64)
    }
}
