import ATModem
import Foundation
import ModemEmulator
import OOBTestSupport
import SerialIO
import Spawn

@testable import OOBAgent

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// The built `oob-agent` daemon inside the "site" namespace of a ``NamespaceTopology``:
///
/// - the modem: a ``ModemEmulator`` in this process on a real pty; the daemon (same filesystem, other network
///   namespace) opens the pty's path directly;
/// - the jump host: OpenSSH sshd in the carrier namespace on `198.19.0.1:22`, reached only over the cellular
///   uplink, with the agent's restricted authorized_keys line (as `jumphost-setup` prints it);
/// - the forwarded target: a TCP echo (socat) on the site's `127.0.0.1:7022`; the forward is
///   `127.0.0.1:2222` on the jump host (checked and used from inside the carrier namespace);
/// - `link.mode = "interface"` on the site's veth "stick" (dnsmasq DHCP + DNS in the carrier), or `"ppp"` with
///   the stand-in pppd, on a data port of its own or on the modem's AT port itself.
///
/// Everything is ended by PID and deleted by ``destroy()``.
final class NamespaceSite: @unchecked Sendable {
    // @unchecked Sendable: used by one test at a time from one thread.
    static let owner = "+46701234567"

    enum Link {
        case interface
        /// `sharedPort`: `link.device` is the modem's AT port (`pausesSMS`).
        case ppp(sharedPort: Bool)
    }

    let topology: NamespaceTopology
    let dir: TempDir
    let emulator: ModemEmulator
    let modemPath: String
    let totp: TOTP
    let jumpHost: LoopbackSSHD
    let forwardPort = 2222
    let targetPort = 7022
    let configPath: String
    let tunnelHost: String
    /// The fake pppd's environment (passed through the daemon, which gives pppd its own).
    var environment: [String: String] = [:]
    private var dataPort: PseudoTerminal?
    private var daemons: [DaemonProcess] = []

    /// - Parameters:
    ///   - link: the link mode.
    ///   - hostByName: `tunnel.host` is `jump.oob.test` (resolved through the link's DNS) rather than the address.
    ///   - pppFailsOnce: the fake pppd's first start fails ("Connect script failed"); the retry works.
    init(link: Link, hostByName: Bool, pppFailsOnce: Bool = false) throws {
        let topology = try NamespaceTopology()
        self.topology = topology
        dir = TempDir()
        do {
            var emulatorConfig = ModemEmulator.Configuration()
            let ts = try SMSTimestamp(secondsSince1970: Int64(Date().timeIntervalSince1970), utcOffsetMinutes: 60)
            emulatorConfig.networkTime = ModemClock(
                year: ts.year, month: ts.month, day: ts.day, hour: ts.hour, minute: ts.minute, second: ts.second,
                utcOffsetMinutes: 60)
            emulator = try ModemEmulator(configuration: emulatorConfig)
            guard let device = emulator.waitForDevice() else { throw TopologyError(message: "the emulator has no pty") }
            modemPath = device

            try shell("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir.file("id_ed25519"), "-C", "oob-agent"])
            let secret = Enrollment.newSecret()
            dir.write("totp.secret", secret + "\n")
            totp = try TOTP(base32: secret)

            // The jump host, in the carrier, with the agent's restricted line and a known_hosts entry pinning its key
            // under the name (or address) the agent is configured with.
            var options = LoopbackSSHD.Options()
            options.namespace = topology.carrier
            options.listenAddress = topology.jumpHost
            options.port = 22
            jumpHost = try LoopbackSSHD(options: options)
            let forward = AgentConfiguration.Forward(
                remoteBind: "127.0.0.1", remotePort: forwardPort, localHost: "127.0.0.1", localPort: targetPort)
            let publicKey = try SSHKeys.publicKeyLine(identity: dir.file("id_ed25519"))
            try (SSHKeys.authorizedKeysLine(publicKey: publicKey, forwards: [forward]) + "\n")
                .write(toFile: jumpHost.authorizedKeysPath, atomically: true, encoding: .utf8)
            tunnelHost = hostByName ? topology.jumpName : topology.jumpHost
            dir.write("known_hosts", "\(tunnelHost) \(jumpHost.hostPublicKey)\n", mode: 0o644)

            // The forwarded target ("the router's sshd") in the site.
            try topology.startInNamespace(topology.site, [
                "/usr/bin/socat", "TCP-LISTEN:\(targetPort),bind=127.0.0.1,reuseaddr,fork", "EXEC:/bin/cat",
            ])
            try topology.waitForListener(in: topology.site, "127.0.0.1:\(targetPort)")

            var linkSection: String
            switch link {
            case .interface:
                linkSection = """
                    mode = "interface"
                    interface = "\(topology.cellIf)"
                    up_timeout = "30s"
                    """
            case .ppp(let shared):
                let device: String
                if shared {
                    device = modemPath
                } else {
                    // The stick's other serial port (the stand-in pppd does not talk on it).
                    let pty = try PseudoTerminal()
                    dataPort = pty
                    device = pty.slavePath
                }
                linkSection = """
                    mode = "ppp"
                    device = "\(device)"
                    apn = "internet"
                    pppd = "\(fakePPPDPath)"
                    interface = "\(topology.pppIf)"
                    up_timeout = "20s"
                    """
                environment = [
                    "FAKE_PPPD_CARRIER_NS": topology.carrier, "FAKE_PPPD_PEER_IF": topology.pppPeerIf,
                    "FAKE_PPPD_DNS": topology.pppPeer, "FAKE_PPPD_PID_FILE": dir.file("pppd.pid"),
                    "FAKE_PPPD_ARGS_FILE": dir.file("pppd.args"),
                ]
                if pppFailsOnce { environment["FAKE_PPPD_FAIL_ONCE_FILE"] = dir.file("pppd-failed-once") }
            }
            configPath = dir.write("agent.toml", """
                [modem]
                port = "\(modemPath)"
                poll = "1s"
                [auth]
                senders = ["\(Self.owner)"]
                totp_secret_file = "\(dir.file("totp.secret"))"
                [link]
                \(linkSection)
                [tunnel]
                host = "\(tunnelHost)"
                port = 22
                user = "\(jumpHost.user)"
                identity = "\(dir.file("id_ed25519"))"
                known_hosts = "\(dir.file("known_hosts"))"
                forwards = ["127.0.0.1:\(forwardPort):127.0.0.1:\(targetPort)"]
                keepalive = "5s"
                [session]
                duration = "60s"
                max = "10m"
                attempts = 2
                [state]
                dir = "\(dir.file("state"))"
                control_socket = "\(dir.file("agent.sock"))"
                """, mode: 0o644)
        } catch {
            topology.destroy()
            dir.cleanup()
            throw error
        }
    }

    /// Starts `oob-agent run` inside the site namespace (`ip netns exec` execs it: the PID is the daemon's) and
    /// waits until its control socket answers and the modem is open.
    func startDaemon(log name: String) async throws -> DaemonProcess {
        let daemon = try DaemonProcess(
            arguments: ["/usr/sbin/ip", "netns", "exec", topology.site, Binary.path, "run", "--config", configPath],
            logPath: dir.file(name), environment: environment)
        daemons.append(daemon)
        guard await waitUntil(30, { self.status()?.modem.present == true }) else {
            throw TopologyError(message: "the daemon did not come up: \(log(name))")
        }
        return daemon
    }

    func log(_ name: String) -> String { (try? String(contentsOfFile: dir.file(name), encoding: .utf8)) ?? "" }

    func status() -> AgentStatus? {
        (try? ControlClient.send(ControlRequest(command: "status"), to: dir.file("agent.sock"), timeout: .seconds(5)))?.status
    }

    func control(_ command: String) throws -> ControlResponse {
        try ControlClient.send(ControlRequest(command: command), to: dir.file("agent.sock"), timeout: .seconds(10))
    }

    func code(at t: Int64) -> String { totp.code(at: t) }

    /// Delivers an SMS from the owner stamped `t`.
    func deliver(_ text: String, at t: Int64) throws {
        let pdus = try SMSEncoder.deliverPDUs(from: Self.owner, text: text, timestamp: SMSTimestamp(secondsSince1970: t, utcOffsetMinutes: 60))
        for pdu in pdus { _ = emulator.deliver(pdu: pdu) }
    }

    /// The texts the daemon sent to the owner, in order.
    var sentTexts: [String] {
        emulator.outbox.compactMap { m -> String? in
            var text = m.text
            var to = m.recipient
            if let pdu = m.pdu, let decoded = try? PDUDecoder.decode(hex: pdu), case .submit(let s) = decoded.pdu {
                text = text ?? s.userData.text
                to = to ?? s.recipient
            }
            return to == Self.owner ? text : nil
        }
    }

    /// Whether the forward listens on the jump host (seen from inside the carrier namespace).
    var forwardListening: Bool {
        (try? topology.listeners(in: topology.carrier))?.contains("127.0.0.1:\(forwardPort)") == true
    }

    /// Sends `payload` from the jump host (carrier namespace) through the forward to the site's echo target and
    /// returns what came back.
    func echoThroughForward(_ payload: String) throws -> String {
        let input = dir.write("payload-\(UInt32.random(in: 0...UInt32.max))", payload, mode: 0o644)
        return try topology.run(in: topology.carrier, [
            "/bin/sh", "-c", "/usr/bin/socat -t 5 -T 30 - TCP:127.0.0.1:\(forwardPort) < \(input)",
        ])
    }

    /// Whether the site can reach the jump host's sshd without the cellular link (it must not: the main uplink is
    /// dead for it).
    func mainPathReachesJumpHost() -> Bool {
        let out = try? topology.run(in: topology.site, [
            "/usr/bin/socat", "-T", "2", "-", "TCP:\(topology.jumpHost):22,connect-timeout=2",
        ], check: true)
        return out?.hasPrefix("SSH-") == true
    }

    /// The AT commands the emulator received, in order (the machine is shared: anything else written to a pty
    /// that reuses a number another test held is not the daemon's).
    var atCommands: [String] { emulator.receivedCommands.filter { $0.uppercased().hasPrefix("AT") } }

    /// Whether process `pid` has the modem's pty open (its `/proc/<pid>/fd` links).
    func holdsModemPort(_ pid: Int32) -> Bool {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == modemPath }
    }

    /// The stand-in pppd's PID, once it has started.
    var pppdPID: Int32? {
        (try? String(contentsOfFile: dir.file("pppd.pid"), encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    var sessionRecordExists: Bool { FileManager.default.fileExists(atPath: dir.file("state/session.json")) }

    /// Ends the daemons (SIGKILL, by PID), sshd, the emulator and the topology; removes the temp directory.
    func destroy() {
        for daemon in daemons { daemon.kill9() }
        daemons.removeAll()
        // A stand-in pppd a killed daemon left (when a test failed before the restart undid it): by its PID, if that
        // PID still is the fake pppd.
        if let pid = pppdPID, processAlive(pid),
            let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), cmdline.contains("fake-pppd")
        {
            kill(pid, SIGKILL)
        }
        jumpHost.stop()
        emulator.stop()
        dataPort?.close()
        topology.destroy()
        dir.cleanup()
    }
}

/// Polls `condition` every 100 ms for up to `seconds`.
func waitUntil(_ seconds: Double = 20, _ condition: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return condition()
}

/// The lines of `after` not in `before` and the other way round, for a readable failure message.
func lineDiff(_ before: String, _ after: String) -> String {
    let b = before.split(separator: "\n").map(String.init)
    let a = after.split(separator: "\n").map(String.init)
    let gone = b.filter { !a.contains($0) }.map { "- " + $0 }
    let new = a.filter { !b.contains($0) }.map { "+ " + $0 }
    return (gone + new).joined(separator: "\n")
}

/// A printable random payload of `count` bytes in lines of 64.
func randomPayload(_ count: Int) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    var s = ""
    for i in 0..<count { s.append(i % 65 == 64 ? "\n" : alphabet.randomElement()!) }
    return s
}
