import ATModem
import CellularLink
import Foundation
import Logging
import PowerControl
import SerialIO
import Tunnel

/// The agent's moving parts around the pure ``AgentStateMachine``: it performs the machine's
/// actions (link, tunnel, timers, replies, the session record) and feeds their outcomes back.
///
/// An actor; long actions (link up, tunnel up, teardown) run in their own tasks and report back
/// with an event, so an SMS (DOWN, STATUS) is handled while a session is still coming up. A
/// generation counter makes a late result of an abandoned attempt undo itself.
actor AgentCore {
    let config: AgentConfiguration
    let logger: Logger
    let clock: any AgentClock
    let notifier: SystemdNotifier
    private(set) var machine: AgentStateMachine
    var authenticator: CommandAuthenticator
    let replayCachePath: String
    /// `state.dir/lockout`: bad codes and lockouts, kept across restarts.
    let lockoutPath: String
    let startedMono = AgentCore.monoMillis()

    // What is set up.
    var link: (any CellularLink)?
    var linkInfo: LinkInfo?
    var tunnel: ReverseTunnel?
    var linkUp = false
    /// pppd owns the modem's only serial line (`link.device` is `modem.port`): the modem loop keeps the AT port
    /// closed until the link is down again.
    var smsPaused = false
    /// The modem loop's waits for ``smsPaused`` (``waitUntilSMSPaused()``), so that it needs no timer while idle.
    var smsPauseWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    /// Who got the UP reply early, before pppd took the port: not sent again by a retried attempt (which pauses
    /// SMS intake again) nor at `tunnelForwarding` (where each is taken off). Emptied at teardown.
    var upRepliedEarly: Set<AgentStateMachine.Requester> = []
    /// `tunnel.host` as resolved through the link for the current attempt (ppp/interface modes).
    var jumpHostAddress: String?
    var tunnelStarted = false
    var generation = 0
    /// The "up" webhook went out for the running session: "down" is owed at its teardown.
    var webhookOwed = false

    // Timers and helpers.
    var expiryTask: Task<Void, Never>?
    var retryTask: Task<Void, Never>?
    var tasks: [Int: Task<Void, Never>] = [:]
    var nextTaskID = 0

    /// The `[[power]]` outlets (nil when none are configured or they could not be set up).
    let power: PowerController?

    // The modem and what we know from it.
    var modem: Modem?
    /// Where the modem was opened (`modem.port` resolved), for the link's `atPort`.
    var modemPath: String?
    var pendingSMS: [(to: String, text: String)] = []
    var networkTimeBase: (unix: Int64, mono: Int64)?
    var signalDBm: Int?
    var registration: String?
    /// The zone of each requester's last SMS, for `HH:MM` in replies.
    var replyOffsets: [PhoneNumber: Int] = [:]
    /// The local clock's zone for replies to `oob-agent up`.
    var localOffsetMinutes = 0

    // Shutdown.
    var shutdownRequested = false
    let stopped: AsyncStream<Void>
    let stoppedContinuation: AsyncStream<Void>.Continuation

    /// Counters for tests and benchmarks.
    var processedSMS = 0
    /// Stored messages already judged that the modem refused to delete (index and content as listed; the status
    /// changes once read): not judged again while they stay; forgotten once they leave the listing.
    var undeletableSMS: [Int: StoredMessage.Content] = [:]
    /// The console relay's figures for `status` (set when `[console]` is configured).
    var consoleStatus: (@Sendable () -> AgentStatus.Console)?
    /// Where `link.device` / `link.interface` matches are resolved at each attempt (nil: a fresh libudev scan).
    var deviceScan: (@Sendable () throws -> [DiscoveredDevice])?

    init(
        config: AgentConfiguration, logger: Logger, clock: any AgentClock, notifier: SystemdNotifier,
        verifier: CommandAuthenticator.Verifier, replayCache: ReplayCache, lockout: LockoutLedger = LockoutLedger(),
        recovering: SessionRecord?, power: PowerController? = nil
    ) {
        self.config = config
        self.power = power
        self.logger = logger
        self.clock = clock
        self.notifier = notifier
        self.replayCachePath = config.state.dir + "/replay-cache"
        self.lockoutPath = config.state.dir + "/lockout"
        authenticator = CommandAuthenticator(
            senders: config.auth.senders, verifier: verifier, maxAge: config.auth.maxAge, replayCache: replayCache,
            lockout: lockout
        )
        if let record = recovering {
            let owed = record.owedSMS.compactMap { PhoneNumber($0) }.map { AgentStateMachine.Requester.sms($0) }
            machine = AgentStateMachine(
                recovering: owed, duration: config.session.duration, max: config.session.max, attempts: config.session.attempts
            )
            linkUp = record.linkUp
        } else {
            machine = AgentStateMachine(duration: config.session.duration, max: config.session.max, attempts: config.session.attempts)
        }
        (stopped, stoppedContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    static func monoMillis() -> Int64 { Monotonic.now() / 1_000_000 }

    /// Resolves a device value of the configuration: a path is returned as it is, `"auto"` and matches through
    /// libudev discovery (a fresh scan, or `scan` when given).
    /// - Throws: `DiscoveryError` naming the key and the fix when nothing (or more than one device) matches.
    static func resolveDevice(
        _ value: String?, for purpose: DevicePurpose, scan: (@Sendable () throws -> [DiscoveredDevice])? = nil
    ) throws -> String? {
        guard let value, !value.hasPrefix("/") else { return value }
        if purpose == .linkInterface, value != "auto", !value.contains(":") { return value }
        guard let scan else { return try DeviceDiscovery.resolve(value, for: purpose).path }
        let match = try DeviceMatch.parse(value)
        return try DeviceResolver.resolve(match, for: purpose, in: match.isLiteral ? [] : scan()).path
    }

    func noteModemPath(_ path: String?) { modemPath = path }

    // MARK: - Events

    /// Feeds one event to the machine and performs the resulting actions.
    func handle(_ event: AgentStateMachine.Event) async {
        let actions = machine.handle(event, now: Self.monoMillis())
        await perform(actions)
    }

    func startRecovery() async {
        guard machine.stateName == .tearingDown else { return }
        logger.warning("found a session left by a previous run: tearing it down", metadata: ["session.owed_sms": "\(machine.requesters.count)"])
        await perform(machine.recoveryActions)
    }

    func requestShutdown() async {
        shutdownRequested = true
        notifier.stopping()
        if machine.stateName == .idle {
            stoppedContinuation.yield()
        } else {
            await handle(.shutdown)
        }
    }

    private func perform(_ actions: [AgentStateMachine.Action]) async {
        for action in actions {
            switch action {
            case .transitioned(let from, let to, let reason):
                logger.info(
                    "session state changed",
                    metadata: ["session.from": "\(from.rawValue)", "session.to": "\(to.rawValue)", "session.reason": "\(reason)"]
                )
                notifier.status(statusLine())
            case .bringLinkUp(let attempt):
                spawn { await $0.bringLinkUp(attempt: attempt) }
            case .verifyRoute:
                spawn { await $0.verifyRoute() }
            case .startTunnel:
                spawn { await $0.startTunnel() }
            case .abortAttempt:
                generation += 1
                await stopTunnel()
                await takeLinkDown()
            case .scheduleRetry(let at):
                retryTask?.cancel()
                retryTask = timer(at: at, event: .retryDue)
            case .scheduleExpiry(let at):
                expiryTask?.cancel()
                expiryTask = timer(at: at, event: .expiryDue)
            case .tearDown:
                generation += 1
                expiryTask?.cancel()
                retryTask?.cancel()
                upRepliedEarly.removeAll()
                spawn { await $0.tearDown() }
            case .reply(let requester, let reply):
                await send(reply, to: requester)
            case .notifyWebhook(let up):
                // "down" is posted when the teardown starts, while the cellular link still carries it (tearDown()).
                if up { notifyWebhook(up: true) }
            case .persist:
                persist()
            }
        }
        if shutdownRequested && machine.stateName == .idle {
            stoppedContinuation.yield()
        }
    }

    func spawn(_ body: @escaping @Sendable (AgentCore) async -> Void) {
        let id = nextTaskID
        nextTaskID += 1
        tasks[id] = Task { [self] in
            await body(self)
            self.taskDone(id)
        }
    }

    private func taskDone(_ id: Int) { tasks[id] = nil }

    private func timer(at: Int64, event: AgentStateMachine.Event) -> Task<Void, Never> {
        let delay = max(0, at - Self.monoMillis())
        return Task { [self] in
            try? await Task.sleep(for: .milliseconds(delay))
            if Task.isCancelled { return }
            await self.handle(event)
        }
    }

    // MARK: - Link, route, tunnel

    private func bringLinkUp(attempt: Int) async {
        let myGeneration = generation
        do {
            // "auto" and device matches are resolved now, at each session start: a stick that re-enumerated since
            // the last session is found under its new name.
            let linkConfig = LinkConfiguration(
                mode: LinkConfiguration.Mode(rawValue: config.link.mode.rawValue) ?? .none,
                interface: try Self.resolveDevice(config.link.interface, for: .linkInterface, scan: deviceScan),
                device: try Self.resolveDevice(config.link.device, for: .linkDevice, scan: deviceScan),
                atPort: modemPath ?? { if case .path(let p) = config.modem.port { return p } else { return nil } }(),
                apn: config.link.apn, pppdPath: config.link.pppd, upTimeout: config.link.upTimeout,
                stateDirectory: config.state.dir
            )
            let link = try makeCellularLink(linkConfig, logger: logger)
            if link.pausesSMS { await pauseSMSIntake() }
            self.link = link
            linkUp = true
            persist()
            logger.info("bringing the link up", metadata: ["link.mode": "\(config.link.mode.rawValue)", "session.attempt": "\(attempt)"])
            let info = try await link.up(deadline: ContinuousClock.now + config.link.upTimeout)
            guard generation == myGeneration else {
                await link.down()
                return
            }
            linkInfo = info
            watchLink(link)
            await handle(.linkUp)
        } catch {
            guard generation == myGeneration else { return }
            await handle(.linkFailed(Self.describe(error)))
        }
    }

    /// pppd is about to take the modem's only serial line. The owner's UP reply goes out now, while the port is
    /// still ours (with the session's planned end); then the modem loop releases the port. SMS arriving during the
    /// session wait in the modem's storage; the link-down SMS is sent after pppd released the port.
    private func pauseSMSIntake() async {
        if let duration = machine.attemptDuration, config.notify.smsUp {
            let until = Self.monoMillis() + duration.components.seconds * 1000
            // Once per requester and session: a retried attempt pauses intake again but does not repeat it.
            for requester in machine.requesters where !upRepliedEarly.contains(requester) {
                await send(.up(until: until), to: requester)
                upRepliedEarly.insert(requester)
            }
        }
        logger.info("SMS intake paused: pppd uses the modem's AT port for the session", metadata: ["link.device": "\(config.link.device ?? "-")"])
        smsPaused = true
        for waiter in smsPauseWaiters.values { waiter.resume() }
        smsPauseWaiters = [:]
        let end = ContinuousClock.now + .seconds(15)
        while modem != nil && ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(100)) }
    }

    /// Returns once SMS intake is paused (pppd takes the modem's port), or at once when the task is cancelled.
    func waitUntilSMSPaused() async {
        let id = nextTaskID
        nextTaskID += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                if smsPaused || Task.isCancelled { c.resume() } else { smsPauseWaiters[id] = c }
            }
        } onCancel: {
            Task { await self.releaseSMSPauseWaiter(id) }
        }
    }

    private func releaseSMSPauseWaiter(_ id: Int) {
        smsPauseWaiters.removeValue(forKey: id)?.resume()
    }

    private func resumeSMSIntake() {
        guard smsPaused else { return }
        smsPaused = false
        logger.info("SMS intake resumed: the modem's port is free again")
    }

    private func watchLink(_ link: any CellularLink) {
        let myGeneration = generation
        spawn { core in
            for await event in link.events {
                _ = event
                if await core.generation != myGeneration { return }
                await core.handle(.tunnelFailed("the cellular link went down"))
                return
            }
        }
    }

    private func verifyRoute() async {
        let myGeneration = generation
        // In `none` mode the tunnel uses whatever route exists. Over a ppp/interface link the jump host is
        // resolved through the link's DNS servers (an IP literal as it is; the last good address when no server
        // answers) and the path to that address is verified to leave through the link.
        jumpHostAddress = nil
        if config.link.mode != .none, let info = linkInfo {
            do {
                let resolution = try await JumpHostResolver(stateDirectory: config.state.dir, logger: logger)
                    .resolve(config.tunnel.host, via: info)
                logger.info(
                    "jump host resolved",
                    metadata: ["tunnel.host": "\(config.tunnel.host)", "tunnel.address": "\(resolution.address)",
                               "dns.source": "\(resolution.source.rawValue)", "dns.server": "\(resolution.server ?? "-")"])
                guard generation == myGeneration else { return }
                jumpHostAddress = resolution.address
                let report = try await PathVerifier.verify(link: info, address: resolution.address, port: UInt16(config.tunnel.port))
                logger.info("route verified", metadata: ["link.path": "\(report)"])
            } catch {
                guard generation == myGeneration else { return }
                await handle(.routeFailed(Self.describe(error)))
                return
            }
        }
        guard generation == myGeneration else { return }
        await handle(.routeVerified)
    }

    private func startTunnel() async {
        let myGeneration = generation
        let bindInterface = linkInfo.flatMap { $0.interface.isEmpty ? nil : $0.interface } ?? config.link.interface
        var tunnelConfig = TunnelConfiguration(
            host: config.tunnel.host, port: config.tunnel.port, user: config.tunnel.user, identity: config.tunnel.identity,
            identityPassphraseFile: config.tunnel.identityPassphraseFile, knownHosts: config.tunnel.knownHosts,
            forwards: config.tunnel.forwards.map {
                RemoteForward(remoteBind: $0.remoteBind, remotePort: $0.remotePort, localHost: $0.localHost, localPort: $0.localPort)
            },
            keepalive: config.tunnel.keepalive, bindInterface: bindInterface, bindAddress: linkInfo?.localAddress
        )
        // Connect to the address resolved through the link; the host key is still checked under tunnel.host.
        tunnelConfig.connectAddress = config.link.mode == .none ? nil : jumpHostAddress
        do {
            let tunnel = try ReverseTunnel(configuration: tunnelConfig, logger: logger)
            self.tunnel = tunnel
            tunnelStarted = true
            persist()
            tunnel.start()
            try await tunnel.waitUntilForwarding(timeout: .seconds(30))
            guard generation == myGeneration else {
                await tunnel.stop()
                return
            }
            watchTunnel(tunnel)
            await handle(.tunnelForwarding)
        } catch {
            guard generation == myGeneration else { return }
            await handle(.tunnelFailed(Self.describe(error)))
        }
    }

    private func watchTunnel(_ tunnel: ReverseTunnel) {
        let myGeneration = generation
        spawn { core in
            for await state in tunnel.stateChanges() {
                if case .failed(let error) = state {
                    if await core.generation != myGeneration { return }
                    await core.handle(.tunnelFailed(error.message))
                    return
                }
            }
        }
    }

    private func stopTunnel() async {
        if let tunnel {
            self.tunnel = nil
            await tunnel.stop()
        }
        tunnelStarted = false
    }

    private func takeLinkDown() async {
        if let link {
            self.link = nil
            await link.down()
        }
        resumeSMSIntake()
        linkInfo = nil
        linkUp = false
    }

    /// Forwards, SSH, link, in reverse order of setup, within a hard deadline.
    private func tearDown() async {
        let started = Self.monoMillis()
        let tunnel = self.tunnel
        let link = self.link
        self.tunnel = nil
        self.link = nil
        // The "down" webhook goes out over the link while the forwards close, and the link waits for it (its deadline,
        // 8 s, leaves the link's own teardown time within the 15 s).
        let webhook = webhookOwed ? notifyWebhook(up: false) : nil
        webhookOwed = false
        let finished = await Self.withDeadline(.seconds(15)) {
            if let tunnel { await tunnel.stop() }
            await webhook?.value
            if let link { await link.down() }
        }
        // The port is pppd's no more: the modem loop reopens it, and the link-down SMS (queued while the modem was
        // away) goes out after it.
        if finished { resumeSMSIntake() }
        if !finished {
            logger.error("teardown passed its deadline; the link journal is kept for the next start", metadata: ["teardown.deadline_s": "15"])
        } else {
            tunnelStarted = false
            linkUp = false
            linkInfo = nil
        }
        logger.info("teardown complete", metadata: ["teardown.ms": "\(Self.monoMillis() - started)"])
        await handle(.teardownFinished)
    }

    static func withDeadline(_ limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await body()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    // MARK: - Replies

    private func send(_ reply: AgentStateMachine.Reply, to requester: AgentStateMachine.Requester) async {
        let text: String
        let offset: Int
        switch requester {
        case .sms(let n): offset = replyOffsets[n] ?? localOffsetMinutes
        case .local: offset = localOffsetMinutes
        }
        switch reply {
        case .up(let until):
            guard config.notify.smsUp, upRepliedEarly.remove(requester) == nil else { return }
            text = SMSReply.up(
                until: clockText(until, offset: offset), sshPort: config.tunnel.forwards.first?.remotePort ?? 22,
                host: config.tunnel.host
            )
        case .extended(let until):
            text = SMSReply.extended(until: clockText(until, offset: offset))
        case .failed(let reason):
            text = SMSReply.failed(reason)
        case .linkDown(let reason):
            guard config.notify.smsDown else { return }
            text = SMSReply.linkDown(reason: reason)
        }
        switch requester {
        case .sms(let number): await sendSMS(to: number.e164, text: text)
        case .local: logger.info("local session", metadata: ["reply": "\(text)"])
        }
    }

    func sendSMS(to number: String, text: String) async {
        let text = SMSReply.fit(text)
        guard let modem else {
            logger.info("modem absent: SMS queued until it is back", metadata: ["sms.to": "\(number)"])
            pendingSMS.append((number, text))
            return
        }
        do {
            _ = try await modem.sendSMS(to: number, text: text)
            logger.info("SMS sent", metadata: ["sms.to": "\(number)", "sms.text": "\(text)"])
        } catch {
            logger.warning("SMS not sent, will retry when the modem is back", metadata: ["sms.to": "\(number)", "error": "\(error)"])
            pendingSMS.append((number, text))
        }
    }

    /// `HH:MM` of monotonic time `at` by the best clock, in the requester's zone.
    func clockText(_ at: Int64, offset: Int) -> String {
        let now = bestClock().unixTime ?? clock.now()
        let unix = now + (at - Self.monoMillis()) / 1000
        return SMSReply.clock(unix, utcOffsetMinutes: offset)
    }

    // MARK: - Persistence

    func persist() {
        let machine = self.machine
        let owed = machine.requesters.compactMap { r -> String? in
            if case .sms(let n) = r { return n.e164 }
            return nil
        }
        if machine.stateName == .idle && !linkUp && !tunnelStarted {
            try? SessionRecord.remove(dir: config.state.dir)
            return
        }
        let ends = machine.endsAt.map { (bestClock().unixTime ?? clock.now()) + ($0 - Self.monoMillis()) / 1000 }
        let record = SessionRecord(
            state: machine.stateName, owedSMS: owed, linkMode: config.link.mode.rawValue, linkUp: linkUp,
            tunnelStarted: tunnelStarted, endsAtUnix: ends, pid: ProcessIdentity.pid, reason: nil
        )
        do {
            try record.save(dir: config.state.dir)
        } catch {
            logger.error("cannot write the session record", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Clocks

    /// The best clock: the system's when synchronised, else the network's (modem), else none.
    func bestClock() -> ClockReading {
        if clock.isSynchronized() { return .system(clock.now()) }
        if let base = networkTimeBase { return .network(base.unix + (Self.monoMillis() - base.mono) / 1000) }
        return .unknown
    }

    func setNetworkTime(_ unix: Int64?) {
        if let unix { networkTimeBase = (unix, Self.monoMillis()) }
    }

    // MARK: - Webhook

    /// POSTs the session's "up" or "down" to `notify.webhook` (if any) in a task of its own, bound to the link as
    /// the tunnel is, its host resolved through the link's DNS as `tunnel.host` is (`ppp`/`interface`; the
    /// system's resolver in `none`); a failure is logged and never touches the session.
    @discardableResult
    private func notifyWebhook(up: Bool) -> Task<Void, Never>? {
        guard let url = config.notify.webhook else { return nil }
        if up { webhookOwed = true }
        let event = up ? "up" : "down"
        let body = ControlJSON.line(WebhookEvent(event: event, host: Environment.hostName, state: machine.stateName.rawValue))
        let bind = linkInfo.flatMap { $0.interface.isEmpty ? nil : $0.interface } ?? config.link.interface
        let address = linkInfo?.localAddress
        // Certificates are judged by the best clock: a box without NTP has the modem's network time.
        let verifyTime = bestClock().unixTime
        let ca = config.notify.webhookCA
        let linkDNS = config.link.mode == .none ? nil : linkInfo.map { Webhook.LinkDNS(link: $0, stateDirectory: config.state.dir) }
        let logger = self.logger
        return Task {
            do {
                let status = try await Webhook.post(
                    url: url, json: body, bindInterface: bind, bindAddress: address, caFile: ca, verifyTime: verifyTime,
                    deadline: up ? Webhook.defaultDeadline : .seconds(8), linkDNS: linkDNS, logger: logger)
                if (200..<300).contains(status) {
                    logger.info("webhook sent", metadata: ["webhook.event": "\(event)", "webhook.status": "\(status)"])
                } else {
                    logger.warning(
                        "webhook refused by the server",
                        metadata: ["webhook.event": "\(event)", "webhook.status": "\(status)", "fix": "check the URL path and what the server expects"])
                }
            } catch {
                logger.warning("webhook not sent", metadata: ["webhook.event": "\(event)", "error": "\(Self.describe(error))"])
            }
        }
    }

    // MARK: - Status

    func statusLine() -> String {
        switch machine.stateName {
        case .active:
            if let ends = machine.endsAt { return "active until \(clockText(ends, offset: localOffsetMinutes))" }
            return "active"
        case .idle: return "idle, waiting for SMS"
        default: return machine.stateName.rawValue
        }
    }

    func status() -> AgentStatus {
        let nowMono = Self.monoMillis()
        let best = bestClock()
        let nowUnix = best.unixTime ?? clock.now()
        func iso(_ mono: Int64) -> String { Self.iso8601(nowUnix + (mono - nowMono) / 1000) }
        var session: AgentStatus.Session?
        if machine.stateName != .idle {
            session = .init(
                endsAt: machine.endsAt.map(iso), remainingSeconds: machine.endsAt.map { Int(max(0, $0 - nowMono) / 1000) },
                requesters: machine.requesters.map {
                    switch $0 {
                    case .sms(let n): n.e164
                    case .local: "local"
                    }
                },
                attempt: machine.attempt, lastError: machine.lastError
            )
        }
        var tunnelStatus: AgentStatus.Tunnel?
        if let t = tunnel {
            let s = t.statistics
            tunnelStatus = .init(
                bytesIn: s.bytesFromJumpHost, bytesOut: s.bytesToJumpHost, channelsOpen: s.channelsOpen, channelsTotal: s.channelsTotal,
                reconnects: s.reconnects, lastError: s.lastError?.message
            )
        }
        return AgentStatus(
            state: machine.stateName.rawValue, session: session,
            modem: .init(
                present: modem != nil, signalDBm: signalDBm, registration: registration, path: modem != nil ? modemPath : nil),
            tunnel: tunnelStatus,
            lastSession: machine.lastSession.map { .init(endedAt: iso($0.endedAt), reason: $0.reason) },
            uptimeSeconds: Int((nowMono - startedMono) / 1000), clock: best.source, pid: ProcessIdentity.pid,
            console: consoleStatus?()
        )
    }

    /// The STATUS SMS: state, signal, last session, uptime.
    func statusSMS(offset: Int) -> String {
        var parts = ["STATUS \(machine.stateName.rawValue)"]
        if let ends = machine.endsAt { parts[0] += " until \(clockText(ends, offset: offset))" }
        parts.append(signalDBm.map { "signal \($0) dBm" } ?? "signal unknown")
        if let last = machine.lastSession {
            parts.append("last session ended \(clockText(last.endedAt, offset: offset)) (\(last.reason))")
        } else {
            parts.append("no session yet")
        }
        let up = (Self.monoMillis() - startedMono) / 1000
        parts.append("up \(up / 3600)h\((up % 3600) / 60)m")
        return parts.joined(separator: ", ")
    }

    static func iso8601(_ unix: Int64) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(unix))
        return date.formatted(.iso8601)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? AgentError { return e.message }
        if let e = error as? TunnelError { return e.message }
        return "\(error)"
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".")
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }
}

struct WebhookEvent: Codable {
    var event: String
    var host: String
    var state: String
}
