public import SerialIO
public import SystemPackage

/// The one public error of ATModem: what went wrong, what to do about it, and the AT exchange behind it.
///
/// Like GRDB's `DatabaseError` records the SQL, this error records the AT command that was sent and the final
/// result line the modem gave (`+CMS ERROR: 322`), with the meaning of the numeric code from the tables of
/// 3GPP TS 27.007 §9.2 (`+CME ERROR`) and TS 27.005 §3.2.5 (`+CMS ERROR`).
public struct ATModemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case timedOut, hung, commandFailed, simPINRequired, simPUKRequired, wrongPIN, simNotInserted
            case deviceVanished, serialPort, malformedResponse, closed, invalidArgument, unsupported, storageFull
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The modem did not finish a command in time but still answers `AT` (it was resynchronised).
        public static let timedOut = Code(.timedOut)
        /// The modem answers nothing at all, not even `AT`: reset it (`AT+CFUN=1,1` or a power cycle).
        public static let hung = Code(.hung)
        /// The modem answered with a final result other than `OK` (`ERROR`, `+CME ERROR`, `+CMS ERROR`, `BUSY`, …).
        public static let commandFailed = Code(.commandFailed)
        /// The SIM asks for its PIN and none was configured.
        public static let simPINRequired = Code(.simPINRequired)
        /// The SIM is blocked and asks for its PUK.
        public static let simPUKRequired = Code(.simPUKRequired)
        /// The SIM refused the configured PIN.
        public static let wrongPIN = Code(.wrongPIN)
        /// There is no SIM in the modem, or it cannot be read.
        public static let simNotInserted = Code(.simNotInserted)
        /// The serial device went away (USB unplugged, modem rebooting).
        public static let deviceVanished = Code(.deviceVanished)
        /// The serial port could not be opened or used.
        public static let serialPort = Code(.serialPort)
        /// The modem's answer could not be understood.
        public static let malformedResponse = Code(.malformedResponse)
        /// The modem connection was closed.
        public static let closed = Code(.closed)
        /// The caller passed something the modem layer cannot use (an AT command with a line break, a bad number).
        public static let invalidArgument = Code(.invalidArgument)
        /// The modem or its mode does not support what was asked.
        public static let unsupported = Code(.unsupported)
        /// The SMS storage is full.
        public static let storageFull = Code(.storageFull)
        public var description: String { base.rawValue }
    }

    /// What the failure is underneath, when it has a code of its own.
    public enum Underlying: Hashable, Sendable, CustomStringConvertible {
        /// A serial port failure.
        case serial(SerialIOError)
        /// An errno from a syscall of this module.
        case errno(Errno)
        /// `+CME ERROR: n` (3GPP TS 27.007 §9.2); `nil` when the modem gave text instead of a number.
        case cme(Int?, String)
        /// `+CMS ERROR: n` (3GPP TS 27.005 §3.2.5); `nil` when the modem gave text instead of a number.
        case cms(Int?, String)

        public var description: String {
            switch self {
            case .serial(let e): return e.description
            case .errno(let e): return "\(e)"
            case .cme(let n, let meaning): return "+CME ERROR: \(n.map(String.init) ?? "?") (\(meaning))"
            case .cms(let n, let meaning): return "+CMS ERROR: \(n.map(String.init) ?? "?") (\(meaning))"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence for a human: the problem and its fix.
    public var message: String
    /// The AT command that was sent (without the trailing CR), when one was.
    public var command: String?
    /// The final result line the modem gave, e.g. `+CMS ERROR: 322`, when it gave one.
    public var finalResult: String?
    /// The code underneath, if any.
    public var underlying: Underlying?
    /// Where in this module the error was made (for bug reports).
    public var file: String
    /// The line of `file`.
    public var line: Int

    /// Makes an error; prefer the static factories, which fill in the context.
    public init(code: Code, message: String, command: String? = nil, finalResult: String? = nil,
                underlying: Underlying? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.command = command
        self.finalResult = finalResult
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    /// One journal line: the message, then the command and the modem's answer.
    public var description: String {
        var s = message
        if let command { s += " [sent: \(command)" + (finalResult.map { "; modem: \($0)" } ?? "") + "]" }
        else if let finalResult { s += " [modem: \(finalResult)]" }
        if let underlying, case .serial(let e) = underlying, !message.contains(e.message) { s += " (\(underlying))" }
        return s
    }

    /// Errors compare by what they say, not where they were made.
    public static func == (a: ATModemError, b: ATModemError) -> Bool {
        a.code == b.code && a.message == b.message && a.command == b.command && a.finalResult == b.finalResult
            && a.underlying == b.underlying
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(command)
        hasher.combine(finalResult)
    }
}

// MARK: - Factories

extension ATModemError {
    /// A command that ended with a final result other than success.
    ///
    /// `+CME ERROR` / `+CMS ERROR` codes get their meaning from the 27.007 / 27.005 tables and, for the common
    /// ones, a fix; SIM states get their own codes (`.simPINRequired`, `.simPUKRequired`, `.wrongPIN`, …).
    public static func failed(_ command: String, result: FinalResult, file: String = #fileID, line: Int = #line)
        -> ATModemError
    {
        let sent = ATCommand.displayText(command)
        switch result {
        case .cmeError(let n, let text):
            let meaning = n.map { CMEErrorTable.meaning($0) } ?? text
            let (code, fix) = CMEErrorTable.classify(n, text: text)
            return ATModemError(
                code: code, message: "the modem refused \(sent): \(meaning); \(fix)", command: sent,
                finalResult: result.line, underlying: .cme(n, meaning), file: file, line: line)
        case .cmsError(let n, let text):
            let meaning = n.map { CMSErrorTable.meaning($0) } ?? text
            let (code, fix) = CMSErrorTable.classify(n, text: text)
            return ATModemError(
                code: code, message: "the modem refused \(sent): \(meaning); \(fix)", command: sent,
                finalResult: result.line, underlying: .cms(n, meaning), file: file, line: line)
        case .error:
            return ATModemError(
                code: .commandFailed,
                message: "the modem answered ERROR to \(sent); check the command's syntax and that this modem "
                    + "supports it (AT+CMEE=1 makes it say why)",
                command: sent, finalResult: result.line, file: file, line: line)
        case .ok, .connect:
            preconditionFailure("a successful final result is not an error")
        case .noCarrier, .busy, .noAnswer, .noDialtone:
            return ATModemError(
                code: .commandFailed,
                message: "the modem answered \(result.line) to \(sent); check the number and the network",
                command: sent, finalResult: result.line, file: file, line: line)
        }
    }

    /// A command that got no final result within `seconds`, after which the modem answered `AT` again.
    public static func timedOut(_ command: String, seconds: Double, file: String = #fileID, line: Int = #line)
        -> ATModemError
    {
        let sent = ATCommand.displayText(command)
        var fix = "retry; if it keeps happening, reset the modem (oob-agent modem at 'AT+CFUN=1,1') or power-cycle it"
        if sent.uppercased().hasPrefix("AT+CMGL") {
            fix = "Huawei sticks are known to stop answering AT+CMGL after a while: reset the modem "
                + "(oob-agent modem at 'AT+CFUN=1,1') or power-cycle it"
        }
        return ATModemError(
            code: .timedOut,
            message: "the modem did not finish \(sent) within \(formatSeconds(seconds)) (it still answers AT); \(fix)",
            command: sent, file: file, line: line)
    }

    /// A modem that answers nothing, not even `AT`.
    public static func hung(_ command: String?, file: String = #fileID, line: Int = #line) -> ATModemError {
        let sent = command.map { ATCommand.displayText($0) }
        return ATModemError(
            code: .hung,
            message: "the modem does not answer at all (not even AT)"
                + (sent.map { " after \($0)" } ?? "")
                + "; reset it (AT+CFUN=1,1 through Modem.reset()) or power-cycle the USB stick",
            command: sent, file: file, line: line)
    }

    /// The serial device went away.
    public static func vanished(path: String, command: String?, cause: SerialIOError?,
                                file: String = #fileID, line: Int = #line) -> ATModemError
    {
        ATModemError(
            code: .deviceVanished,
            message: "the modem at \(path) went away (unplugged, rebooting or re-enumerated); "
                + "check the USB connection, then reopen it (its path may have changed)",
            command: command.map { ATCommand.displayText($0) }, underlying: cause.map { .serial($0) },
            file: file, line: line)
    }

    /// A serial port that could not be opened or used.
    public static func serial(_ error: SerialIOError, file: String = #fileID, line: Int = #line) -> ATModemError {
        if error.code == .vanished {
            return .vanished(path: error.path ?? "the port", command: nil, cause: error, file: file, line: line)
        }
        return ATModemError(code: .serialPort, message: error.message, underlying: .serial(error), file: file, line: line)
    }

    /// An answer the modem layer cannot parse.
    public static func malformed(_ command: String, _ what: String, response: [String] = [],
                                 file: String = #fileID, line: Int = #line) -> ATModemError
    {
        let sent = ATCommand.displayText(command)
        let shown = response.prefix(3).joined(separator: " | ")
        return ATModemError(
            code: .malformedResponse,
            message: "the modem's answer to \(sent) is not understood: \(what)"
                + (shown.isEmpty ? "" : " (got: \(shown.prefix(200)))")
                + "; this modem may need a quirk: report the transcript (oob-agent modem at '\(sent)')",
            command: sent, file: file, line: line)
    }

    /// The connection is closed.
    public static func closed(_ command: String?, file: String = #fileID, line: Int = #line) -> ATModemError {
        ATModemError(
            code: .closed, message: "the modem connection is closed; open it again",
            command: command.map { ATCommand.displayText($0) }, file: file, line: line)
    }

    /// A bad argument from the caller.
    public static func invalidArgument(_ what: String, file: String = #fileID, line: Int = #line) -> ATModemError {
        ATModemError(code: .invalidArgument, message: what, file: file, line: line)
    }
}

func formatSeconds(_ s: Double) -> String {
    if s == s.rounded() { return "\(Int(s)) s" }
    return "\((s * 10).rounded() / 10) s"
}
