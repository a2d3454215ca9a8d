import IsoWatchAlarms
import IsoWatchCore

extension AlarmSettings {
    /// The alarm settings of one IT system, from its configured thresholds and alarm timing.
    init(_ system: SystemConfiguration) {
        let thresholds = system.thresholds
        let timing = system.alarms
        self.init(
            insulation: InsulationLevel(
                responseOhms: thresholds.insulationResponseOhms,
                releaseHysteresis: (timing.insulation.releaseHysteresisPercent ?? 25) / 100,
                delays: ConditionDelays(timing.insulation)),
            insulationPrewarning: thresholds.insulationPrewarningOhms.map {
                InsulationLevel(
                    responseOhms: $0, releaseHysteresis: (timing.insulationPrewarning.releaseHysteresisPercent ?? 25) / 100,
                    delays: ConditionDelays(timing.insulationPrewarning))
            },
            overload: OverloadLevel(
                responsePercent: thresholds.loadPercent,
                releaseHysteresis: (timing.overload.releaseHysteresisPercent ?? 5) / 100,
                ratedCurrentAmperes: system.transformer.ratedCurrentAmperes,
                delays: ConditionDelays(timing.overload)),
            overtemperature: OvertemperatureLevel(
                responseCelsius: thresholds.windingTemperatureCelsius,
                releaseCelsius: thresholds.windingTemperatureReleaseCelsius ?? thresholds.windingTemperatureCelsius - 10,
                sensorResponseOhms: thresholds.ptcResponseOhms, sensorReleaseOhms: thresholds.ptcReleaseOhms,
                delays: ConditionDelays(timing.overtemperature)),
            deviceFaultDelays: ConditionDelays(timing.deviceFaults),
            communicationDelays: ConditionDelays(
                responseDelay: .zero, releaseDelay: .seconds(timing.communicationReleaseDelaySeconds)),
            staleAfter: .seconds(thresholds.staleAfterSeconds),
            reAlarmInterval: timing.reAlarmSeconds.map { .seconds($0) },
            testDuration: .seconds(timing.testDurationSeconds),
            deviceTestTimeout: .seconds(timing.selfTestTimeoutSeconds)
        )
    }
}

extension ConditionDelays {
    init(_ timing: ConditionTiming) {
        self.init(responseDelay: .seconds(timing.responseDelaySeconds), releaseDelay: .seconds(timing.releaseDelaySeconds))
    }
}
