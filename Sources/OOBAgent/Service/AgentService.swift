public import ATModem
import Foundation
import PowerControl
public import Logging
import SerialIO
public import ServiceLifecycle

/// The daemon (`oob-agent run`): SMS intake, sessions, the control socket, systemd notification.
///
/// A swift-service-lifecycle `Service`: everything runs inside ``run()``; on graceful shutdown
/// (SIGTERM/SIGINT through the `ServiceGroup`) a running session is torn down and its link-down
/// SMS sent before `run()` returns.
public final class AgentService: Service, Sendable {
    let config: AgentConfiguration
    let logger: Logger
    let clock: any AgentClock
    let notifier: SystemdNotifier
    let deviceEvents: (@Sendable (Logger) throws -> AsyncStream<DeviceEvent>)?
    let deviceScan: (@Sendable () throws -> [DiscoveredDevice])?

    /// Creates the service; nothing happens until ``run()``.
    /// - Parameters:
    ///   - configuration: the validated configuration.
    ///   - logger: where the agent logs.
    ///   - clock: the wall clock (tests inject one that is hours off).
    ///   - notifier: the systemd notifier (built from the environment by `run`).
    ///   - deviceEvents: where device add/remove events come from when `modem.port` or `console.device` is
    ///     `"auto"` or a match; nil = a `DeviceWatcher` (the udev monitor, or periodic rescans where no udev daemon
    ///     runs). Called once; both keys follow the one stream. Tests feed events here, through the same tracker
    ///     the monitor drives.
    ///   - deviceScan: the device list `link.device` / `link.interface` matches are resolved against at each session
    ///     attempt; nil = a fresh libudev scan (tests give their own list).
    public init(
        configuration: AgentConfiguration, logger: Logger, clock: any AgentClock = SystemAgentClock(),
        notifier: SystemdNotifier = SystemdNotifier(environment: [:]),
        deviceEvents: (@Sendable (Logger) throws -> AsyncStream<DeviceEvent>)? = nil,
        deviceScan: (@Sendable () throws -> [DiscoveredDevice])? = nil
    ) {
        self.deviceEvents = deviceEvents
        self.deviceScan = deviceScan
        self.config = configuration
        self.logger = logger
        self.clock = clock
        self.notifier = notifier
    }

    /// Runs until graceful shutdown.
    /// - Throws: ``AgentError`` when the secret, state directory or control socket are unusable.
    public func run() async throws {
        let verifier = try Enrollment.verifier(for: config.auth)
        for (key, path) in config.privateFiles where key != "auth.totp_secret_file" && key != "auth.passphrase_file" {
            try FilePermissions.requirePrivate(key: key, path: path, missingFix: "see `oob-agent check`")
        }
        if let ca = config.notify.webhookCA, let problem = TLSClientSession.caFileProblem(ca) {
            throw AgentError(.configuration, problem)
        }
        do {
            try FileSystem.createDirectory(config.state.dir, mode: 0o700)
        } catch {
            throw AgentError(.stateFile, "state.dir = \"\(config.state.dir)\": cannot create it (\(error)); fix: mkdir -m 700 it and chown it to the agent's user")
        }
        let replayCache = try ReplayCache.load(path: config.state.dir + "/replay-cache")
        let lockout = try LockoutLedger.load(path: config.state.dir + "/lockout")
        let leftover = try SessionRecord.load(dir: config.state.dir)
        let undone = await CellularLinkRecovery.recover(stateDirectory: config.state.dir, logger: logger)
        if undone > 0 { logger.warning("undid what a previous run's link left behind", metadata: ["link.undone": "\(undone)"]) }
        let recovering = leftover.flatMap { $0.state == .idle && !$0.linkUp && !$0.tunnelStarted ? nil : $0 }
        // The outlets: built from [[power]]; creating the controller reads the persisted on/off state and drives
        // nothing (the daemon never toggles an output at start).
        var power: PowerController?
        if !config.power.isEmpty {
            do {
                power = try PowerController(
                    configurations: config.power, stateDirectory: config.state.dir, logger: logger,
                    makeDriver: AgentPower.makeDriver)
                logger.info("power outlets ready", metadata: ["power.outlets": "\(config.power.map(\.name).joined(separator: ","))"])
            } catch {
                logger.error("power outlets not available", metadata: ["error": "\(error)"])
            }
        }
        let core = AgentCore(
            config: config, logger: logger, clock: clock, notifier: notifier, verifier: verifier, replayCache: replayCache,
            lockout: lockout, recovering: recovering, power: power
        )
        for (sender, until) in lockout.lockedUntil.sorted(by: { $0.key.e164 < $1.key.e164 }) {
            logger.critical(
                "a sender is still locked out after repeated bad codes (kept across the restart)",
                metadata: ["sms.sender": "\(sender.e164)", "lockout.until": "\(AgentCore.iso8601(until))"])
        }
        let control = try ControlServer(path: config.state.controlSocket)
        defer { control.stop() }
        await core.startRecovery()
        // The router's console relay runs beside the agent, all the time (not only during sessions).
        let console = startConsole()
        if let console { await core.attachConsole(console) }
        // One device event source for the keys that follow devices (`"auto"` or a match).
        var followers = 0
        if config.modem.port.followsDevices { followers += 1 }
        if console?.match != nil { followers += 1 }
        var fanOut: DeviceEventFanOut?
        if followers > 0 {
            do {
                let source = try deviceEvents?(logger) ?? DeviceWatcher(logger: logger, rescanIntervalMilliseconds: 2000).events()
                fanOut = DeviceEventFanOut(source, count: followers)
            } catch {
                logger.error("device events unavailable: \(error)", metadata: ["error": "\(error)"])
            }
        }
        var streams = fanOut?.streams ?? []
        let modemEvents = config.modem.port.followsDevices && !streams.isEmpty ? streams.removeFirst() : nil
        let consoleEvents = console?.match != nil && !streams.isEmpty ? streams.removeFirst() : nil
        if let deviceScan { await core.useDeviceScan(deviceScan) }
        logger.info("agent running", metadata: ["modem.port": "\(config.modem.port)", "control.socket": "\(config.state.controlSocket)"])
        notifier.ready(status: await core.statusLine())

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if let fanOut { group.addTask { await fanOut.run() } }
                group.addTask { await self.modemLoop(core, events: modemEvents) }
                if let console {
                    let logger = self.logger
                    group.addTask { await console.run(events: consoleEvents, logger: logger) }
                }
                group.addTask {
                    // One task per request: a power cycle (seconds) must not hold up `status`.
                    await withTaskGroup(of: Void.self) { requests in
                        for await connection in control.requests {
                            requests.addTask {
                                connection.respond(await core.control(connection.request))
                                // Back to idle: the JSON coding and whatever the request ran need not stay resident.
                                self.releaseIdlePages()
                            }
                        }
                    }
                }
                if let interval = self.notifier.watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled {
                            self.notifier.watchdog()
                            try? await Task.sleep(for: interval / 2)
                        }
                    }
                }
                // Returns when shutdown was requested and the session is down.
                for await _ in core.stopped { break }
                // Give queued SMS (the link-down SMS) a moment to leave through the modem.
                await core.flushPendingSMS(deadline: .seconds(10))
                control.stop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task { await core.requestShutdown() }
        }
        logger.info("agent stopped")
    }

    /// Unmaps the code pages a burst of work touched (``IdlePages``); `OOB_AGENT_KEEP_PAGES=1` turns it off (to
    /// measure what it saves).
    func releaseIdlePages() {
        guard Environment.value("OOB_AGENT_KEEP_PAGES") == nil else { return }
        let kib = IdlePages.release()
        logger.debug("code pages released", metadata: ["kib": "\(kib)"])
    }

    // MARK: - The modem loop

    /// Opens the modem, drains its storage, then follows `+CMTI` (and polls) until it fails; then
    /// reopens it, forever (a USB reset makes the modem vanish and come back, maybe under a new name).
    /// - Parameter events: the device events `modem.port` follows when it is `"auto"` or a match.
    func modemLoop(_ core: AgentCore, events: AsyncStream<DeviceEvent>?) async {
        var watch: ModemPortWatch?
        switch config.modem.port {
        case .path: break
        case .auto, .match:
            do {
                watch = try ModemPortWatch(value: config.modem.port.text)
                guard events != nil else { throw AgentError(.io, "no device events") }
            } catch {
                logger.error(
                    "modem.port cannot be resolved; fix the value (see `oob-agent devices`)",
                    metadata: ["modem.port": "\(config.modem.port.text)", "error": "\(error)"])
                return
            }
        }
        let portWatch = watch
        let portEvents = events
        await withTaskGroup(of: Void.self) { group in
            if let watch = portWatch, let events = portEvents {
                let logger = self.logger
                group.addTask {
                    await watch.run(events: events, logger: logger)
                    // The watcher stopped (it only does when cancelled): the modem loop goes on with the last path.
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                }
            }
            group.addTask { await self.modemLoop(core, watch: portWatch) }
            _ = await group.next()
            group.cancelAll()
        }
    }

    private func modemLoop(_ core: AgentCore, watch: ModemPortWatch?) async {
        var backoff: Duration = .milliseconds(500)
        var waitingLogged = false
        while !Task.isCancelled {
            // pppd owns the modem's port for the session (link.device = modem.port).
            if await core.smsPaused {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            let path: String
            if let watch {
                guard let p = watch.path else {
                    if !waitingLogged { logger.info("waiting for the modem to appear", metadata: ["modem.port": "\(watch.value)"]) }
                    waitingLogged = true
                    try? await Task.sleep(for: .milliseconds(200))
                    continue
                }
                path = p
            } else if case .path(let p) = config.modem.port {
                path = p
            } else {
                return
            }
            waitingLogged = false
            var modem: Modem?
            // Where a modem that re-enumerated during a reset is now.
            var locate: (@Sendable () -> String?)?
            if let watch { locate = { watch.path } }
            do {
                let m = try await Modem.open(
                    path: path, configuration: SerialConfiguration(baudRate: config.modem.baud),
                    options: Modem.Options(pin: config.modem.pin), logger: logger,
                    locate: locate
                )
                modem = m
                let report = try await m.initialize()
                logger.info("modem ready", metadata: ["modem.device": "\(path)", "modem.notifications": "\(report.notifications)"])
                // Start-up is over: the code only it ran leaves the resident set (see IdlePages).
                releaseIdlePages()
                backoff = .milliseconds(500)
                await core.noteModemPath(path)
                await core.attach(m)
                try await follow(m, core: core, path: path, watch: watch)
            } catch is CancellationError {
            } catch is SMSPaused {
                logger.info("AT port released for pppd", metadata: ["modem.device": "\(path)"])
            } catch let error as ATModemError where error.code == .hung {
                // A hung Huawei stick stops answering (+CMGL first); reopening the port does not revive it, a
                // restart does. It re-enumerates: the next open finds it where it came back.
                logger.warning("modem hung; restarting it", metadata: ["modem.device": "\(path)", "error": "\(error)"])
                if let modem { _ = try? await modem.reset() }
            } catch {
                logger.warning("modem lost; reopening", metadata: ["modem.device": "\(path)", "error": "\(error)"])
            }
            await core.detach()
            if let modem { await modem.close() }
            if Task.isCancelled { break }
            // A modem that moved (found under a new name) is reopened at once.
            if let watch, let now = watch.path, now != path { continue }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(10))
        }
    }

    private func follow(_ modem: Modem, core: AgentCore, path: String, watch: ModemPortWatch?) async throws {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in modem.unsolicited {
                    switch event {
                    case .newMessage, .storageFull: wake.yield()
                    // +CMT: routed to the port, not stored (many modems do this with class 0), so no drain will find
                    // it: judged here. A text-mode +CMT's header (the sender) is not kept by the parser: ignored.
                    case .messageRouted(let body):
                        if await modem.mode == .pdu {
                            await core.process(pdu: body, slot: "routed")
                        } else {
                            self.logger.warning("SMS routed to the port in text mode (+CMT) ignored: its sender is unknown")
                        }
                        wake.yield()
                    case .signal(let q): await core.noteSignal(q.dBm)
                    // ^SYSSTART: the modem restarted and forgot its settings (+CNMI, storage): initialise it again.
                    case .boot: throw AgentError(.io, "the modem restarted (^SYSSTART); initialising it again")
                    // ^BOOT: a Huawei stick's periodic heartbeat, no restart.
                    case .heartbeat: break
                    default: break
                    }
                }
                throw AgentError(.io, "the modem's event stream ended")
            }
            group.addTask {
                // pppd needs the port (link.device = modem.port): release it for the session. Event-driven, no
                // timer: an idle daemon must not wake up for nothing.
                await core.waitUntilSMSPaused()
                try Task.checkCancellation()
                throw SMSPaused()
            }
            if let watch {
                // The device came back under another name (a USB reset): reopen it there.
                group.addTask {
                    await watch.waitUntilMoved(from: path)
                    try Task.checkCancellation()
                    throw AgentError(.io, "modem.port now resolves to \(watch.path ?? "?")")
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: self.config.modem.poll)
                    wake.yield()
                }
            }
            group.addTask {
                try await self.drain(modem, core: core)
                for await _ in wakeups {
                    try await self.drain(modem, core: core)
                }
            }
            defer { group.cancelAll() }
            _ = try await group.next()
        }
    }

    /// Reads every stored message, handles each once and deletes it.
    func drain(_ modem: Modem, core: AgentCore) async throws {
        while true {
            let messages = try await modem.listMessages()
            let received = messages.filter {
                switch $0.status {
                case .storedSent?, .storedUnsent?: false
                default: true
                }
            }
            let fresh = await core.notYetJudged(received)
            if fresh.isEmpty { return }
            for listed in fresh.sorted(by: { $0.index < $1.index }) {
                var message = listed
                // Text mode: only +CMGR tells the first octet (is it a multipart part?); the listing does not.
                if case .text = message.content, let detailed = try await modem.readMessage(index: message.index),
                    case .text = detailed.content
                {
                    message = detailed
                }
                await core.process(message)
                do {
                    try await modem.deleteMessage(index: message.index)
                } catch let error as ATModemError where error.finalResult != nil {
                    // The modem answered and refused (a corrupt record, a firmware bug): the port works, so the
                    // SMS after this one must not wait for it. It is not judged again while it stays.
                    logger.warning(
                        "SMS not deleted: the modem refuses to delete it; it is not judged again",
                        metadata: ["sms.index": "\(message.index)", "error": "\(error)"])
                    await core.rememberUndeletable(listed)
                }
            }
        }
    }
}

extension AgentCore {
    /// Waits (bounded) until queued SMS are sent.
    func flushPendingSMS(deadline: Duration) async {
        let end = ContinuousClock.now + deadline
        while !pendingSMS.isEmpty && ContinuousClock.now < end {
            if let modem {
                let owed = pendingSMS
                pendingSMS = []
                for sms in owed {
                    do {
                        _ = try await modem.sendSMS(to: sms.to, text: sms.text)
                    } catch {
                        pendingSMS.append(sms)
                    }
                }
            }
            if !pendingSMS.isEmpty { try? await Task.sleep(for: .milliseconds(200)) }
        }
        if !pendingSMS.isEmpty {
            logger.error("SMS not sent before stopping", metadata: ["sms.count": "\(pendingSMS.count)"])
        }
    }
}

/// The modem loop closes the AT port because pppd needs it.
struct SMSPaused: Error {}
