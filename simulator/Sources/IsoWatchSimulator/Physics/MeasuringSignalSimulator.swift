/// One sample of the measuring signal as the IMD's ADC would deliver it.
public struct MeasuringSample: Sendable, Equatable {
    public var timeSeconds: Double
    public var pulseVolts: Double
    public var currentAmperes: Double
}

/// The IMD front-end: pulse generator, two-conductor circuit, disturbances and ADC together.
/// A value type with no clock: the caller moves time on and takes samples.
public struct MeasuringSignalSimulator: Sendable {
    public var circuit: TwoConductorMeasuringCircuit
    public var pulse: PulseGenerator
    public var disturbances: [any CurrentDisturbance]
    /// nil: the current is delivered unquantised.
    public var quantiser: CurrentQuantiser?
    public private(set) var timeSeconds: Double

    public init(
        circuit: TwoConductorMeasuringCircuit, pulse: PulseGenerator, disturbances: [any CurrentDisturbance] = [],
        quantiser: CurrentQuantiser? = nil, startSeconds: Double = 0
    ) {
        self.circuit = circuit
        self.pulse = pulse
        self.disturbances = disturbances
        self.quantiser = quantiser
        self.timeSeconds = startSeconds
    }

    /// Steps are cut at pulse edges so the RC discretisation stays exact: within each piece the
    /// generator voltage is constant.
    ///
    /// Callers step to sample times taken from an integer index (`index / rate`); far into a run
    /// each such time is rounded to its ulp (about 1.5e-11 s a day in), so a step meant to land on
    /// an edge can fall short of it by that much. A shortfall within `edgeSlackSeconds` counts as
    /// reaching the edge, so the edge stays on the sample the index puts it on.
    public mutating func advance(bySeconds stepSeconds: Double) {
        precondition(stepSeconds >= 0)
        let edgeSlackSeconds = Self.edgeSlackSeconds(atSeconds: timeSeconds + stepSeconds, pulse: pulse)
        var remainingSeconds = stepSeconds
        while remainingSeconds > 0 {
            let toEdgeSeconds = pulse.secondsToNextEdge
            if remainingSeconds + edgeSlackSeconds >= toEdgeSeconds {
                circuit.advance(bySeconds: min(remainingSeconds, toEdgeSeconds), generatorVolts: pulse.voltageVolts)
                pulse.advance(bySeconds: toEdgeSeconds)
                remainingSeconds -= toEdgeSeconds
            } else {
                circuit.advance(bySeconds: remainingSeconds, generatorVolts: pulse.voltageVolts)
                pulse.advance(bySeconds: remainingSeconds)
                remainingSeconds = 0
            }
        }
        timeSeconds += stepSeconds
    }

    /// Rounding of the absolute sample times (a few ulps of the time reached) plus rounding of the
    /// summed steps within one half-period; both are far below any sample interval an ADC uses.
    static func edgeSlackSeconds(atSeconds seconds: Double, pulse: PulseGenerator) -> Double {
        64 * seconds.magnitude.ulp + 1e-9 * pulse.halfPeriodSeconds
    }

    /// The sample at the present time. `mutating` because noise sources draw from their
    /// generators: take each sample once.
    public mutating func sample() -> MeasuringSample {
        var amperes = circuit.measuredCurrentAmperes(atSeconds: timeSeconds, generatorVolts: pulse.voltageVolts)
        for index in disturbances.indices {
            amperes += disturbances[index].currentAmperes(atSeconds: timeSeconds)
        }
        if let quantiser { amperes = quantiser.quantised(amperes) }
        return MeasuringSample(timeSeconds: timeSeconds, pulseVolts: pulse.voltageVolts, currentAmperes: amperes)
    }

    /// `count` samples at `sampleRateHz`, the first at the present time. Sample times are
    /// computed from the index, not summed, so they do not drift over long runs.
    public mutating func samples(count: Int, sampleRateHz: Double) -> [MeasuringSample] {
        precondition(sampleRateHz > 0 && count >= 0)
        let startSeconds = timeSeconds
        var result: [MeasuringSample] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            if index > 0 { advance(bySeconds: startSeconds + Double(index) / sampleRateHz - timeSeconds) }
            result.append(sample())
        }
        return result
    }
}
