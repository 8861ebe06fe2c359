public import Logging

/// A swift-log handler for a daemon's stderr that journald reads well.
///
/// Under systemd (`JOURNAL_STREAM` set) each line starts with the syslog priority in angle
/// brackets (`<6>` info, `<4>` warning …, sd-daemon(3)), which journald turns into the entry's
/// priority, and carries no timestamp (journald adds one). On a terminal a line is
/// `HH:MM:SS level message key=value …`. Metadata is flattened to `key=value`, values with spaces
/// quoted. Only the executable bootstraps it (style point 12).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let journal: Bool

    /// Creates a handler.
    /// - Parameters:
    ///   - label: the logger label (shown on a terminal only).
    ///   - level: the lowest level written.
    ///   - journal: write `<N>` priority prefixes (default: `JOURNAL_STREAM` is set).
    public init(label: String, level: Logger.Level = .info, journal: Bool) {
        self.label = label
        self.logLevel = level
        self.journal = journal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        StandardError.writeLine(format(event))
    }

    /// The line for `event` (without the newline).
    public func format(_ event: LogEvent) -> String {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = journal ? "<\(Self.priority(event.level))>" : "\(StandardError.timeOfDay()) \(event.level) "
        line += "\(event.message)"
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.render(merged[key]!))"
        }
        if let error = event.error { line += " error=\(Self.quote("\(error)"))" }
        return line
    }

    /// The syslog priority of a level (RFC 5424 severities).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): quote(s)
        case .stringConvertible(let c): quote(c.description)
        case .array(let a): quote(a.map { "\($0)" }.joined(separator: ","))
        case .dictionary(let d): quote(d.keys.sorted().map { "\($0):\(d[$0]!)" }.joined(separator: ","))
        }
    }

    /// A metadata value as written: bare when it is plain, else quoted with `"` and `\\` escaped. Control
    /// characters (C0, DEL, C1, the Unicode line/paragraph separators and bidirectional overrides) are always
    /// written as `\n`, `\r`, `\t` or `\u{XX}`: a value may come from an SMS (a sender name, a verb), and a
    /// stranger's CR LF must not start a forged log line, nor an escape sequence repaint the operator's terminal.
    static func quote(_ s: String) -> String {
        let plain = !s.isEmpty && !s.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || isControl($0)
        }
        if plain { return s }
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isControl(scalar) {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Characters that must never reach the log raw.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}
