import IsoWatchCore

/// A timeline of what happens to a simulated site, and what the service watching it must do.
/// Read from a scenario file by `ScenarioFile`; driven against a running `Simulator` by
/// `ScenarioRunner`. Times are physics seconds from the start of the timeline.
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var summary: String
    public var site: SiteDescription
    /// Seeds everything random in the timeline (storms), so a seed replays the same run.
    public var seed: UInt64
    /// Physics seconds per wall-clock second.
    public var timeFactor: Double
    /// The timeline ends here, even when the last step is earlier (ramps and heating continue).
    public var durationSeconds: Double
    /// Units whose winding temperature follows their load through a thermal model.
    public var thermal: [UnitReference: ThermalSetup]
    /// What the generated service configuration sets per system (thresholds, transformer).
    public var service: [UnitReference: ServiceSettings]
    /// Sorted by time; steps at the same time keep their file order.
    public var steps: [ScenarioStep]
    public var expectations: [UnitReference: SystemExpectation]

    public init(
        name: String, summary: String = "", site: SiteDescription, seed: UInt64 = 1, timeFactor: Double = 1,
        durationSeconds: Double, thermal: [UnitReference: ThermalSetup] = [:],
        service: [UnitReference: ServiceSettings] = [:], steps: [ScenarioStep],
        expectations: [UnitReference: SystemExpectation] = [:]
    ) {
        self.name = name
        self.summary = summary
        self.site = site
        self.seed = seed
        self.timeFactor = timeFactor
        self.durationSeconds = durationSeconds
        self.thermal = thermal
        self.service = service
        self.steps = steps
        self.expectations = expectations
    }

    /// Every unit of the site, in site order.
    public var units: [UnitReference] {
        site.endpoints.flatMap { endpoint in endpoint.units.map { UnitReference(endpoint: endpoint.id, unit: $0.unit) } }
    }
}

/// One unit of the site, written `gw1/3` in scenario files. The service system generated for it
/// is called `systemID` (`gw1-3`).
public struct UnitReference: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var endpoint: String
    public var unit: UInt8

    public init(endpoint: String, unit: UInt8) {
        self.endpoint = endpoint
        self.unit = unit
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, let unit = UInt8(parts[1]), unit >= 1 else { return nil }
        self.init(endpoint: String(parts[0]), unit: unit)
    }

    public var description: String { "\(endpoint)/\(unit)" }

    /// A valid service system id ([a-z0-9-]+) for this unit.
    public var systemID: String {
        let endpointPart = endpoint.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
        return "\(endpointPart)-\(unit)"
    }

    public static func < (lhs: UnitReference, rhs: UnitReference) -> Bool {
        (lhs.endpoint, lhs.unit) < (rhs.endpoint, rhs.unit)
    }
}

/// The winding temperature of a unit's transformer driven by its load (IEC 61558-2-15 overload
/// capability, see `TransformerThermalModel`), advanced in physics time.
public struct ThermalSetup: Sendable, Equatable {
    public var ambientCelsius: Double
    /// The temperature the calibrated winding reaches after 1 h at 1.6·In or 30 min at 2·In.
    public var limitCelsius: Double
    public var initialCelsius: Double?
    /// For profiles that publish amperes only: I/In = load_current_amperes / this.
    public var ratedCurrentAmperes: Double?

    public init(ambientCelsius: Double = 25, limitCelsius: Double = 120, initialCelsius: Double? = nil, ratedCurrentAmperes: Double? = nil) {
        self.ambientCelsius = ambientCelsius
        self.limitCelsius = limitCelsius
        self.initialCelsius = initialCelsius
        self.ratedCurrentAmperes = ratedCurrentAmperes
    }
}

/// Per-system settings of the service configuration a scenario generates.
public struct ServiceSettings: Sendable, Equatable {
    /// `thresholds` keys of the service configuration, passed through as numbers.
    public var thresholds: [String: Double]
    public var ratingKVA: Double?

    public init(thresholds: [String: Double] = [:], ratingKVA: Double? = nil) {
        self.thresholds = thresholds
        self.ratingKVA = ratingKVA
    }
}

public enum PanelButton: String, Sendable, CaseIterable {
    case mute, acknowledge, test
}

public struct ScenarioStep: Sendable, Equatable {
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        case unit(UnitReference)
        /// Every unit of an endpoint (a gateway or a bus).
        case endpoint(String)

        public var description: String {
            switch self {
            case .unit(let unit): "\(unit)"
            case .endpoint(let id): id
            }
        }
    }

    public var atSeconds: Double
    public var target: Target
    public var action: ScenarioAction
    /// Where the step is written, for the run log; 0 for generated steps.
    public var line: Int

    public init(atSeconds: Double, target: Target, action: ScenarioAction, line: Int = 0) {
        self.atSeconds = atSeconds
        self.target = target
        self.action = action
        self.line = line
    }
}

public enum ScenarioAction: Sendable, Equatable, CustomStringConvertible {
    /// The true quantities take these values at once.
    case set([Quantity: MeasuredValue])
    /// The quantities move linearly from their present values to these over the time given.
    case ramp([Quantity: Double], overSeconds: Double)
    case raiseFault(Fault)
    case clearFault(Fault)
    /// Unit (or, on an endpoint, every unit) answers or stays silent; an endpoint going off line
    /// also drops its TCP connections, as a gateway that loses power does.
    case online(Bool)
    case wireFault(WireFault?)
    /// A press (and release) of a panel button of the unit's theatre.
    case press(PanelButton)

    public var description: String {
        switch self {
        case .set(let values):
            "set " + values.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)=\($0.value.value)\($0.value.validity == .actual ? "" : " (\($0.value.validity.rawValue))")" }.joined(separator: " ")
        case .ramp(let values, let seconds):
            "ramp " + values.sorted { $0.key < $1.key }.map { "\($0.key.rawValue)->\($0.value)" }.joined(separator: " ") + " over \(seconds) s"
        case .raiseFault(let fault): "raise fault \(fault.rawValue)"
        case .clearFault(let fault): "clear fault \(fault.rawValue)"
        case .online(let online): online ? "online" : "offline"
        case .wireFault(let fault?): "wire fault \(fault.kind.name)\(fault.remainingRequests.map { " x\($0)" } ?? "")"
        case .wireFault(nil): "wire fault none"
        case .press(let button): "press \(button.rawValue)"
        }
    }
}

/// One panel state: what green, yellow and buzzer show (lit or sounding), as the theatre sees it.
public struct PanelState: Sendable, Hashable, CustomStringConvertible {
    public var green: Bool
    public var yellow: Bool
    public var buzzer: Bool

    public init(green: Bool, yellow: Bool, buzzer: Bool) {
        self.green = green
        self.yellow = yellow
        self.buzzer = buzzer
    }

    public static let normal = PanelState(green: true, yellow: false, buzzer: false)
    public static let alarm = PanelState(green: false, yellow: true, buzzer: true)
    /// Yellow stays (it cannot be cancelled); the buzzer was silenced.
    public static let silenced = PanelState(green: false, yellow: true, buzzer: false)
    public static let named: [String: PanelState] = ["normal": .normal, "alarm": .alarm, "silenced": .silenced]

    public var description: String {
        Self.named.first { $0.value == self }?.key
            ?? "{green: \(green ? "on" : "off"), yellow: \(yellow ? "on" : "off"), buzzer: \(buzzer ? "on" : "off")}"
    }
}

/// What the service must show for one system.
public struct SystemExpectation: Sendable, Equatable {
    public struct Raised: Sendable, Equatable {
        /// An alarm condition as the service names it (`insulation`, `communication`, …).
        public var condition: String
        /// Must not have been raised before this physics time.
        public var afterSeconds: Double?
        /// Must have been raised by this physics time.
        public var bySeconds: Double

        public init(condition: String, afterSeconds: Double? = nil, bySeconds: Double) {
            self.condition = condition
            self.afterSeconds = afterSeconds
            self.bySeconds = bySeconds
        }
    }

    public var raised: [Raised]
    /// Conditions that must never be raised during the run.
    public var notRaised: [String]
    /// The panel states in the order they must appear, from the start of the timeline.
    public var relays: [PanelState]
    /// The alarm conditions active at the end of the timeline; nil: not checked.
    public var finalConditions: [String]?

    public init(raised: [Raised] = [], notRaised: [String] = [], relays: [PanelState] = [], finalConditions: [String]? = nil) {
        self.raised = raised
        self.notRaised = notRaised
        self.relays = relays
        self.finalConditions = finalConditions
    }
}
