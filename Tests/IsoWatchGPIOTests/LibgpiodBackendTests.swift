import Dispatch
import Glibc
import IsoWatchThreads
import Testing

@testable import IsoWatchGPIO

/// These machines have no GPIO chip, so what runs here is the failure path; on a board with a
/// chip the same tests still hold because the chip names below do not exist anywhere.
@Suite("libgpiod backend")
struct LibgpiodBackendTests {
    let absentChip = "isowatch-absent-chip"

    func osReason(_ code: Int32) -> String { String(cString: strerror(code)) }

    @Test func test_claimingOnAMissingChipNamesTheChipAndTheOSReason() async throws {
        let backend = try LibgpiodBackend()
        await expectError({ error in
            guard case .chipNotFound(let chip, let path, let reason) = error else { return false }
            return chip == absentChip && path == "/dev/\(absentChip)" && reason == osReason(ENOENT)
                && error.description == "GPIO chip '\(absentChip)' not found (/dev/\(absentChip): \(osReason(ENOENT)))"
        }) {
            _ = try await backend.claimOutput(
                OutputLineConfiguration(address: LineAddress(chip: absentChip, offset: 3), label: "isowatch-yellow"))
        }
        await expectError({ error in
            if case .chipNotFound = error { error.description.contains("'\(absentChip)'") } else { false }
        }) {
            _ = try await backend.claimInput(
                InputLineConfiguration(address: LineAddress(chip: absentChip, name: "MUTE"), activeLow: true, label: "mute"))
        }
        await backend.close()
    }

    @Test func test_aMissingChipGivenAsAPathOrNumberNamesItsDeviceNode() async throws {
        let backend = try LibgpiodBackend()
        await expectError({ error in
            if case .chipNotFound(_, let path, _) = error { path == "/nonexistent/gpiochip0" } else { false }
        }) {
            _ = try await backend.claimOutput(
                OutputLineConfiguration(address: LineAddress(chip: "/nonexistent/gpiochip0", offset: 0), label: "x"))
        }
        await expectError({ error in
            if case .chipNotFound(_, let path, _) = error {
                path == "/dev/gpiochip4711" && error.description.contains(osReason(ENOENT))
            } else { false }
        }) {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: LineAddress(chip: "4711", offset: 0), label: "x"))
        }
        await backend.close()
    }

    @Test func test_aDeviceThatIsNotAGPIOChipIsRejectedWithTheOSReason() async throws {
        let backend = try LibgpiodBackend()
        await expectError({ error in
            guard case .chipOpenFailed(let chip, let path, let reason) = error else { return false }
            return chip == "/dev/null" && path == "/dev/null" && !reason.isEmpty
                && error.description.hasPrefix("GPIO chip '/dev/null' could not be opened (/dev/null: ")
        }) {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: LineAddress(chip: "/dev/null", offset: 0), label: "x"))
        }
        await backend.close()
    }

    @Test func test_aNegativeDebounceTimeIsRejectedBeforeTheHardwareIsTouched() async throws {
        let backend = try LibgpiodBackend()
        // The chip is missing too; the configuration error must win because it is checked first.
        await expectError({ if case .invalidRequest = $0 { true } else { false } }) {
            _ = try await backend.claimInput(
                InputLineConfiguration(address: LineAddress(chip: absentChip, offset: 0), debounceSeconds: -1, label: "x"))
        }
        await backend.close()
    }

    @Test func test_aClosedBackendRefusesClaims() async throws {
        let backend = try LibgpiodBackend()
        await backend.close()
        await expectError({ $0 == .backendClosed }) {
            _ = try await backend.claimOutput(OutputLineConfiguration(address: LineAddress(chip: absentChip, offset: 0), label: "x"))
        }
    }

    @Test func test_libgpiodCallsRunOnTheBackendsOwnThreadOneAtATime() async throws {
        let backend = try LibgpiodBackend()
        let callerThread = OwnedThread.currentName
        let jobThreads = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 {
                group.addTask { try await backend.worker.perform { _ in OwnedThread.currentName } }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(jobThreads == ["isowatch-gpio"])
        #expect(callerThread != "isowatch-gpio")
        await backend.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func test_blockedLibgpiodCallsDoNotHoldUpTheCooperativePool() async throws {
        let backend = try LibgpiodBackend()
        // More blocking jobs than the cooperative pool has threads, each waiting for a gate that
        // only this task opens. Run on the pool, they would take every thread and this task could
        // never open the gate (each wait then times out and returns false). On the worker they
        // queue behind one blocked thread while this task goes on.
        let jobCount = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 2
        let gate = DispatchSemaphore(value: 0)
        let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<jobCount {
                group.addTask { try await backend.worker.perform { _ in gate.wait(timeout: .now() + 10) == .success } }
            }
            try await Task.sleep(for: .milliseconds(50))
            for _ in 0..<jobCount { gate.signal() }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(opened == Array(repeating: true, count: jobCount))
        await backend.close()
    }
}

@Suite("Line addresses and error messages")
struct GPIOErrorTests {
    @Test func test_aMissingChipMessageNamesTheChipTheNodeAndTheReason() {
        let error = GPIOError.chipNotFound(chip: "gpiochip7", path: "/dev/gpiochip7", reason: "No such file or directory")
        #expect(error.description == "GPIO chip 'gpiochip7' not found (/dev/gpiochip7: No such file or directory)")
    }

    @Test func test_lineAddressesShowOffsetsBareAndNamesQuoted() {
        #expect(LineAddress(chip: "gpiochip0", offset: 17).description == "gpiochip0:17")
        #expect(LineAddress(chip: "gpiochip0", name: "17").description == "gpiochip0:\"17\"")
        #expect(LineAddress(chip: "gpiochip0", offset: 17) != LineAddress(chip: "gpiochip0", name: "17"))
        #expect(LineAddress(chip: "gpiochip0", name: "MUTE").offset == nil)
        #expect(LineAddress(chip: "gpiochip0", name: "MUTE").name == "MUTE")
    }

    @Test func test_aBusyLineMessageNamesTheHolder() {
        let address = LineAddress(chip: "gpiochip0", offset: 5)
        #expect(GPIOError.busy(address, consumer: "isowatch-buzzer").description
            == "GPIO line gpiochip0:5 is busy (claimed by 'isowatch-buzzer')")
        #expect(GPIOError.lineNotFound(LineAddress(chip: "gpiochip0", name: "MUTE"), reason: "No such file or directory").description
            == "GPIO line named 'MUTE' not found on chip 'gpiochip0' (No such file or directory)")
    }

    @Test func test_aNumericChipIsReportedAsItsDeviceNode() {
        #expect(LibgpiodContext.devicePath("0") == "/dev/gpiochip0")
        #expect(LibgpiodContext.devicePath("gpiochip2") == "/dev/gpiochip2")
        #expect(LibgpiodContext.devicePath("/dev/gpiochip1") == "/dev/gpiochip1")
    }
}
