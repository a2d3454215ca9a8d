import ArgumentParser
import Foundation
import IsoWatchCore
import IsoWatchModbus
import IsoWatchService
import IsoWatchThreads

struct ReadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read", abstract: "Read one device once and print its decoded quantities.")

    @Option(help: "The device profile id (a file in the profiles directory, without .yaml).")
    var profile: String

    @Option(help: "Modbus TCP: HOST:PORT.")
    var tcp: String?

    @Option(help: "Modbus RTU: the serial device, e.g. /dev/ttyUSB0.")
    var rtu: String?

    @Option(help: "RTU baud rate (default: the profile's).")
    var baud: Int?

    @Option(help: "RTU parity N, E or O (default: the profile's).")
    var parity: String?

    @Option(help: "The unit id (default: the profile's).")
    var unit: UInt8?

    @Option(help: "Response timeout in seconds.")
    var timeout: Double = 1

    @Option(help: "The profiles directory (default: $ISOWATCH_PROFILES or hardware/profiles).")
    var profiles: String?

    @Flag(help: "Print JSON with units in the key names.")
    var json = false

    func validate() throws {
        if (tcp == nil) == (rtu == nil) {
            throw ValidationError("give exactly one of --tcp HOST:PORT or --rtu DEVICE")
        }
        if let parity, Parity(rawValue: parity.uppercased()) == nil {
            throw ValidationError("--parity must be N, E or O, not '\(parity)'")
        }
    }

    func run() async throws {
        let directory = profiles.map { URL(fileURLWithPath: $0) } ?? ProfileLocator.defaultDirectory()
        let library: ProfileLibrary
        do {
            library = try ProfileLibrary.load(directory: directory)
        } catch {
            throw ValidationError("cannot load the profiles in \(directory.path):\n\(error)")
        }
        guard let deviceProfile = library[profile] else {
            throw ValidationError("no profile '\(profile)' in \(directory.path); known: \(library.ids.joined(separator: ", "))")
        }
        let endpoint = try endpoint(for: deviceProfile)
        let unit = self.unit ?? deviceProfile.transport.unit
        let timeout = self.timeout
        let reading: DecodedReading
        do {
            reading = try await OwnedThread.run(name: "isowatch-read") {
                let connection = ModbusConnection(endpoint: endpoint)
                defer { connection.close() }
                var image = RegisterImage()
                for block in deviceProfile.readBlocks() {
                    image.set(block.table, block.address, words: try connection.read(unit: unit, block: block, timeoutSeconds: timeout))
                }
                return try deviceProfile.decode(image, at: Date())
            }
        } catch {
            FileHandle.standardError.write(Data("isowatch read: \(endpoint) unit \(unit): \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            let document = ReadingDocument(reading)
            print(String(decoding: try JSONEncoder.isowatch.encode(document), as: UTF8.self))
        } else {
            print("\(deviceProfile.vendor) \(deviceProfile.model) at \(endpoint) unit \(unit)")
            for quantity in Quantity.allCases {
                guard let value = reading[quantity] else { continue }
                let validity = value.validity == .actual ? "" : " (\(value.validity.rawValue))"
                print("  \(quantity.rawValue): \(value.value)\(validity)")
            }
            print("  faults: \(reading.faults.isEmpty ? "none" : reading.faults.sorted().map(\.rawValue).joined(separator: ", "))")
        }
    }

    private func endpoint(for profile: DeviceProfile) throws -> Transport {
        if let tcp {
            guard let address = HostPort(tcp), address.port > 0 else {
                throw ValidationError("--tcp must be HOST:PORT, not '\(tcp)'")
            }
            return .tcp(host: address.host, port: address.port)
        }
        let parity = self.parity.flatMap { Parity(rawValue: $0.uppercased()) } ?? profile.transport.parity
        return .rtu(
            .init(
                device: rtu ?? "", baud: baud ?? profile.transport.baud, parity: parity,
                dataBits: profile.transport.dataBits, stopBits: profile.transport.stopBits))
    }
}
