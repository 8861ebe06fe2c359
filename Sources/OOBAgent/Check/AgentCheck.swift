import PowerControl

/// One finding of `oob-agent check`: a line naming the problem and its fix.
public struct CheckFinding: Sendable, Equatable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Sendable, Equatable {
        /// The agent would refuse to start or a session would fail: `check` exits non-zero.
        case problem
        /// Works, but weaker than it should be.
        case warning
    }
    /// How bad it is.
    public var severity: Severity
    /// The line (names the key or file and the fix).
    public var text: String

    /// Creates a finding.
    public init(_ severity: Severity, _ text: String) {
        self.severity = severity
        self.text = text
    }

    public var description: String { "\(severity == .problem ? "PROBLEM" : "WARNING"): \(text)" }
}

/// A check that another module contributes to `oob-agent check` (the discovery module adds
/// "ModemManager is not holding the modem" through this hook).
public protocol AgentCheckContributor: Sendable {
    /// Findings for `configuration` (empty when all is well).
    func findings(for configuration: AgentConfiguration) async -> [CheckFinding]
}

/// The checks of `oob-agent check` that need no running daemon: secret and key files and their
/// permissions, devices present, the jump host key pinned, state directories usable.
public enum AgentCheck {
    /// Runs every built-in check, then the contributors'.
    public static func run(
        _ config: AgentConfiguration, contributors: [any AgentCheckContributor] = []
    ) async -> [CheckFinding] {
        var out = files(config) + devices(config) + directories(config)
        for c in contributors { out += await c.findings(for: config) }
        return out
    }

    static func files(_ config: AgentConfiguration) -> [CheckFinding] {
        var out: [CheckFinding] = []
        switch config.auth.secret {
        case .totp(let file):
            do { _ = try Enrollment.loadTOTP(path: file) } catch { out.append(.init(.problem, message(error))) }
        case .passphrase(let file):
            do { _ = try Enrollment.loadPassphrase(path: file) } catch { out.append(.init(.problem, message(error))) }
            out.append(
                .init(
                    .warning,
                    "auth.passphrase_file = \"\(file)\": a passphrase is replayable by anyone who saw one SMS (the replay cache only refuses the same message twice); fix: use totp_secret_file and `oob-agent enroll`"
                )
            )
        }
        let identity = config.tunnel.identity
        if let p = FilePermissions.problem(key: "tunnel.identity", path: identity, missingFix: "ssh-keygen -t ed25519 -N '' -f \(identity)") {
            out.append(.init(.problem, p))
        } else {
            do {
                let line = try SSHKeys.publicKeyLine(identity: identity)
                if SSHKeys.keyType(line: line) == "ssh-rsa" {
                    out.append(
                        .init(
                            .problem,
                            "tunnel.identity = \"\(identity)\": an RSA key, which libssh2 1.10 cannot sign as OpenSSH 9 wants; fix: ssh-keygen -t ed25519 -f \(identity) and run `oob-agent jumphost-setup` again"
                        )
                    )
                }
            } catch {
                out.append(.init(.problem, message(error)))
            }
        }
        if let pf = config.tunnel.identityPassphraseFile,
            let p = FilePermissions.problem(key: "tunnel.identity_passphrase_file", path: pf, missingFix: "write the key's passphrase into it (chmod 600)")
        {
            out.append(.init(.problem, p))
        }
        let kh = config.tunnel.knownHosts
        let name = config.tunnel.port == 22 ? config.tunnel.host : "[\(config.tunnel.host)]:\(config.tunnel.port)"
        do {
            let text = String(decoding: try FileSystem.readFile(kh), as: UTF8.self)
            if !SSHKeys.knownHostsPins(text, host: config.tunnel.host, port: config.tunnel.port) {
                out.append(
                    .init(
                        .problem,
                        "tunnel.known_hosts = \"\(kh)\": no key for \(name), so the tunnel would refuse the jump host; fix: ssh-keyscan -p \(config.tunnel.port) -t ed25519 \(config.tunnel.host) >> \(kh) (and compare the fingerprint with the jump host's own)"
                    )
                )
            }
        } catch {
            out.append(
                .init(
                    .problem,
                    "tunnel.known_hosts = \"\(kh)\": cannot read it (\(error)); fix: ssh-keyscan -p \(config.tunnel.port) -t ed25519 \(config.tunnel.host) > \(kh) and check the fingerprint"
                )
            )
        }
        if let ca = config.notify.webhookCA, let problem = TLSClientSession.caFileProblem(ca) {
            out.append(.init(.problem, problem))
        }
        return out
    }

    static func message(_ error: any Error) -> String {
        (error as? AgentError)?.message ?? "\(error)"
    }

    static func devices(_ config: AgentConfiguration) -> [CheckFinding] {
        var out: [CheckFinding] = []
        func device(_ key: String, _ path: String, _ fix: String) {
            // "auto" and device matches are resolved by the discovery part of `check`.
            guard path.hasPrefix("/") else { return }
            do {
                let st = try FileSystem.status(path)
                if !st.isCharacterDevice {
                    out.append(.init(.problem, "\(key) = \"\(path)\": not a character device; fix: \(fix)"))
                }
            } catch {
                out.append(.init(.problem, "\(key) = \"\(path)\": \(error); fix: \(fix)"))
            }
        }
        if case .path(let p) = config.modem.port {
            device("modem.port", p, "plug the modem in, or set port = \"auto\" (see `oob-agent devices`)")
        }
        if config.link.mode == .ppp {
            if let d = config.link.device { device("link.device", d, "set it to the modem's PPP data port (see `oob-agent devices`)") }
            if !FileSystem.isExecutable(config.link.pppd) {
                out.append(.init(.problem, "link.pppd = \"\(config.link.pppd)\": not an executable; fix: apt-get install ppp"))
            }
        }
        if let c = config.console { device("console.device", c.device, "plug the console cable in (see `oob-agent devices`)") }
        for (i, p) in config.power.enumerated() {
            switch p.driver {
            case .serialRelay, .gpio:
                if let d = p.device { device("power[\(i)].device", d, "connect the relay board of \"\(p.name)\"") }
            case .command:
                if let c = p.command, !FileSystem.isExecutable(c) {
                    out.append(.init(.problem, "power[\(i)].command = \"\(c)\": not an executable; fix: chmod +x \(c) or correct the path"))
                }
            }
        }
        return out
    }

    static func directories(_ config: AgentConfiguration) -> [CheckFinding] {
        var out: [CheckFinding] = []
        let dir = config.state.dir
        if FileSystem.exists(dir) {
            if !FileSystem.isWritable(dir) {
                out.append(.init(.problem, "state.dir = \"\(dir)\": not writable by the agent; fix: chown it to the agent's user"))
            }
        } else if !FileSystem.isWritable(FileSystem.directory(of: dir)) {
            out.append(.init(.problem, "state.dir = \"\(dir)\": does not exist and cannot be created; fix: mkdir -m 700 \(dir) and chown it to the agent's user"))
        }
        let sockDir = FileSystem.directory(of: config.state.controlSocket)
        if FileSystem.exists(sockDir), !FileSystem.isWritable(sockDir) {
            out.append(.init(.problem, "state.control_socket = \"\(config.state.controlSocket)\": \(sockDir) is not writable; fix: use RuntimeDirectory=oob-agent in the unit or chown it"))
        }
        return out
    }
}
