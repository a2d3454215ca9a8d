import Foundation

/// A source of current added to the measured current im, composable with others: the estimator
/// must survive all of them at once (adaptive-pulse.md "Judging", immunity).
///
/// `mutating` because some sources carry generator state; calls must come in time order.
public protocol CurrentDisturbance: Sendable {
    mutating func currentAmperes(atSeconds timeSeconds: Double) -> Double
}

/// Mains-frequency current picked up by the measuring path (stray coupling, a coupling network
/// that is not perfectly balanced), with harmonics from non-linear loads (3rd, 5th, ...).
public struct MainsRipple: CurrentDisturbance, Equatable {
    public var amplitudeAmperes: Double
    public var frequencyHz: Double
    public var harmonics: [MainsHarmonic]

    public init(amplitudeAmperes: Double, frequencyHz: Double = 50, harmonics: [MainsHarmonic] = []) {
        self.amplitudeAmperes = amplitudeAmperes
        self.frequencyHz = frequencyHz
        self.harmonics = harmonics
    }

    public func currentAmperes(atSeconds timeSeconds: Double) -> Double {
        let omega = 2 * Double.pi * frequencyHz
        var amperes = amplitudeAmperes * sin(omega * timeSeconds)
        for harmonic in harmonics {
            amperes += amplitudeAmperes * harmonic.fractionOfFundamental
                * sin(omega * Double(harmonic.order) * timeSeconds + harmonic.phaseRadians)
        }
        return amperes
    }
}

/// A frequency converter or a UPS on the IT system drives low-frequency currents to earth
/// through its filter capacitors, right in the band of the measuring pulse; IEC 61557-8 IMDs
/// must not be fooled by them, which is why the pulse length adapts.
public struct ConverterDisturbance: CurrentDisturbance, Equatable {
    public var amplitudeAmperes: Double
    public var frequencyHz: Double
    public var phaseRadians: Double

    public init(amplitudeAmperes: Double, frequencyHz: Double, phaseRadians: Double = 0) {
        precondition((1...100).contains(frequencyHz), "a converter disturbance lies between 1 and 100 Hz")
        self.amplitudeAmperes = amplitudeAmperes
        self.frequencyHz = frequencyHz
        self.phaseRadians = phaseRadians
    }

    public func currentAmperes(atSeconds timeSeconds: Double) -> Double {
        amplitudeAmperes * sin(2 * Double.pi * frequencyHz * timeSeconds + phaseRadians)
    }
}

/// Switching a load on the IT system recharges the leakage capacitances: a short, decaying
/// ringing current. Bursts fall one per slot of `slotSeconds` at a seeded position, so the
/// burst train is a pure function of (seed, time), whatever the sample rate.
public struct LoadSwitchingBursts: CurrentDisturbance, Equatable {
    public var peakAmperes: Double
    public var slotSeconds: Double
    public var decaySeconds: Double
    public var ringingFrequencyHz: Double
    public var seed: UInt64

    public init(
        peakAmperes: Double, slotSeconds: Double = 2, decaySeconds: Double = 0.01, ringingFrequencyHz: Double = 150,
        seed: UInt64
    ) {
        precondition(slotSeconds > 0 && decaySeconds > 0)
        self.peakAmperes = peakAmperes
        self.slotSeconds = slotSeconds
        self.decaySeconds = decaySeconds
        self.ringingFrequencyHz = ringingFrequencyHz
        self.seed = seed
    }

    /// Start time and signed peak of the burst in slot `index`.
    func burst(inSlot index: Int64) -> (startSeconds: Double, peakAmperes: Double) {
        let word = SplitMix64.mix(seed ^ SplitMix64.mix(UInt64(bitPattern: index)))
        let position = SplitMix64.unitInterval(word)
        let sign: Double = (word & 1) == 0 ? 1 : -1
        return (Double(index) * slotSeconds + position * slotSeconds, sign * peakAmperes)
    }

    public func currentAmperes(atSeconds timeSeconds: Double) -> Double {
        let slot = Int64((timeSeconds / slotSeconds).rounded(.down))
        // A burst that started late in the previous slot may still ring.
        var amperes = 0.0
        for index in [slot - 1, slot] {
            let burst = burst(inSlot: index)
            let elapsedSeconds = timeSeconds - burst.startSeconds
            guard elapsedSeconds >= 0 else { continue }
            amperes += burst.peakAmperes * exp(-elapsedSeconds / decaySeconds)
                * cos(2 * Double.pi * ringingFrequencyHz * elapsedSeconds)
        }
        return amperes
    }
}

/// White Gaussian noise of the analogue front-end and ADC, from a seeded generator.
public struct ADCNoise: CurrentDisturbance, Equatable {
    public var standardDeviationAmperes: Double
    public private(set) var generator: SplitMix64

    public init(standardDeviationAmperes: Double, seed: UInt64) {
        self.standardDeviationAmperes = standardDeviationAmperes
        generator = SplitMix64(seed: seed)
    }

    public mutating func currentAmperes(atSeconds timeSeconds: Double) -> Double {
        standardDeviationAmperes * generator.nextStandardNormal()
    }
}

/// An ideal bipolar ADC on the current: clipping at ±full scale, rounding to the nearest step.
/// Quantisation matters at high Re, where ±U0/(Rs + Re) is only a few LSB apart.
public struct CurrentQuantiser: Sendable, Equatable {
    public var fullScaleAmperes: Double
    public var bits: Int

    public init(fullScaleAmperes: Double = 200e-6, bits: Int = 16) {
        precondition(fullScaleAmperes > 0 && (2...32).contains(bits))
        self.fullScaleAmperes = fullScaleAmperes
        self.bits = bits
    }

    public var stepAmperes: Double { 2 * fullScaleAmperes / Double(1 << UInt64(bits)) }

    public func quantised(_ amperes: Double) -> Double {
        let clipped = min(max(amperes, -fullScaleAmperes), fullScaleAmperes - stepAmperes)
        return (clipped / stepAmperes).rounded() * stepAmperes
    }
}
