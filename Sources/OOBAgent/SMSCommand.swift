/// The SMS command language (see `Docs.docc/SMSCommandProtocol.md`):
/// `COMMAND CODE [ARG…]`, case-insensitive, any amount of whitespace between words.
public enum SMSCommand: Equatable, Sendable {
    /// `UP code [minutes]`: start a session (default `session.duration`).
    case up(minutes: Int?)
    /// `DOWN code`: end the session now.
    case down
    /// `EXTEND code minutes`: lengthen the running session.
    case extend(minutes: Int)
    /// `STATUS code`: report, change nothing.
    case status
    /// `POWER code name cycle|on|off`: switch a `[[power]]` outlet.
    case power(outlet: String, action: PowerAction)

    /// What `POWER` does to an outlet.
    public enum PowerAction: String, Sendable, Equatable, CaseIterable {
        case cycle, on, off
    }

    /// The verb as written in replies and logs.
    public var verb: String {
        switch self {
        case .up: "UP"
        case .down: "DOWN"
        case .extend: "EXTEND"
        case .status: "STATUS"
        case .power: "POWER"
        }
    }
}

/// An SMS split into its verb, its code and the rest, before the code is checked.
public struct SMSCommandWords: Equatable, Sendable {
    /// The first word, upper-cased.
    public var verb: String
    /// The second word: the TOTP code or the passphrase, exactly as sent.
    public var code: String
    /// The words after the code.
    public var arguments: [String]

    /// Splits `text` into words; nil if it has fewer than two (no code at all).
    public init?(_ text: String) {
        let words = text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        guard words.count >= 2 else { return nil }
        verb = words[0].uppercased()
        code = words[1]
        arguments = Array(words.dropFirst(2))
    }

    /// Parses the verb and arguments (only called once the code has been accepted).
    /// - Returns: the command, or a usage line for the `FAILED:` reply.
    public func command() -> Result<SMSCommand, SMSUsageError> {
        func minutes(_ s: String) -> Int? {
            guard let n = Int(s), n >= 1, n <= 100_000 else { return nil }
            return n
        }
        switch verb {
        case "UP":
            if arguments.isEmpty { return .success(.up(minutes: nil)) }
            if arguments.count == 1, let m = minutes(arguments[0]) { return .success(.up(minutes: m)) }
            return .failure(SMSUsageError("usage: UP code [minutes]"))
        case "DOWN":
            return arguments.isEmpty ? .success(.down) : .failure(SMSUsageError("usage: DOWN code"))
        case "EXTEND":
            if arguments.count == 1, let m = minutes(arguments[0]) { return .success(.extend(minutes: m)) }
            return .failure(SMSUsageError("usage: EXTEND code minutes"))
        case "STATUS":
            return arguments.isEmpty ? .success(.status) : .failure(SMSUsageError("usage: STATUS code"))
        case "POWER":
            if arguments.count == 2, let action = SMSCommand.PowerAction(rawValue: arguments[1].lowercased()) {
                return .success(.power(outlet: arguments[0], action: action))
            }
            return .failure(SMSUsageError("usage: POWER code name cycle|on|off"))
        default:
            return .failure(SMSUsageError("unknown command, use UP, DOWN, EXTEND, STATUS or POWER"))
        }
    }
}

/// A command whose code was right but whose words were not.
public struct SMSUsageError: Error, Equatable, Sendable {
    /// The reason, sent back as `FAILED: <text>`.
    public let text: String
    init(_ text: String) { self.text = text }
}

/// The texts of the replies, exactly as contract.md words them. All fit in one GSM-7 SMS.
public enum SMSReply {
    /// `HH:MM` of `unixTime` in the zone `utcOffsetMinutes` east of UTC.
    public static func clock(_ unixTime: Int64, utcOffsetMinutes: Int) -> String {
        let local = unixTime + Int64(utcOffsetMinutes) * 60
        let secondsOfDay = ((local % 86400) + 86400) % 86400
        let h = secondsOfDay / 3600
        let m = (secondsOfDay % 3600) / 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }

    /// `UP until HH:MM, ssh -p 31337 jump.example.net`.
    public static func up(until: String, sshPort: Int, host: String) -> String {
        "UP until \(until), ssh -p \(sshPort) \(host)"
    }

    /// `UP until HH:MM` (the EXTEND reply).
    public static func extended(until: String) -> String { "UP until \(until)" }

    /// `FAILED: <reason>`.
    public static func failed(_ reason: String) -> String { "FAILED: \(reason)" }

    /// The link-down SMS sent after every teardown: `DOWN: link down (<reason>)`.
    public static func linkDown(reason: String) -> String { "DOWN: link down (\(reason))" }

    /// `POWER router cycled` / `POWER router on` / `POWER router off`.
    public static func power(_ outlet: String, _ action: SMSCommand.PowerAction) -> String {
        switch action {
        case .cycle: "POWER \(outlet) cycled"
        case .on: "POWER \(outlet) on"
        case .off: "POWER \(outlet) off"
        }
    }

    /// Cuts a text to one single-part SMS (160 GSM-7 characters).
    public static func fit(_ text: String) -> String {
        text.count <= 160 ? text : String(text.prefix(157)) + "..."
    }
}
