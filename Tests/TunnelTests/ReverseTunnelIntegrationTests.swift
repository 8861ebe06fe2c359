import Foundation
import Logging
import OOBTestSupport
import Testing

@testable import Tunnel

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Tests against a real OpenSSH sshd started on 127.0.0.1 by each test (see `LoopbackSSHD`).
/// Set OOB_TEST_LOG=1 to see the tunnel's log on stderr.
@Suite("ReverseTunnel against a real sshd", .serialized, .timeLimit(.minutes(4)))
struct ReverseTunnelIntegrationTests {
    static let mib = 1 << 20

    func logger(_ label: String = "tunnel") -> Logger {
        if ProcessInfo.processInfo.environment["OOB_TEST_LOG"] != nil {
            var l = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
            l.logLevel = .debug
            return l
        }
        return Logger(label: label, factory: { _ in SwiftLogNoOpLogHandler() })
    }

    func config(
        _ sshd: LoopbackSSHD, forwards: [RemoteForward], keepalive: Duration = .seconds(5), identity: String? = nil,
        knownHosts: String? = nil
    ) -> TunnelConfiguration {
        TunnelConfiguration(
            host: "127.0.0.1", port: sshd.port, user: sshd.user, identity: identity ?? sshd.clientKeyPath,
            knownHosts: knownHosts ?? sshd.knownHostsPath, forwards: forwards, keepalive: keepalive,
            connectTimeout: .seconds(10), reconnectInitialDelay: .milliseconds(200), reconnectMaxDelay: .seconds(2))
    }

    func forward(to port: Int) throws -> RemoteForward {
        RemoteForward(remoteBind: "127.0.0.1", remotePort: try LoopbackSSHD.freePort(), localHost: "127.0.0.1", localPort: port)
    }

    /// Polls `condition` every 20 ms until it holds or `seconds` pass.
    func eventually(_ seconds: Double, _ condition: () -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func permanentError(_ tunnel: ReverseTunnel) async -> TunnelError? {
        do {
            try await tunnel.waitUntilForwarding(timeout: .seconds(15))
            return nil
        } catch {
            return error as? TunnelError
        }
    }

    // MARK: - Data paths

    @Test func transfers64MiBEachWayIntact() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [f]), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let r = echoTransfer(port: f.remotePort, bytes: 64 * Self.mib)
        #expect(r.error == nil)
        #expect(r.sent == 64 * Self.mib)
        #expect(r.received == 64 * Self.mib)
        #expect(r.sentHash == r.receivedHash)
        #expect(await eventually(5) { tunnel.statistics.channelsOpen == 0 })
        let stats = tunnel.statistics
        #expect(stats.bytesFromJumpHost >= UInt64(64 * Self.mib))
        #expect(stats.bytesToJumpHost >= UInt64(64 * Self.mib))
        #expect(stats.channelsTotal == 1)
        #expect(stats.reconnects == 0)
        #expect(stats.state == .forwarding)
        await tunnel.stop()
        #expect(tunnel.state == .stopped)
    }

    @Test func relays32ConcurrentChannels() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [f]), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let results = Results()
        let port = f.remotePort
        LoopbackTCP.onThreads(32) { i in
            results.add(echoTransfer(port: port, bytes: Self.mib + i * 4099))
        }
        let all = results.all
        #expect(all.count == 32)
        for r in all {
            #expect(r.error == nil && r.received == r.sent && r.sentHash == r.receivedHash, "\(r)")
        }
        #expect(await eventually(5) { tunnel.statistics.channelsOpen == 0 })
        #expect(tunnel.statistics.channelsTotal == 32)
        await tunnel.stop()
    }

    @Test func severalForwardsAtOnce() async throws {
        let sshd = try LoopbackSSHD()
        let a = try EchoServer()
        let b = try EchoServer()
        let fa = try forward(to: a.port)
        let fb = try forward(to: b.port)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [fa, fb]), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        #expect(tunnel.statistics.forwardsListening == 2)
        for f in [fa, fb] {
            let r = echoTransfer(port: f.remotePort, bytes: 100_000)
            #expect(r.error == nil && r.received == 100_000 && r.sentHash == r.receivedHash)
        }
        // The jump host binds exactly 127.0.0.1 (never 0.0.0.0 or ::), as the kernel's socket table shows.
        for f in [fa, fb] {
            #expect(tcpListeners(port: f.remotePort) == ["127.0.0.1"], "port \(f.remotePort): \(tcpListeners(port: f.remotePort))")
        }
        await tunnel.stop()
    }

    @Test func bindsToAnInterfaceAndSourceAddress() async throws {
        guard geteuid() == 0 else {
            try Test.cancel("SO_BINDTODEVICE needs root (CAP_NET_RAW)")
        }
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        var c = config(sshd, forwards: [f])
        c.bindInterface = "lo"
        c.bindAddress = "127.0.0.1"
        let tunnel = try ReverseTunnel(configuration: c, logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let r = echoTransfer(port: f.remotePort, bytes: 10_000)
        #expect(r.received == 10_000 && r.sentHash == r.receivedHash)
        await tunnel.stop()

        // A missing interface is retried (the link may come up) and reported, never silently ignored.
        c.bindInterface = "oobnone\(UInt16.random(in: 0...9999))"
        let missing = try ReverseTunnel(configuration: c, logger: logger())
        missing.start()
        do {
            try await missing.waitUntilForwarding(timeout: .seconds(2))
            Issue.record("forwarding without the interface")
        } catch let e as TunnelError {
            #expect(e.code == .timedOut)
            #expect(e.message.contains(c.bindInterface!), "\(e.message)")
        }
        #expect(missing.statistics.lastError?.code == .connectFailed)
        await missing.stop()
    }

    @Test func unreachableLocalTargetClosesOnlyThatConnection() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let dead = try forward(to: try LoopbackSSHD.freePort())  // nothing listens there
        let good = try forward(to: echo.port)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [dead, good]), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let r = echoTransfer(port: dead.remotePort, bytes: 1000)
        #expect(r.received == 0, "the forwarded connection is closed when its local target refuses")
        let ok = echoTransfer(port: good.remotePort, bytes: 1000)
        #expect(ok.received == 1000 && ok.sentHash == ok.receivedHash)
        #expect(tunnel.state == .forwarding)
        await tunnel.stop()
    }

    @Test func connectionsBeyondTheCapAreClosedOthersKeepWorking() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        var c = config(sshd, forwards: [f])
        c.maxChannels = 2
        let tunnel = try ReverseTunnel(configuration: c, logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        var held: [Int32] = []
        for _ in 0..<2 {
            let fd = try #require(LoopbackTCP.connect(port: f.remotePort))
            var byte: UInt8 = 7
            #expect(send(fd, &byte, 1, 0) == 1 && recv(fd, &byte, 1, 0) == 1)
            held.append(fd)
        }
        #expect(tunnel.statistics.channelsOpen == 2)
        let extra = try #require(LoopbackTCP.connect(port: f.remotePort))
        var byte: UInt8 = 9
        _ = send(extra, &byte, 1, Int32(MSG_NOSIGNAL))
        #expect(recv(extra, &byte, 1, 0) <= 0, "the third connection is closed")
        close(extra)
        for fd in held {
            var b: UInt8 = 1
            #expect(send(fd, &b, 1, 0) == 1 && recv(fd, &b, 1, 0) == 1, "the first two still relay")
            close(fd)
        }
        await tunnel.stop()
    }

    // MARK: - Host key pinning

    @Test func changedHostKeyIsRefusedBeforeAuthentication() async throws {
        let sshd = try LoopbackSSHD()
        let other = try sshd.makeClientKey(name: "impostor_host_key")
        let otherPub = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let known = "\(sshd.directory)/known_hosts_changed"
        try sshd.writeKnownHosts(["[127.0.0.1]:\(sshd.port) \(otherPub)"], to: known)
        let tunnel = try ReverseTunnel(
            configuration: config(sshd, forwards: [try forward(to: 9)], knownHosts: known), logger: logger())
        // The agent watches this stream to notice a tunnel that failed for good.
        let states = tunnel.stateChanges()
        let observed = Task {
            var seen: [TunnelState] = []
            for await state in states { seen.append(state) }
            return seen
        }
        tunnel.start()
        let error = try #require(await permanentError(tunnel))
        #expect(error.code == .hostKeyMismatch)
        let seen = await observed.value  // the stream ends once the tunnel failed for good
        #expect(seen.first == .idle)
        #expect(seen.contains(.connecting(attempt: 1)))
        #expect(seen.last == .failed(error))
        let fingerprint = try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-lf", "\(sshd.directory)/ssh_host_ed25519_key.pub"])
            .split(separator: " ")[1]
        #expect(error.message.contains(String(fingerprint)), "\(error.message) should show \(fingerprint)")
        #expect(error.message.contains(sshd.knownHostsLine))
        #expect(tunnel.state == .failed(error))
        await tunnel.stop()
        try await Task.sleep(for: .milliseconds(300))
        let log = sshd.log()
        #expect(log.contains("Connection from 127.0.0.1"), "the connection reached sshd: \(log)")
        #expect(!log.contains("publickey"), "no authentication was attempted: \(log)")
        #expect(!log.contains("Accepted"), "\(log)")
    }

    @Test func unknownHostIsRefusedWithTheLineThatPinsIt() async throws {
        let sshd = try LoopbackSSHD()
        // A plain `127.0.0.1` entry does not pin port \(sshd.port) (OpenSSH semantics), and other lines don't.
        let known = "\(sshd.directory)/known_hosts_other"
        try sshd.writeKnownHosts(["127.0.0.1 \(sshd.hostPublicKey)", "example.net \(sshd.hostPublicKey)"], to: known)
        let tunnel = try ReverseTunnel(
            configuration: config(sshd, forwards: [try forward(to: 9)], knownHosts: known), logger: logger())
        tunnel.start()
        let error = try #require(await permanentError(tunnel))
        await tunnel.stop()
        #expect(error.code == .hostKeyUnknown)
        #expect(error.message.contains("SHA256:"))
        #expect(!sshd.log().contains("publickey"))
        let pin = try #require(error.message.components(separatedBy: "add this line: ").last)
        #expect(pin == sshd.knownHostsLine)

        // The suggested line works, after a malformed line (libssh2's readfile would stop there) and hashed.
        let echo = try EchoServer()
        let fixed = "\(sshd.directory)/known_hosts_fixed"
        for hashed in [false, true] {
            var line = pin
            if hashed {
                try sshd.writeKnownHosts([pin], to: fixed)
                try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-H", "-f", fixed])
                line = try String(contentsOfFile: fixed, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                #expect(line.hasPrefix("|1|"))
            }
            try sshd.writeKnownHosts(["this line is garbage", "[127.0.0.1]:1 ssh-ed25519 AAAA", line], to: fixed)
            let f = try forward(to: echo.port)
            let good = try ReverseTunnel(configuration: config(sshd, forwards: [f], knownHosts: fixed), logger: logger())
            good.start()
            try await good.waitUntilForwarding(timeout: .seconds(15))
            let r = echoTransfer(port: f.remotePort, bytes: 10_000)
            #expect(r.received == 10_000 && r.sentHash == r.receivedHash)
            await good.stop()
        }
    }

    @Test func rsaOnlyJumpHostIsExplained() async throws {
        var options = LoopbackSSHD.Options()
        options.hostKeyTypes = ["rsa"]
        let sshd = try LoopbackSSHD(options: options)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [try forward(to: 9)]), logger: logger())
        tunnel.start()
        let error = try #require(await permanentError(tunnel))
        await tunnel.stop()
        #expect(error.code == .unsupportedHostKey)
        #expect(error.message.contains("rsa"))
        #expect(error.message.contains("ssh-keygen -A"))
    }

    // MARK: - Client keys

    @Test func wrongClientKeyIsRefused() async throws {
        let sshd = try LoopbackSSHD()
        let stranger = try sshd.makeClientKey(name: "id_stranger")
        let tunnel = try ReverseTunnel(
            configuration: config(sshd, forwards: [try forward(to: 9)], identity: stranger), logger: logger())
        tunnel.start()
        let error = try #require(await permanentError(tunnel))
        await tunnel.stop()
        #expect(error.code == .authenticationFailed)
        #expect(error.message.contains(stranger))
        #expect(error.message.contains("authorized_keys"))
        try await Task.sleep(for: .milliseconds(300))
        #expect(sshd.log().contains("publickey"), "sshd logged the refused attempt: \(sshd.log())")
    }

    @Test func ecdsaPEMAndEncryptedEd25519KeysAuthenticate() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let pem = try sshd.makeClientKey(name: "id_ecdsa_pem", type: "ecdsa", pem: true, authorize: true)
        let encrypted = try sshd.makeClientKey(name: "id_enc", passphrase: "correct horse", authorize: true)
        let passFile = "\(sshd.directory)/passphrase"
        try "correct horse\n".write(toFile: passFile, atomically: true, encoding: .utf8)
        chmod(passFile, 0o600)
        for (key, pass) in [(pem, nil), (encrypted, passFile)] as [(String, String?)] {
            let f = try forward(to: echo.port)
            var c = config(sshd, forwards: [f], identity: key)
            c.identityPassphraseFile = pass
            let tunnel = try ReverseTunnel(configuration: c, logger: logger())
            tunnel.start()
            try await tunnel.waitUntilForwarding(timeout: .seconds(15))
            let r = echoTransfer(port: f.remotePort, bytes: 10_000)
            #expect(r.received == 10_000 && r.sentHash == r.receivedHash)
            await tunnel.stop()
        }
    }

    // MARK: - Refused forwards, dead sessions, stop

    @Test func forwardHeldByAnotherSessionComesUpOnceReleased() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        let holder = try ReverseTunnel(configuration: config(sshd, forwards: [f]), logger: logger("holder"))
        holder.start()
        try await holder.waitUntilForwarding(timeout: .seconds(15))

        let tunnel = try ReverseTunnel(
            configuration: config(sshd, forwards: [f], keepalive: .seconds(1)), logger: logger())
        tunnel.start()
        await #expect(throws: TunnelError.self) { try await tunnel.waitUntilForwarding(timeout: .seconds(2)) }
        // Never silently missing: not "forwarding", and the reason is on record.
        #expect(tunnel.state != .forwarding)
        #expect(tunnel.statistics.lastError?.code == .forwardRefused)
        #expect(sshd.log().contains("Address already in use"))

        await holder.stop()
        try await tunnel.waitUntilForwarding(timeout: .seconds(20))
        let r = echoTransfer(port: f.remotePort, bytes: 100_000)
        #expect(r.received == 100_000 && r.sentHash == r.receivedHash)
        await tunnel.stop()
    }

    @Test func reconnectsAfterTheSessionProcessIsKilledMidTransfer() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [f]), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let sessions = sshd.sessionProcessIDs()
        #expect(!sessions.isEmpty)

        let progress = Progress()
        let port = f.remotePort
        let done = Results()
        let transfer = Thread { done.add(echoTransfer(port: port, bytes: 512 * Self.mib) { progress.set($0) }) }
        transfer.start()
        #expect(await eventually(30) { progress.value > 4 * Self.mib })
        for pid in sessions { kill(pid, SIGKILL) }

        #expect(await eventually(30) { done.all.count == 1 })
        let r = try #require(done.all.first)
        #expect(r.received < 512 * Self.mib, "the transfer was cut")
        #expect(await eventually(15) { tunnel.statistics.reconnects >= 1 })
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let again = echoTransfer(port: f.remotePort, bytes: 1 * Self.mib)
        #expect(again.error == nil && again.received == Self.mib && again.sentHash == again.receivedHash)
        await tunnel.stop()
    }

    @Test func stopDuringATransferReturnsPromptlyAndReleasesThePort() async throws {
        let sshd = try LoopbackSSHD()
        let echo = try EchoServer()
        let f = try forward(to: echo.port)
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [f]), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let progress = Progress()
        let port = f.remotePort
        let done = Results()
        let transfer = Thread { done.add(echoTransfer(port: port, bytes: 1024 * Self.mib) { progress.set($0) }) }
        transfer.start()
        #expect(await eventually(30) { progress.value > 4 * Self.mib })

        let started = ContinuousClock.now
        await tunnel.stop()
        let took = ContinuousClock.now - started
        #expect(took < .seconds(5), "stop() took \(took)")
        #expect(tunnel.state == .stopped)
        #expect(await eventually(10) { done.all.count == 1 })
        #expect(await eventually(5) { !LoopbackSSHD.canConnect(port: port) }, "the jump host released the port")
    }

    @Test func frozenJumpHostIsDetectedAndStopStillReturns() async throws {
        var options = LoopbackSSHD.Options()
        options.clientAliveInterval = 1
        let sshd = try LoopbackSSHD(options: options)
        let f = try forward(to: 9)
        let tunnel = try ReverseTunnel(
            configuration: config(sshd, forwards: [f], keepalive: .seconds(1)), logger: logger())
        tunnel.start()
        try await tunnel.waitUntilForwarding(timeout: .seconds(15))
        let frozen = sshd.sessionProcessIDs()
        for pid in frozen { kill(pid, SIGSTOP) }
        defer { for pid in frozen { kill(pid, SIGKILL) } }
        #expect(await eventually(15) { tunnel.statistics.lastError?.code == .peerUnresponsive })
        #expect(tunnel.statistics.reconnects >= 1 || tunnel.state == .reconnecting)
        let started = ContinuousClock.now
        await tunnel.stop()
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(tunnel.state == .stopped)
    }

    @Test func stopReturnsWhileTheJumpHostNeverAnswers() async throws {
        let sshd = try LoopbackSSHD()
        // The listener is frozen: TCP connects (kernel backlog), but no SSH banner ever comes.
        kill(sshd.pid, SIGSTOP)
        defer { kill(sshd.pid, SIGCONT) }
        let tunnel = try ReverseTunnel(configuration: config(sshd, forwards: [try forward(to: 9)]), logger: logger())
        tunnel.start()
        #expect(await eventually(5) { tunnel.state == .connecting(attempt: 1) })
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        await tunnel.stop()
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(tunnel.state == .stopped)
    }

    @Test func idleTunnelStaysUpWithServerHeartbeatOrOwnProbes() async throws {
        // Jump host with ClientAliveInterval 1 (its probes are the heartbeat), and one without (we probe).
        var withAlive = LoopbackSSHD.Options()
        withAlive.clientAliveInterval = 1
        let a = try LoopbackSSHD(options: withAlive)
        let b = try LoopbackSSHD()
        let ta = try ReverseTunnel(configuration: config(a, forwards: [try forward(to: 9)], keepalive: .seconds(1)), logger: logger("a"))
        let tb = try ReverseTunnel(configuration: config(b, forwards: [try forward(to: 9)], keepalive: .seconds(1)), logger: logger("b"))
        ta.start()
        tb.start()
        try await ta.waitUntilForwarding(timeout: .seconds(15))
        try await tb.waitUntilForwarding(timeout: .seconds(15))
        try await Task.sleep(for: .seconds(5))
        for t in [ta, tb] {
            #expect(t.state == .forwarding)
            #expect(t.statistics.reconnects == 0)
            #expect(t.statistics.lastError == nil)
        }
        await ta.stop()
        await tb.stop()
    }
}

/// Thread-safe collectors for the test threads.
final class Results: @unchecked Sendable {
    // @unchecked Sendable: all access under `lock`.
    private let lock = NSLock()
    private var items: [EchoResult] = []
    func add(_ r: EchoResult) { lock.withLock { items.append(r) } }
    var all: [EchoResult] { lock.withLock { items } }
}

final class Progress: @unchecked Sendable {
    // @unchecked Sendable: all access under `lock`.
    private let lock = NSLock()
    private var bytes = 0
    func set(_ n: Int) { lock.withLock { bytes = n } }
    var value: Int { lock.withLock { bytes } }
}
