/// An action on an outlet.
public enum PowerAction: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case on, off, cycle
    public var description: String { rawValue }
}

/// The last known state of an outlet.
public enum PowerState: String, Hashable, Sendable, Codable, CustomStringConvertible {
    case on, off, unknown
    public var description: String { rawValue }
}

/// What `probe()` found: the hardware answers, and what it says its state is when it can tell.
public struct PowerProbeResult: Hashable, Sendable, CustomStringConvertible {
    /// The state the hardware reports, or `.unknown` when it cannot tell.
    public var state: PowerState
    /// A sentence for `check`: what was verified.
    public var detail: String

    /// Creates a result.
    public init(state: PowerState, detail: String) {
        self.state = state
        self.detail = detail
    }

    public var description: String { detail }
}

/// The small interface every relay driver implements.
///
/// A driver does one thing at a time: `PowerController` serialises the actions of each outlet and gives each one a
/// deadline; drivers keep their own shorter I/O timeouts. Drivers never act on their own (no toggling when they are
/// created).
public protocol PowerDriver: Sendable {
    /// A short description for `power list` and logs, e.g. `serial-relay /dev/ttyUSB4 relay 1`.
    var summary: String { get }
    /// The longest one `on`/`off` may take, used to compute action deadlines.
    var actionTimeout: Duration { get }
    /// Switches the outlet on (power to the device).
    /// - Throws: `PowerError`.
    func on() async throws
    /// Switches the outlet off.
    /// - Throws: `PowerError`.
    func off() async throws
    /// Switches off, waits `offTime`, switches on.
    /// - Throws: `PowerError`; after a failed `off` the outlet was not touched further.
    func cycle(offTime: Duration) async throws
    /// Checks that the hardware is present and answers, without changing any output (for `oob-agent check`).
    /// - Throws: `PowerError` naming the problem and its fix.
    func probe() async throws -> PowerProbeResult
}

extension PowerDriver {
    /// The default cycle: off, wait, on.
    public func cycle(offTime: Duration) async throws {
        try await off()
        try await Task.sleep(for: offTime)
        try await on()
    }
}
