import Logging

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// `stop()` was requested: unwinds the current step to the teardown.
private struct StopRequested: Error {}

/// The tunnel's thread: owns the session, every listener and channel, and the one poll() loop
/// (style point 4: one isolation domain for everything libssh2). Drives `ReverseTunnelStateMachine`.
final class TunnelWorker {
    private let config: TunnelConfiguration
    private let passphrase: String?
    private var logger: Logger
    private let shared: TunnelShared
    private var machine: ReverseTunnelStateMachine
    private var rng = SystemRandomNumberGenerator()

    // Figures, published to `shared` after each loop pass.
    private var bytesToJumpHost: UInt64 = 0
    private var bytesFromJumpHost: UInt64 = 0
    private var channelsTotal = 0
    private var reconnects = 0
    private var lastError: TunnelError?
    private var connections = 0

    /// The session's objects, dropped in reverse order of creation by `teardown`.
    private var session: SSHSession?
    private var listeners: [SSHListener?] = []
    private var relays: [ChannelRelay] = []
    /// Channels whose relay finished and that wait for the peer's CLOSE before libssh2 frees them.
    private var closing: [(channel: SSHChannel, since: Int64)] = []
    private var nextRelayID = 0

    private static let sendHighWater = 1 << 20
    private var keepaliveNanos: Int64 { Int64(config.keepalive.components.seconds) * 1_000_000_000
        + config.keepalive.components.attoseconds / 1_000_000_000 }

    init(configuration: TunnelConfiguration, passphrase: String?, logger: Logger, shared: TunnelShared) {
        self.config = configuration
        self.passphrase = passphrase
        self.logger = logger
        self.logger[metadataKey: "tunnel.host"] = "\(configuration.host):\(configuration.port)"
        self.shared = shared
        let k = Self.nanos(configuration.keepalive)
        self.machine = ReverseTunnelStateMachine(
            policy: .init(
                forwardCount: configuration.forwards.count,
                reconnectInitial: Self.nanos(configuration.reconnectInitialDelay),
                reconnectMax: Self.nanos(configuration.reconnectMaxDelay),
                forwardRetryInitial: min(1_000_000_000, k),
                forwardRetryMax: min(30_000_000_000, k),
                forwardRetryWindow: Self.nanos(configuration.effectiveForwardRetryWindow)))
    }

    static func nanos(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    private func jitter() -> Double { Double.random(in: 0..<1, using: &rng) }

    // MARK: - Top level

    func run() {
        var action = machine.start()
        publish()
        while true {
            switch action {
            case .connect:
                if connections > 0 { reconnects += 1 }
                connections += 1
                action = runConnection()
            case .wait(let until):
                if waitUntil(until) {
                    action = machine.backoffElapsed()
                } else {
                    action = machine.stopRequested()
                }
            case .finish:
                publish()
                logger.info("tunnel stopped", metadata: ["tunnel.state": "\(machine.publicState)"])
                return
            case .none, .handshake, .verifyHostKey, .authenticate, .listen, .retryForward, .reportForwarding,
                .teardown:
                preconditionFailure("unexpected top-level action \(action)")
            }
            publish()
        }
    }

    private func publish() {
        let state = machine.publicState
        let open = relays.count
        let listening = listeners.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        shared.publish { s in
            s.state = state
            s.bytesToJumpHost = bytesToJumpHost
            s.bytesFromJumpHost = bytesFromJumpHost
            s.channelsOpen = open
            s.channelsTotal = channelsTotal
            s.reconnects = reconnects
            s.forwardsListening = listening
            s.lastError = lastError
        }
    }

    /// Sleeps until `deadline` or a stop request; false on stop.
    private func waitUntil(_ deadline: Int64) -> Bool {
        while true {
            if shared.stopRequested { return false }
            let now = monotonicNanos()
            if now >= deadline { return true }
            var fds = [pollfd(fd: shared.wakeFD, events: pollIn, revents: 0)]
            _ = system_poll(&fds, CInt(min(Int64(Int32.max), (deadline - now) / 1_000_000 + 1)))
        }
    }

    // MARK: - One connection

    private func runConnection() -> ReverseTunnelStateMachine.Action {
        var action: ReverseTunnelStateMachine.Action
        do {
            let deadline = monotonicNanos() + Self.nanos(config.connectTimeout)
            let fd = try connectTCP(deadline: deadline)
            _ = machine.tcpConnected()
            publish()
            let s: SSHSession
            do {
                s = try SSHSession(fd: fd)
            } catch {
                throw TunnelError(code: .protocolError, message: "cannot create an SSH session", underlying: "\(error)")
            }
            session = s
            let known = try loadKnownHosts(s)
            let pattern = hostPattern
            let pinned = known.pinnedTypes(hostPattern: pattern)
            // P3: offer only the pinned key types, else libssh2 negotiates ECDSA and the check fails.
            _ = s.preferHostKeys((pinned.isEmpty ? HostKeyType.usable : pinned).map(\.name))
            try drive(s, deadline: deadline, what: "the SSH handshake") { s.handshake() } onError: { e in
                self.handshakeError(e, session: s, pinned: pinned)
            }
            _ = machine.handshakeCompleted()
            publish()
            try verifyHostKey(s, known: known, pattern: pattern)
            _ = machine.hostKeyVerified()
            publish()
            try drive(s, deadline: deadline, what: "authentication") {
                s.authenticate(user: config.user, privateKeyPath: config.identity, passphrase: passphrase)
            } onError: { e in
                self.authenticationError(e)
            }
            logger.info("authenticated to the jump host", metadata: ["tunnel.user": "\(config.user)"])
            action = machine.authenticated()
            publish()
            try forwardLoop(s, initial: action)
        } catch is StopRequested {
            action = machine.stopRequested()
        } catch let e as TunnelError {
            lastError = e
            if e.isPermanent {
                logger.info("tunnel failed for good", metadata: ["tunnel.error": "\(e)"])
            } else {
                logger.info("tunnel connection failed", metadata: ["tunnel.error": "\(e)"])
            }
            action = machine.failed(e)
        } catch {
            let e = TunnelError(code: .protocolError, message: "unexpected error: \(error)")
            lastError = e
            action = machine.failed(e)
        }
        publish()
        // Usually `action` says how to tear down; when the machine already decided (a forward refused for
        // the whole retry window moves it to draining itself), it says so.
        let after: ReverseTunnelStateMachine.AfterDrain
        if case .teardown(let a) = action {
            after = a
        } else if let next = machine.drainingNext {
            after = next
        } else {
            preconditionFailure("a connection ended outside draining: \(machine.publicState)")
        }
        teardown(after: after)
        let next = machine.drained(now: monotonicNanos(), jitter: jitter())
        if case .wait(let until) = next {
            let ms = max(0, (until - monotonicNanos()) / 1_000_000)
            logger.info("reconnecting", metadata: ["tunnel.delay_ms": "\(ms)"])
        }
        return next
    }

    private var hostPattern: String {
        // As OpenSSH writes known_hosts: the bare name for port 22, `[name]:port` otherwise.
        config.port == 22 ? config.host : "[\(config.host)]:\(config.port)"
    }

    // MARK: - TCP

    private func connectTCP(deadline: Int64) throws -> CInt {
        let addresses: [SocketAddress]
        switch system_resolve(config.connectAddress ?? config.host, port: config.port) {
        case .success(let a): addresses = a
        case .failure(let e):
            throw TunnelError(
                code: .connectFailed,
                message: "cannot resolve the jump host \(config.host) (\(e.text)); check tunnel.host and DNS on the link")
        }
        if shared.stopRequested { throw StopRequested() }
        let bindAddr = config.bindAddress.flatMap(system_parseNumericAddress)
        var errors: [String] = []
        for address in addresses {
            if let bindAddr, bindAddr.family != address.family { continue }
            let fd: CInt
            switch system_tcpSocket(family: address.family) {
            case .success(let s): fd = s
            case .failure(let e):
                errors.append("\(address): socket: \(e)")
                continue
            }
            var ok = false
            defer { if !ok { system_close(fd) } }
            if let interface = config.bindInterface {
                if case .failure(let e) = system_bindToDevice(fd, interface) {
                    throw TunnelError(
                        code: .connectFailed,
                        message: "cannot bind the SSH socket to interface \(interface) (\(e)); it must exist "
                            + "and the agent needs root or CAP_NET_RAW")
                }
            }
            if let bindAddr, case .failure(let e) = system_bindSource(fd, bindAddr) {
                throw TunnelError(
                    code: .connectFailed,
                    message: "cannot bind the SSH socket to \(config.bindAddress ?? "") (\(e)); it must be an address "
                        + "of this machine")
            }
            setSocketOptions(fd)
            switch system_connect(fd, address) {
            case .success: break
            case .failure(let e) where e == .inProgress:
                let r = try waitWritable(fd, deadline: deadline)
                if r != 0 {
                    errors.append("\(address): \(SystemErrno(r))")
                    continue
                }
            case .failure(let e):
                errors.append("\(address): \(e)")
                continue
            }
            ok = true
            logger.debug("connected", metadata: ["tunnel.address": "\(address)"])
            return fd
        }
        if errors.isEmpty, let bind = config.bindAddress {
            throw TunnelError(
                code: .connectFailed,
                message: "the jump host \(config.host) has no address of the same family as the source address \(bind); "
                    + "give it an IPv4/IPv6 address that matches the link")
        }
        throw TunnelError(
            code: .connectFailed,
            message: "cannot connect to the jump host \(config.host):\(config.port) (\(errors.joined(separator: "; "))); "
                + "check the address, the port and the link")
    }

    private func system_bindSource(_ fd: CInt, _ address: SocketAddress) -> Result<Void, SystemErrno> {
        system_bind(fd, address)
    }

    /// TCP_NODELAY; SO_KEEPALIVE and TCP_USER_TIMEOUT for paths that vanish without a FIN (P11).
    private func setSocketOptions(_ fd: CInt) {
        let k = Int32(max(1, config.keepalive.components.seconds))
        _ = system_setIntOption(fd, ipprotoTCP, tcpNoDelay, 1)
        _ = system_setIntOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
        _ = system_setIntOption(fd, ipprotoTCP, tcpKeepIdle, k)
        _ = system_setIntOption(fd, ipprotoTCP, tcpKeepInterval, k)
        _ = system_setIntOption(fd, ipprotoTCP, tcpKeepCount, 3)
        _ = system_setIntOption(fd, ipprotoTCP, tcpUserTimeout, min(Int32.max / 1000, k * 3) * 1000)
    }

    /// Waits for a connecting socket; returns its SO_ERROR.
    private func waitWritable(_ fd: CInt, deadline: Int64) throws -> Int32 {
        while true {
            if shared.stopRequested { throw StopRequested() }
            let now = monotonicNanos()
            if now >= deadline {
                throw TunnelError(
                    code: .timedOut,
                    message: "no TCP connection to \(config.host):\(config.port) within \(config.connectTimeout); "
                        + "check the link and that the jump host's port is open")
            }
            var fds = [pollfd(fd: shared.wakeFD, events: pollIn, revents: 0), pollfd(fd: fd, events: pollOut, revents: 0)]
            _ = system_poll(&fds, CInt((deadline - now) / 1_000_000 + 1))
            if fds[1].revents != 0 { return system_socketError(fd) }
        }
    }

    // MARK: - Handshake, host key, authentication

    /// Repeats a non-blocking libssh2 step until done, waiting on the socket; honours stop and the deadline.
    private func drive<T>(
        _ s: SSHSession, deadline: Int64, what: String, _ op: () -> SSHStep<T>,
        onError: (LibSSH2Error) -> TunnelError
    ) throws -> T {
        while true {
            switch op() {
            case .done(let v): return v
            case .failed(let e): throw onError(e)
            case .again: break
            }
            if !s.socket.flush() {
                throw connectionLost("sending to the jump host failed", s.socket.sendError.map { "\($0)" })
            }
            if shared.stopRequested { throw StopRequested() }
            let now = monotonicNanos()
            if now >= deadline {
                throw TunnelError(
                    code: .timedOut,
                    message: "\(what) with \(config.host):\(config.port) did not finish within \(config.connectTimeout); "
                        + "is it an SSH server, and is the path usable?")
            }
            var fds = [
                pollfd(fd: shared.wakeFD, events: pollIn, revents: 0),
                pollfd(fd: s.fd, events: pollIn | (s.socket.pending.isEmpty ? 0 : pollOut), revents: 0),
            ]
            _ = system_poll(&fds, CInt(min(1000, (deadline - now) / 1_000_000 + 1)))
        }
    }

    private func connectionLost(_ what: String, _ underlying: String?) -> TunnelError {
        TunnelError(code: .connectionLost, message: "\(what); reconnecting", underlying: underlying)
    }

    private func handshakeError(_ e: LibSSH2Error, session s: SSHSession, pinned: [HostKeyType]) -> TunnelError {
        if e.isKexFailure {
            let offered = s.serverHostKeyAlgorithms()
            let usable = HostKeyType.usable.map(\.name)
            if let offered, !offered.contains(where: usable.contains) {
                return TunnelError(
                    code: .unsupportedHostKey,
                    message: "the jump host \(hostPattern) offers only \(offered.joined(separator: ",")) host keys; "
                        + "libssh2 1.10 can verify only ssh-ed25519 and ECDSA host keys (its RSA support is ssh-rsa/SHA-1, "
                        + "which OpenSSH 8.8+ no longer offers). On the jump host run `ssh-keygen -A` (creates "
                        + "/etc/ssh/ssh_host_ed25519_key), add `HostKey /etc/ssh/ssh_host_ed25519_key` to sshd_config, "
                        + "reload sshd, then pin the new key",
                    underlying: "\(e)")
            }
            if let offered, !pinned.isEmpty, !offered.contains(where: pinned.map(\.name).contains) {
                return TunnelError(
                    code: .hostKeyMismatch,
                    message: "the jump host \(hostPattern) no longer offers the pinned host key type "
                        + "(\(pinned.map(\.name).joined(separator: ","))); it offers \(offered.joined(separator: ",")). "
                        + "If its keys really changed, pin the new ed25519 key in \(config.knownHosts)",
                    underlying: "\(e)")
            }
            return TunnelError(
                code: .protocolError,
                message: "the key exchange with \(hostPattern) failed: no algorithm in common with libssh2 1.10 "
                    + "(it needs curve25519/ecdh kex, aes-ctr/cbc ciphers and hmac-sha2 MACs)",
                underlying: "\(e)")
        }
        return connectionLost("the SSH handshake with \(hostPattern) failed", "\(e)")
    }

    private func authenticationError(_ e: LibSSH2Error) -> TunnelError {
        if e.isAuthenticationFailure {
            return TunnelError(
                code: .authenticationFailed,
                message: "the jump host refused the key \(config.identity) for user \(config.user); add its public key "
                    + "to ~\(config.user)/.ssh/authorized_keys on the jump host (`oob-agent jumphost-setup` prints the line)",
                underlying: "\(e)")
        }
        if e.isKeyFileError {
            return TunnelError(
                code: .authenticationFailed,
                message: "libssh2 could not load the key \(config.identity): "
                    + (passphrase == nil ? "is it encrypted? set tunnel.identity_passphrase_file"
                        : "is the passphrase in tunnel.identity_passphrase_file right?"),
                underlying: "\(e)")
        }
        return connectionLost("authentication with \(hostPattern) failed", "\(e)")
    }

    private func loadKnownHosts(_ s: SSHSession) throws -> SSHKnownHosts {
        let known: SSHKnownHosts
        do {
            known = try SSHKnownHosts(session: s)
        } catch {
            throw TunnelError(code: .protocolError, message: "cannot set up host key checking", underlying: "\(error)")
        }
        let bytes = try TunnelConfiguration.readPrivateFile(config.knownHosts, key: "tunnel.known_hosts", secret: false)
        known.load(String(decoding: bytes, as: UTF8.self))
        if !known.skippedLines.isEmpty {
            logger.debug(
                "known_hosts lines skipped", metadata: ["tunnel.known_hosts_lines": "\(known.skippedLines)"])
        }
        return known
    }

    private func verifyHostKey(_ s: SSHSession, known: SSHKnownHosts, pattern: String) throws {
        guard let key = s.presentedHostKey() else {
            throw TunnelError(code: .protocolError, message: "the jump host presented no host key")
        }
        let pin = "\(pattern) \(key.type.name) \(Base64.encode(key.blob))"
        switch known.check(hostPattern: pattern, key: key.blob, type: key.type) {
        case .match:
            logger.info(
                "jump host key verified",
                metadata: ["tunnel.host_key": "\(key.type.name) \(key.fingerprint)"])
        case .mismatch:
            throw TunnelError(
                code: .hostKeyMismatch,
                message: "HOST KEY CHANGED: \(pattern) presented \(key.type.name) key \(key.fingerprint), which is not "
                    + "the key pinned in \(config.knownHosts). Refusing before authentication. If the jump host's key "
                    + "really changed (check with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on it), replace "
                    + "its line with: \(pin)")
        case .notFound:
            throw TunnelError(
                code: .hostKeyUnknown,
                message: "the jump host \(pattern) presented \(key.type.name) key \(key.fingerprint), which "
                    + "\(config.knownHosts) does not pin. Refusing before authentication (keys are never learned). "
                    + "After checking the fingerprint on the jump host (`ssh-keygen -lf "
                    + "/etc/ssh/ssh_host_ed25519_key.pub`), add this line: \(pin)")
        }
    }

    // MARK: - Forwarding

    private struct ForwardSlot {
        var address: SocketAddress?
        var retryAt: Int64?
    }

    private func forwardLoop(_ s: SSHSession, initial: ReverseTunnelStateMachine.Action) throws -> Never {
        let forwards = config.forwards
        listeners = Array(repeating: nil, count: forwards.count)
        var slots = Array(repeating: ForwardSlot(), count: forwards.count)
        var listenInFlight: Int?
        if case .listen(let all) = initial {
            for i in all { slots[i].retryAt = monotonicNanos() }
        }
        let k = keepaliveNanos
        let deadAfter = 3 * k
        var allUp = false
        var lastProbe: Int64 = 0
        /// Bytes kept arriving during the last accept rounds: a channel open may sit in a listener queue.
        var acceptPending = false
        var fds: [pollfd] = []
        fds.reserveCapacity(config.maxChannels + 2)

        while true {
            if shared.stopRequested { throw StopRequested() }
            let canWrite = { s.socket.pending.count < Self.sendHighWater }

            // Pump everything until nothing moves (P7), bounded for fairness with poll().
            var passes = 0
            while passes < 64 {
                passes += 1
                var moved = false
                let now = monotonicNanos()
                // Forward requests: one global request in flight at a time.
                if listenInFlight == nil, let i = slots.indices.first(where: { slots[$0].retryAt.map { $0 <= now } ?? false }) {
                    listenInFlight = i
                    slots[i].retryAt = nil
                }
                if let i = listenInFlight {
                    let f = forwards[i]
                    // libssh2 confirms channel opens itself and refuses those beyond this queue (P9): make room for
                    // a burst of up to maxChannels; accept() closes the excess beyond the cap.
                    switch s.listen(host: f.remoteBind, port: f.remotePort, queueMaxSize: max(16, config.maxChannels)) {
                    case .again: break
                    case .done(let l):
                        listenInFlight = nil
                        listeners[i] = l
                        moved = true
                        logger.info(
                            "remote forward listening",
                            metadata: ["tunnel.forward": "\(f)", "tunnel.remote_port": "\(l.boundPort)"])
                        if case .reportForwarding = machine.forwardGranted(i) {
                            allUp = true
                            if config.probeSilentJumpHost { s.configureKeepaliveProbes() }
                            logger.info("tunnel forwarding", metadata: ["tunnel.forwards": "\(forwards.count)"])
                        }
                        publish()
                    case .failed(let e) where e.isRequestDenied:
                        listenInFlight = nil
                        let err = TunnelError(
                            code: .forwardRefused,
                            message: "the jump host refused to listen on \(f.remoteBind):\(f.remotePort) for forward "
                                + "\(f); usually a stale earlier session still holds the port (the jump host frees it "
                                + "after ClientAliveInterval × ClientAliveCountMax), or sshd_config/authorized_keys "
                                + "forbid it (AllowTcpForwarding, permitlisten); retrying",
                            underlying: "\(e)")
                        lastError = err
                        logger.info("remote forward refused", metadata: ["tunnel.forward": "\(f)"])
                        switch machine.forwardRefused(i, error: err, now: now, jitter: jitter()) {
                        case .retryForward(_, let at): slots[i].retryAt = at
                        case .teardown:
                            throw err
                        default: preconditionFailure("unexpected action after a refused forward")
                        }
                        publish()
                    case .failed(let e):
                        throw connectionLost("the forward request for \(f) failed", "\(e)")
                    }
                }
                // Relays.
                var finished = false
                for r in relays {
                    let (m, toJump, fromJump) = r.pump(canWriteChannel: canWrite, socketDrained: { s.socket.drained })
                    if m { moved = true }
                    bytesToJumpHost &+= UInt64(toJump)
                    bytesFromJumpHost &+= UInt64(fromJump)
                    if r.isFinished { finished = true }
                }
                if finished { reapRelays() }
                if !closing.isEmpty { reapClosing(now: now) }
                // New forwarded connections, after the relays: accept() drains the socket until EAGAIN and
                // hands out channel opens that any earlier read of this pass queued (P7). A round in which no
                // byte arrived leaves nothing queued unseen, so poll() may then sleep.
                acceptPending = true
                for _ in 0..<4 {
                    let before = s.socket.received
                    var got = false
                    for i in listeners.indices {
                        guard let l = listeners[i] else { continue }
                        while true {
                            switch l.accept() {
                            case .done(nil): break
                            case .done(let ch?):
                                got = true
                                accept(ch, forward: i, slot: &slots[i])
                                continue
                            case .again: break
                            case .failed(let e):
                                // P8: any failure of accept means the transport is gone.
                                throw connectionLost("the SSH connection to \(hostPattern) broke", "\(e)")
                            }
                            break
                        }
                    }
                    if got { moved = true }
                    if !got && s.socket.received == before {
                        acceptPending = false
                        break
                    }
                }
                if !s.socket.flush() {
                    throw connectionLost(
                        "sending to the jump host failed", s.socket.sendError.map { "\($0)" })
                }
                if !moved { break }
            }
            publish()

            // Liveness (P11): the jump host's ClientAlive probes (or replies to ours) are the heartbeat.
            let now = monotonicNanos()
            let silence = now - s.socket.lastInbound
            if silence > deadAfter {
                throw TunnelError(
                    code: .peerUnresponsive,
                    message: "nothing arrived from the jump host for \(silence / 1_000_000_000) s (3 × tunnel.keepalive); "
                        + "the path or the jump host is dead; reconnecting. Set the jump host's ClientAliveInterval "
                        + "to tunnel.keepalive or less")
            }
            if allUp && config.probeSilentJumpHost && silence > k * 3 / 2 && now - lastProbe > k / 2 {
                s.sendKeepalive()
                lastProbe = now
                _ = s.socket.flush()
            }

            // Sleep.
            var timeout = s.socket.lastInbound + deadAfter - now
            if allUp && config.probeSilentJumpHost {
                timeout = min(timeout, max(s.socket.lastInbound + k * 3 / 2, lastProbe + k / 2) - now)
            }
            for slot in slots { if let at = slot.retryAt { timeout = min(timeout, at - now) } }
            if !closing.isEmpty { timeout = min(timeout, 50_000_000) }
            if listenInFlight != nil { timeout = min(timeout, 1_000_000_000) }
            if acceptPending || relays.contains(where: { $0.needsPump(canWriteChannel: canWrite()) }) { timeout = 0 }

            let watchSSH = listenInFlight != nil || !relays.isEmpty || listeners.contains { $0 != nil }
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: shared.wakeFD, events: pollIn, revents: 0))
            fds.append(
                pollfd(
                    fd: s.fd, events: (watchSSH ? pollIn : 0) | (s.socket.pending.isEmpty ? 0 : pollOut), revents: 0))
            for r in relays { fds.append(pollfd(fd: r.fd, events: r.pollEvents, revents: 0)) }
            let ms = timeout <= 0 ? 0 : CInt(min(Int64(60_000), (timeout + 999_999) / 1_000_000))
            _ = system_poll(&fds, ms)
            if fds[1].revents & pollIn != 0 { s.socket.drained = false }
            for (i, r) in relays.enumerated() where r.connecting && fds[i + 2].revents != 0 {
                r.finishConnect()
            }
            if fds[1].revents & pollErrHup != 0 && fds[1].revents & pollIn == 0 {
                throw connectionLost("the SSH connection to \(hostPattern) broke", "poll revents \(fds[1].revents)")
            }
        }
    }

    private func accept(_ channel: SSHChannel, forward i: Int, slot: inout ForwardSlot) {
        let f = config.forwards[i]
        if relays.count >= config.maxChannels {
            logger.info(
                "too many forwarded connections; closing the new one",
                metadata: ["tunnel.forward": "\(f)", "tunnel.max_channels": "\(config.maxChannels)"])
            closing.append((channel, monotonicNanos()))
            return
        }
        if slot.address == nil {
            if case .success(let a) = system_resolve(f.localHost, port: f.localPort), let first = a.first {
                slot.address = first
            }
        }
        nextRelayID += 1
        channelsTotal += 1
        let relay = ChannelRelay(id: nextRelayID, forwardIndex: i, channel: channel)
        if let address = slot.address {
            relay.connect(to: address)
        } else {
            logger.info("cannot resolve the local target", metadata: ["tunnel.forward": "\(f)"])
            closing.append((channel, monotonicNanos()))
            return
        }
        logger.debug("forwarded connection", metadata: ["tunnel.forward": "\(f)", "tunnel.channel": "\(relay.id)"])
        relays.append(relay)
    }

    private func reapRelays() {
        let now = monotonicNanos()
        relays.removeAll { r in
            guard r.isFinished else { return false }
            if let why = r.failure {
                logger.debug("forwarded connection ended", metadata: ["tunnel.channel": "\(r.id)", "tunnel.reason": "\(why)"])
            }
            r.closeLocal()
            closing.append((r.channel, now))
            return true
        }
    }

    /// Frees channels whose CLOSE exchange finished; gives up on one after 5 s (session_free frees it).
    private func reapClosing(now: Int64) {
        closing.removeAll { entry in
            if case .again = entry.channel.free(), now - entry.since < 5_000_000_000 { return false }
            return true
        }
    }

    // MARK: - Teardown

    /// Cancel the forwards, close the channels, disconnect, flush; then force-close after a deadline
    /// (3 s for stop, 1 s after a failure) and free everything in reverse order (P16, style point 9).
    private func teardown(after: ReverseTunnelStateMachine.AfterDrain) {
        defer {
            relays.removeAll()
            closing.removeAll()
            listeners.removeAll()
            session = nil
            publish()
        }
        guard let s = session else { return }
        let graceful: Int64
        switch after {
        case .stop: graceful = 3_000_000_000
        case .reconnect, .fail: graceful = 1_000_000_000
        }
        let deadline = monotonicNanos() + graceful
        if s.socket.sendError == nil && !s.socket.forceClosed {
            for l in listeners { _ = l?.cancel() }
            for r in relays {
                r.closeLocal()
                _ = r.channel.free()
            }
            s.disconnect(after == .stop ? "oob-agent: tunnel stopped" : "oob-agent: reconnecting")
            while !s.socket.pending.isEmpty && s.socket.flush() {
                let now = monotonicNanos()
                if now >= deadline { break }
                var fds = [pollfd(fd: s.fd, events: pollOut, revents: 0)]
                _ = system_poll(&fds, CInt(min(100, (deadline - now) / 1_000_000 + 1)))
            }
        }
        s.socket.forceClosed = true
        logger.debug("session closed")
    }
}
