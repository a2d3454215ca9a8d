import CModbus
import Glibc
import IsoWatchCore

/// One `modbus_t` and the link behind it.
///
/// Not thread-safe, like the `modbus_t` it owns: a connection is created, used and closed on one
/// thread only (a `BusPoller`'s thread, or the thread of `OwnedThread.run`). Every call blocks for
/// at most the response timeout.
public final class ModbusConnection {
    public let endpoint: Transport
    private var context: OpaquePointer?
    private var connected = false

    public init(endpoint: Transport) {
        self.endpoint = endpoint
    }

    deinit {
        close()
    }

    public var isConnected: Bool { connected }

    /// Opens the serial line or TCP connection. RS-485 mode is asked for but optional: a USB
    /// adapter with automatic direction control, or a pseudo-terminal, refuses the ioctl (ENOTTY).
    public func connect() throws(ModbusError) {
        if connected { return }
        if context == nil {
            context = try makeContext()
        }
        guard let context else { throw .connectFailed("no context") }
        if modbus_connect(context) != 0 {
            var code = isowatch_errno()
            // A process killed while it had the line (SIGKILL, power cut of a USB hub) never put
            // the line's settings back. Some drivers (ptys, some USB adapters) cannot keep parity
            // and then refuse the same settings a second time (glibc reads them back: EINVAL), so
            // every restart would fail until a reboot. Put the line back to raw once and retry; a
            // driver that really refuses the settings refuses them again.
            if code == EINVAL, case .rtu(let serial) = endpoint, Self.resetLineSettings(serial.device) {
                code = modbus_connect(context) == 0 ? 0 : isowatch_errno()
            }
            if code != 0 { throw ModbusError.classify(errno: code, duringConnect: true) }
        }
        if case .rtu = endpoint {
            _ = modbus_rtu_set_serial_mode(context, MODBUS_RTU_RS485)
        }
        connected = true
    }

    /// Raw mode without parity on the device, as a freshly opened line has; false if it cannot be opened.
    private static func resetLineSettings(_ device: String) -> Bool {
        let descriptor = open(device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { Glibc.close(descriptor) }
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else { return false }
        cfmakeraw(&settings)
        settings.c_cflag &= ~tcflag_t(PARENB | PARODD | CSTOPB)
        settings.c_iflag &= ~tcflag_t(INPCK)
        return tcsetattr(descriptor, TCSANOW, &settings) == 0
    }

    public func close() {
        if let context {
            if connected { modbus_close(context) }
            modbus_free(context)
        }
        context = nil
        connected = false
    }

    /// Throws away whatever is pending on the link, e.g. a late reply after a timeout, so that it
    /// is not taken for the answer to the next request.
    public func flush() {
        if let context, connected { _ = modbus_flush(context) }
    }

    /// Reads one block from one unit. Registers come back as words; bits as 0 or 1.
    public func read(unit: UInt8, block: RegisterBlock, timeoutSeconds: Double) throws(ModbusError) -> [UInt16] {
        let context = try prepare(unit: unit, timeoutSeconds: timeoutSeconds)
        let count = Int(block.count)
        let address = Int32(block.address)
        if block.table.isBitTable {
            var bits = [UInt8](repeating: 0, count: count)
            let result: Int32 = bits.withUnsafeMutableBufferPointer { buffer in
                block.table == .coil
                    ? modbus_read_bits(context, address, Int32(count), buffer.baseAddress)
                    : modbus_read_input_bits(context, address, Int32(count), buffer.baseAddress)
            }
            let code = isowatch_errno()
            try check(result, expected: count, errno: code)
            return bits.map { UInt16($0 == 0 ? 0 : 1) }
        } else {
            var words = [UInt16](repeating: 0, count: count)
            let result: Int32 = words.withUnsafeMutableBufferPointer { buffer in
                block.table == .holding
                    ? modbus_read_registers(context, address, Int32(count), buffer.baseAddress)
                    : modbus_read_input_registers(context, address, Int32(count), buffer.baseAddress)
            }
            let code = isowatch_errno()
            try check(result, expected: count, errno: code)
            return words
        }
    }

    /// Writes holding registers (function 6 for one word, 16 for several) or coils (5 / 15).
    public func write(unit: UInt8, table: RegisterTable, address: UInt16, words: [UInt16], timeoutSeconds: Double)
        throws(ModbusError)
    {
        let context = try prepare(unit: unit, timeoutSeconds: timeoutSeconds)
        let result: Int32
        switch table {
        case .holding where words.count == 1:
            result = modbus_write_register(context, Int32(address), words[0])
        case .holding:
            result = words.withUnsafeBufferPointer {
                modbus_write_registers(context, Int32(address), Int32(words.count), $0.baseAddress)
            }
        case .coil where words.count == 1:
            result = modbus_write_bit(context, Int32(address), words[0] == 0 ? 0 : 1)
        case .coil:
            let bits = words.map { UInt8($0 == 0 ? 0 : 1) }
            result = bits.withUnsafeBufferPointer {
                modbus_write_bits(context, Int32(address), Int32(bits.count), $0.baseAddress)
            }
        case .input, .discrete:
            throw .other("the \(table.rawValue) table is read-only")
        }
        let code = isowatch_errno()
        try check(result, expected: words.count, errno: code)
    }

    private func prepare(unit: UInt8, timeoutSeconds: Double) throws(ModbusError) -> OpaquePointer {
        try connect()
        guard let context else { throw .connectFailed("no context") }
        let clamped = max(0.001, timeoutSeconds)
        let seconds = UInt32(clamped.rounded(.down))
        let microseconds = UInt32(((clamped - Double(seconds)) * 1_000_000).rounded())
        modbus_set_response_timeout(context, seconds, microseconds)
        modbus_set_slave(context, Int32(unit))
        return context
    }

    private func check(_ result: Int32, expected: Int, errno code: Int32) throws(ModbusError) {
        if result >= 0 {
            if expected > 0 && Int(result) != expected {
                throw .malformedReply("expected \(expected) items, got \(result)")
            }
            return
        }
        let error = ModbusError.classify(errno: code)
        if error.needsReconnect {
            close()
        }
        throw error
    }

    private func makeContext() throws(ModbusError) -> OpaquePointer {
        let created: OpaquePointer?
        switch endpoint {
        case let .tcp(host, port):
            // The _pi variant resolves host names; plain modbus_new_tcp takes a dotted IPv4 only.
            created = modbus_new_tcp_pi(host, String(port))
        case let .rtu(line):
            let parity = CChar(UInt8(ascii: line.parity.rawValue.unicodeScalars.first!))
            created = modbus_new_rtu(line.device, Int32(line.baud), parity, Int32(line.dataBits), Int32(line.stopBits))
        }
        guard let created else {
            let code = isowatch_errno()
            throw .connectFailed("cannot create a libmodbus context for \(endpoint): \(ModbusError.systemErrorText(code))")
        }
        if case .tcp = endpoint {
            // Once the first bytes of a reply are in, libmodbus 3.1.6 waits for each further part
            // up to its byte timeout (0.5 s by default) instead of what is left of the response
            // timeout, so a reply cut short cost 0.5 s whatever the unit's timeout, and every unit
            // behind the gateway waited with it (TruncatedReplyTests: 0.50 s against 0.10 s for a
            // lost reply). A gateway sends a reply in one piece; with the byte timeout off, the
            // whole reply must arrive within the response timeout, which select counts down.
            modbus_set_byte_timeout(created, 0, 0)
        }
        return created
    }
}
