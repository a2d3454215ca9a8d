import IsoWatchAlarms
import IsoWatchCore

extension AlarmSettings {
    /// The alarm settings of one IT system, from its configured thresholds.
    init(_ system: SystemConfiguration) {
        let thresholds = system.thresholds
        self.init(
            insulation: InsulationLevel(responseOhms: thresholds.insulationResponseOhms),
            insulationPrewarning: thresholds.insulationPrewarningOhms.map { InsulationLevel(responseOhms: $0) },
            overload: OverloadLevel(
                responsePercent: thresholds.loadPercent, ratedCurrentAmperes: system.transformer.ratedCurrentAmperes),
            overtemperature: OvertemperatureLevel(responseCelsius: thresholds.windingTemperatureCelsius),
            staleAfter: .seconds(thresholds.staleAfterSeconds)
        )
    }
}
