import ATModem
import Foundation
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

    /// Creates the service; nothing happens until ``run()``.
    /// - Parameters:
    ///   - configuration: the validated configuration.
    ///   - logger: where the agent logs.
    ///   - clock: the wall clock (tests inject one that is hours off).
    ///   - notifier: the systemd notifier (built from the environment by `run`).
    public init(
        configuration: AgentConfiguration, logger: Logger, clock: any AgentClock = SystemAgentClock(),
        notifier: SystemdNotifier = SystemdNotifier(environment: [:])
    ) {
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
        do {
            try FileSystem.createDirectory(config.state.dir, mode: 0o700)
        } catch {
            throw AgentError(.stateFile, "state.dir = \"\(config.state.dir)\": cannot create it (\(error)); fix: mkdir -m 700 it and chown it to the agent's user")
        }
        let replayCache = try ReplayCache.load(path: config.state.dir + "/replay-cache")
        let leftover = try SessionRecord.load(dir: config.state.dir)
        let undone = await CellularLinkRecovery.recover(stateDirectory: config.state.dir, logger: logger)
        if undone > 0 { logger.warning("undid what a previous run's link left behind", metadata: ["link.undone": "\(undone)"]) }
        let recovering = leftover.flatMap { $0.state == .idle && !$0.linkUp && !$0.tunnelStarted ? nil : $0 }
        let core = AgentCore(
            config: config, logger: logger, clock: clock, notifier: notifier, verifier: verifier, replayCache: replayCache,
            recovering: recovering
        )
        let control = try ControlServer(path: config.state.controlSocket)
        defer { control.stop() }
        await core.startRecovery()
        logger.info("agent running", metadata: ["modem.port": "\(config.modem.port)", "control.socket": "\(config.state.controlSocket)"])
        notifier.ready(status: await core.statusLine())

        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.modemLoop(core) }
                group.addTask {
                    for await connection in control.requests {
                        connection.respond(await core.control(connection.request))
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

    // MARK: - The modem loop

    /// Opens the modem, drains its storage, then follows `+CMTI` (and polls) until it fails; then
    /// reopens it, forever (a USB reset makes the modem vanish and come back).
    func modemLoop(_ core: AgentCore) async {
        var backoff: Duration = .milliseconds(500)
        while !Task.isCancelled {
            guard case .path(let path) = config.modem.port else {
                logger.error("modem.port = \"auto\" needs the discovery module, not wired into run yet; set modem.port to a device path")
                try? await Task.sleep(for: .seconds(30))
                continue
            }
            var modem: Modem?
            do {
                let m = try await Modem.open(
                    path: path, configuration: SerialConfiguration(baudRate: config.modem.baud),
                    options: Modem.Options(pin: config.modem.pin), logger: logger
                )
                modem = m
                let report = try await m.initialize()
                logger.info("modem ready", metadata: ["modem.device": "\(path)", "modem.notifications": "\(report.notifications)"])
                backoff = .milliseconds(500)
                await core.attach(m)
                try await follow(m, core: core)
            } catch is CancellationError {
            } catch {
                logger.warning("modem lost; reopening", metadata: ["modem.device": "\(path)", "error": "\(error)"])
            }
            await core.detach()
            if let modem { await modem.close() }
            if Task.isCancelled { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(10))
        }
    }

    private func follow(_ modem: Modem, core: AgentCore) async throws {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in modem.unsolicited {
                    switch event {
                    case .newMessage, .storageFull, .messageRouted: wake.yield()
                    case .signal(let q): await core.noteSignal(q.dBm)
                    // Huawei sticks print ^BOOT periodically, so it is no proof of a restart: read the
                    // storage once more (a real restart that lost +CNMI is covered by the poll, a
                    // vanished port by the reopen below).
                    case .boot: wake.yield()
                    default: break
                    }
                }
                throw AgentError(.io, "the modem's event stream ended")
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
            if received.isEmpty { return }
            for message in received.sorted(by: { $0.index < $1.index }) {
                await core.process(message)
                try await modem.deleteMessage(index: message.index)
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
