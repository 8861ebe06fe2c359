import ATModem
import Foundation
import Logging
import ModemEmulator
import OOBTestSupport
import SerialIO
import SystemPackage
import Spawn
import Testing

@testable import OOBAgent

// End-to-end harness: a ModemEmulator on a real pty (reached through a symlink, as through
// /dev/serial/by-id), a real OpenSSH sshd on 127.0.0.1 as the jump host (authorized_keys line
// from `jumphost-setup`), and a TCP echo server as the forwarded target.

enum HarnessError: Error { case failed(String) }

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func eventually(_ timeout: Duration = .seconds(20), _ condition: () async -> Bool) async -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return await condition()
}

/// Runs a command and returns its output (stdout + stderr).
@discardableResult
func shell(_ path: String, _ arguments: [String]) throws -> String {
    // posix_spawn through Spawn (Foundation's Process can hang in waitpid here: see docs/spawn.md).
    let result = try SpawnedProcess.run(
        path, arguments, options: SpawnOptions(stdout: .pipe, stderr: .stdout), timeout: .seconds(120))
    return result.stdoutText
}

/// A free TCP port on 127.0.0.1 (bound, read, closed).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Connects to 127.0.0.1:`port`, sends `payload`, reads it back; nil if the connection fails.
func echoThrough(port: Int, payload: [UInt8]) -> [UInt8]? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var tv = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let r = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard r == 0 else { return nil }
    guard payload.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == payload.count else { return nil }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while out.count < payload.count {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return out
}

/// Whether something accepts connections on 127.0.0.1:`port`.
func isListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A TCP echo server on 127.0.0.1 (the forwarded target: "the router's sshd").
final class EchoServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let stopFlag = StopFlag()

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        guard withUnsafeMutablePointer(to: &addr, { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }) == 0,
            listen(fd, 16) == 0
        else { throw HarnessError.failed("echo server bind") }
        _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let stop = stopFlag
        Thread.detachNewThread {
            while !stop.isSet {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 100) == 1 else { continue }
                let client = accept(fd, nil, nil)
                if client < 0 { continue }
                Thread.detachNewThread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                        if n <= 0 { break }
                        _ = buffer.withUnsafeBytes { send(client, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
                    }
                    close(client)
                }
            }
            close(fd)
        }
    }

    func stop() { _ = stopFlag.set() }
}

/// The jump host of the agent tests: OpenSSH's sshd on 127.0.0.1 (``LoopbackSSHD``: throwaway configuration,
/// never /etc/ssh, stopped by PID) whose authorized_keys holds only the agent key's restricted line.
final class JumpHost: @unchecked Sendable {
    let sshd: LoopbackSSHD
    var port: Int { sshd.port }
    var knownHostsLine: String { sshd.knownHostsLine }
    var log: String { sshd.log() }

    /// Starts sshd; `authorizedKeys` is the agent key's restricted line (sshd reads the file at each login).
    init(authorizedKeys: String) throws {
        sshd = try LoopbackSSHD()
        try (authorizedKeys + "\n").write(toFile: sshd.authorizedKeysPath, atomically: true, encoding: .utf8)
    }

    func stop() { sshd.stop() }
}

/// Everything an end-to-end test needs, torn down by `stop()`.
final class AgentHarness: @unchecked Sendable {
    static let owner = "+46701234567"
    static let stranger = "+46709999999"

    let dir: TempDir
    let emulator: ModemEmulator
    let jumpHost: JumpHost
    let echo: EchoServer
    let forwardPort: Int
    let modemLink: String
    let relay: PTYRelay?
    let totp: TOTP
    var configuration: AgentConfiguration
    let configPath: String

    /// - Parameters:
    ///   - duration/max: session lengths (tests use seconds, below the file format's minimum).
    ///   - storage: the emulator's SMS slots.
    ///   - bridged: reach the emulator through a ``PTYRelay`` (for a daemon in another process).
    init(duration: Duration = .seconds(600), max: Duration = .seconds(3600), storage: Int = 25, bridged: Bool = false) throws {
        dir = TempDir()
        var emulatorConfig = ModemEmulator.Configuration()
        emulatorConfig.storageCapacity = storage
        let now = Int64(Date().timeIntervalSince1970)
        let ts = try SMSTimestamp(secondsSince1970: now, utcOffsetMinutes: 60)
        emulatorConfig.networkTime = ModemClock(
            year: ts.year, month: ts.month, day: ts.day, hour: ts.hour, minute: ts.minute, second: ts.second, utcOffsetMinutes: 60
        )
        emulator = try ModemEmulator(configuration: emulatorConfig)
        guard let device = emulator.waitForDevice() else { throw HarnessError.failed("emulator has no device") }
        modemLink = dir.file("modem")
        relay = bridged ? try PTYRelay(emulatorDevice: device) : nil
        try FileManager.default.createSymbolicLink(atPath: modemLink, withDestinationPath: relay?.devicePath ?? device)

        try shell("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir.file("id_ed25519"), "-C", "oob-agent"])
        let secret = Enrollment.newSecret()
        dir.write("totp.secret", secret + "\n")
        totp = try TOTP(base32: secret)

        echo = try EchoServer()
        forwardPort = freePort()
        let forward = AgentConfiguration.Forward(remoteBind: "127.0.0.1", remotePort: forwardPort, localHost: "127.0.0.1", localPort: echo.port)
        let publicKey = try SSHKeys.publicKeyLine(identity: dir.file("id_ed25519"))
        jumpHost = try JumpHost(authorizedKeys: SSHKeys.authorizedKeysLine(publicKey: publicKey, forwards: [forward]))
        dir.write("known_hosts", jumpHost.knownHostsLine + "\n", mode: 0o644)

        configuration = AgentConfiguration(
            modem: .init(port: .path(modemLink), poll: .seconds(1)),
            auth: .init(senders: [PhoneNumber(Self.owner)!], secret: .totp(file: dir.file("totp.secret"))),
            tunnel: .init(
                host: "127.0.0.1", port: jumpHost.port, user: jumpHost.sshd.user, identity: dir.file("id_ed25519"),
                knownHosts: dir.file("known_hosts"), forwards: [forward], keepalive: .seconds(5)
            ),
            session: .init(duration: duration, max: max, attempts: 2),
            state: .init(dir: dir.file("state"), controlSocket: dir.file("agent.sock"))
        )
        configPath = dir.file("agent.toml")
        try configurationText(duration: duration, max: max).write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// The same configuration as a file (durations rounded up to the file format's minimum).
    func configurationText(duration: Duration, max: Duration) -> String {
        """
        [modem]
        port = "\(modemLink)"
        poll = "1s"
        [auth]
        senders = ["\(Self.owner)"]
        totp_secret_file = "\(dir.file("totp.secret"))"
        [tunnel]
        host = "127.0.0.1"
        port = \(jumpHost.port)
        user = "\(jumpHost.sshd.user)"
        identity = "\(dir.file("id_ed25519"))"
        known_hosts = "\(dir.file("known_hosts"))"
        forwards = ["127.0.0.1:\(forwardPort):127.0.0.1:\(echo.port)"]
        keepalive = "5s"
        [session]
        duration = "\(ConfigurationLoader.format(Swift.max(duration, .seconds(60))))"
        max = "\(ConfigurationLoader.format(Swift.max(max, .seconds(60))))"
        attempts = 2
        [state]
        dir = "\(dir.file("state"))"
        control_socket = "\(dir.file("agent.sock"))"
        """
    }

    /// The code for SMS time `t`.
    func code(at t: Int64) -> String { totp.code(at: t) }

    /// Delivers an SMS from `sender` stamped `timestamp` (default now); returns the slot.
    @discardableResult
    func deliver(_ text: String, from sender: String = owner, timestamp: Int64? = nil) throws -> Int? {
        let t = timestamp ?? Int64(Date().timeIntervalSince1970)
        let pdus = try SMSEncoder.deliverPDUs(from: sender, text: text, timestamp: SMSTimestamp(secondsSince1970: t, utcOffsetMinutes: 60))
        var slot: Int?
        for pdu in pdus { slot = emulator.deliver(pdu: pdu) }
        return slot
    }

    /// Texts the agent sent, in order: (recipient, text).
    var sent: [(to: String, text: String)] {
        emulator.outbox.map { m in
            var text = m.text
            var to = m.recipient
            if let pdu = m.pdu, let decoded = try? PDUDecoder.decode(hex: pdu), case .submit(let s) = decoded.pdu {
                text = text ?? s.userData.text
                to = to ?? s.recipient
            }
            return (to ?? "?", text ?? "?")
        }
    }

    func sentTexts(to number: String = owner) -> [String] { sent.filter { $0.to == number }.map(\.text) }

    /// Starts the agent in this process; returns the task running it (cancel = stop).
    func startAgent(clock: any AgentClock = SystemAgentClock(), logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) -> (AgentService, Task<Void, any Error>) {
        let service = AgentService(configuration: configuration, logger: logger, clock: clock)
        let task = Task { try await service.run() }
        return (service, task)
    }

    func status() -> AgentStatus? {
        (try? ControlClient.send(ControlRequest(command: "status"), to: configuration.state.controlSocket, timeout: .seconds(5)))?.status
    }

    func stop() {
        jumpHost.stop()
        echo.stop()
        relay?.stop()
        emulator.stop()
        dir.cleanup()
    }
}

/// A synchronised clock at real time (so `max_age` is judged by it).
struct SynchronizedClock: AgentClock {
    func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
    func isSynchronized() -> Bool { true }
}

/// Copies bytes between the emulator's pty and a fresh pty whose slave nobody in this process
/// holds, so that a daemon in another process can claim it exclusively (the holder check looks
/// at every process's open files, and the emulator keeps its own slave open).
final class PTYRelay: @unchecked Sendable {
    let devicePath: String
    private let stopFlag = StopFlag()
    private let done = StopFlag()

    init(emulatorDevice: String) throws {
        let emulatorFD = open(emulatorDevice, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard emulatorFD >= 0 else { throw HarnessError.failed("open \(emulatorDevice)") }
        var t = termios()
        if tcgetattr(emulatorFD, &t) == 0 {
            cfmakeraw(&t)
            tcsetattr(emulatorFD, TCSANOW, &t)
        }
        let pty = try PseudoTerminal()
        pty.releaseSlaveKeeper()
        devicePath = pty.slavePath
        let masterFD = dup(pty.master.rawValue)
        pty.close()
        let stop = stopFlag
        let done = self.done
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !stop.isSet {
                var fds = [pollfd(fd: emulatorFD, events: Int16(POLLIN), revents: 0), pollfd(fd: masterFD, events: Int16(POLLIN), revents: 0)]
                guard poll(&fds, 2, 50) > 0 else { continue }
                let hangup = Int16(POLLHUP | POLLERR | POLLNVAL)
                if fds.contains(where: { $0.revents & hangup != 0 && $0.revents & Int16(POLLIN) == 0 }) {
                    usleep(20_000)  // a side is closed (the daemon between opens, or the emulator gone)
                }
                for (from, to) in [(emulatorFD, masterFD), (masterFD, emulatorFD)] {
                    let index = from == emulatorFD ? 0 : 1
                    guard fds[index].revents & Int16(POLLIN) != 0 else { continue }
                    let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                    guard n > 0 else { continue }
                    var offset = 0
                    while offset < n {
                        let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + offset, n - offset) }
                        if w > 0 { offset += w } else if errno == EAGAIN { usleep(1000) } else { break }
                    }
                }
            }
            close(emulatorFD)
            close(masterFD)
            _ = done.set()
        }
    }

    func stop() {
        _ = stopFlag.set()
        for _ in 0..<100 where !done.isSet { usleep(10_000) }
    }
}
