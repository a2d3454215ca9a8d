import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchModbus
import Logging

/// How to make one system's IMD test itself: the profile's `self_test` parameter (write 1 to
/// start) and the auxiliary `self_test_state` it reports progress in (0 idle, 1 running,
/// 2 passed, 3 failed). Devices whose public map has neither have no link: their test button
/// exercises the alarm chain only.
struct DeviceSelfTestLink: Sendable {
    static let parameterName = "self_test"
    static let stateName = "self_test_state"

    let poller: BusPoller
    let unit: UInt8
    let start: ParameterWrite

    init?(profile: DeviceProfile, unit: UInt8, poller: BusPoller) {
        guard profile.auxiliary[Self.stateName] != nil,
            let start = try? profile.write(parameter: Self.parameterName, value: 1)
        else { return nil }
        self.poller = poller
        self.unit = unit
        self.start = start
    }

    /// One link per system whose profile supports a remote self-test.
    static func links(
        _ configuration: Configuration, profiles: ProfileLibrary, pollers: [Transport: BusPoller]
    ) -> [String: DeviceSelfTestLink] {
        var links: [String: DeviceSelfTestLink] = [:]
        for system in configuration.systems {
            guard let profile = profiles[system.device.profileID], let poller = pollers[system.device.transport] else { continue }
            links[system.id] = DeviceSelfTestLink(profile: profile, unit: system.device.unit, poller: poller)
        }
        return links
    }
}

/// The progress the device reports in `self_test_state`.
enum DeviceSelfTestState: Int {
    case idle = 0, running, passed, failed
}

/// What the monitor tracks beside the alarm machines: device self-tests in progress, the
/// automatic function test's schedule and the IMD alarm contact's agreement with Modbus.
struct DeviceChecks: Sendable {
    struct Run: Sendable {
        var user: String?
        var automatic: Bool
        var deadline: Duration
        /// When the device acknowledged the start command; states polled before it are old.
        var commandAcceptedAt: Date?
        var sawRunning = false
    }

    /// Deadlines here are on this clock; the alarm machines' own time is the monitor's business.
    let origin = ContinuousClock.now
    var logger = Logger(label: "isowatch")
    var links: [String: DeviceSelfTestLink] = [:]
    var timings: [String: AlarmTiming] = [:]
    var thresholds: [String: Thresholds] = [:]
    var hasContact: Set<String> = []
    var runs: [String: Run] = [:]
    var nextFunctionTest: [String: Duration] = [:]
    var disagreeingSince: [String: Duration] = [:]
    var disagreementRaised: Set<String> = []

    init() {}

    init(_ configuration: Configuration) {
        for system in configuration.systems {
            timings[system.id] = system.alarms
            thresholds[system.id] = system.thresholds
            if system.inputs.imdAlarmContact != nil { hasContact.insert(system.id) }
            if let hours = system.alarms.functionTestIntervalHours {
                nextFunctionTest[system.id] = .seconds(hours * 3600)
            }
        }
    }

    /// The contact and Modbus disagree: the contact signals while the measured value is past the
    /// release value without a device flag, or Modbus shows an alarm while the contact is quiet.
    /// Inside the hysteresis, or without an insulation value, there is nothing to compare.
    static func disagrees(contactActive: Bool, reading: DecodedReading, thresholds: Thresholds, hysteresisPercent: Double)
        -> Bool?
    {
        let flagged = reading.faults.contains(.insulation)
        guard let value = reading[.insulationResistanceOhms], value.validity != .invalid else {
            return flagged ? !contactActive : nil
        }
        let modbusAlarm = flagged || value.value <= thresholds.insulationResponseOhms
        let modbusHealthy = !flagged && value.value >= thresholds.insulationResponseOhms * (1 + hysteresisPercent / 100)
            && value.validity != .belowRange
        if contactActive { return modbusHealthy }
        return modbusAlarm
    }
}

extension SystemMonitor {
    /// Links the systems whose device can test itself; called once, before the monitor runs.
    func attach(selfTests: [String: DeviceSelfTestLink], remotePanels: RemotePanelOutputs, logger: Logger) {
        deviceChecks.links = selfTests
        deviceChecks.logger = logger
        self.remotePanels = remotePanels
    }

    enum TestStart: Equatable {
        case started
        case refused(TestRefusal)
        case noSuchSystem
    }

    /// The test button or the API: lights the yellow lamp and sounds the buzzer for the test
    /// duration (the whole chain), and where the device supports it starts its self-test through
    /// the profile and feeds the result to the alarm machine. A request while a test runs, or
    /// within the rest interval after one, starts nothing (the alarm machine's rule).
    @discardableResult
    func startTest(system id: String, user: String?) -> TestStart {
        guard deviceChecks.timings[id] != nil, let machine = machine(of: id) else { return .noSuchSystem }
        if let refusal = machine.testRefusal(at: currentTime()) {
            deviceChecks.logger.notice(
                "test request refused", metadata: ["system": "\(id)", "user": "\(user ?? "panel")", "refusal": "\(refusal)"])
            return .refused(refusal)
        }
        panelEvent(system: id, .testStarted(user: user))
        beginDeviceTest(id, user: user, automatic: false)
        return .started
    }

    /// The periodic function test. It runs the device's self-test without lamps or buzzer: a test
    /// nobody announced must not sound in a theatre at night, and the lamps and buzzer are tested
    /// by the button, with someone watching. A failure raises `self_test_failed`, which sounds
    /// like any fault.
    func runFunctionTest(system id: String) {
        guard deviceChecks.timings[id] != nil else { return }
        if let hours = deviceChecks.timings[id]?.functionTestIntervalHours {
            deviceChecks.nextFunctionTest[id] = monotonicNow() + .seconds(hours * 3600)
        }
        guard deviceChecks.links[id] != nil else {
            deviceChecks.logger.notice(
                "automatic function test: the device has no remote self-test (see its profile); nothing to test",
                metadata: ["system": "\(id)"])
            return
        }
        beginDeviceTest(id, user: nil, automatic: true)
    }

    private func monotonicNow() -> Duration {
        deviceChecks.origin.duration(to: .now)
    }

    private func beginDeviceTest(_ id: String, user: String?, automatic: Bool) {
        guard let link = deviceChecks.links[id] else {
            if !automatic {
                deviceChecks.logger.notice(
                    "test of the alarm chain only: the device has no remote self-test (see its profile)",
                    metadata: ["system": "\(id)"])
            }
            return
        }
        // A second press while the device is testing lights the lamps again but starts nothing.
        guard deviceChecks.runs[id] == nil else { return }
        let timeout = deviceChecks.timings[id]?.selfTestTimeoutSeconds ?? 60
        deviceChecks.runs[id] = DeviceChecks.Run(
            user: user, automatic: automatic, deadline: monotonicNow() + .seconds(timeout))
        panelEvent(system: id, .deviceTestStarted)
        deviceChecks.logger.notice(
            automatic ? "automatic function test: device self-test started" : "device self-test started",
            metadata: ["system": "\(id)"])
        Task(executorPreference: executor) { [weak self] in
            do {
                try await link.poller.write(
                    unit: link.unit, table: link.start.table, address: link.start.address, words: link.start.words)
                await self?.selfTestCommandAccepted(id, at: Date())
            } catch {
                await self?.finishDeviceTest(id, passed: false, reason: "the device refused the self-test command: \(error)")
            }
        }
    }

    private func selfTestCommandAccepted(_ id: String, at time: Date) {
        deviceChecks.runs[id]?.commandAcceptedAt = time
    }

    /// - Parameter tellMachine: false when the alarm machine reaches the verdict itself (its own
    ///   timeout, the same length), so that the result is recorded once.
    private func finishDeviceTest(_ id: String, passed: Bool, reason: String, tellMachine: Bool = true) {
        guard let run = deviceChecks.runs.removeValue(forKey: id) else { return }
        var metadata: Logger.Metadata = ["system": "\(id)", "result": "\(passed ? "passed" : "failed")", "detail": "\(reason)"]
        if let user = run.user { metadata["user"] = "\(user)" }
        let what = run.automatic ? "automatic function test" : "device self-test"
        if passed {
            deviceChecks.logger.notice("\(what) passed", metadata: metadata)
        } else {
            deviceChecks.logger.error("\(what) failed", metadata: metadata)
        }
        if tellMachine { panelEvent(system: id, .testFinished(passed: passed)) }
    }

    /// Called with every successful reading before the alarm machine sees it: the IMD contact's
    /// second opinion. A disagreement that lasts is a fault of the monitoring chain (a broken
    /// wire, a stuck relay, a device answering Modbus with a frozen value), raised as a device
    /// fault rather than left as a flag nobody reads.
    ///
    /// - Parameters:
    ///   - measured: what the device published, judged against the contact.
    ///   - judged: what the alarm machine will see; returned with the device flag while raised.
    func checkContact(system id: String, measured: DecodedReading, judged reading: DecodedReading, contactActive: Bool)
        -> DecodedReading
    {
        guard deviceChecks.hasContact.contains(id), deviceChecks.runs[id] == nil,
            let thresholds = deviceChecks.thresholds[id], let timing = deviceChecks.timings[id]
        else { return reading }
        let now = monotonicNow()
        let disagreement = DeviceChecks.disagrees(
            contactActive: contactActive, reading: measured, thresholds: thresholds,
            hysteresisPercent: timing.insulation.releaseHysteresisPercent)
        switch disagreement {
        case true?:
            let since = deviceChecks.disagreeingSince[id] ?? now
            deviceChecks.disagreeingSince[id] = since
            if now - since >= .seconds(timing.imdContactDisagreementSeconds), !deviceChecks.disagreementRaised.contains(id) {
                deviceChecks.disagreementRaised.insert(id)
                deviceChecks.logger.error(
                    "the IMD's alarm contact disagrees with its Modbus reading; raised as a device fault",
                    metadata: ["system": "\(id)", "contact": "\(contactActive ? "alarm" : "healthy")"])
            }
        case false?:
            deviceChecks.disagreeingSince[id] = nil
            if deviceChecks.disagreementRaised.remove(id) != nil {
                deviceChecks.logger.notice("the IMD's alarm contact agrees with its Modbus reading again", metadata: ["system": "\(id)"])
            }
        case nil:
            break
        }
        guard deviceChecks.disagreementRaised.contains(id) else { return reading }
        var flagged = reading
        flagged.faults.insert(.device)
        return flagged
    }

    /// Called after the alarm machine saw a successful reading: the device's self-test progress.
    func followSelfTest(system id: String, reading: DecodedReading, polledAt: Date) {
        guard let run = deviceChecks.runs[id], let accepted = run.commandAcceptedAt, polledAt > accepted,
            let raw = reading.auxiliary[DeviceSelfTestLink.stateName]
        else { return }
        switch DeviceSelfTestState(rawValue: Int(raw)) {
        case .running:
            deviceChecks.runs[id]?.sawRunning = true
        case .passed:
            finishDeviceTest(id, passed: true, reason: "the device reports passed")
        case .failed:
            finishDeviceTest(id, passed: false, reason: "the device reports failed")
        case .idle:
            // Back to idle after running without a verdict: no result is a failed test.
            if run.sawRunning { finishDeviceTest(id, passed: false, reason: "the device ended its self-test without a result") }
        case nil:
            finishDeviceTest(id, passed: false, reason: "the device reports an unknown self-test state \(raw)")
        }
    }

    /// Called on every tick: self-tests that took too long, and automatic function tests due.
    func runDeviceChecks() {
        let now = monotonicNow()
        for (id, run) in deviceChecks.runs where run.deadline <= now {
            let timeout = deviceChecks.timings[id]?.selfTestTimeoutSeconds ?? 60
            finishDeviceTest(id, passed: false, reason: "no result within \(timeout) s", tellMachine: false)
        }
        for (id, due) in deviceChecks.nextFunctionTest where due <= now {
            runFunctionTest(system: id)
        }
    }
}

/// The outputs and buttons of the remote panels, claimed together.
struct RemotePanels {
    var outputs: RemotePanelOutputs
    var drivers: [OutputDriver]
    var inputs: [PanelInputs]

    static func claim(_ configuration: Configuration, backend: any GPIOBackend, logger: Logger) async throws -> RemotePanels {
        var panels: [RemotePanelOutputs.Panel] = []
        var inputs: [PanelInputs] = []
        for panel in configuration.panels {
            let driver = try await OutputDriver.claim(
                id: panel.id, kind: "panel", outputs: panel.outputs, backend: backend, logger: logger)
            panels.append(RemotePanelOutputs.Panel(id: panel.id, members: panel.systems, driver: driver))
            if !panel.inputs.all.isEmpty {
                inputs.append(try await PanelInputs.claim(panel, backend: backend, logger: logger))
            }
        }
        return RemotePanels(outputs: RemotePanelOutputs(panels: panels), drivers: panels.map(\.driver), inputs: inputs)
    }
}
