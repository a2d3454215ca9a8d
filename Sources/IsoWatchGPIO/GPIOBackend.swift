/// A source of digital lines: the libgpiod character device on real hardware, or a simulation.
///
/// "Active" is always the logical state (relay energised, button pressed, contact signalling);
/// each line's `activeLow` maps it to the electrical level. Which logical state means "normal"
/// (energise-to-normal for fail-safe relays) is decided above this layer.
public protocol GPIOBackend: Sendable {
    /// Claims a line as an output, driven to `initialActive` in the same request.
    func claimOutput(_ configuration: OutputLineConfiguration) async throws(GPIOError) -> any OutputLine
    /// Claims a line as an input with edge detection and debouncing.
    func claimInput(_ configuration: InputLineConfiguration) async throws(GPIOError) -> any InputLine
}

/// A claimed output line.
public protocol OutputLine: Sendable {
    var address: LineAddress { get }
    /// Drives the line to a logical state.
    func set(_ active: Bool) async throws(GPIOError)
    /// Gives the line back. What the pin does then is up to the kernel driver (most keep the
    /// last level), so fail-safe wiring must not count on a release.
    func release() async
}

/// A claimed input line.
public protocol InputLine: Sendable {
    var address: LineAddress { get }
    /// Samples the logical level now, without debouncing: for the state at start-up and for
    /// diagnostics. Decisions should follow `changes`.
    func read() async throws(GPIOError) -> Bool
    /// The debounced logical level each time it changes (edges only, no initial value). Every
    /// access returns a new stream that sees the changes from then on; all streams finish when
    /// the line is released.
    var changes: AsyncStream<Bool> { get }
    /// Gives the line back and finishes every `changes` stream.
    func release() async
}
