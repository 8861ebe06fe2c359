import ATModem
import Logging
import SerialConsole
import Synchronization

/// The router's console relay inside the daemon, with `console.device` kept resolved when it is `"auto"` or a
/// device match.
///
/// Device events (the udev monitor, or rescans where no udev daemon runs; tests feed their own) go through a
/// `DeviceTracker`, as for `modem.port`: when the USB-serial adapter comes back under another name (ttyUSB0 →
/// ttyUSB3) the relay moves to the new path (attached clients get a notice, the console log a mark); while it is
/// gone the relay waits instead of retrying the old path, and says why. A literal path is the relay's own business
/// (it reopens it with backoff).
final class AgentConsole: Sendable {
    let settings: AgentConfiguration.Console
    /// The parsed `console.device`; nil for a literal path.
    let match: DeviceMatch?
    /// The relay once it runs, and the latest device target discovery gave.
    private let shared = Mutex<(relay: ConsoleRelay?, target: ConsoleDeviceTarget?)>((nil, nil))

    /// - Throws: `DiscoveryError` when `console.device` is neither a path nor a valid match.
    init(settings: AgentConfiguration.Console) throws {
        self.settings = settings
        if settings.device.hasPrefix("/") {
            match = nil
        } else {
            let parsed = try DeviceMatch.parse(settings.device)
            match = parsed.isLiteral ? nil : parsed
        }
    }

    /// What `status` shows.
    var status: AgentStatus.Console {
        guard let relay = shared.withLock({ $0.relay }) else {
            return .init(device: settings.device, path: nil, state: "stopped", detail: nil, clients: 0)
        }
        let s = relay.statistics
        let state = s.deviceOpen ? "open" : s.waitingReason != nil ? "waiting" : s.listening ? "reopening" : "stopped"
        return .init(
            device: settings.device, path: s.devicePath, state: state, detail: s.waitingReason, clients: s.attachedClients)
    }

    /// Runs the relay until the task is cancelled or a graceful shutdown begins; for a match, also follows
    /// `events` (the first one a full device list) and moves the relay where the device is (without events, a
    /// match cannot be resolved: the relay is not started, and the log says so).
    /// The relay failing (its socket cannot be bound) is logged; it does not stop the agent.
    func run(events: AsyncStream<DeviceEvent>?, logger: Logger) async {
        guard let match else {
            await runRelay(devicePath: settings.device, logger: logger)
            return
        }
        guard let events else {
            logger.error(
                "console relay not started: console.device cannot be resolved without device events",
                metadata: ["console.device": "\(settings.device)"])
            return
        }
        // The relay starts once the first event (a full scan) resolved the device: on its path, or waiting for it.
        let (starts, start) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let value = settings.device
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var tracker = DeviceTracker()
                var watching = false
                for await event in events {
                    var changes = tracker.handle(event)
                    if !watching {
                        changes += tracker.watch(DevicePurpose.console.rawValue, match: match, purpose: .console)
                        watching = true
                        let first = self.target(after: changes, logger: logger)
                            ?? .gone(reason: "console.device = \"\(value)\" is not resolved")
                        self.use(first)
                        // A placeholder path for a relay that starts waiting: it is never opened.
                        if case .path(let p) = first { start.yield(p) } else { start.yield("/dev/null") }
                        continue
                    }
                    if let next = self.target(after: changes, logger: logger) { self.use(next) }
                }
                if !watching {
                    self.use(.gone(reason: "no device events (the device watcher stopped)"))
                    start.yield("/dev/null")
                }
                // The watcher ends only when cancelled: the relay goes on with what it has.
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
            }
            group.addTask {
                for await path in starts {
                    await self.runRelay(devicePath: path, logger: logger)
                    break
                }
            }
            // The relay ends only at shutdown (or when it cannot run at all): stop following devices then.
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Hands `target` to the relay (or keeps it for the relay about to start).
    private func use(_ target: ConsoleDeviceTarget) {
        let relay = shared.withLock {
            $0.target = target
            return $0.relay
        }
        relay?.useDevice(target)
    }

    private func runRelay(devicePath: String, logger: Logger) async {
        let c = settings
        do {
            let relay = try ConsoleRelay(
                configuration: ConsoleRelayConfiguration(
                    devicePath: devicePath,
                    serial: ConsoleRelayConfiguration.serialSettings(
                        baud: c.baud, dataBits: c.dataBits, parity: c.parity, stopBits: c.stopBits, flow: c.flow),
                    socketPath: c.socket, socketGroup: c.socketGroup, logPath: c.log, logMaximumBytes: c.logMaxBytes,
                    logKeptFiles: c.logFiles, scrollbackBytes: c.scrollback, clientBufferBytes: c.clientBuffer
                ),
                logger: logger)
            let target = shared.withLock {
                $0.relay = relay
                return $0.target
            }
            if let target { relay.useDevice(target) }
            try await relay.run()
        } catch {
            logger.error("console relay not running", metadata: ["console.device": "\(c.device)", "error": "\(error)"])
        }
        // Stay "stopped" in status; the agent goes on.
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }

    /// What the relay should do after one batch of tracker changes (nil: nothing changed).
    func target(after changes: [DeviceTrackerChange], logger: Logger) -> ConsoleDeviceTarget? {
        var next: ConsoleDeviceTarget?
        var left: String?
        for change in changes {
            switch change {
            case .found(_, let resolution):
                logger.info(
                    "console.device resolved", metadata: ["console.device": "\(settings.device)", "console.path": "\(resolution.path)"])
                next = .path(resolution.path)
            case .lost(_, let path):
                logger.warning(
                    "console adapter gone; waiting for it to come back", metadata: ["console.device": "\(settings.device)", "console.path": "\(path)"])
                left = path
                next = .gone(reason: "the console adapter at \(path) left")
            case .unresolved(_, let error):
                logger.warning(
                    "console.device matches no single device", metadata: ["console.device": "\(settings.device)", "error": "\(error)"])
                next = .gone(reason: (left.map { "the console adapter at \($0) left; " } ?? "") + error.message)
            }
        }
        return next
    }
}

extension AgentCore {
    /// `status` shows the console relay from now on.
    func attachConsole(_ console: AgentConsole) {
        consoleStatus = { console.status }
    }

    /// `link.device` / `link.interface` matches are resolved against `scan` from now on (tests).
    func useDeviceScan(_ scan: @escaping @Sendable () throws -> [DiscoveredDevice]) {
        deviceScan = scan
    }
}

extension AgentService {
    /// The console relay for `[console]` (nil without one, or when `console.device` is not a valid value: logged;
    /// the agent runs without the console then).
    func startConsole() -> AgentConsole? {
        guard let settings = config.console else { return nil }
        do {
            return try AgentConsole(settings: settings)
        } catch {
            logger.error(
                "console relay not started: console.device is not a path or a device match; fix the value (see `oob-agent devices`)",
                metadata: ["console.device": "\(settings.device)", "error": "\(error)"])
            return nil
        }
    }
}
