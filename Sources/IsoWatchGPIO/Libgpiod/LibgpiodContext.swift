import CGPIOD

import Glibc

/// The libgpiod handles of one backend. Only the backend's worker thread creates, uses and
/// frees it, which is what makes the raw C pointers inside it safe.
final class LibgpiodContext {
    private struct ClaimedLine {
        /// `struct gpiod_line *`, owned by its chip.
        let handle: OpaquePointer
        let address: LineAddress
        let watcher: EdgeWatcher?
        let broadcaster: EdgeBroadcaster?
    }

    /// `struct gpiod_chip *` by the descriptor the configuration used. Chips stay open while
    /// the backend lives, because closing a chip in libgpiod v1 releases all of its lines.
    private var chips: [String: OpaquePointer] = [:]
    private var lines: [UInt64: ClaimedLine] = [:]
    private var nextLineID: UInt64 = 0

    func requestOutput(_ configuration: OutputLineConfiguration) throws(GPIOError) -> UInt64 {
        let address = configuration.address
        let line = try findLine(address)
        let flags = configuration.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        // The initial value is logical: with ACTIVE_LOW the kernel inverts it before driving.
        let result = gpiod_line_request_output_flags(line, configuration.label, flags, configuration.initialActive ? 1 : 0)
        let code = isowatch_gpiod_errno()
        guard result == 0 else { throw requestError(address, line: line, errorCode: code) }
        return store(ClaimedLine(handle: line, address: address, watcher: nil, broadcaster: nil))
    }

    func requestInput(_ configuration: InputLineConfiguration, broadcaster: EdgeBroadcaster) throws(GPIOError) -> UInt64 {
        let address = configuration.address
        let threadName = Self.edgeThreadName(address)
        let line = try findLine(address)
        var flags = configuration.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        switch configuration.bias {
        case .asIs: break
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        }
        let result = gpiod_line_request_both_edges_events_flags(line, configuration.label, flags)
        let code = isowatch_gpiod_errno()
        guard result == 0 else { throw requestError(address, line: line, errorCode: code) }
        // From here on every failure gives the line back.
        var kept = false
        defer { if !kept { gpiod_line_release(line) } }

        let initialValue = gpiod_line_get_value(line)
        let readCode = isowatch_gpiod_errno()
        let eventDescriptor = gpiod_line_event_get_fd(line)
        let descriptorCode = isowatch_gpiod_errno()
        guard initialValue >= 0, eventDescriptor >= 0 else {
            let reason = errnoText(initialValue < 0 ? readCode : descriptorCode)
            throw .ioFailed(address, operation: "initial read", reason: reason)
        }
        let watcher = try EdgeWatcher(
            eventDescriptor: eventDescriptor, initialLevel: initialValue == 1,
            debounceSeconds: configuration.debounceSeconds, broadcaster: broadcaster,
            threadName: threadName)
        kept = true
        return store(ClaimedLine(handle: line, address: address, watcher: watcher, broadcaster: broadcaster))
    }

    func setValue(lineID: UInt64, address: LineAddress, active: Bool) throws(GPIOError) {
        guard let line = lines[lineID] else { throw .lineReleased(address) }
        let result = gpiod_line_set_value(line.handle, active ? 1 : 0)
        let code = isowatch_gpiod_errno()
        guard result == 0 else { throw .ioFailed(address, operation: "set", reason: errnoText(code)) }
    }

    func getValue(lineID: UInt64, address: LineAddress) throws(GPIOError) -> Bool {
        guard let line = lines[lineID] else { throw .lineReleased(address) }
        let value = gpiod_line_get_value(line.handle)
        let code = isowatch_gpiod_errno()
        guard value >= 0 else { throw .ioFailed(address, operation: "read", reason: errnoText(code)) }
        return value == 1
    }

    func release(lineID: UInt64) {
        guard let line = lines.removeValue(forKey: lineID) else { return }
        // The edge thread polls the line's descriptor, which gpiod_line_release closes: stop it first.
        line.watcher?.stopAndJoin()
        gpiod_line_release(line.handle)
        line.broadcaster?.finish()
    }

    func closeAll() {
        for lineID in Array(lines.keys) { release(lineID: lineID) }
        for chip in chips.values { gpiod_chip_close(chip) }
        chips.removeAll()
    }

    // MARK: Private

    private func store(_ line: ClaimedLine) -> UInt64 {
        let lineID = nextLineID
        nextLineID += 1
        lines[lineID] = line
        return lineID
    }

    /// Kept out of line on purpose: switching over `LineAddress.selector` inlined into
    /// `requestInput` crashes Swift 6.3.1's optimiser in -O builds ("Found outside of lifetime
    /// use", SIL ownership verifier), which broke every release build that links this module.
    @inline(never)
    private static func edgeThreadName(_ address: LineAddress) -> String {
        "gpio-in-" + (address.offset.map { String($0) } ?? address.name ?? "")
    }

    private func findLine(_ address: LineAddress) throws(GPIOError) -> OpaquePointer {
        let chip = try openChip(address.chip)
        let line: OpaquePointer?
        switch address.selector {
        case .offset(let offset): line = gpiod_chip_get_line(chip, offset)
        case .name(let name): line = gpiod_chip_find_line(chip, name)
        }
        let code = isowatch_gpiod_errno()
        guard let line else { throw .lineNotFound(address, reason: errnoText(code)) }
        return line
    }

    private func openChip(_ descriptor: String) throws(GPIOError) -> OpaquePointer {
        if let chip = chips[descriptor] { return chip }
        // open_lookup accepts a name, a number or a label; a path goes to gpiod_chip_open so that
        // the error names exactly the node that was configured.
        let chip = descriptor.hasPrefix("/") ? gpiod_chip_open(descriptor) : gpiod_chip_open_lookup(descriptor)
        let code = isowatch_gpiod_errno()
        guard let chip else {
            let path = Self.devicePath(descriptor)
            if code == ENOENT {
                throw .chipNotFound(chip: descriptor, path: path, reason: errnoText(code))
            }
            throw .chipOpenFailed(chip: descriptor, path: path, reason: errnoText(code))
        }
        chips[descriptor] = chip
        return chip
    }

    private func requestError(_ address: LineAddress, line: OpaquePointer, errorCode: Int32) -> GPIOError {
        guard errorCode == EBUSY else { return .requestFailed(address, reason: errnoText(errorCode)) }
        // The consumer name libgpiod cached may be stale; refresh it so the message names the holder.
        _ = gpiod_line_update(line)
        let consumer = gpiod_line_consumer(line).map { String(cString: $0) }
        return .busy(address, consumer: consumer)
    }

    /// The device node libgpiod tries for a descriptor, for error messages.
    static func devicePath(_ descriptor: String) -> String {
        if descriptor.hasPrefix("/") { return descriptor }
        if !descriptor.isEmpty, descriptor.allSatisfy(\.isASCII), descriptor.allSatisfy(\.isNumber) {
            return "/dev/gpiochip\(descriptor)"
        }
        return "/dev/\(descriptor)"
    }
}

/// The operating system's text for an errno value (strerror_r, so any thread may call it).
func errnoText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard strerror_r(code, &buffer, buffer.count) == 0 else { return "error \(code)" }
    return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
