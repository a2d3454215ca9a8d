import Foundation
import IsoWatchAlarms
import IsoWatchCore
import IsoWatchGPIO
import IsoWatchModbus
import Logging

/// How to make one system's IMD test itself: the profile's `self_test` parameter (write 1 to
/// start) on the bus the device is polled on; the supervisor follows the progress the device
/// reports in `self_test_state` (`DeviceSelfTestState`). Devices whose public map has neither have
/// no link: their test button exercises the alarm chain only.
struct DeviceSelfTestLink: Sendable {
    let poller: BusPoller
    let unit: UInt8
    let start: ParameterWrite

    init?(profile: DeviceProfile, unit: UInt8, poller: BusPoller) {
        guard profile.auxiliary[DeviceSelfTestState.fieldName] != nil,
            let start = try? profile.write(parameter: DeviceSelfTestState.commandParameter, value: 1)
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
