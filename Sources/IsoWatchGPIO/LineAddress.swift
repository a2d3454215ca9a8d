/// Where a digital line lives: a GPIO chip and either the line's offset on it or the line's name.
///
/// Naming a line (from the device tree or `gpio-line-names`) survives a board revision that
/// moves offsets; the offset is what a bare header pin gives. The initialisers enforce that
/// exactly one of the two is set.
public struct LineAddress: Sendable, Hashable, CustomStringConvertible {
    /// How the line is picked on its chip.
    public enum Selector: Sendable, Hashable {
        case offset(UInt32)
        case name(String)
    }

    /// A chip name ("gpiochip0"), a number ("0"), a label, or a path ("/dev/gpiochip0").
    public var chip: String
    public var selector: Selector

    public init(chip: String, offset: UInt32) {
        self.chip = chip
        self.selector = .offset(offset)
    }

    public init(chip: String, name: String) {
        self.chip = chip
        self.selector = .name(name)
    }

    public var offset: UInt32? {
        if case .offset(let offset) = selector { return offset }
        return nil
    }

    public var name: String? {
        if case .name(let name) = selector { return name }
        return nil
    }

    /// `gpiochip0:17` or `gpiochip0:"ALARM_YELLOW"`; names are quoted so that a line named "17"
    /// cannot be mistaken for offset 17.
    public var description: String {
        switch selector {
        case .offset(let offset): return "\(chip):\(offset)"
        case .name(let name): return "\(chip):\"\(name)\""
        }
    }
}

/// The bias the kernel applies to an input line (libgpiod v1 request flags; needs Linux 5.5+).
public enum LineBias: String, Sendable, Hashable, CaseIterable {
    /// Leave whatever the board or the device tree configured.
    case asIs = "as_is"
    case pullUp = "pull_up"
    case pullDown = "pull_down"
    case disabled
}

/// A line this process drives: a relay, a lamp or a buzzer driver.
public struct OutputLineConfiguration: Sendable, Hashable {
    public var address: LineAddress
    /// When true the line is driven low to make it active; most opto-isolated relay boards
    /// energise their relay when their input is pulled low.
    public var activeLow: Bool
    /// The consumer name the kernel shows for the claimed line (`gpioinfo`).
    public var label: String
    /// The logical state applied in the same request that claims the line, so the output never
    /// glitches through the other state between the claim and a first `set`.
    public var initialActive: Bool

    public init(address: LineAddress, activeLow: Bool = false, label: String, initialActive: Bool = false) {
        self.address = address
        self.activeLow = activeLow
        self.label = label
        self.initialActive = initialActive
    }
}

/// A line this process watches: a push button or a potential-free alarm contact.
public struct InputLineConfiguration: Sendable, Hashable {
    public var address: LineAddress
    /// When true a low electrical level reads as active (a button to ground with a pull-up).
    public var activeLow: Bool
    /// How long a new level must hold before it counts; contacts bounce for a few milliseconds.
    public var debounceSeconds: Double
    public var label: String
    public var bias: LineBias

    public init(
        address: LineAddress, activeLow: Bool = false, debounceSeconds: Double = 0.05, label: String,
        bias: LineBias = .asIs
    ) {
        self.address = address
        self.activeLow = activeLow
        self.debounceSeconds = debounceSeconds
        self.label = label
        self.bias = bias
    }

    /// Rejects a debounce time that no clock can honour, before any hardware is touched.
    func validate() throws(GPIOError) {
        guard debounceSeconds.isFinite, debounceSeconds >= 0 else {
            throw .invalidRequest(address, reason: "debounce time \(debounceSeconds) s is not a finite, non-negative number")
        }
    }
}
