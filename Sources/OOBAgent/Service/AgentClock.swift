/// Where the agent reads wall-clock time and whether it is trustworthy. Injected so that tests can
/// run the daemon with a system clock hours off (a box without RTC or NTP).
public protocol AgentClock: Sendable {
    /// Seconds since the Unix epoch by the system clock.
    func now() -> Int64
    /// Whether the system clock is synchronised (NTP / timesyncd).
    func isSynchronized() -> Bool
}

/// The real system clock.
public struct SystemAgentClock: AgentClock {
    /// Creates it.
    public init() {}
    public func now() -> Int64 { Int64(SystemClock.now()) }
    public func isSynchronized() -> Bool { SystemClock.isSynchronized() }
}

/// A clock at a fixed offset from the system's, never synchronised (for tests and the demo).
public struct OffsetAgentClock: AgentClock {
    /// Seconds added to the system clock.
    public let offset: Int64
    /// Creates it.
    public init(offset: Int64) { self.offset = offset }
    public func now() -> Int64 { Int64(SystemClock.now()) + offset }
    public func isSynchronized() -> Bool { false }
}
