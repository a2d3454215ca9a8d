import IsoWatchCore

/// What a commercial IMD publishes, judged before the alarm machine sees it: is this a new
/// measurement, is it plausible, is it still current?
///
/// The alarm machine already tells a new measurement from a repeated one by the update counter
/// (`AlarmStateMachine`, `Evidence.swift`), and raises "stale data" when no fresh conclusive
/// insulation value arrived for the stale time. This filter does not judge that again; it adds
/// what the machine cannot know from one reading alone:
///
/// - **Implausible jumps are held.** A fresh insulation value more than `plausibleRatio` times
///   away from the last accepted one, with no device fault flag to explain it, is passed on as
///   `invalid` (doubt: it neither raises, releases nor counts as proof of safety) until a second
///   fresh value within the same ratio of it confirms it. A second value back near the accepted
///   one shows the first was a glitch: it is dropped.
/// - **Alarm-level values are never held.** A value at or below the highest insulation response
///   value (the alarm's, or the prewarning's when that is higher), "< x" from the device, or a
///   reading carrying the device's own insulation or device-fault flag passes at once. A drop
///   into the alarm range is exactly the fault IEC 61557-8 wants reported within the IMD's
///   response time; the alarm machine's response delay is the one debounce it gets, so the
///   filter adds no latency to an alarm. The price is that a one-off spurious low value may start
///   that delay; the next fresh value cancels it.
/// - **Stale values are marked.** Once the counter has not moved for the stale time, the values
///   the registers still hold are history: they are passed on as `invalid`, so the live view never
///   shows them as a measurement (the machine raises its stale condition on its own).
///
/// Devices without an update counter give a new measurement with every poll, as the machine
/// assumes too.
public struct CommercialReadingFilter: Sendable {
    public struct Settings: Sendable, Equatable {
        /// At or below this, a value is alarm-level and never held.
        public var neverHoldAtOrBelowOhms: Double
        /// A fresh value this many times above or below the accepted one is a jump.
        public var plausibleRatio: Double
        public var staleAfterSeconds: Double

        public init(neverHoldAtOrBelowOhms: Double, plausibleRatio: Double = 10, staleAfterSeconds: Double) {
            precondition(plausibleRatio > 1 && staleAfterSeconds > 0)
            self.neverHoldAtOrBelowOhms = neverHoldAtOrBelowOhms
            self.plausibleRatio = plausibleRatio
            self.staleAfterSeconds = staleAfterSeconds
        }
    }

    /// What the filter made of one reading.
    public enum Verdict: Sendable, Equatable {
        /// A fresh value, taken as the new reference.
        case accepted
        /// The counter did not move; the reading is passed on as it is (the machine ignores its values).
        case repeated
        /// The counter has not moved for the stale time: values marked invalid.
        case stale
        /// A fresh implausible jump, passed on as invalid until confirmed.
        case held(insulationResistanceOhms: Double)
        /// The second fresh value of a jump: accepted.
        case confirmed
    }

    public var settings: Settings
    private var lastCounter: UInt32?
    private var lastFreshSeconds: Double?
    /// The last insulation value that passed as an actual measurement.
    public private(set) var acceptedInsulationOhms: Double?
    /// A jump waiting for its confirmation.
    public private(set) var heldInsulationOhms: Double?

    public init(settings: Settings) {
        self.settings = settings
    }

    /// - Parameter nowSeconds: a monotonic time, for the stale rule.
    public mutating func filter(_ reading: DecodedReading, nowSeconds: Double) -> (reading: DecodedReading, verdict: Verdict) {
        let isFresh = reading.updateCounter == nil || lastCounter == nil || reading.updateCounter != lastCounter
        lastCounter = reading.updateCounter
        guard isFresh else {
            let since = lastFreshSeconds ?? nowSeconds
            if nowSeconds - since >= settings.staleAfterSeconds {
                var stale = reading
                for quantity in stale.values.keys { stale.values[quantity]?.validity = .invalid }
                return (stale, .stale)
            }
            // Between measurements the held doubt stays visible, not the unconfirmed value.
            return (heldInsulationOhms == nil ? reading : markingInsulationInvalid(reading), .repeated)
        }
        lastFreshSeconds = nowSeconds

        guard let insulation = reading[.insulationResistanceOhms], insulation.value.isFinite, insulation.value > 0 else {
            return (reading, .accepted)
        }
        let alarmLevel =
            insulation.value <= settings.neverHoldAtOrBelowOhms || insulation.validity == .belowRange
            || reading.faults.contains(.insulation) || reading.faults.contains(.device)
        switch insulation.validity {
        case .invalid:
            // The device itself doubts it; the machine treats it as doubt. Nothing to accept.
            return (reading, .accepted)
        case .belowRange, .aboveRange, .actual:
            break
        }
        if alarmLevel {
            accept(insulation.value)
            return (reading, .accepted)
        }
        guard let accepted = acceptedInsulationOhms, isJump(from: accepted, to: insulation.value) else {
            accept(insulation.value)
            return (reading, .accepted)
        }
        if let held = heldInsulationOhms, !isJump(from: held, to: insulation.value) {
            accept(insulation.value)
            return (reading, .confirmed)
        }
        heldInsulationOhms = insulation.value
        return (markingInsulationInvalid(reading), .held(insulationResistanceOhms: insulation.value))
    }

    private mutating func accept(_ ohms: Double) {
        acceptedInsulationOhms = ohms
        heldInsulationOhms = nil
    }

    private func isJump(from reference: Double, to value: Double) -> Bool {
        max(value / reference, reference / value) > settings.plausibleRatio
    }

    private func markingInsulationInvalid(_ reading: DecodedReading) -> DecodedReading {
        var marked = reading
        marked.values[.insulationResistanceOhms]?.validity = .invalid
        return marked
    }
}

extension CommercialReadingFilter {
    /// The filter for one configured IT system: alarm-level is at or below the higher of the
    /// response and prewarning values.
    public init(_ thresholds: Thresholds) {
        let highest = max(thresholds.insulationResponseOhms, thresholds.insulationPrewarningOhms ?? 0)
        self.init(settings: Settings(neverHoldAtOrBelowOhms: highest, staleAfterSeconds: thresholds.staleAfterSeconds))
    }
}
