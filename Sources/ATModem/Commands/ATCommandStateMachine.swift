// Pure: no platform imports, no I/O. The engine performs the actions.

/// The exchange of one AT command, as a value: idle → awaiting response (with echo) → awaiting prompt (for
/// `+CMGS`) → final result, with unsolicited result codes routed aside in every state.
///
/// Rules (V.250 §5.7, TS 27.007 §4, TS 27.005 §3):
/// - While idle, a line is unsolicited (a known code or any `+NAME:`/`^NAME:` line) or stale (dropped).
/// - While a command runs, a line equal to the command is its echo (only before its first information line);
///   a final result code ends the command; a line with one of the command's response prefixes is an information
///   line; a known unsolicited code, or for an extended command any other `+`/`^` prefix, is unsolicited;
///   anything else (a PDU line, `huawei`, an IMEI) is an information line.
/// - `+CREG:`/`+CGREG:`/`+CEREG:` are replies only in the read-command shape (`<n>,<stat>…`): the unsolicited
///   `+CREG: 1` inside the reply to `AT+CREG?` is still routed aside.
/// - `+CMT`, `+CBM` and `+CDS: <length>` take the next line as their body, even in the middle of a response.
public struct ATCommandStateMachine: Sendable {
    /// What the engine must do after an event.
    public enum Action: Hashable, Sendable {
        /// Nothing.
        case none
        /// Write these bytes to the modem (a command line, or the payload after the prompt).
        case write([UInt8])
        /// Hand this unsolicited result code to the unsolicited stream.
        case unsolicited(UnsolicitedLine)
        /// The command is finished: hand its response to the caller.
        case complete(ATResponse)
        /// A line that belongs to nothing (a late reply to a timed-out command): log and drop it.
        case discard(String)
    }

    /// The command in flight and what it has received so far.
    struct InFlight: Sendable {
        var command: ATCommand
        var lines: [String] = []
        /// Whether the modem may still echo the command line (no information line seen yet).
        var echoPossible = true
    }

    private enum State: Sendable {
        /// No command in flight.
        case idle
        /// The command line was written: waiting for echo, information lines and the final result.
        case awaitingResponse(InFlight)
        /// A command with a payload was written: waiting for the `> ` prompt (or an early final result).
        case awaitingPrompt(InFlight)
        /// The payload was written after the prompt: waiting for information lines and the final result.
        case awaitingPayloadResponse(InFlight)
    }

    private var state: State = .idle
    /// An unsolicited code whose body line is still to come.
    private var pendingUnsolicited: String?

    /// Makes an idle machine.
    public init() {}

    /// Whether no command is in flight.
    public var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// Whether the machine waits for the `> ` prompt (the framer should recognise it now).
    public var isAwaitingPrompt: Bool {
        if case .awaitingPrompt = state { return true }
        return false
    }

    /// The command in flight, if any.
    public var currentCommand: ATCommand? {
        switch state {
        case .idle: return nil
        case .awaitingResponse(let f), .awaitingPrompt(let f), .awaitingPayloadResponse(let f): return f.command
        }
    }

    // MARK: - Events

    /// Starts `command`; returns the bytes to write.
    ///
    /// Sending while a command is in flight is a programming error of the engine, which runs one at a time.
    public mutating func send(_ command: ATCommand) -> Action {
        guard case .idle = state else {
            preconditionFailure("ATCommandStateMachine.send while \(currentCommand?.text ?? "?") is in flight")
        }
        let flight = InFlight(command: command)
        state = command.payload == nil ? .awaitingResponse(flight) : .awaitingPrompt(flight)
        return .write(command.wireBytes)
    }

    /// Feeds one token from the framer.
    public mutating func receive(_ token: ATLineFramer.Token) -> Action {
        switch token {
        case .prompt:
            guard case .awaitingPrompt(var flight) = state else { return .discard("> ") }
            flight.echoPossible = true
            state = .awaitingPayloadResponse(flight)
            return .write(flight.command.payload ?? [0x1A])
        case .line(let line):
            return receive(line: line)
        }
    }

    /// The deadline of the command in flight passed: the machine goes idle and returns what the command had got.
    /// - Returns: the command, its lines so far, and whether the modem may still wait for a payload (then the engine
    ///   sends ESC to cancel it); `nil` when idle.
    public mutating func timeout() -> (command: ATCommand, lines: [String], awaitingPayload: Bool)? {
        let result: (ATCommand, [String], Bool)?
        switch state {
        case .idle: result = nil
        case .awaitingResponse(let f): result = (f.command, f.lines, false)
        case .awaitingPrompt(let f): result = (f.command, f.lines, true)
        case .awaitingPayloadResponse(let f): result = (f.command, f.lines, false)
        }
        state = .idle
        pendingUnsolicited = nil
        return result
    }

    // MARK: - Lines

    private mutating func receive(line raw: String) -> Action {
        // A body line belongs to the unsolicited code before it, whatever state we are in.
        if let header = pendingUnsolicited {
            pendingUnsolicited = nil
            return .unsolicited(UnsolicitedLine(line: header, body: raw))
        }
        let line = raw.trimmingASCIIWhitespace()
        if line.isEmpty { return .none }

        switch state {
        case .idle:
            if FinalResult.parse(line) != nil { return .discard(line) }
            if UnsolicitedCodes.isKnown(line) || UnsolicitedCodes.name(of: line) != nil {
                return unsolicited(line)
            }
            return .discard(line)

        case .awaitingResponse(var flight):
            let action = classify(line, in: &flight, isPayloadPhase: false)
            if case .complete = action { state = .idle } else { state = .awaitingResponse(flight) }
            return action

        case .awaitingPrompt(var flight):
            let action = classify(line, in: &flight, isPayloadPhase: false)
            if case .complete = action { state = .idle } else { state = .awaitingPrompt(flight) }
            return action

        case .awaitingPayloadResponse(var flight):
            let action = classify(line, in: &flight, isPayloadPhase: true)
            if case .complete = action { state = .idle } else { state = .awaitingPayloadResponse(flight) }
            return action
        }
    }

    private mutating func classify(_ line: String, in flight: inout InFlight, isPayloadPhase: Bool) -> Action {
        if flight.echoPossible && isEcho(line, of: flight.command, payloadPhase: isPayloadPhase) {
            return .none
        }
        if let final = FinalResult.parse(line) {
            return .complete(ATResponse(command: flight.command.text, lines: flight.lines, result: final))
        }
        if let name = UnsolicitedCodes.name(of: line) ?? (UnsolicitedCodes.isKnown(line) ? line : nil) {
            let expected = flight.command.responsePrefixes.contains(name)
            if expected && (!UnsolicitedCodes.registration.contains(name) || UnsolicitedCodes.isRegistrationReply(line)) {
                flight.lines.append(line)
                flight.echoPossible = false
                return .none
            }
            let named = ATCommand.name(of: flight.command.text) != nil
            if expected || UnsolicitedCodes.isKnown(line) || (named && UnsolicitedCodes.name(of: line) != nil) {
                return unsolicited(line)
            }
        }
        flight.lines.append(line)
        flight.echoPossible = false
        return .none
    }

    private mutating func unsolicited(_ line: String) -> Action {
        if UnsolicitedCodes.carriesBody(line) {
            pendingUnsolicited = line
            return .none
        }
        return .unsolicited(UnsolicitedLine(line: line))
    }

    private func isEcho(_ line: String, of command: ATCommand, payloadPhase: Bool) -> Bool {
        if payloadPhase, let payload = command.payload {
            let sent = String(decoding: payload.filter { $0 != 0x1A && $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
            let got = String(line.unicodeScalars.filter { $0 != "\u{1A}" }).trimmingASCIIWhitespace()
            return !sent.isEmpty && got.caseInsensitiveEquals(sent.trimmingASCIIWhitespace())
        }
        return line.caseInsensitiveEquals(command.text.trimmingASCIIWhitespace())
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        return zip(utf8, other.utf8).allSatisfy { a, b in
            let la = (a >= 65 && a <= 90) ? a + 32 : a
            let lb = (b >= 65 && b <= 90) ? b + 32 : b
            return la == lb
        }
    }
}
