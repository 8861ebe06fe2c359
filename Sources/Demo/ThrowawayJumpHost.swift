#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Foundation

/// The OpenSSH programs the demo needs, located once, with the install hint when one is missing.
public struct OpenSSHTools: Sendable {
    /// The server, `/usr/sbin/sshd` on Debian (package `openssh-server`).
    public var sshd: String
    /// The client (package `openssh-client`).
    public var ssh: String
    /// The key generator (package `openssh-client`).
    public var sshKeygen: String

    /// Finds the programs.
    /// - Parameter sshd: the server's path (default `/usr/sbin/sshd`).
    /// - Throws: ``DemoError`` `.missingTool` naming the missing program and the Debian packages to install.
    public static func locate(sshd: String = "/usr/sbin/sshd") throws(DemoError) -> OpenSSHTools {
        let hint = "fix: apt-get install openssh-server openssh-client (scripts/demo.sh installs it)"
        guard access(sshd, X_OK) == 0 else {
            throw DemoError(
                .missingTool,
                "the demo needs OpenSSH's server as its throwaway jump host, and \(sshd) is missing; \(hint)")
        }
        func find(_ name: String) throws(DemoError) -> String {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            for dir in path.split(separator: ":") + ["/usr/bin", "/bin"] {
                let candidate = "\(dir)/\(name)"
                if access(candidate, X_OK) == 0 { return candidate }
            }
            throw DemoError(.missingTool, "the demo needs OpenSSH's `\(name)`, and it is not installed; \(hint)")
        }
        return OpenSSHTools(sshd: sshd, ssh: try find("ssh"), sshKeygen: try find("ssh-keygen"))
    }

    /// Creates an ed25519 key pair without a passphrase at `path` (and `path.pub`).
    /// - Throws: ``DemoError`` when ssh-keygen fails.
    public func generateKey(at path: String, comment: String) throws(DemoError) {
        let keygen = try ChildProcess([sshKeygen, "-q", "-t", "ed25519", "-N", "", "-f", path, "-C", comment], output: .pipe)
        guard keygen.wait(milliseconds: 20_000), keygen.exitCode == 0 else {
            let output = String(decoding: keygen.readAvailable(), as: UTF8.self)
            keygen.terminate(signal: SIGKILL)
            throw DemoError(.io, "ssh-keygen could not create \(path): \(output)")
        }
    }
}

/// A throwaway OpenSSH `sshd` on 127.0.0.1: its own host key, configuration, `authorized_keys` and pid file in a
/// temp directory (never `/etc/ssh`), key authentication only, stopped by its PID.
///
/// `oob-agent demo` runs two: the jump host (where the agent opens its remote forward, with the agent's key
/// restricted as `oob-agent jumphost-setup` prints) and the box's own sshd (what the forward leads to, with the
/// owner's key). It works with Debian 12's OpenSSH 9.2 as root or as an ordinary user (who can then log in only
/// as themselves).
public final class ThrowawayJumpHost {
    /// The directory holding its files.
    public let directory: String
    /// A short name for its files (`jumphost` → `jumphost_sshd_config`, `jumphost_host_ed25519`…).
    public let name: String
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// Its host key, `ssh-ed25519 AAAA…`.
    public let hostPublicKey: String
    private let process: ChildProcess

    /// Generates a host key, writes the configuration and `authorized_keys`, starts sshd and waits until it
    /// accepts connections.
    /// - Parameters:
    ///   - directory: an existing private directory.
    ///   - name: the files' prefix.
    ///   - port: the port to listen on (see ``freeLoopbackPort()``).
    ///   - authorizedKeys: `authorized_keys` lines, options included.
    ///   - clientAliveInterval: seconds between sshd's probes of a silent client (0: none).
    ///   - tools: the OpenSSH programs.
    /// - Throws: ``DemoError`` when a step fails (with sshd's own log).
    public init(
        directory: String, name: String, port: Int, authorizedKeys: [String], clientAliveInterval: Int = 10,
        tools: OpenSSHTools
    ) throws(DemoError) {
        self.directory = directory
        self.name = name
        self.port = port
        let base = "\(directory)/\(name)"
        try tools.generateKey(at: base + "_host_ed25519", comment: name)
        let hostKey = (try? String(contentsOfFile: base + "_host_ed25519.pub", encoding: .utf8)) ?? ""
        hostPublicKey = hostKey.split(separator: " ").prefix(2).joined(separator: " ")
        do {
            try (authorizedKeys.joined(separator: "\n") + "\n").write(
                toFile: base + "_authorized_keys", atomically: true, encoding: .utf8)
            let config = """
                # A throwaway sshd of `oob-agent demo`: loopback only, keys only.
                Port \(port)
                ListenAddress 127.0.0.1
                HostKey \(base)_host_ed25519
                PidFile \(base)_sshd.pid
                AuthorizedKeysFile \(base)_authorized_keys
                StrictModes no
                PermitRootLogin prohibit-password
                PubkeyAuthentication yes
                PasswordAuthentication no
                KbdInteractiveAuthentication no
                UsePAM no
                UseDNS no
                AllowTcpForwarding yes
                GatewayPorts no
                X11Forwarding no
                PrintMotd no
                PrintLastLog no
                ClientAliveInterval \(clientAliveInterval)
                ClientAliveCountMax 3
                LogLevel VERBOSE

                """
            try config.write(toFile: base + "_sshd_config", atomically: true, encoding: .utf8)
        } catch {
            throw DemoError(.io, "cannot write the sshd files in \(directory): \(error)")
        }
        // Debian's sshd refuses to start without its privilege-separation directory.
        if getuid() == 0 { mkdir("/run/sshd", 0o755) }
        process = try ChildProcess([tools.sshd, "-D", "-e", "-f", base + "_sshd_config"], output: .file(base + "_sshd.log"))
        let end = Clock.milliseconds() + 10_000
        while !isLoopbackListening(port) {
            if !process.isRunning || Clock.milliseconds() > end {
                process.terminate()
                throw DemoError(
                    .spawn,
                    "sshd (\(tools.sshd)) did not start on 127.0.0.1:\(port); its log says: \(log.suffix(600)); "
                        + "fix: check that the sshd is OpenSSH's (apt-get install openssh-server)")
            }
            usleep(20_000)
        }
    }

    /// sshd's PID.
    public var pid: Int32 { process.pid }

    /// Whether sshd is still running.
    public var isRunning: Bool { process.isRunning }

    /// The `known_hosts` line that pins this server's key for a client connecting to 127.0.0.1:`port`
    /// (default: its own port; a forwarded port leads to it too).
    public func knownHostsLine(port: Int? = nil) -> String {
        "[127.0.0.1]:\(port ?? self.port) \(hostPublicKey)"
    }

    /// sshd's log (`-e`: what it would send to syslog).
    public var log: String {
        (try? String(contentsOfFile: "\(directory)/\(name)_sshd.log", encoding: .utf8)) ?? ""
    }

    /// Stops sshd by its PID (SIGTERM, then SIGKILL after 5 s) and its per-connection processes.
    public func stop() {
        process.terminate()
    }
}

/// A TCP port on 127.0.0.1 that is free now (bound to port 0, read back, released).
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var addr = loopbackAddress(port: 0)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func isLoopbackListening(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = loopbackAddress(port: port)
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    } == 0
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    addr.sin_port = UInt16(port).bigEndian
    return addr
}
