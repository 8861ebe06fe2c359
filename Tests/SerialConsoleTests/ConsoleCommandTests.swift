// The built `oob-agent console` binary, run on a pty the test owns (the user's terminal), against a relay on
// another pty (the router): raw mode and its restoration on every way out, escapes, messages, peer identity.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SerialIO
import Spawn
import Testing

@testable import SerialConsole

/// The `oob-agent` binary of this build (`swift build --build-tests` builds it next to the tests).
let oobAgentBinary: String = {
    let file = #filePath
    let root = file.split(separator: "/").dropLast(3).joined(separator: "/")
    return "/\(root)/.build/debug/oob-agent"
}()

/// A child process started with posix_spawn (``SpawnedProcess``).
struct Child {
    let process: SpawnedProcess
    var pid: pid_t { process.pid }

    /// Starts `arguments[0]` with stdin, stdout and stderr on the given descriptors.
    static func spawn(_ arguments: [String], stdin: CInt, stdout: CInt, stderr: CInt) -> Child? {
        let options = SpawnOptions(
            stdin: .descriptor(stdin), stdout: .descriptor(stdout),
            stderr: stderr == stdout ? .stdout : .descriptor(stderr))
        guard let process = try? SpawnedProcess(arguments[0], Array(arguments.dropFirst()), options: options) else {
            return nil
        }
        return Child(process: process)
    }

    /// Waits for the exit up to `timeoutMilliseconds`; kills it (and records an issue) if it does not exit.
    /// Returns the exit code, or 128 + signal.
    func wait(timeoutMilliseconds: Int = 10_000, whileWaiting: () -> Void = {}) -> Int32 {
        let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
        while true {
            if let status = process.tryWait() { return status.code }
            if Monotonic.now() >= deadline {
                Issue.record("the child \(pid) did not exit in time; killing it")
                process.signal(SIGKILL)
                process.wait()
                return -1
            }
            whileWaiting()
            usleep(10_000)
        }
    }
}

/// The user's terminal: a pty whose slave starts in cooked mode, as a login shell leaves it.
final class UserTerminal {
    let pty: PseudoTerminal
    let slave: CInt
    let cooked: termios

    init() throws {
        pty = try PseudoTerminal()
        slave = open(pty.slavePath, O_RDWR | O_NOCTTY)
        var t = termios()
        tcgetattr(slave, &t)
        t.c_iflag |= tcflag_t(ICRNL | IXON | BRKINT)
        t.c_oflag |= tcflag_t(OPOST | ONLCR)
        t.c_lflag |= tcflag_t(ICANON | ECHO | ECHOE | ISIG | IEXTEN)
        tcsetattr(slave, TCSANOW, &t)
        var check = termios()
        tcgetattr(slave, &check)
        cooked = check
    }

    deinit {
        close(slave)
    }

    var current: termios {
        var t = termios()
        tcgetattr(slave, &t)
        return t
    }

    var isRaw: Bool { current.c_lflag & tcflag_t(ICANON | ECHO | ISIG) == 0 }

    /// Whether every flag is as it was before the client ran.
    var isRestored: Bool {
        let t = current
        return t.c_iflag == cooked.c_iflag && t.c_oflag == cooked.c_oflag && t.c_lflag == cooked.c_lflag
            && t.c_cflag == cooked.c_cflag
    }

    /// What the client printed so far (drained, so it never blocks on a full pty).
    var screen: [UInt8] = []
    func drain() {
        while let bytes = try? pty.readMaster(maxCount: 65536), !bytes.isEmpty { screen += bytes }
    }

    func type(_ text: String) {
        _ = try? pty.writeMaster(Array(text.utf8))
    }
}

/// Runs the binary with output to a pipe; returns the exit code and the output.
func runCapturing(_ arguments: [String], stdinPath: String = "/dev/null") -> (Int32, String) {
    var fds: [CInt] = [-1, -1]
    pipe(&fds)
    let input = open(stdinPath, O_RDONLY)
    defer { close(input) }
    guard let child = Child.spawn(arguments, stdin: input, stdout: fds[1], stderr: fds[1]) else {
        Issue.record("cannot start \(arguments)")
        return (-1, "")
    }
    close(fds[1])
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buffer, buffer.count)
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(fds[0])
    return (child.wait(), String(decoding: output, as: UTF8.self))
}

@Suite("oob-agent console, the binary", .serialized, .timeLimit(.minutes(3)))
struct ConsoleCommandTests {
    init() {
        #expect(access(oobAgentBinary, X_OK) == 0, "build the binary first: swift build --build-tests")
    }

    /// Starts the console client on a fresh user terminal and waits until it is attached and raw.
    func attachClient(_ h: RelayHarness, extra: [String] = []) async throws -> (Child, UserTerminal)? {
        let terminal = try UserTerminal()
        #expect(!terminal.isRaw)
        guard
            let child = Child.spawn(
                [oobAgentBinary, "console", "--socket", h.socketPath] + extra, stdin: terminal.slave,
                stdout: terminal.slave, stderr: terminal.slave)
        else {
            Issue.record("cannot start \(oobAgentBinary)")
            return nil
        }
        try await waitFor("the client to attach in raw mode") {
            terminal.drain()
            return h.relay.statistics.attachedClients == 1 && terminal.isRaw
        }
        return (child, terminal)
    }

    @Test(
        "the terminal is back to cooked after SIGTERM, SIGHUP, SIGINT and SIGQUIT",
        arguments: [SIGTERM, SIGHUP, SIGINT, SIGQUIT])
    func restoredOnSignal(signal: Int32) async throws {
        let h = try RelayHarness()
        try await h.start()
        guard let (child, terminal) = try await attachClient(h) else { return }
        #expect(terminal.isRaw)
        kill(child.pid, signal)
        let code = child.wait { terminal.drain() }
        #expect(code == 1)
        #expect(terminal.isRestored)
        try await waitFor("the detach") { h.relay.statistics.attachedClients == 0 }
        try await h.stop()
    }

    @Test("typing reaches the router, its output reaches the screen, and ~. detaches with the terminal restored")
    func typeAndDetach() async throws {
        let h = try RelayHarness()
        try await h.start()
        try h.routerWrite(Array("\r\nRouter> ".utf8))
        try await waitFor("the prompt to be read") { h.relay.statistics.bytesFromDevice == 10 }
        guard let (child, terminal) = try await attachClient(h) else { return }
        // The scrollback shows at once, before the router prints anything new.
        try await waitFor("the scrollback on the screen") {
            terminal.drain()
            return String(decoding: terminal.screen, as: UTF8.self).contains("Router> ")
        }
        terminal.type("show version\r")
        #expect(try h.routerRead(count: 13) == Array("show version\r".utf8))
        try h.routerWrite(Array("RouterOS 7.16\r\nRouter> ".utf8))
        try await waitFor("the output on the screen") {
            terminal.drain()
            return String(decoding: terminal.screen, as: UTF8.self).contains("RouterOS 7.16\r\nRouter> ")
        }
        let screen = String(decoding: terminal.screen, as: UTF8.self)
        #expect(screen.contains("as the writer"))
        // The scrollback (the first prompt) came before the live output.
        #expect(screen.contains("Router> ") && screen.firstRange(of: "Router> ")!.lowerBound < screen.firstRange(of: "RouterOS")!.lowerBound)
        // A tilde in the middle of a line is typed through; ~~ at line start sends one tilde.
        terminal.type("a~b\r~~\r")
        #expect(try h.routerRead(count: 6) == Array("a~b\r~\r".utf8))
        terminal.type("~?")
        try await waitFor("the help") {
            terminal.drain()
            return String(decoding: terminal.screen, as: UTF8.self).contains("~B  send a break")
        }
        terminal.type("~.")
        #expect(child.wait { terminal.drain() } == 0)
        #expect(terminal.isRestored)
        // Nothing of the escapes reached the router.
        #expect(try h.routerRead(count: 1, timeoutMilliseconds: 200) == [])
        try await h.stop()
        #expect(h.logText().contains("detach writer root (uid 0, pid \(child.pid))"))
    }

    @Test("when the daemon goes away the client says so, exits 1 and restores the terminal")
    func relayGone() async throws {
        let h = try RelayHarness()
        try await h.start()
        guard let (child, terminal) = try await attachClient(h, extra: ["--read-only"]) else { return }
        try await h.stop()
        #expect(child.wait { terminal.drain() } == 1)
        #expect(terminal.isRestored)
        terminal.drain()
        let screen = String(decoding: terminal.screen, as: UTF8.self)
        #expect(screen.contains("read-only"))
        #expect(screen.contains("the console relay is stopping"))
        #expect(screen.contains("start it with `systemctl start oob-agent`"))
    }

    @Test("oob-agent console-relay runs the relay alone and stops cleanly on SIGTERM")
    func relaySubcommand() async throws {
        let dir = TempDirectory()
        let router = try PseudoTerminal()
        let socketPath = dir.file("console.sock")
        let logPath = dir.file("console.log")
        _ = try router.writeMaster(Array("early boot line\r\n".utf8))
        let null = open("/dev/null", O_RDWR)
        defer { close(null) }
        guard
            let relay = Child.spawn(
                [
                    oobAgentBinary, "console-relay", "--device", router.slavePath, "--socket", socketPath,
                    "--baud", "57600", "--log", logPath, "--socket-group", "nogroup",
                ], stdin: null, stdout: null, stderr: null)
        else {
            Issue.record("cannot start console-relay")
            return
        }
        var stopped = false
        defer { if !stopped { kill(relay.pid, SIGKILL); _ = relay.wait() } }
        try await waitFor("the socket") { access(socketPath, F_OK) == 0 }
        var client: ConsoleClient?
        try await waitFor("the attach") {
            client = try? ConsoleClient(socketPath: socketPath, hello: ConsoleHello(mode: .writer, scrollbackLimit: 4096))
            return client != nil
        }
        guard let client else { return }
        var r = Received()
        collect(client, into: &r) { $0.output.count >= 17 }
        #expect(r.output == Array("early boot line\r\n".utf8))
        try client.sendInput(Array("ping\r".utf8))
        var echoed: [UInt8] = []
        let deadline = Monotonic.now() + 10_000_000_000
        while echoed.count < 5, Monotonic.now() < deadline {
            if router.waitMasterReadable(timeoutMilliseconds: 50) { echoed += try router.readMaster() }
        }
        #expect(echoed == Array("ping\r".utf8))
        var st = stat()
        #expect(lstat(socketPath, &st) == 0 && st.st_mode & 0o777 == 0o660 && st.st_gid == 65534)
        kill(relay.pid, SIGTERM)
        #expect(relay.wait() == 0)
        stopped = true
        #expect(access(socketPath, F_OK) != 0)
        collect(client, into: &r) { _ in false }
        #expect(r.notices.last?.kind == .relayStopping)
        #expect(readFile(logPath).contains("early boot line\r\n"))
        #expect(readFile(logPath).contains("relay stopped --]"))
    }

    @Test("clear messages: no daemon, console not configured, conflicting flags")
    func messages() throws {
        let dir = TempDirectory()
        let (code, output) = runCapturing([oobAgentBinary, "console", "--socket", dir.file("missing.sock")])
        #expect(code == 1)
        #expect(output.contains("no console relay is running"))
        #expect(output.contains("systemctl start oob-agent"))

        // A socket file nobody listens on (left by a crashed daemon): connection refused.
        let stale = dir.file("stale.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(stale.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        let (codeStale, outputStale) = runCapturing([oobAgentBinary, "console", "--socket", stale])
        #expect(codeStale == 1)
        #expect(outputStale.contains("nothing listens on \(stale)"))
        #expect(outputStale.contains("systemctl start oob-agent"))

        let config = dir.file("agent.toml")
        let toml = "[modem]\nport = \"/dev/ttyUSB2\"\n\n[tunnel]\nhost = \"jump.example.net\"\n"
        let f = fopen(config, "w")
        fputs(toml, f)
        fclose(f)
        let (code2, output2) = runCapturing([oobAgentBinary, "console", "--config", config])
        #expect(code2 == 2)
        #expect(output2.contains("the console is not configured"))
        #expect(output2.contains("[console]"))

        let f2 = fopen(config, "a")
        fputs("\n[console]  # the router\ndevice = \"/dev/ttyUSB3\"\nsocket = \"\(dir.file("c.sock"))\" # here\n", f2)
        fclose(f2)
        let (code3, output3) = runCapturing([oobAgentBinary, "console", "--config", config])
        #expect(code3 == 1)
        #expect(output3.contains("the socket \(dir.file("c.sock")) does not exist"))

        let (code4, output4) = runCapturing([oobAgentBinary, "console", "--read-only", "--force", "--socket", "/x"])
        #expect(code4 == 2)
        #expect(output4.contains("exclude each other"))
    }

    @Test("the socket's 0660 mode keeps other users out; its group lets them in, named by SO_PEERCRED")
    func otherUsers() async throws {
        guard getuid() == 0 else {
            try Test.cancel("needs root to run a client as another user")
        }
        let setpriv = "/usr/bin/setpriv"
        guard access(setpriv, X_OK) == 0 else {
            try Test.cancel("\(setpriv) (util-linux) is missing")
        }
        let asNobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        do {
            let h = try RelayHarness()
            chmod(h.directory.path, 0o755)
            try await h.start()
            let (code, output) = runCapturing(asNobody + [oobAgentBinary, "console", "--socket", h.socketPath])
            #expect(code == 1)
            #expect(output.contains("permission denied on the console socket"))
            try await h.stop()
        }
        do {
            let h = try RelayHarness(socketGroup: "nogroup")
            chmod(h.directory.path, 0o755)
            try await h.start()
            let nobodyInGroup = [setpriv, "--reuid=65534", "--regid=65534", "--groups=65534"]
            let (code, output) = runCapturing(
                nobodyInGroup + [oobAgentBinary, "console", "--read-only", "--socket", h.socketPath])
            #expect(code == 0, "\(output)")
            try await h.stop()
            #expect(h.logText().contains("attach spectator nobody (uid 65534, pid "))
            #expect(h.logText().contains("detach spectator nobody (uid 65534, pid "))
        }
    }
}
