import ATModem
import Foundation
import Logging
import ModemEmulator
import SerialIO
import Spawn
import SystemPackage
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
    // posix_spawn (Foundation's Process hangs when a descendant keeps the pipes or the child closes descriptors).
    let r = try SpawnedProcess.run(
        path, arguments, options: SpawnOptions(stdout: .pipe, stderr: .stdout), timeout: .seconds(120))
    return r.stdoutText
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

/// OpenSSH's sshd on 127.0.0.1 with a throwaway configuration (never /etc/ssh), stopped by PID.
final class JumpHost: @unchecked Sendable {
    let dir: String
    let port: Int
    let process: SpawnedProcess
    let knownHostsLine: String

    /// Starts sshd; `authorizedKeys` is the agent key's restricted line.
    init(dir: String, authorizedKeys: String) throws {
        self.dir = dir
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        try shell("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir + "/host_ed25519", "-C", "jumphost"])
        try (authorizedKeys + "\n").write(toFile: dir + "/authorized_keys", atomically: true, encoding: .utf8)
        port = freePort()
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(dir)/host_ed25519
            PidFile \(dir)/sshd.pid
            AuthorizedKeysFile \(dir)/authorized_keys
            StrictModes no
            PermitRootLogin yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            AllowTcpForwarding yes
            GatewayPorts no
            ClientAliveInterval 0
            LogLevel VERBOSE
            """
        try config.write(toFile: dir + "/sshd_config", atomically: true, encoding: .utf8)
        process = try SpawnedProcess(
            "/usr/sbin/sshd", ["-D", "-e", "-f", dir + "/sshd_config"],
            options: SpawnOptions(stderr: .truncate(dir + "/sshd.log")))
        let hostKey = try String(contentsOfFile: dir + "/host_ed25519.pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        knownHostsLine = "[127.0.0.1]:\(port) \(hostKey)"
        let deadline = Date().addingTimeInterval(10)
        while !isListening(port) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    var log: String { (try? String(contentsOfFile: dir + "/sshd.log", encoding: .utf8)) ?? "" }

    func stop() {
        process.terminate(grace: .seconds(5))
    }
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
    let totp: TOTP
    var configuration: AgentConfiguration
    let configPath: String

    /// - Parameters:
    ///   - duration/max: session lengths (tests use seconds, below the file format's minimum).
    ///   - storage: the emulator's SMS slots.
    init(duration: Duration = .seconds(600), max: Duration = .seconds(3600), storage: Int = 25) throws {
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
        // A daemon in another process opens the emulator's pty directly: this process created it (holds its master),
        // which SerialPort's holder check accepts.
        try FileManager.default.createSymbolicLink(atPath: modemLink, withDestinationPath: device)

        try shell("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir.file("id_ed25519"), "-C", "oob-agent"])
        let secret = Enrollment.newSecret()
        dir.write("totp.secret", secret + "\n")
        totp = try TOTP(base32: secret)

        echo = try EchoServer()
        forwardPort = freePort()
        let forward = AgentConfiguration.Forward(remoteBind: "127.0.0.1", remotePort: forwardPort, localHost: "127.0.0.1", localPort: echo.port)
        let publicKey = try SSHKeys.publicKeyLine(identity: dir.file("id_ed25519"))
        jumpHost = try JumpHost(dir: dir.path, authorizedKeys: SSHKeys.authorizedKeysLine(publicKey: publicKey, forwards: [forward]))
        dir.write("known_hosts", jumpHost.knownHostsLine + "\n", mode: 0o644)

        configuration = AgentConfiguration(
            modem: .init(port: .path(modemLink), poll: .seconds(1)),
            auth: .init(senders: [PhoneNumber(Self.owner)!], secret: .totp(file: dir.file("totp.secret"))),
            tunnel: .init(
                host: "127.0.0.1", port: jumpHost.port, user: "root", identity: dir.file("id_ed25519"),
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
        user = "root"
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
        emulator.stop()
        dir.cleanup()
    }
}

/// A synchronised clock at real time (so `max_age` is judged by it).
struct SynchronizedClock: AgentClock {
    func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
    func isSynchronized() -> Bool { true }
}

