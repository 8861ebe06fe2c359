import Foundation
public import Logging
public import SerialIO
import Synchronization
import SystemPackage

/// Runs AT commands on a serial port, one at a time, from a dedicated poll(2) thread bridged to async/await.
///
/// - One command is in flight; callers queue in order.
/// - Each command has its own deadline. When it passes, the engine cancels a pending `> ` prompt with ESC, then
///   resynchronises: it discards what is buffered and sends `AT` until the modem says `OK` (then the caller gets
///   `.timedOut`). A modem that answers nothing is reported `.hung`; later commands first probe it with `AT` and
///   fail fast with `.hung` until it answers or is reset. No caller ever waits longer than its timeout plus the
///   resynchronisation budget.
/// - Unsolicited result codes go to `unsolicited`, whenever they arrive (in the middle of a response included).
/// - A device that vanishes fails the command in flight with `.deviceVanished`; `reopen(path:)` attaches the engine
///   to the device again (a USB modem that re-enumerated may have a new path).
///
/// The port, the framer and the state machine are confined to the engine's thread; callers only touch a
/// mutex-protected request queue and a wake-up pipe.
public final class ATCommandEngine: Sendable {
    /// Timing of the engine's recovery.
    public struct Options: Sendable {
        /// How many `AT` probes a resynchronisation sends before the modem is declared hung.
        public var resyncAttempts: Int
        /// How long each probe waits for `OK`.
        public var resyncTimeout: Duration
        /// Quiet time after a successful probe, during which late lines are discarded.
        public var settleTime: Duration

        /// The defaults: 3 probes of 1 s, 150 ms settling.
        public init(resyncAttempts: Int = 3, resyncTimeout: Duration = .seconds(1),
                    settleTime: Duration = .milliseconds(150)) {
            self.resyncAttempts = resyncAttempts
            self.resyncTimeout = resyncTimeout
            self.settleTime = settleTime
        }
    }

    enum Request: Sendable {
        case command(ATCommand, CheckedContinuation<ATResponse, any Error>)
        case reopen(String, SerialConfiguration, CheckedContinuation<Void, any Error>)
        case detach(CheckedContinuation<Void, Never>)
        case close(CheckedContinuation<Void, Never>)
    }

    struct Shared: Sendable {
        var requests: [Request] = []
        var closed = false
        var path: String?
        var hung = false
    }

    /// Unsolicited result codes, in arrival order. Finishes when the engine is closed.
    public let unsolicited: AsyncStream<UnsolicitedLine>
    let unsolicitedContinuation: AsyncStream<UnsolicitedLine>.Continuation
    let shared = Mutex(Shared())
    let wake: WakeupPipe
    let logger: Logger
    let options: Options
    let unsolicitedHandler: (@Sendable (UnsolicitedLine) -> Void)?
    let vanishHandler: (@Sendable (String) -> Void)?

    /// Makes an engine with no port yet; `reopen(path:)` attaches one. Starts the engine's thread.
    /// - Parameters:
    ///   - options: recovery timing.
    ///   - logger: where the engine logs.
    ///   - unsolicitedHandler: called on the engine's thread for every unsolicited code, besides `unsolicited`.
    ///   - vanishHandler: called on the engine's thread with the device path when the device goes away.
    /// - Throws: `ATModemError` when the wake-up pipe cannot be made.
    public init(options: Options = Options(), logger: Logger,
                unsolicitedHandler: (@Sendable (UnsolicitedLine) -> Void)? = nil,
                vanishHandler: (@Sendable (String) -> Void)? = nil) throws {
        self.options = options
        self.logger = logger
        self.unsolicitedHandler = unsolicitedHandler
        self.vanishHandler = vanishHandler
        (unsolicited, unsolicitedContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1024))
        wake = try WakeupPipe()
        let thread = Thread { [self] in
            var loop = EngineLoop(engine: self)
            loop.run()
        }
        thread.name = "ATCommandEngine"
        thread.start()
    }

    /// Opens the modem at `path` and returns an engine attached to it.
    /// - Parameters:
    ///   - path: the AT port, e.g. `/dev/ttyUSB2`.
    ///   - configuration: baud rate and framing.
    ///   - options: recovery timing.
    ///   - logger: where the engine logs (≤ debug; traffic at trace).
    /// - Throws: `ATModemError` (`.serialPort` naming the problem, e.g. a busy port and its holder).
    ///   - unsolicitedHandler: called on the engine's thread for every unsolicited code, besides `unsolicited`.
    ///   - vanishHandler: called on the engine's thread with the device path when the device goes away.
    public static func open(path: String, configuration: SerialConfiguration = SerialConfiguration(),
                            options: Options = Options(), logger: Logger,
                            unsolicitedHandler: (@Sendable (UnsolicitedLine) -> Void)? = nil,
                            vanishHandler: (@Sendable (String) -> Void)? = nil)
        async throws -> ATCommandEngine
    {
        let engine = try ATCommandEngine(options: options, logger: logger, unsolicitedHandler: unsolicitedHandler,
                                         vanishHandler: vanishHandler)
        do {
            try await engine.reopen(path: path, configuration: configuration)
        } catch {
            await engine.close()
            throw error
        }
        return engine
    }

    /// The device path the engine is attached to, `nil` while detached.
    public var path: String? { shared.withLock { $0.path } }

    /// Whether the last resynchronisation found the modem silent.
    public var isHung: Bool { shared.withLock { $0.hung } }

    /// Sends `command` and waits for its final result, whatever it is (`ERROR` included).
    /// - Returns: the response; call `checked()` on it to turn a failure result into an error.
    /// - Throws: `ATModemError` `.timedOut`, `.hung`, `.deviceVanished`, `.closed`, `.invalidArgument`.
    public func execute(_ command: ATCommand) async throws -> ATResponse {
        try ATCommand.validate(command.text)
        return try await withCheckedThrowingContinuation { c in
            if enqueue(.command(command, c)) == false {
                c.resume(throwing: ATModemError.closed(command.text))
            }
        }
    }

    /// Sends `text` and returns the response if the command succeeded.
    /// - Throws: `ATModemError`, including `.commandFailed` and the SIM codes for an error result.
    @discardableResult
    public func run(_ text: String, timeout: Duration = .seconds(10)) async throws -> ATResponse {
        try await execute(ATCommand(text, timeout: timeout)).checked()
    }

    /// Attaches the engine to the device at `path` (closing any port it had): after a vanish or a reset.
    /// - Throws: `ATModemError` when the port cannot be opened.
    public func reopen(path: String, configuration: SerialConfiguration = SerialConfiguration()) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            if enqueue(.reopen(path, configuration, c)) == false { c.resume(throwing: ATModemError.closed(nil)) }
        }
    }

    /// Closes the port but keeps the engine (for a reset: the device is about to re-enumerate).
    public func detach() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            if enqueue(.detach(c)) == false { c.resume() }
        }
    }

    /// Closes the port, fails queued commands with `.closed`, finishes `unsolicited` and stops the thread.
    /// Idempotent.
    public func close() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            if enqueue(.close(c)) == false { c.resume() }
        }
    }

    func deliver(_ u: UnsolicitedLine) {
        unsolicitedContinuation.yield(u)
        unsolicitedHandler?(u)
    }

    private func enqueue(_ request: Request) -> Bool {
        let accepted = shared.withLock { s -> Bool in
            if s.closed { return false }
            if case .close = request { s.closed = true }
            s.requests.append(request)
            return true
        }
        if accepted { wake.signal() }
        return accepted
    }
}

// MARK: - The engine's thread

/// Everything the engine's thread owns. Never leaves that thread.
private struct EngineLoop {
    let engine: ATCommandEngine
    var port: SerialPort?
    var path = ""
    var framer = ATLineFramer()
    var machine = ATCommandStateMachine()
    var current: (command: ATCommand, continuation: CheckedContinuation<ATResponse, any Error>, deadline: Int64)?
    var hung = false
    var logger: Logger { engine.logger }

    init(engine: ATCommandEngine) { self.engine = engine }

    mutating func run() {
        while true {
            // close() does not wait for the command in flight: that one fails with .closed at once.
            let closeRequest = engine.shared.withLock { s -> ATCommandEngine.Request? in
                guard s.closed, let i = s.requests.firstIndex(where: { if case .close = $0 { true } else { false } })
                else { return nil }
                return s.requests.remove(at: i)
            }
            if let closeRequest {
                _ = handle(closeRequest)
                return
            }
            if current == nil {
                let next = engine.shared.withLock { s -> ATCommandEngine.Request? in
                    s.requests.isEmpty ? nil : s.requests.removeFirst()
                }
                if let next {
                    if handle(next) == false { return }
                    continue
                }
            }
            var timeout = -1
            if let current { timeout = max(0, Int((current.deadline - Monotonic.now() + 999_999) / 1_000_000)) }
            var fds: [(fd: CInt, events: Int16)] = [(engine.wake.readFD, pollIn)]
            if let port { fds.append((port.fileDescriptor.rawValue, pollIn)) }
            guard case .success(let revents) = system_poll(fds, timeoutMilliseconds: timeout) else {
                // poll itself failed (ENOMEM): back off a little rather than spin.
                system_usleep(10_000)
                continue
            }
            if revents[0] & pollIn != 0 { engine.wake.drain() }
            if revents.count > 1, revents[1] & (pollIn | pollHangUp) != 0 {
                readAvailable()
            }
            if let c = current, Monotonic.now() >= c.deadline {
                handleTimeout()
            }
        }
    }

    /// Performs one request; returns false when the thread must end.
    mutating func handle(_ request: ATCommandEngine.Request) -> Bool {
        switch request {
        case .command(let command, let continuation):
            guard port != nil else {
                continuation.resume(throwing: path.isEmpty
                    ? ATModemError.closed(command.text)
                    : ATModemError.vanished(path: path, command: command.text, cause: nil))
                return true
            }
            if hung && !command.skipsHungProbe {
                // A hung modem gets one quick probe before each command, so a caller never waits long.
                if resynchronise(attempts: 1) == false {
                    continuation.resume(throwing: ATModemError.hung(command.text))
                    return true
                }
            }
            start(command, continuation)
        case .reopen(let newPath, let configuration, let continuation):
            closePort()
            do {
                let p = try SerialPort(path: newPath, configuration: configuration)
                port = p
                path = newPath
                framer.reset()
                machine = ATCommandStateMachine()
                setHung(false)
                engine.shared.withLock { $0.path = newPath }
                logger.debug("modem port opened", metadata: ["modem.device": "\(newPath)"])
                continuation.resume()
            } catch {
                continuation.resume(throwing: ATModemError.serial(error))
            }
        case .detach(let continuation):
            closePort()
            continuation.resume()
        case .close(let continuation):
            closePort()
            let rest = engine.shared.withLock { s -> [ATCommandEngine.Request] in
                let r = s.requests
                s.requests = []
                return r
            }
            for r in rest { fail(r) }
            engine.unsolicitedContinuation.finish()
            continuation.resume()
            return false
        }
        return true
    }

    func fail(_ request: ATCommandEngine.Request) {
        switch request {
        case .command(let command, let c): c.resume(throwing: ATModemError.closed(command.text))
        case .reopen(_, _, let c): c.resume(throwing: ATModemError.closed(nil))
        case .detach(let c), .close(let c): c.resume()
        }
    }

    mutating func closePort() {
        if let current {
            current.continuation.resume(throwing: ATModemError.closed(current.command.text))
            self.current = nil
        }
        _ = machine.timeout()
        port?.close()
        port = nil
        framer.reset()
        engine.shared.withLock { $0.path = nil }
    }

    mutating func setHung(_ value: Bool) {
        hung = value
        engine.shared.withLock { $0.hung = value }
    }

    mutating func start(_ command: ATCommand, _ continuation: CheckedContinuation<ATResponse, any Error>) {
        let action = machine.send(command)
        current = (command, continuation, Monotonic.now() + nanoseconds(command.timeout))
        logger.trace("modem command", metadata: ["modem.command": "\(ATCommand.displayText(command.text))"])
        framer.recognisesPrompt = machine.isAwaitingPrompt
        perform(action)
    }

    /// Reads what the port has and feeds it through the framer and the state machine.
    mutating func readAvailable() {
        guard let p = port else { return }
        do {
            while true {
                let bytes = try p.read(maxCount: 4096)
                if bytes.isEmpty { break }
                framer.append(bytes)
                processTokens()
                if port == nil { return }
            }
        } catch {
            vanished(error)
        }
    }

    mutating func processTokens() {
        while true {
            guard let token = framer.next() ?? (framer.takeBarePrompt() ? .prompt : nil) else { return }
            if case .line(let l) = token { logger.trace("modem line", metadata: ["modem.line": "\(l)"]) }
            let action = machine.receive(token)
            framer.recognisesPrompt = machine.isAwaitingPrompt
            perform(action)
            if port == nil { return }
        }
    }

    mutating func perform(_ action: ATCommandStateMachine.Action) {
        switch action {
        case .none: break
        case .write(let bytes):
            guard let p = port else { return }
            do {
                try p.writeAll(bytes, timeoutMilliseconds: 5000)
            } catch {
                if error.code == .vanished { vanished(error) } else {
                    // The device does not drain: the command will time out and the engine resynchronises.
                    logger.debug("modem write failed", metadata: ["modem.error": "\(error)"])
                }
            }
        case .unsolicited(let u):
            logger.trace("modem unsolicited", metadata: ["modem.line": "\(u)"])
            engine.deliver(u)
        case .complete(let response):
            if let c = current {
                current = nil
                c.continuation.resume(returning: response)
            }
        case .discard(let line):
            logger.debug("modem line dropped (no command waits for it)", metadata: ["modem.line": "\(line)"])
        }
    }

    mutating func vanished(_ error: SerialIOError) {
        logger.info("modem device vanished", metadata: ["modem.device": "\(path)", "modem.error": "\(error)"])
        if let c = current {
            current = nil
            c.continuation.resume(throwing: ATModemError.vanished(path: path, command: c.command.text, cause: error))
        }
        _ = machine.timeout()
        port?.close()
        port = nil
        framer.reset()
        engine.shared.withLock { $0.path = nil }
        engine.vanishHandler?(path)
    }

    mutating func handleTimeout() {
        guard let c = current else { return }
        current = nil
        let info = machine.timeout()
        framer.recognisesPrompt = false
        logger.info("modem command timed out", metadata: [
            "modem.command": "\(ATCommand.displayText(c.command.text))",
            "modem.lines": "\(info?.lines.count ?? 0)",
        ])
        if info?.awaitingPayload == true, let p = port {
            // TS 27.005 §3.5.1: ESC cancels the message the modem waits for.
            try? p.writeAll([0x1B], timeoutMilliseconds: 500)
        }
        let alive = resynchronise(attempts: engine.options.resyncAttempts)
        guard port != nil else {
            c.continuation.resume(throwing: ATModemError.vanished(path: path, command: c.command.text, cause: nil))
            return
        }
        let seconds = Double(c.command.timeout.components.seconds)
            + Double(c.command.timeout.components.attoseconds) / 1e18
        c.continuation.resume(throwing: alive
            ? ATModemError.timedOut(c.command.text, seconds: seconds)
            : ATModemError.hung(c.command.text))
    }

    /// Discards stale input and probes with `AT` until `OK`; returns whether the modem answered.
    mutating func resynchronise(attempts: Int) -> Bool {
        for attempt in 0..<max(1, attempts) {
            guard let p = port else { return false }
            p.flush()
            framer.reset()
            _ = machine.timeout()
            let probe = ATCommand("AT", timeout: engine.options.resyncTimeout)
            // ESC first: a modem left waiting for an SMS body after "> " (a crashed sender) takes everything as
            // message text until ESC cancels it (TS 27.005 §3.5.1); in command mode, V.250 ignores what precedes "AT".
            try? p.writeAll([0x1B], timeoutMilliseconds: 500)
            perform(machine.send(probe))
            var answered: FinalResult?
            let deadline = Monotonic.now() + nanoseconds(probe.timeout)
            while answered == nil, port != nil, Monotonic.now() < deadline {
                answered = pump(until: deadline, stopOnCompletion: true)
            }
            if answered != nil {
                // Any final result (ERROR included) means the modem listens again.
                // Let late lines of the timed-out command arrive and be dropped before the next command starts.
                _ = pump(until: Monotonic.now() + nanoseconds(engine.options.settleTime), stopOnCompletion: false)
                if hung { logger.info("modem answers again") }
                setHung(false)
                return true
            }
            _ = machine.timeout()
            logger.debug("modem resynchronisation probe unanswered", metadata: ["modem.attempt": "\(attempt + 1)"])
        }
        if !hung { logger.info("modem does not answer: hung") }
        setHung(true)
        return false
    }

    /// Reads the port until `deadline` (ignoring new requests); returns the final result of the machine's command
    /// when it completes and `stopOnCompletion` is set.
    mutating func pump(until deadline: Int64, stopOnCompletion: Bool) -> FinalResult? {
        while let p = port {
            let left = Int((deadline - Monotonic.now()) / 1_000_000)
            if left <= 0 { return nil }
            guard case .success(let revents) = system_poll([(p.fileDescriptor.rawValue, pollIn)],
                                                           timeoutMilliseconds: left)
            else { return nil }
            guard revents[0] & (pollIn | pollHangUp) != 0 else { continue }
            do {
                let bytes = try p.read(maxCount: 4096)
                framer.append(bytes)
            } catch {
                vanished(error)
                return nil
            }
            while let token = framer.next() {
                switch machine.receive(token) {
                case .complete(let r):
                    if stopOnCompletion { return r.result }
                case .unsolicited(let u): engine.deliver(u)
                case .write(let bytes): try? p.writeAll(bytes, timeoutMilliseconds: 500)
                case .discard(let line):
                    logger.debug("modem line dropped during resynchronisation", metadata: ["modem.line": "\(line)"])
                case .none: break
                }
            }
        }
        return nil
    }
}

func nanoseconds(_ d: Duration) -> Int64 {
    let c = d.components
    return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
}

/// A pipe that wakes the engine's poll. Its descriptors live as long as the engine.
final class WakeupPipe: Sendable {
    let readFD: CInt
    let writeFD: CInt

    init() throws(ATModemError) {
        switch system_pipe() {
        case .success(let fds):
            readFD = fds.read
            writeFD = fds.write
        case .failure(let e):
            throw ATModemError(code: .serialPort, message: "cannot create the engine's wake-up pipe: \(e)",
                               underlying: .errno(e))
        }
    }

    deinit {
        system_close(readFD)
        system_close(writeFD)
    }

    func signal() {
        var b: UInt8 = 1
        _ = withUnsafeBytes(of: &b) { system_write(writeFD, $0) }
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while case .success(let n) = buffer.withUnsafeMutableBytes({ system_read(readFD, $0) }), n > 0 {}
    }
}
