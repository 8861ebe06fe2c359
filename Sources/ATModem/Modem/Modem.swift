import Foundation
import Synchronization
public import Logging
public import SerialIO

/// A cellular modem driven over its AT port: SIM, signal, registration, time, and SMS in PDU mode (text mode as the
/// fallback for modems that refuse PDU mode).
///
/// An actor; its commands run one at a time on an `ATCommandEngine`. Every method is bounded in time: a silent
/// modem gives `.timedOut` or `.hung`, never an endless wait.
public actor Modem {
    /// Settings of the modem layer.
    public struct Options: Sendable {
        /// The SIM PIN, entered only when the SIM asks for it.
        public var pin: String?
        /// The storage to read, write and receive in (`AT+CPMS`); `nil` keeps the modem's choice.
        public var storage: String?
        /// Deadline of ordinary commands.
        public var commandTimeout: Duration
        /// Deadline of `+CMGL` (a full SIM takes a while).
        public var listTimeout: Duration
        /// Deadline of each `+CMGS` (the network is involved).
        public var sendTimeout: Duration
        /// How long `reset()` waits for the modem to come back.
        public var resetTimeout: Duration
        /// Recovery timing of the engine.
        public var engine: ATCommandEngine.Options
        /// When `+CMGL` times out or the modem hangs while listing (a known Huawei fault), `reset()` the modem once
        /// and list again.
        public var resetWhenListingHangs: Bool = true

        /// The defaults: no PIN, storage `SM`, 10 s commands, 30 s listing, 60 s sending, 60 s reset.
        public init(pin: String? = nil, storage: String? = "SM", commandTimeout: Duration = .seconds(10),
                    listTimeout: Duration = .seconds(30), sendTimeout: Duration = .seconds(60),
                    resetTimeout: Duration = .seconds(60), engine: ATCommandEngine.Options = .init()) {
            self.pin = pin
            self.storage = storage
            self.commandTimeout = commandTimeout
            self.listTimeout = listTimeout
            self.sendTimeout = sendTimeout
            self.resetTimeout = resetTimeout
            self.engine = engine
        }
    }

    /// How the modem exchanges SMS.
    public enum MessageMode: String, Hashable, Sendable {
        /// `AT+CMGF=0`: PDUs (the default; exact).
        case pdu
        /// `AT+CMGF=1`: text (the fallback for modems that refuse PDU mode).
        case text
    }

    /// What `initialize()` found.
    public struct InitializationReport: Hashable, Sendable {
        /// The SMS mode in use.
        public var mode: MessageMode
        /// Whether the PIN had to be entered.
        public var enteredPIN: Bool
        /// The storage usage after `+CPMS`, when the modem reported it.
        public var storage: StorageStatus?
        /// Whether `+CNMI` was accepted, so new SMS are announced with `+CMTI` (else poll).
        public var notifications: Bool
    }

    /// Manufacturer, model, firmware, IMEI, IMSI.
    public struct Identity: Hashable, Sendable {
        /// `+CGMI`, e.g. `huawei`.
        public var manufacturer: String
        /// `+CGMM`, e.g. `E1752`.
        public var model: String
        /// `+CGMR`: the firmware.
        public var revision: String
        /// `+CGSN`.
        public var imei: String
        /// `nil` when the SIM does not tell (locked or absent).
        public var imsi: String?
    }

    /// Unsolicited events (new SMS, signal, registration, a vanished device, …), the newest 1024 kept while
    /// nobody reads. One consumer at a time; it finishes at `close()` (and, as any `AsyncStream`, when the task
    /// iterating it is cancelled). A Huawei stick's noise is not passed on, so that an idle reader sleeps: `^BOOT`
    /// heartbeats never, and `^RSSI` only when the value changed (the raw lines stay on ``engine``'s stream).
    public nonisolated let unsolicited: AsyncStream<UnsolicitedEvent>
    let eventContinuation: AsyncStream<UnsolicitedEvent>.Continuation
    /// The engine underneath (for raw commands and its raw unsolicited stream).
    public nonisolated let engine: ATCommandEngine
    let options: Options
    let configuration: SerialConfiguration
    let locate: @Sendable () -> String?
    let logger: Logger
    var openedPath: String
    /// The SMS mode in use (set by `initialize()`).
    public private(set) var mode: MessageMode = .pdu

    private init(engine: ATCommandEngine, events: (AsyncStream<UnsolicitedEvent>, AsyncStream<UnsolicitedEvent>.Continuation),
                 path: String, configuration: SerialConfiguration, options: Options, logger: Logger,
                 locate: (@Sendable () -> String?)?) {
        self.engine = engine
        (unsolicited, eventContinuation) = events
        self.openedPath = path
        self.configuration = configuration
        self.options = options
        self.logger = logger
        self.locate = locate ?? { path }
    }

    /// Opens the modem's AT port. Does not talk to the modem yet: call `initialize()`.
    /// - Parameters:
    ///   - path: the AT port, e.g. `/dev/ttyUSB2`.
    ///   - configuration: baud rate and framing (default 115200 8N1).
    ///   - options: PIN, storage, timeouts.
    ///   - logger: where the modem layer logs.
    ///   - locate: where the modem is after it re-enumerated (a reset, a vanish): returns its current path;
    ///     default: `path` again.
    /// - Throws: `ATModemError` (`.serialPort` naming the problem, e.g. a busy port and its holder).
    public static func open(path: String, configuration: SerialConfiguration = SerialConfiguration(),
                            options: Options = Options(), logger: Logger,
                            locate: (@Sendable () -> String?)? = nil) async throws -> Modem {
        let events = AsyncStream.makeStream(of: UnsolicitedEvent.self, bufferingPolicy: .bufferingNewest(1024))
        let continuation = events.1
        let lastSignal = Mutex<UnsolicitedEvent?>(nil)
        let engine = try await ATCommandEngine.open(
            path: path, configuration: configuration, options: options.engine, logger: logger,
            unsolicitedHandler: { line in
                let event = UnsolicitedEvent(line)
                switch event {
                case .heartbeat: return
                case .signal:
                    if lastSignal.withLock({ last in defer { last = event }; return last == event }) { return }
                default: break
                }
                continuation.yield(event)
            },
            vanishHandler: { continuation.yield(.deviceVanished(path: $0)) })
        return Modem(engine: engine, events: events, path: path, configuration: configuration, options: options,
                     logger: logger, locate: locate)
    }

    /// Opens the modem, runs `body` with it, and closes it whatever `body` does.
    /// - Parameters: as `open(path:configuration:options:logger:locate:)`; `body` gets the (uninitialised) modem.
    /// - Throws: what `open` or `body` throws.
    public static func withOpened<Result: Sendable>(
        path: String, configuration: SerialConfiguration = SerialConfiguration(), options: Options = Options(),
        logger: Logger, locate: (@Sendable () -> String?)? = nil, _ body: (Modem) async throws -> Result
    ) async throws -> Result {
        let modem = try await open(path: path, configuration: configuration, options: options, logger: logger,
                                   locate: locate)
        do {
            let result = try await body(modem)
            await modem.close()
            return result
        } catch {
            await modem.close()
            throw error
        }
    }

    /// Closes the port and finishes `unsolicited`. Idempotent.
    public func close() async {
        await engine.close()
        eventContinuation.finish()
    }

    // MARK: - Raw commands

    /// Sends one AT command line and returns the modem's answer, whatever its final result.
    /// - Parameters:
    ///   - text: e.g. `AT+CSQ`.
    ///   - timeout: deadline of the final result.
    /// - Throws: `ATModemError` for timeouts, a hung or vanished modem, an invalid command line.
    public func command(_ text: String, timeout: Duration? = nil) async throws -> ATResponse {
        try await engine.execute(ATCommand(text, timeout: timeout ?? options.commandTimeout))
    }

    @discardableResult
    func run(_ text: String, timeout: Duration? = nil) async throws -> ATResponse {
        try await engine.execute(ATCommand(text, timeout: timeout ?? options.commandTimeout)).checked()
    }

    // MARK: - Initialisation

    /// Prepares the modem: echo off, numeric errors, SIM PIN, PDU mode (text mode if refused), storage, and `+CNMI`
    /// so new SMS are announced.
    /// - Returns: what was set up.
    /// - Throws: `ATModemError`: `.simPINRequired` (no PIN configured), `.wrongPIN` (never retried: three wrong
    ///   PINs block the SIM), `.simPUKRequired`, `.simNotInserted`, `.hung`, `.unsupported` (no SMS mode works).
    @discardableResult
    public func initialize() async throws -> InitializationReport {
        // The first exchange may meet leftovers (a half-typed command, a pending prompt): resync through AT.
        var lastError: (any Error)?
        var alive = false
        for _ in 0..<3 {
            do {
                try await run("AT", timeout: .seconds(2))
                alive = true
                break
            } catch {
                lastError = error
                if let e = error as? ATModemError, e.code == .deviceVanished || e.code == .closed { throw e }
            }
        }
        if !alive { throw lastError ?? ATModemError.hung("AT") }
        try await run("ATE0")
        _ = try? await run("AT+CMEE=1")
        let enteredPIN = try await unlockSIM()

        if (try? await run("AT+CMGF=0")) != nil {
            mode = .pdu
        } else if (try? await run("AT+CMGF=1")) != nil {
            mode = .text
            // IRA (ASCII): what this program writes and reads in text mode.
            _ = try? await run("AT+CSCS=\"IRA\"")
            // The details a text-mode header leaves out by default: the sender's type of address and, on +CMGR, the
            // first octet (whether a user data header, i.e. a multipart part, is there).
            _ = try? await run("AT+CSDH=1")
            logger.info("modem refuses PDU mode; using text mode")
        } else {
            throw ATModemError(
                code: .unsupported,
                message: "the modem accepts neither AT+CMGF=0 (PDU mode) nor AT+CMGF=1 (text mode): it cannot do SMS; "
                    + "check that this is the AT port of the modem (try another ttyUSB) and that a SIM is in",
                command: "AT+CMGF=1")
        }

        var storage: StorageStatus?
        if let s = options.storage {
            if let r = try? await run("AT+CPMS=\"\(s)\",\"\(s)\",\"\(s)\"") {
                storage = r.lines.lazy.compactMap(StorageStatus.parse).first
            } else {
                logger.info("modem refused the SMS storage; keeping its own", metadata: ["modem.storage": "\(s)"])
            }
        }
        if storage == nil { storage = try? await storageStatus() }

        var notifications = true
        if (try? await run("AT+CNMI=2,1,0,2,0")) == nil, (try? await run("AT+CNMI=2,1,0,0,0")) == nil,
           (try? await run("AT+CNMI=1,1")) == nil
        {
            notifications = false
            logger.info("modem refuses +CNMI: new SMS are found by polling only")
        }
        return InitializationReport(mode: mode, enteredPIN: enteredPIN, storage: storage, notifications: notifications)
    }

    /// Reads the SIM state and enters the PIN when asked; returns whether it did.
    func unlockSIM() async throws -> Bool {
        // Right after a (re)boot the SIM may still be busy (+CME ERROR: 14) or not answer +CPIN? yet.
        var state = ""
        for attempt in 0..<8 {
            do {
                state = try await simState()
                break
            } catch let e as ATModemError where e.code == .commandFailed && attempt < 7 {
                try await Task.sleep(for: .milliseconds(750))
            }
        }
        switch state {
        case "READY": return false
        case "SIM PIN":
            guard let pin = options.pin, !pin.isEmpty else {
                throw ATModemError(
                    code: .simPINRequired,
                    message: "the SIM asks for its PIN and none is configured; set [modem] pin in the config "
                        + "(or pass --pin)", command: "AT+CPIN?", finalResult: "+CPIN: SIM PIN")
            }
            guard pin.count >= 4, pin.count <= 8, pin.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw ATModemError.invalidArgument(
                    "the configured SIM PIN is not 4 to 8 digits; correct [modem] pin (it was not sent to the SIM)")
            }
            let response = try await command("AT+CPIN=\"\(pin)\"")
            if !response.result.isSuccess {
                let e = ATModemError.failed(response.command, result: response.result)
                if e.code == .wrongPIN || e.code == .commandFailed {
                    throw ATModemError(
                        code: .wrongPIN,
                        message: "the SIM refused the configured PIN; correct [modem] pin. It is not retried: "
                            + "three wrong PINs block the SIM (then it needs its PUK)",
                        command: e.command, finalResult: e.finalResult, underlying: e.underlying)
                }
                throw e
            }
            // The SIM takes a moment to become ready after the PIN.
            for _ in 0..<20 {
                if (try? await simState()) == "READY" { return true }
                try await Task.sleep(for: .milliseconds(250))
            }
            return true
        case "SIM PUK", "SIM PUK2":
            throw ATModemError(
                code: .simPUKRequired,
                message: "the SIM is blocked and asks for its PUK; unlock it in a phone with the PUK from the "
                    + "SIM's card (the agent never enters a PUK)", command: "AT+CPIN?", finalResult: "+CPIN: \(state)")
        default:
            throw ATModemError(
                code: .unsupported,
                message: "the SIM asks for \(state), which the agent cannot give; unlock the SIM in a phone",
                command: "AT+CPIN?", finalResult: "+CPIN: \(state)")
        }
    }

    /// `AT+CPIN?`: `READY`, `SIM PIN`, `SIM PUK`, …
    /// - Throws: `ATModemError` (`.simNotInserted` for +CME ERROR 10).
    public func simState() async throws -> String {
        let r = try await run("AT+CPIN?")
        guard let v = r.values("+CPIN:").first else {
            throw ATModemError.malformed("AT+CPIN?", "no +CPIN line", response: r.lines)
        }
        return v.trimmingCharacters(in: "\" ").uppercased()
    }

    // MARK: - Identity, signal, registration, time

    /// Manufacturer, model, revision, IMEI (`+CGMI`, `+CGMM`, `+CGMR`, `+CGSN`) and IMSI (`+CIMI`).
    /// - Throws: `ATModemError`.
    public func identity() async throws -> Identity {
        func value(_ cmd: String) async throws -> String {
            let r = try await run(cmd)
            let name = ATCommand.name(of: cmd) ?? ""
            let line = r.lines.first ?? ""
            // Some modems prefix the answer ("+CGMI: huawei"), most do not.
            if !name.isEmpty, line.hasPrefix(name) {
                return String(line.dropFirst(name.count)).trimmingCharacters(in: ": \"")
            }
            return line.trimmingCharacters(in: " \"")
        }
        let imsi = try? await value("AT+CIMI")
        return Identity(
            manufacturer: try await value("AT+CGMI"), model: try await value("AT+CGMM"),
            revision: try await value("AT+CGMR"), imei: try await value("AT+CGSN"),
            imsi: imsi.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// Signal strength (`AT+CSQ`).
    /// - Throws: `ATModemError`.
    public func signal() async throws -> SignalQuality {
        let r = try await run("AT+CSQ")
        guard let s = r.lines.lazy.compactMap(SignalQuality.parse(csq:)).first else {
            throw ATModemError.malformed("AT+CSQ", "no +CSQ line", response: r.lines)
        }
        return s
    }

    /// Registration (`AT+CREG?`) and operator (`AT+COPS?`).
    /// - Throws: `ATModemError`.
    public func registration() async throws -> Registration {
        let r = try await run("AT+CREG?")
        guard var reg = r.lines.lazy.compactMap(Registration.parse(cregReply:)).first else {
            throw ATModemError.malformed("AT+CREG?", "no +CREG reply line", response: r.lines)
        }
        if let cops = try? await run("AT+COPS?"), let parsed = cops.lines.lazy.compactMap(Registration.parse(cops:)).first {
            reg.operatorName = parsed.name
            if reg.accessTechnology == nil { reg.accessTechnology = parsed.accessTechnology }
        }
        return reg
    }

    /// The modem's clock (`AT+CCLK?`), set from the network (NITZ) on most sticks, with its time zone.
    /// - Throws: `ATModemError` (`.malformedResponse` when the modem's clock is not set).
    public func networkTime() async throws -> ModemClock {
        let r = try await run("AT+CCLK?")
        guard let v = r.values("+CCLK:").first, let clock = ModemClock.parse(v) else {
            throw ATModemError.malformed("AT+CCLK?", "no valid +CCLK time", response: r.lines)
        }
        return clock
    }

    // MARK: - Storage and messages

    /// Usage of the SMS storages (`AT+CPMS?`).
    /// - Throws: `ATModemError`.
    public func storageStatus() async throws -> StorageStatus {
        let r = try await run("AT+CPMS?")
        guard let s = r.lines.lazy.compactMap(StorageStatus.parse).first else {
            throw ATModemError.malformed("AT+CPMS?", "no +CPMS line", response: r.lines)
        }
        return s
    }

    /// Every message in the storage (`AT+CMGL=4` in PDU mode, `AT+CMGL="ALL"` in text mode). Reading them does
    /// not delete them; received unread ones become read. A modem that stops answering the listing is reset and
    /// asked again once (`Options.resetWhenListingHangs`).
    /// - Throws: `ATModemError` (`.timedOut`/`.hung` when even a reset does not help).
    public func listMessages() async throws -> [StoredMessage] {
        let cmd = mode == .pdu ? "AT+CMGL=4" : "AT+CMGL=\"ALL\""
        do {
            let r = try await run(cmd, timeout: options.listTimeout)
            return MessageListParser.parseList(r.lines)
        } catch let e as ATModemError where options.resetWhenListingHangs && (e.code == .timedOut || e.code == .hung) {
            logger.info("modem stopped answering the SMS listing; resetting it", metadata: ["modem.error": "\(e)"])
            try await reset()
            let again = mode == .pdu ? "AT+CMGL=4" : "AT+CMGL=\"ALL\""
            let r = try await run(again, timeout: options.listTimeout)
            return MessageListParser.parseList(r.lines)
        }
    }

    /// One message (`AT+CMGR=<index>`); `nil` when the slot is empty.
    /// - Throws: `ATModemError` (`+CMS ERROR: 321` for an index outside the storage).
    public func readMessage(index: Int) async throws -> StoredMessage? {
        let r = try await run("AT+CMGR=\(index)")
        return MessageListParser.parseRead(r.lines, index: index)
    }

    /// Deletes one message (`AT+CMGD=<index>`).
    /// - Throws: `ATModemError`.
    public func deleteMessage(index: Int) async throws {
        try await run("AT+CMGD=\(index)")
    }

    // MARK: - Reset and reopen

    /// Restarts the modem (`AT+CFUN=1,1`), waits for it to come back (its port re-enumerates, maybe under a new
    /// path found through `locate`), and initialises it again.
    /// - Throws: `ATModemError` `.hung` when it does not come back within `options.resetTimeout`.
    @discardableResult
    public func reset() async throws -> InitializationReport {
        logger.info("modem reset", metadata: ["modem.device": "\(openedPath)"])
        // Sent even to a modem that answers nothing: a hung firmware often still obeys it.
        var restart = ATCommand("AT+CFUN=1,1", timeout: .seconds(3))
        restart.skipsHungProbe = true
        _ = try? await engine.execute(restart)
        await engine.detach()
        // Wait for the stick to drop off the bus (up to 5 s), so the old device is not taken for the rebooted one.
        let gone = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < gone {
            guard let p = locate(), p == openedPath, FileManager.default.fileExists(atPath: p) else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(300))
        try await reattach(timeout: options.resetTimeout)
        return try await initialize()
    }

    /// Attaches to the modem again after it vanished (found through `locate`), waiting up to `timeout`.
    /// - Throws: `ATModemError` `.hung` when it does not answer in time.
    public func reopen(timeout: Duration? = nil) async throws {
        await engine.detach()
        try await reattach(timeout: timeout ?? options.resetTimeout)
    }

    private func reattach(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var lastError: (any Error)?
        while clock.now < deadline {
            if let path = locate(), FileManager.default.fileExists(atPath: path) {
                do {
                    try await engine.reopen(path: path, configuration: configuration)
                    try await engine.run("AT", timeout: .seconds(2))
                    openedPath = path
                    logger.info("modem is back", metadata: ["modem.device": "\(path)"])
                    return
                } catch {
                    lastError = error
                    await engine.detach()
                }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw ATModemError(
            code: .hung,
            message: "the modem did not come back within \(timeout) after a reset or vanish; power-cycle it and check "
                + "dmesg for its USB device" + (lastError.map { " (last error: \($0))" } ?? ""))
    }
}
