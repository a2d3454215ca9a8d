import IsoWatchCore

extension AlarmSettings {
    /// The alarm settings of one IT system, from its configured thresholds and alarm timing.
    ///
    /// - Parameter mapped: the quantities the system's device profile publishes; nil when unknown
    ///   (then only the functions the configuration marks `fitted` are monitored).
    public init(_ system: SystemConfiguration, mapped: Set<Quantity>? = nil) {
        let thresholds = system.thresholds
        let timing = system.alarms
        self.init(
            insulation: InsulationLevel(
                responseOhms: thresholds.insulationResponseOhms,
                releaseHysteresisPercent: timing.insulation.releaseHysteresisPercent,
                delays: ConditionDelays(timing.insulation)),
            insulationPrewarning: thresholds.insulationPrewarningOhms.map {
                InsulationLevel(
                    responseOhms: $0, releaseHysteresisPercent: timing.insulationPrewarning.releaseHysteresisPercent,
                    delays: ConditionDelays(timing.insulationPrewarning))
            },
            overload: OverloadLevel(
                responsePercent: thresholds.loadPercent,
                releaseHysteresisPercent: timing.overload.releaseHysteresisPercent,
                ratedCurrentAmperes: system.transformer.ratedCurrentAmperes,
                delays: ConditionDelays(timing.overload)),
            overtemperature: OvertemperatureLevel(
                responseCelsius: thresholds.windingTemperatureCelsius,
                releaseCelsius: thresholds.windingTemperatureReleaseCelsiusInForce,
                sensorResponseOhms: thresholds.ptcResponseOhms, sensorReleaseOhms: thresholds.ptcReleaseOhms,
                delays: ConditionDelays(timing.overtemperature)),
            deviceFaultDelays: ConditionDelays(timing.deviceFaults),
            communicationDelays: ConditionDelays(
                responseDelay: .zero, releaseDelay: .seconds(timing.communicationReleaseDelaySeconds)),
            staleAfter: .seconds(thresholds.staleAfterSeconds),
            reAlarmInterval: timing.reAlarmSeconds.map { .seconds($0) },
            testDuration: .seconds(timing.testDurationSeconds),
            deviceTestTimeout: .seconds(timing.selfTestTimeoutSeconds),
            testRestInterval: .seconds(timing.testRestSeconds),
            monitored: Self.monitored(system.sensors, mapped: mapped ?? [], ratedCurrent: system.transformer.ratedCurrentAmperes)
        )
    }

    /// A function is monitored when the configuration says the sensor is fitted, or leaves it to
    /// the profile and the profile maps a quantity that carries it.
    static func monitored(_ sensors: SystemSensors, mapped: Set<Quantity>, ratedCurrent: Double?) -> Set<MonitoredQuantity> {
        var result: Set<MonitoredQuantity> = []
        let loadMapped = mapped.contains(.loadPercent) || (mapped.contains(.loadCurrentAmperes) && ratedCurrent != nil)
        let temperatureMapped = mapped.contains(.windingTemperatureCelsius) || mapped.contains(.temperatureSensorOhms)
        for (function, fitting, isMapped) in [
            (MonitoredQuantity.load, sensors.load, loadMapped),
            (.windingTemperature, sensors.windingTemperature, temperatureMapped),
        ] {
            switch fitting {
            case .fitted: result.insert(function)
            case .profile: if isMapped { result.insert(function) }
            case .none: break
            }
        }
        return result
    }
}
