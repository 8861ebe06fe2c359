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

    static func quote(_ s: String) -> String {
        if !s.isEmpty, !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) { return s }
        var out = "\""
        for ch in s {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out + "\""
    }
}
