/// A received SMS as the agent judges it (mapped from the modem layer's decoded PDU).
public struct InboundSMS: Sendable, Equatable {
    /// The sender as the network gave it (E.164 with `+`, bare digits, or alphanumeric).
    public var sender: String
    /// The text (nil for 8-bit data, which is never a command).
    public var text: String?
    /// The service-centre timestamp in seconds since the Unix epoch (TS 23.040 §9.2.3.11).
    public var timestamp: Int64
    /// The timestamp's zone, minutes east of UTC (used to write `HH:MM` in replies).
    public var utcOffsetMinutes: Int
    /// True when the PDU carries a concatenation header: never obeyed.
    public var isMultipart: Bool
    /// True when the sender's type of number is international (digits without `+`).
    public var senderIsInternational: Bool
    /// True when the sender is an alphanumeric name (type of number 101): never a number, whatever it spells.
    public var senderIsAlphanumeric: Bool

    /// Creates an inbound SMS.
    public init(
        sender: String, text: String?, timestamp: Int64, utcOffsetMinutes: Int = 0, isMultipart: Bool = false,
        senderIsInternational: Bool = false, senderIsAlphanumeric: Bool = false
    ) {
        self.sender = sender
        self.text = text
        self.timestamp = timestamp
        self.utcOffsetMinutes = utcOffsetMinutes
        self.isMultipart = isMultipart
        self.senderIsInternational = senderIsInternational
        self.senderIsAlphanumeric = senderIsAlphanumeric
    }
}

/// The best idea of "now" the box has, for judging `auth.max_age`.
public enum ClockReading: Sendable, Equatable {
    /// The system clock, synchronised by NTP.
    case system(Int64)
    /// The modem's network time (NITZ / `+CCLK`), when the system clock is not synchronised.
    case network(Int64)
    /// No trustworthy clock: the age check is skipped (and logged).
    case unknown

    /// The Unix time, if any.
    public var unixTime: Int64? {
        switch self {
        case .system(let t), .network(let t): t
        case .unknown: nil
        }
    }

    /// The source, for logs: `system`, `network` or `none`.
    public var source: String {
        switch self {
        case .system: "system"
        case .network: "network"
        case .unknown: "none"
        }
    }
}
