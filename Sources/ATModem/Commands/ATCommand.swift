/// One AT command line to send, with what it expects back.
public struct ATCommand: Hashable, Sendable {
    /// The command text without the terminating CR, e.g. `AT+CMGL=4`.
    public var text: String
    /// Bytes to send after the modem's `> ` prompt (for `+CMGS`/`+CMGW`: the PDU hex and Ctrl-Z); `nil` when the
    /// command has no prompt.
    public var payload: [UInt8]?
    /// The prefixes of the information lines this command answers with (`+CMGL`); lines with any other `+`/`^`
    /// prefix are taken for unsolicited result codes. Derived from the command's name when not given.
    public var responsePrefixes: [String]
    /// How long the modem may take to give the final result.
    public var timeout: Duration
    /// Send even when the modem is known to be hung (no `AT` probe first): for the reset command itself.
    public var skipsHungProbe = false

    /// Makes a command.
    /// - Parameters:
    ///   - text: the command line, e.g. `AT+CSQ`; must not contain CR or LF.
    ///   - payload: bytes to send after the `> ` prompt, ending with Ctrl-Z (0x1A), or `nil`.
    ///   - responsePrefixes: prefixes of the expected information lines; default: the command's own name.
    ///   - timeout: the deadline for the final result (default 10 s).
    public init(_ text: String, payload: [UInt8]? = nil, responsePrefixes: [String]? = nil,
                timeout: Duration = .seconds(10)) {
        self.text = text
        self.payload = payload
        self.responsePrefixes = responsePrefixes ?? ATCommand.defaultPrefixes(for: text)
        self.timeout = timeout
    }

    /// The bytes put on the wire: the text and CR (V.250 §5.2.1: S3, the command line termination character).
    public var wireBytes: [UInt8] { Array(text.utf8) + [0x0D] }

    /// The name of an extended command: `+CMGL` for `AT+CMGL=4`, `^SYSINFO` for `AT^SYSINFO`; `nil` for basic
    /// commands such as `ATI`, `ATE0`, `AT&V`.
    public static func name(of text: String) -> String? {
        let upper = text.uppercased()
        guard upper.hasPrefix("AT") else { return nil }
        let rest = upper.dropFirst(2)
        guard let first = rest.first, first == "+" || first == "^" || first == "$" || first == "%" || first == "*"
        else { return nil }
        var name = String(first)
        for c in rest.dropFirst() {
            if c.isLetter || c.isNumber || c == "_" { name.append(c) } else { break }
        }
        return name.count > 1 ? name : nil
    }

    static func defaultPrefixes(for text: String) -> [String] {
        guard let name = name(of: text) else { return [] }
        return [name]
    }

    /// The command as shown in messages: a `+CPIN="…"` entry has its PIN masked.
    public static func displayText(_ text: String) -> String {
        let upper = text.uppercased()
        if upper.hasPrefix("AT+CPIN=") || upper.hasPrefix("AT+CPIN2=") || upper.hasPrefix("AT+CLCK=")
            || upper.hasPrefix("AT+CPWD=")
        {
            let eq = text.firstIndex(of: "=")!
            return String(text[...eq]) + "\"****\""
        }
        return text
    }

    /// Whether `text` is a single command line that can be sent (starts with AT, no CR/LF/Ctrl-Z).
    public static func validate(_ text: String) throws(ATModemError) {
        guard text.uppercased().hasPrefix("AT") else {
            throw .invalidArgument("\"\(text)\" is not an AT command: it must start with AT, e.g. AT+CSQ")
        }
        if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x1A || $0 == 0x1B }) {
            throw .invalidArgument(
                "the AT command contains a line break, Ctrl-Z or ESC; send one command line at a time")
        }
        if text.utf8.count > 500 {
            throw .invalidArgument("the AT command is \(text.utf8.count) bytes long; modems accept about 500 at most")
        }
    }
}

/// The final result code that ends a command (ITU-T V.250 §5.7.1, 3GPP TS 27.007 §9.2, TS 27.005 §3.2.5).
public enum FinalResult: Hashable, Sendable {
    /// `OK`.
    case ok
    /// `CONNECT` with its optional text (e.g. a speed).
    case connect(String?)
    /// `ERROR`.
    case error
    /// `+CME ERROR: <err>`: the number (`AT+CMEE=1`) or `nil` with the text (`AT+CMEE=2`).
    case cmeError(Int?, String)
    /// `+CMS ERROR: <err>`: the number or `nil` with the text.
    case cmsError(Int?, String)
    /// `NO CARRIER`.
    case noCarrier
    /// `BUSY`.
    case busy
    /// `NO ANSWER`.
    case noAnswer
    /// `NO DIALTONE` (also spelled `NO DIAL TONE`).
    case noDialtone

    /// Whether the command succeeded (`OK` or `CONNECT`).
    public var isSuccess: Bool {
        switch self {
        case .ok, .connect: return true
        case .error, .cmeError, .cmsError, .noCarrier, .busy, .noAnswer, .noDialtone: return false
        }
    }

    /// The line as a modem prints it.
    public var line: String {
        switch self {
        case .ok: return "OK"
        case .connect(let t): return t.map { "CONNECT \($0)" } ?? "CONNECT"
        case .error: return "ERROR"
        case .cmeError(let n, let t): return "+CME ERROR: " + (n.map(String.init) ?? t)
        case .cmsError(let n, let t): return "+CMS ERROR: " + (n.map(String.init) ?? t)
        case .noCarrier: return "NO CARRIER"
        case .busy: return "BUSY"
        case .noAnswer: return "NO ANSWER"
        case .noDialtone: return "NO DIALTONE"
        }
    }

    /// Parses a final result line; `nil` when the line is not one.
    ///
    /// Numeric (V0) result codes are not recognised: the modem layer always runs with V1 (verbose) results.
    public static func parse(_ rawLine: String) -> FinalResult? {
        let line = rawLine.trimmingASCIIWhitespace()
        switch line {
        case "OK": return .ok
        case "ERROR": return .error
        case "NO CARRIER": return .noCarrier
        case "BUSY": return .busy
        case "NO ANSWER": return .noAnswer
        case "NO DIALTONE", "NO DIAL TONE": return .noDialtone
        case "CONNECT": return .connect(nil)
        default: break
        }
        if line.hasPrefix("CONNECT ") {
            return .connect(String(line.dropFirst(8)).trimmingASCIIWhitespace())
        }
        for (prefix, cms) in [("+CME ERROR:", false), ("+CMS ERROR:", true)] where line.hasPrefix(prefix) {
            let rest = String(line.dropFirst(prefix.count)).trimmingASCIIWhitespace()
            let n = Int(rest)
            let text = n == nil ? rest : ""
            return cms ? .cmsError(n, text) : .cmeError(n, text)
        }
        return nil
    }
}

/// What a command got back: its information lines and its final result.
public struct ATResponse: Hashable, Sendable {
    /// The command text that was sent.
    public var command: String
    /// The information lines, in order, without echo, blank lines and unsolicited result codes.
    public var lines: [String]
    /// The final result.
    public var result: FinalResult

    /// Makes a response (tests build them by hand).
    public init(command: String, lines: [String], result: FinalResult) {
        self.command = command
        self.lines = lines
        self.result = result
    }

    /// The information lines that start with `prefix` (e.g. `+CSQ:`), with the prefix and following spaces removed.
    public func values(_ prefix: String) -> [String] {
        lines.compactMap { line in
            guard line.hasPrefix(prefix) else { return nil }
            return String(line.dropFirst(prefix.count)).trimmingASCIIWhitespace()
        }
    }

    /// Throws the module error unless the command succeeded.
    /// - Throws: `ATModemError` built from the final result and the command.
    @discardableResult
    public func checked() throws(ATModemError) -> ATResponse {
        if result.isSuccess { return self }
        throw ATModemError.failed(command, result: result)
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs, CR and LF.
    func trimmingASCIIWhitespace() -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        func isWS(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" || s == "\r" || s == "\n" }
        while start < end, isWS(scalars[start]) { start = scalars.index(after: start) }
        while end > start, isWS(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return String(scalars[start..<end])
    }
}
