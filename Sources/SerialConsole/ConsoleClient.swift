#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
public import SystemPackage
import SerialIO

/// How an interactive console session ended.
public enum ConsoleClientOutcome: Hashable, Sendable {
    /// The user typed `~.`.
    case detached
    /// The input reached its end (a pipe, not a terminal).
    case inputClosed
    /// The relay closed the connection (the daemon stopped, or dropped this client).
    case relayClosed(lastNotice: ConsoleNotice?)
    /// A signal (SIGINT, SIGTERM, SIGHUP) ended the session; the terminal was restored first.
    case signal(Int32)
}

/// A connection to a `ConsoleRelay`: attaches with a hello, then exchanges frames.
///
/// Two ways to use it: frame by frame (`send(_:)`, `receive(timeoutMilliseconds:)`), as programs and tests do,
/// or `runInteractive(input:output:)`, which is `oob-agent console`: the terminal in raw mode (restored on
/// every way out), the escapes of `ConsoleEscapeParser`, the scrollback, then live.
public final class ConsoleClient {
    /// The relay's answer to the hello: the role granted and the device.
    public private(set) var welcome = ConsoleWelcome(role: .spectator, device: "")
    private var fd: CInt
    private var decoder = ConsoleFrameDecoder()
    private var receiveBuffer = [UInt8](repeating: 0, count: 65536)
    private let socketPath: String

    /// The connection's descriptor (for poll loops); valid until `close()`.
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: fd) }

    /// Connects to the relay's socket, says hello and waits for the welcome.
    /// - Parameters:
    ///   - socketPath: the relay's Unix socket.
    ///   - hello: the attach mode and how much scrollback to replay.
    ///   - timeoutMilliseconds: how long to wait for the welcome.
    /// - Throws: `.notRunning` (socket missing or refused: the message says how to start the daemon),
    ///   `.permissionDenied`, `.protocolViolation`, `.relayGone`.
    public init(socketPath: String, hello: ConsoleHello, timeoutMilliseconds: Int = 5000) throws(SerialConsoleError) {
        self.socketPath = socketPath
        let fd: CInt
        switch system_socketUnix() {
        case .success(let value): fd = value
        case .failure(let errno): throw .connect(path: socketPath, errno: errno)
        }
        self.fd = fd
        var welcome: ConsoleWelcome?
        do throws(SerialConsoleError) {
            if case .failure(let errno) = system_connect(fd, path: socketPath) {
                throw .connect(path: socketPath, errno: errno)
            }
            try send(.hello(hello), timeoutMilliseconds: timeoutMilliseconds)
            let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
            while welcome == nil {
                let left = Int((deadline - Monotonic.now()) / 1_000_000)
                guard left > 0, let frame = try receiveFromSocket(timeoutMilliseconds: left) else {
                    throw SerialConsoleError(
                        code: .relayGone,
                        message: "the console relay at \(socketPath) did not answer within \(timeoutMilliseconds) ms; "
                            + "check the daemon's journal (journalctl -u oob-agent)")
                }
                switch frame {
                case .welcome(let w): welcome = w
                case .notice(let notice) where notice.kind == .protocolError:
                    throw .protocolViolation("the relay refused the attach: \(notice.text)")
                default:
                    throw .protocolViolation("the relay sent \(frame.typeName) before welcome")
                }
            }
        } catch {
            system_close(fd)
            self.fd = -1
            throw error
        }
        self.welcome = welcome!
    }

    deinit {
        close()
    }

    /// Closes the connection (a detach). Idempotent.
    public func close() {
        if fd >= 0 {
            system_close(fd)
            fd = -1
        }
    }

    // MARK: - Frames

    /// Sends one frame, waiting for the socket as needed.
    /// - Throws: `.relayGone` when the relay closed the connection or did not take the frame in time.
    public func send(_ frame: ConsoleFrame, timeoutMilliseconds: Int = 5000) throws(SerialConsoleError) {
        try sendAll(frame.encoded, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Sends bytes for the device as input frames.
    public func sendInput(_ bytes: [UInt8], timeoutMilliseconds: Int = 5000) throws(SerialConsoleError) {
        var buffer: [UInt8] = []
        ConsoleFrame.appendData(ConsoleFrame.FrameType.input, bytes, into: &buffer)
        try sendAll(buffer, timeoutMilliseconds: timeoutMilliseconds)
    }

    private func sendAll(_ bytes: [UInt8], timeoutMilliseconds: Int) throws(SerialConsoleError) {
        precondition(fd >= 0, "send on a closed ConsoleClient")
        var offset = 0
        let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { system_send(fd, UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch result {
            case .success(let n): offset += n
            case .failure(.wouldBlock):
                let left = Int((deadline - Monotonic.now()) / 1_000_000)
                guard left > 0 else {
                    throw SerialConsoleError(code: .relayGone, message: "the console relay stopped taking input")
                }
                var fds = [pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)]
                _ = system_poll(&fds, CInt(clamping: left))
            case .failure(let errno):
                throw SerialConsoleError(
                    code: .relayGone, message: "the console relay closed the connection", underlying: errno)
            }
        }
    }

    /// The next frame from the relay, waiting up to `timeoutMilliseconds`; nil when none came in time.
    /// - Throws: `.relayGone` when the relay closed the connection; `.protocolViolation` for a malformed frame.
    public func receive(timeoutMilliseconds: Int) throws(SerialConsoleError) -> ConsoleFrame? {
        return try receiveFromSocket(timeoutMilliseconds: timeoutMilliseconds)
    }

    private func receiveFromSocket(timeoutMilliseconds: Int) throws(SerialConsoleError) -> ConsoleFrame? {
        let deadline = Monotonic.now() + Int64(max(0, timeoutMilliseconds)) * 1_000_000
        while true {
            if let frame = try decoder.next() { return frame }
            let left = Int((deadline - Monotonic.now()) / 1_000_000)
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
            guard case .success(let n) = system_poll(&fds, CInt(clamping: max(0, left))) else { continue }
            if n == 0 {
                if left <= 0 { return nil }
                continue
            }
            guard try readSocket() else {
                throw SerialConsoleError(code: .relayGone, message: "the console relay closed the connection")
            }
        }
    }

    /// Reads what the socket has into the decoder; false at end of stream.
    private func readSocket() throws(SerialConsoleError) -> Bool {
        let result = receiveBuffer.withUnsafeMutableBytes { system_recv(fd, $0) }
        switch result {
        case .success(0): return false
        case .success(let n):
            receiveBuffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            return true
        case .failure(.wouldBlock): return true
        case .failure(let errno):
            if errno == .connectionReset { return false }
            throw SerialConsoleError(code: .relayGone, message: "reading from the console relay failed", underlying: errno)
        }
    }

    // MARK: - Interactive

    /// Attaches a terminal: raw mode, escapes, scrollback then live, until `~.`, end of input, the relay going
    /// away, or SIGINT/SIGTERM/SIGHUP. The terminal settings are restored on every one of these ways out (in the
    /// signal handler itself for signals, as `tcsetattr` is async-signal-safe).
    /// - Parameters:
    ///   - input: the keyboard (a terminal is put in raw mode; anything else is read as is).
    ///   - output: where console output and notices go.
    /// - Returns: how the session ended.
    /// - Throws: `.terminal` when the terminal cannot be put in raw mode.
    public func runInteractive(
        input: FileDescriptor = .standardInput, output: FileDescriptor = .standardOutput
    ) throws(SerialConsoleError)
        -> ConsoleClientOutcome
    {
        let inputFD = input.rawValue
        let outputFD = output.rawValue
        let signals: [CInt] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
        var saved: termios?
        if system_isatty(inputFD) {
            switch system_tcgetattr(inputFD) {
            case .success(let t): saved = t
            case .failure(let errno):
                throw SerialConsoleError(
                    code: .terminal, message: "cannot read the terminal settings", underlying: errno)
            }
        }
        let signalPipe: (read: CInt, write: CInt)
        switch system_pipe() {
        case .success(let p): signalPipe = p
        case .failure(let errno):
            throw SerialConsoleError(code: .terminal, message: "cannot create the signal pipe", underlying: errno)
        }
        system_installSignalHandlers(signals, pipe: signalPipe.write, terminal: inputFD, settings: saved)
        defer {
            if let saved { _ = system_tcsetattr(inputFD, saved, TCSADRAIN) }
            system_restoreSignalHandlers(signals)
            system_close(signalPipe.read)
            system_close(signalPipe.write)
        }
        if var raw = saved {
            system_cfmakeraw(&raw)
            if case .failure(let errno) = system_tcsetattr(inputFD, raw, TCSADRAIN) {
                throw SerialConsoleError(
                    code: .terminal, message: "cannot put the terminal in raw mode", underlying: errno)
            }
        }
        let roleText = welcome.role == .writer ? "the writer" : "read-only"
        writeNotice(
            "connected to \(welcome.device) as \(roleText); escapes at the start of a line: ~. detach, ~B break, ~? help",
            to: outputFD)
        return runLoop(inputFD: inputFD, outputFD: outputFD, signalFD: signalPipe.read)
    }

    private func runLoop(inputFD: CInt, outputFD: CInt, signalFD: CInt) -> ConsoleClientOutcome {
        var escapes = ConsoleEscapeParser()
        var outbound: [UInt8] = []
        var inputOpen = true
        var lastNotice: ConsoleNotice?
        var buffer = [UInt8](repeating: 0, count: 4096)
        // Frames decoded with the welcome but not yet shown are still in the decoder: show them first.
        do {
            while let frame = try decoder.next() { show(frame, to: outputFD, lastNotice: &lastNotice) }
        } catch {
            writeNotice(error.message, to: outputFD)
            return .relayClosed(lastNotice: lastNotice)
        }
        while true {
            var fds = [
                pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: fd, events: Int16(POLLIN) | (outbound.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
                pollfd(fd: inputOpen && outbound.count < 65536 ? inputFD : -1, events: Int16(POLLIN), revents: 0),
            ]
            guard case .success = system_poll(&fds, -1) else { continue }
            if fds[0].revents != 0 {
                var number: UInt8 = 0
                _ = withUnsafeMutableBytes(of: &number) { system_read(signalFD, $0) }
                return .signal(Int32(number))
            }
            if fds[1].revents & Int16(POLLOUT) != 0 && !outbound.isEmpty {
                switch outbound.withUnsafeBytes({ system_send(fd, $0) }) {
                case .success(let n): outbound.removeFirst(n)
                case .failure(.wouldBlock): break
                case .failure: return .relayClosed(lastNotice: lastNotice)
                }
            }
            if fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                do {
                    let open = try readSocket()
                    while let frame = try decoder.next() { show(frame, to: outputFD, lastNotice: &lastNotice) }
                    if !open { return .relayClosed(lastNotice: lastNotice) }
                } catch {
                    writeNotice(error.message, to: outputFD)
                    return .relayClosed(lastNotice: lastNotice)
                }
            }
            if fds[2].revents != 0 {
                let result = buffer.withUnsafeMutableBytes { system_read(inputFD, $0) }
                let n: Int
                switch result {
                case .success(let count): n = count
                case .failure(.wouldBlock): continue
                case .failure: n = 0
                }
                if n == 0 {
                    inputOpen = false
                    try? sendAll(outbound, timeoutMilliseconds: 2000)
                    return .inputClosed
                }
                for action in escapes.feed(buffer[0..<n]) {
                    switch action {
                    case .send(let bytes):
                        ConsoleFrame.appendData(ConsoleFrame.FrameType.input, bytes, into: &outbound)
                    case .sendBreak:
                        ConsoleFrame.sendBreak.encode(into: &outbound)
                    case .help:
                        let role = welcome.role == .writer ? "" : " (you are read-only: input is refused)"
                        let text = ConsoleEscapeParser.helpText.split(separator: "\n").joined(separator: "\r\n")
                        writeAll(Array("\r\n\(text)\r\n\(role.isEmpty ? "" : role + "\r\n")".utf8), to: outputFD)
                    case .detach:
                        try? sendAll(outbound, timeoutMilliseconds: 2000)
                        writeNotice("detached", to: outputFD)
                        return .detached
                    }
                }
            }
        }
    }

    private func show(_ frame: ConsoleFrame, to outputFD: CInt, lastNotice: inout ConsoleNotice?) {
        switch frame {
        case .output(let bytes):
            writeAll(bytes, to: outputFD)
        case .notice(let notice):
            lastNotice = notice
            writeNotice(notice.text, to: outputFD)
        case .scrollbackBegin(let count):
            if count > 0 { writeNotice("last \(count) bytes of the console:", to: outputFD) }
        case .scrollbackEnd:
            writeNotice("live", to: outputFD)
        case .welcome, .hello, .input, .sendBreak:
            break
        }
    }

    private func writeNotice(_ text: String, to outputFD: CInt) {
        writeAll(Array("\r\n[console: \(text)]\r\n".utf8), to: outputFD)
    }

    private func writeAll(_ bytes: [UInt8], to outputFD: CInt) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { system_write(outputFD, UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            switch result {
            case .success(let n): offset += n
            case .failure(.wouldBlock):
                var fds = [pollfd(fd: outputFD, events: Int16(POLLOUT), revents: 0)]
                _ = system_poll(&fds, 1000)
            case .failure:
                return  // the terminal is gone (SIGHUP follows)
            }
        }
    }
}

@available(*, unavailable)
extension ConsoleClient: Sendable {}
