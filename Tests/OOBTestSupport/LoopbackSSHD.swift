import Foundation
public import Spawn

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// A throwaway OpenSSH jump host: Debian's `/usr/sbin/sshd` on 127.0.0.1 with a free port, a temp
/// host key, authorized_keys, known_hosts and client key pair, all in a temp directory (never /etc/ssh).
/// `stop()` (or deinit) ends it by PID and removes the directory.
///
/// Used by the Tunnel tests and by the agent's end-to-end tests.
public final class LoopbackSSHD: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init except `stopped`, guarded by `lock`.

    /// Settings of the throwaway server.
    public struct Options: Sendable {
        /// sshd's ClientAliveInterval in seconds (0 = off): its probes are the tunnel's heartbeat.
        public var clientAliveInterval: Int = 0
        /// sshd's ClientAliveCountMax.
        public var clientAliveCountMax: Int = 3
        /// Host key types to generate and serve ("ed25519", "ecdsa", "rsa").
        public var hostKeyTypes: [String] = ["ed25519"]
        /// Type of the generated client key ("ed25519", "ecdsa").
        public var clientKeyType: String = "ed25519"
        /// sshd LogLevel.
        public var logLevel: String = "VERBOSE"
        /// Extra sshd_config lines.
        public var extraConfig: [String] = []
        /// Run sshd inside this network namespace (`ip netns exec`), one the test created; nil = this process's.
        public var namespace: String?
        /// The address sshd listens on: 127.0.0.1, or (with `namespace`) an address inside that namespace.
        public var listenAddress: String = "127.0.0.1"
        /// The port; nil = a free one on 127.0.0.1 (with `namespace` set a port of the test's choosing, e.g. 22).
        public var port: Int?
        public init() {}
    }

    /// The temp directory holding everything.
    public let directory: String
    /// The port sshd listens on (127.0.0.1).
    public let port: Int
    /// The account to log in as (the user running the tests).
    public let user: String
    /// sshd's PID.
    public var pid: Int32 { process.pid }
    private let process: SpawnedProcess
    /// The client private key (mode 600, OpenSSH format, no passphrase), authorized in `authorizedKeysPath`.
    public let clientKeyPath: String
    /// A known_hosts file pinning the ed25519 (or first) host key as `[127.0.0.1]:port`.
    public let knownHostsPath: String
    /// The authorized_keys file sshd reads.
    public let authorizedKeysPath: String
    /// sshd's log (LogLevel as configured).
    public let logPath: String
    /// The pinned host key line (without host pattern): "ssh-ed25519 AAAA…".
    public let hostPublicKey: String
    private let lock = NSLock()
    private var stopped = false

    /// Starts sshd and waits until it accepts connections.
    public init(options: Options = Options()) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "oob-sshd-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        directory = dir
        // sshd refuses to start without its privilege separation directory.
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        user = String(cString: getpwuid(geteuid()).pointee.pw_name)
        port = try options.port ?? LoopbackSSHD.freePort()
        let listenAddress = options.listenAddress

        var hostKeys: [String] = []
        for type in options.hostKeyTypes {
            let path = "\(dir)/ssh_host_\(type)_key"
            try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path, "-C", "loopback-host"])
            hostKeys.append(path)
        }
        let pub = try String(contentsOfFile: hostKeys[0] + ".pub", encoding: .utf8)
        hostPublicKey = pub.split(separator: " ").prefix(2).joined(separator: " ")
        knownHostsPath = "\(dir)/known_hosts"
        try "[127.0.0.1]:\(port) \(hostPublicKey)\n".write(toFile: knownHostsPath, atomically: true, encoding: .utf8)

        clientKeyPath = "\(dir)/id_\(options.clientKeyType)"
        try LoopbackSSHD.run(
            "/usr/bin/ssh-keygen", ["-q", "-t", options.clientKeyType, "-N", "", "-f", clientKeyPath, "-C", "loopback-client"])
        authorizedKeysPath = "\(dir)/authorized_keys"
        try FileManager.default.copyItem(atPath: clientKeyPath + ".pub", toPath: authorizedKeysPath)

        logPath = "\(dir)/sshd.log"
        var config = [
            "ListenAddress \(listenAddress):\(port)",
            "PidFile \(dir)/sshd.pid",
            "AuthorizedKeysFile \(authorizedKeysPath)",
            "UsePAM no",
            "StrictModes no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "AllowTcpForwarding yes",
            "GatewayPorts no",
            "X11Forwarding no",
            "PrintMotd no",
            "MaxStartups 100",
            "MaxSessions 100",
            "ClientAliveInterval \(options.clientAliveInterval)",
            "ClientAliveCountMax \(options.clientAliveCountMax)",
            "LogLevel \(options.logLevel)",
        ]
        config += hostKeys.map { "HostKey \($0)" }
        config += options.extraConfig
        try (config.joined(separator: "\n") + "\n").write(toFile: "\(dir)/sshd_config", atomically: true, encoding: .utf8)

        // posix_spawn, not Foundation.Process: sshd closes every inherited descriptor at start-up, which
        // Foundation takes for an exit and then blocks its process monitor in waitpid() for good.
        let sshd = ["/usr/sbin/sshd", "-D", "-e", "-f", "\(dir)/sshd_config"]
        if let namespace = options.namespace {
            // `ip netns exec` execs sshd: the PID is sshd's own.
            process = try LoopbackSSHD.spawn("/usr/sbin/ip", ["netns", "exec", namespace] + sshd, output: logPath)
        } else {
            process = try LoopbackSSHD.spawn(sshd[0], Array(sshd.dropFirst()), output: logPath)
        }

        // Ready when the port accepts a connection (inside the namespace: when it is listed as listening there).
        let namespace = options.namespace
        let boundPort = port
        let ready = {
            guard let namespace else { return LoopbackSSHD.canConnect(port: boundPort) }
            let out = (try? LoopbackSSHD.run("/usr/sbin/ip", ["netns", "exec", namespace, "/usr/bin/ss", "-Hltn"])) ?? ""
            return out.contains("\(listenAddress):\(boundPort) ")
        }
        let deadline = Date().addingTimeInterval(10)
        while !ready() {
            if !process.isRunning || Date() > deadline {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                stop()
                throw LoopbackSSHDError(message: "sshd did not start: \(text)")
            }
            usleep(20_000)
        }
    }

    deinit { stop() }

    /// Stops sshd (SIGTERM, then SIGKILL after 2 s), its session processes, and removes the directory.
    public func stop() {
        lock.lock()
        if stopped {
            lock.unlock()
            return
        }
        stopped = true
        lock.unlock()
        let children = sessionProcessIDs()
        process.signal(SIGTERM)
        for child in children { kill(child, SIGKILL) }
        process.terminate(grace: .seconds(2))
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// sshd's log so far.
    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// The PIDs of the per-connection sshd processes (every descendant of the listener), deepest last.
    public func sessionProcessIDs() -> [Int32] {
        var parent: [pid_t: pid_t] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let p = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let pp = pid_t(fields[1]) { parent[p] = pp }
        }
        var result: [pid_t] = []
        var frontier: [pid_t] = [pid]
        while let p = frontier.popLast() {
            let kids = parent.filter { $0.value == p }.map(\.key)
            result += kids
            frontier += kids
        }
        return result
    }

    /// Writes a known_hosts file at `path` holding `lines`.
    public func writeKnownHosts(_ lines: [String], to path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The known_hosts line pinning this server's key, as OpenSSH writes it for a non-22 port.
    public var knownHostsLine: String { "[127.0.0.1]:\(port) \(hostPublicKey)" }

    /// Generates another client key in the temp directory (mode 600) and returns its path.
    /// - Parameters:
    ///   - type: "ed25519", "ecdsa" or "rsa".
    ///   - passphrase: "" for none.
    ///   - pem: PEM instead of the OpenSSH format.
    ///   - authorize: append its public key to authorized_keys.
    public func makeClientKey(
        name: String, type: String = "ed25519", passphrase: String = "", pem: Bool = false, authorize: Bool = false
    ) throws -> String {
        let path = "\(directory)/\(name)"
        try LoopbackSSHD.run(
            "/usr/bin/ssh-keygen",
            ["-q", "-t", type, "-N", passphrase, "-f", path, "-C", name] + (pem ? ["-m", "PEM"] : []))
        if authorize {
            let pub = try String(contentsOfFile: path + ".pub", encoding: .utf8)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: authorizedKeysPath))
            handle.seekToEndOfFile()
            handle.write(pub.data(using: .utf8)!)
            try handle.close()
        }
        return path
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LoopbackSSHDError(message: "socket failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Int32 in
                if bind(fd, sa, len) != 0 { return -1 }
                return getsockname(fd, sa, &len)
            }
        }
        guard rc == 0 else { throw LoopbackSSHDError(message: "bind failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// True if something accepts TCP connections on 127.0.0.1:port.
    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Starts `path` with `arguments` (stdin /dev/null, stdout and stderr appended to `output`).
    public static func spawn(_ path: String, _ arguments: [String], output: String) throws -> SpawnedProcess {
        try SpawnedProcess(path, arguments, options: SpawnOptions(stdout: .file(output), stderr: .stdout))
    }

    /// Runs a helper program to completion; throws with its output on failure.
    @discardableResult
    public static func run(_ path: String, _ arguments: [String]) throws -> String {
        let r = try SpawnedProcess.run(
            path, arguments, options: SpawnOptions(stdout: .pipe, stderr: .stdout), timeout: .seconds(120))
        guard r.status.succeeded else {
            throw LoopbackSSHDError(message: "\(path) \(arguments.joined(separator: " ")) failed: \(r.stdoutText)")
        }
        return r.stdoutText
    }
}

/// A failure of the loopback sshd helper.
public struct LoopbackSSHDError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
