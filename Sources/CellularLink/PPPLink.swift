import Foundation
public import Logging
import Synchronization

/// `link.mode = "ppp"`: runs the configured pppd as the agent's child for the session.
///
/// See ``PPPOptions`` for the options (no default route, no resolver change, fixed `ifname`, LCP echo).
/// `up` waits until pppd reports both IPCP addresses and the interface really has the local one, then adds
/// the reply routing (``CellularLink``). pppd's exit during the session is reported as ``LinkEvent/died(reason:)``.
/// `down` stops pppd with SIGTERM, then SIGKILL after `stopGrace`.
///
/// When `link.device` is the AT port (`pausesSMS`), pppd owns the modem's only serial line for the session:
/// the agent must close its AT port before `up` and reopen it after `down`; SMS arriving meanwhile stay in
/// the SIM/modem storage and are read afterwards.
public actor PPPLink: CellularLink {
    public nonisolated let configuration: LinkConfiguration
    public nonisolated let events: AsyncStream<LinkEvent>
    private let eventSink: AsyncStream<LinkEvent>.Continuation
    private let logger: Logger
    private let changes: SessionChanges
    private var child: ChildProcess?
    private var supervisor: Task<Void, Never>?
    private var stopping = false

    /// Creates the link (nothing happens until `up`).
    /// - Parameters:
    ///   - configuration: mode `ppp`, validated.
    ///   - logger: where it logs.
    public init(configuration: LinkConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (events, eventSink) = AsyncStream<LinkEvent>.makeStream()
        changes = SessionChanges(
            journal: LinkJournal(directory: configuration.stateDirectory), net: NetworkState(ip: configuration.ipPath),
            logger: logger)
    }

    public nonisolated var pausesSMS: Bool {
        guard let device = configuration.device, let at = configuration.atPort else { return false }
        return (system_realpath(device) ?? device) == (system_realpath(at) ?? at)
    }

    public func up(deadline: ContinuousClock.Instant) async throws -> LinkInfo {
        guard child == nil else {
            throw CellularLinkError(code: .busy, message: "the PPP link is already up; call down() first")
        }
        let ifname = configuration.effectiveInterface ?? LinkConfiguration.defaultPPPInterface
        if changes.net.interfaceExists(ifname) {
            throw CellularLinkError(
                code: .busy,
                message: "interface \(ifname) already exists before pppd starts; another pppd or a leftover holds it — "
                    + "stop it, or set link.interface to a free name")
        }
        stopping = false
        do {
            let info = try await start(ifname: ifname, deadline: deadline)
            return info
        } catch {
            await teardown()
            throw error
        }
    }

    private func start(ifname: String, deadline: ContinuousClock.Instant) async throws -> LinkInfo {
        let dir = configuration.stateDirectory
        if !FileManager.default.fileExists(atPath: dir) { _ = system_mkdir(dir, 0o700) }
        let chatPath = dir + "/ppp-chat"
        if case .failure(let e) = system_writeFileAtomically(chatPath, Array(PPPOptions.chatScript(apn: configuration.apn ?? "").utf8)) {
            throw CellularLinkError(code: .journal, message: "cannot write \(chatPath); check state.dir", underlying: e)
        }
        try changes.journal.append(.childInterface(interface: ifname))
        let args = PPPOptions.arguments(configuration, chatScript: chatPath)
        logger.info("starting pppd", metadata: ["link.pppd": "\(configuration.pppdPath)", "link.interface": "\(ifname)"])
        let child = try ChildProcess(path: configuration.pppdPath, arguments: args)
        self.child = child
        try changes.journal.append(.process(pid: child.pid, startTime: child.startTime, executable: configuration.pppdPath))

        let parser = Locked(PPPOutputParser())
        let logger = self.logger
        let reader = Task {
            for await line in child.lines {
                logger.debug("pppd", metadata: ["link.pppd_line": "\(line)"])
                parser.withLock { $0.consume(line) }
            }
        }
        _ = reader
        let clock = ContinuousClock()
        while true {
            let p = parser.withLock { $0 }
            if let status = child.exitStatus {
                // Give the reader a moment to take the last lines.
                try? await Task.sleep(for: .milliseconds(100))
                let lines = parser.withLock { $0.recentLines }.joined(separator: " | ")
                throw CellularLinkError(
                    code: .linkFailed,
                    message: "pppd exited (status \(status)) before the link came up: \(lines.isEmpty ? "no output" : lines); "
                        + "check link.device, link.apn, the SIM and signal (`oob-agent modem info`)")
            }
            if p.isUp, let local = p.localAddress,
                changes.net.ipv4Addresses(ifname).contains(where: { $0.address == local })
            {
                let info = LinkInfo(
                    interface: ifname, localAddress: local, prefixLength: 32, peer: p.remoteAddress,
                    dnsServers: p.dnsServers)
                try changes.installReplyRouting(
                    info, subnet: nil, table: configuration.routingTable, priority: configuration.rulePriority)
                supervise(child)
                logger.info("PPP link up", metadata: ["link.info": "\(info)"])
                return info
            }
            if clock.now >= deadline {
                let lines = p.recentLines.joined(separator: " | ")
                throw CellularLinkError(
                    code: .timedOut,
                    message: "the PPP link did not come up within link.up_timeout (last pppd output: "
                        + "\(lines.isEmpty ? "none" : lines)); check signal and APN, or raise link.up_timeout")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func supervise(_ child: ChildProcess) {
        supervisor = Task { [weak self] in
            let status = await child.waitForExit()
            await self?.childExited(status)
        }
    }

    private func childExited(_ status: Int32) {
        guard !stopping else { return }
        logger.info("pppd exited during the session", metadata: ["link.status": "\(status)"])
        eventSink.yield(.died(reason: "pppd exited with status \(status)"))
    }

    public func down() async {
        await teardown()
    }

    private func teardown() async {
        stopping = true
        supervisor?.cancel()
        supervisor = nil
        if let child {
            let status = await child.terminate(grace: configuration.stopGrace)
            logger.info("pppd stopped", metadata: ["link.status": "\(status)"])
        }
        child = nil
        await changes.undoAll(grace: configuration.stopGrace)
    }
}
