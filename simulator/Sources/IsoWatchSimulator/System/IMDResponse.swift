import Foundation

/// How a commercial IMD's displayed insulation resistance and leakage capacitance follow the truth.
///
/// An IMD computes Re from the settled measuring current of each pulse; the pulse must last
/// several RC time constants of the measuring circuit, τ_RC = (Re ∥ Rs)·Ce, before the current is
/// settled, and the device averages over a few pulses. So its response time grows with the
/// leakage capacitance. We model the published value as first order with
///
///     t_response = a + n·(Re ∥ Rs)·Ce      (a = 1 s, n = 20, Rs = 120 kΩ)
///
/// which gives about 3 s at Re = 1 MΩ, Ce = 1 µF and about 11 s at Ce = 5 µF, inside the 1…10 s
/// (at 1 µF) that manufacturers quote for medical IMDs, and longer as Ce grows, as they also say.
/// The filter runs on the conductance 1/Re, not on Re: the measured current is proportional to
/// the conductance, so a fault (rising conductance) shows as fast as the current changes, and a
/// fault that clears shows through the same exponential of the current.
/// The time constant is taken from the true Re and Ce at each step (the device's own pulse
/// length adapts to what it sees), held constant within a step.
public struct IMDResponse: Sendable, Equatable {
    public var couplingResistanceOhms: Double
    public var baseSeconds: Double
    public var settlingFactor: Double
    public private(set) var publishedConductanceSiemens: Double
    public private(set) var publishedCapacitanceFarads: Double

    public init(
        insulationResistanceOhms: Double, leakageCapacitanceFarads: Double, couplingResistanceOhms: Double = 120_000,
        baseSeconds: Double = 1, settlingFactor: Double = 20
    ) {
        precondition(insulationResistanceOhms > 0 && couplingResistanceOhms > 0 && baseSeconds > 0)
        self.couplingResistanceOhms = couplingResistanceOhms
        self.baseSeconds = baseSeconds
        self.settlingFactor = settlingFactor
        self.publishedConductanceSiemens = 1 / insulationResistanceOhms
        self.publishedCapacitanceFarads = leakageCapacitanceFarads
    }

    public var publishedResistanceOhms: Double { 1 / publishedConductanceSiemens }

    public func responseTimeSeconds(insulationResistanceOhms: Double, leakageCapacitanceFarads: Double) -> Double {
        let parallel = insulationResistanceOhms * couplingResistanceOhms / (insulationResistanceOhms + couplingResistanceOhms)
        return baseSeconds + settlingFactor * parallel * leakageCapacitanceFarads
    }

    /// Moves the published values toward the truth over `seconds` of physics time, exactly for
    /// a truth held constant over the step.
    public mutating func advance(
        bySeconds seconds: Double, insulationResistanceOhms: Double, leakageCapacitanceFarads: Double
    ) {
        guard seconds > 0 else { return }
        let tau = responseTimeSeconds(
            insulationResistanceOhms: insulationResistanceOhms, leakageCapacitanceFarads: leakageCapacitanceFarads)
        let remaining = exp(-seconds / tau)
        let target = 1 / insulationResistanceOhms
        publishedConductanceSiemens = target + (publishedConductanceSiemens - target) * remaining
        publishedCapacitanceFarads =
            leakageCapacitanceFarads + (publishedCapacitanceFarads - leakageCapacitanceFarads) * remaining
    }
}
