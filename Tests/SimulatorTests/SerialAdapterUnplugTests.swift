#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IsoWatchCore
import IsoWatchSimulator
import IsoWatchTesting
import Testing

/// The USB RS-485 adapter pulled out and put back: what a client holding the pty, a client
/// opening the link, and libmodbus (through mbpoll) see at each step.
@Suite(.serialized) struct SerialAdapterUnplugTests {
    /// Acrel AIM-M10: 0x0008 insulation in kΩ.
    static func acrel(_ unit: UInt8, ohms: Double) -> UnitDescription {
        UnitDescription(unit: unit, profileID: "acrel-aim-m10", values: [.insulationResistanceOhms: ohms])
    }

    static func rtuServer(_ simulator: TestSimulator) throws -> ModbusRTUServer {
        try #require(simulator.simulator.endpoint("rtu0")?.rtuServer)
    }

    /// `open(2)` on `path` like a client reopening its adapter: the errno it fails with, or 0.
    static func openError(_ path: String) -> Int32 {
        let fd = open(path, O_RDWR | O_NOCTTY)
        if fd >= 0 {
            close(fd)
            return 0
        }
        return errno
    }

    /// Reads holding register 9 (1-based reference, the insulation in kΩ) with mbpoll, a libmodbus client.
    static func mbpollInsulation(_ path: String, unit: UInt8) async throws -> (status: Int32, output: String) {
        let mbpoll = try TestTools.tool("mbpoll")
        return try await onOwnThread {
            try ExternalPeer.run(
                mbpoll, ["-m", "rtu", "-b", "19200", "-P", "even", "-a", String(unit), "-r", "9", "-c", "1", "-t", "4", "-1", path])
        }
    }

    @Test func test_unplugHangsUpTheHeldPtyAndRemovesTheLink() async throws {
        let scratch = try ScratchDirectory("unplug")
        defer { scratch.remove() }
        let link = scratch.url.appending(path: "ttyUSB0").path
        let simulator = try TestSimulator(
            rtuUnits: [Self.acrel(1, ohms: 650_000)], serialLine: SerialLine(baud: 19200, parity: .even), rtuLinkPath: link)
        defer { simulator.stop() }
        let server = try Self.rtuServer(simulator)
        let client = try RawRTUClient(path: link)
        #expect(try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x01]).reply.bytes != nil)
        let held = open(link, O_RDWR | O_NOCTTY | O_NONBLOCK)
        try #require(held >= 0)
        defer { close(held) }

        server.unplug()
        #expect(!server.isPlugged)
        #expect(Self.openError(link) == ENOENT)
        // The client's open pty is hung up: poll says so, and a write fails with EIO.
        var descriptor = pollfd(fd: held, events: Int16(POLLIN | POLLOUT), revents: 0)
        #expect(poll(&descriptor, 1, 5_000) == 1)
        #expect(descriptor.revents & Int16(POLLHUP) != 0)
        var byte: UInt8 = 1
        let written = write(held, &byte, 1)
        let writeError = errno
        #expect(written == -1)
        #expect(writeError == EIO)
        #expect(try await client.request(unit: 1, pdu: [0x03, 0x00, 0x08, 0x00, 0x01], timeoutSeconds: 0.3).reply.bytes == nil)

        server.unplug()
        #expect(!server.isPlugged, "a second unplug changes nothing")
        #expect(Self.openError(link) == ENOENT)
    }

    @Test func test_replugPointsTheLinkAtANewPtyServingTheSameUnitsAndState() async throws {
        let scratch = try ScratchDirectory("replug")
        defer { scratch.remove() }
        let link = scratch.url.appending(path: "ttyUSB0").path
        let simulator = try TestSimulator(
            rtuUnits: [Self.acrel(1, ohms: 650_000), Self.acrel(2, ohms: 420_000)],
            serialLine: SerialLine(baud: 19200, parity: .even), rtuLinkPath: link)
        defer { simulator.stop() }
        let server = try Self.rtuServer(simulator)
        let before = try await Self.mbpollInsulation(link, unit: 1)
        #expect(before.status == 0, "\(before.output)")
        #expect(ThirdPartyClientTests.mbpollValues(before.output) == [9: 650])

        server.unplug()
        #expect(Self.openError(link) == ENOENT)
        // The devices live on while the adapter is out; the next read must see this change.
        simulator.device(unit: 2).update { $0.values[.insulationResistanceOhms] = MeasuredValue(31_000) }
        let whileOut = try await Self.mbpollInsulation(link, unit: 1)
        #expect(whileOut.status != 0)

        try server.replug()
        #expect(server.isPlugged)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == server.slavePath)
        let slavePath = server.slavePath
        try server.replug()
        #expect(server.slavePath == slavePath, "a second replug changes nothing")

        let unit1 = try await Self.mbpollInsulation(link, unit: 1)
        let unit2 = try await Self.mbpollInsulation(link, unit: 2)
        #expect(unit1.status == 0, "\(unit1.output)")
        #expect(ThirdPartyClientTests.mbpollValues(unit1.output) == [9: 650])
        #expect(ThirdPartyClientTests.mbpollValues(unit2.output) == [9: 31])
    }

    @Test func test_replugAfterStopIsRefusedAndLeavesNoLink() async throws {
        let scratch = try ScratchDirectory("replug-stopped")
        defer { scratch.remove() }
        let link = scratch.url.appending(path: "ttyUSB0").path
        let server = try ModbusRTUServer(units: [ServedUnit(unitID: 1)], linkPath: link)
        server.stop()
        #expect(throws: SystemCallError.self) { try server.replug() }
        #expect(Self.openError(link) == ENOENT)
    }

    @Test func test_controlAPIUnplugsAndReplugsAnRTUBusAndRefusesATCPEndpoint() async throws {
        let scratch = try ScratchDirectory("unplug-control")
        defer { scratch.remove() }
        let link = scratch.url.appending(path: "ttyUSB0").path
        let simulator = try TestSimulator(
            tcpUnits: [Self.acrel(1, ohms: 500_000)], rtuUnits: [Self.acrel(2, ohms: 400_000)],
            serialLine: SerialLine(baud: 19200, parity: .even), rtuLinkPath: link)
        defer { simulator.stop() }
        let base = try await simulator.startControl()

        let unplugged = try await ControlServerTests.call("POST", base.appendingPathComponent("api/v1/endpoints/rtu0/unplug"))
        #expect(unplugged.status == 200)
        let out = try JSONDecoder().decode(PlugView.self, from: Data(unplugged.body.utf8))
        #expect(out.endpoint == "rtu0" && !out.plugged && out.link == link)
        #expect(Self.openError(link) == ENOENT)

        let replugged = try await ControlServerTests.call("POST", base.appendingPathComponent("api/v1/endpoints/rtu0/replug"))
        #expect(replugged.status == 200)
        let back = try JSONDecoder().decode(PlugView.self, from: Data(replugged.body.utf8))
        #expect(back.plugged)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == back.address)
        let client = try RawRTUClient(path: link)
        #expect(try await client.request(unit: 2, pdu: [0x03, 0x00, 0x08, 0x00, 0x01]).reply == .bytes(ModbusCRC.sealed([2, 0x03, 2, 0x01, 0x90])))

        for verb in ["unplug", "replug"] {
            let refused = try await ControlServerTests.call("POST", base.appendingPathComponent("api/v1/endpoints/tcp0/\(verb)"))
            #expect(refused.status == 409)
            #expect(refused.body.contains("TCP"))
        }
        #expect(try await ControlServerTests.call("POST", base.appendingPathComponent("api/v1/endpoints/nope/unplug")).status == 404)
    }

    @Test func test_cliUnplugAndReplugVerbsDriveTheAdapterAndSetTakesAProbability() async throws {
        let executable = try #require(RepositoryPaths.builtProduct("isowatch-sim"), "isowatch-sim is built")
        let scratch = try ScratchDirectory("unplug-cli")
        defer { scratch.remove() }
        let link = scratch.url.appending(path: "ttyUSB0").path
        let simulator = try TestSimulator(
            rtuUnits: [Self.acrel(1, ohms: 500_000)], serialLine: SerialLine(baud: 19200, parity: .even), rtuLinkPath: link)
        defer { simulator.stop() }
        let control = try await simulator.startControl().absoluteString
        func sim(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await onOwnThread { try ExternalPeer.run(executable.path, arguments + ["--control", control]) }
        }

        let unplugged = try await sim(["unplug", "--endpoint", "rtu0"])
        #expect(unplugged.status == 0, "\(unplugged.output)")
        #expect(unplugged.output.contains("[rtu0] unplugged"))
        #expect(Self.openError(link) == ENOENT)
        let replugged = try await sim(["replug", "--endpoint", "rtu0"])
        #expect(replugged.status == 0, "\(replugged.output)")
        #expect(replugged.output.contains("[rtu0] plugged in at /dev/pts/"))
        #expect(Self.openError(link) == 0)

        let set = try await sim(["set", "--endpoint", "rtu0", "--unit", "1", "--wire-fault", "crc_error", "--probability", "0.3", "--seed", "8"])
        #expect(set.status == 0, "\(set.output)")
        #expect(simulator.device(unit: 1).unit.wireFault == WireFault(.crcError, probability: 0.3, seed: 8))
        let refused = try await sim(["set", "--endpoint", "rtu0", "--unit", "1", "--wire-fault", "no_reply", "--probability", "1.5"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("--probability must be above 0 and at most 1"))
        #expect(simulator.device(unit: 1).unit.wireFault == WireFault(.crcError, probability: 0.3, seed: 8))
    }
}
