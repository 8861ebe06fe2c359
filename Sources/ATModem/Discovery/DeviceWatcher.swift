#if os(Linux)
public import Logging
import SerialIO
import Synchronization

/// Delivers device hotplug events: from a libudev monitor where a udev daemon runs, else from periodic rescans.
///
/// The events go to a `DeviceTracker` through `handle(_:)`, the same entry point the tests use. Each stream runs
/// its own poll thread (the project's I/O substrate); ending the stream (or the consuming task) stops the thread.
/// Without a udev daemon (`/run/udev/control` absent, e.g. in a container) the kernel's events are not processed
/// into device properties, so the watcher says so in the log and rescans every `rescanInterval` instead.
public final class DeviceWatcher: Sendable {
    private let logger: Logger
    private let rescanIntervalMilliseconds: Int
    private let controlPath: String

    /// Creates a watcher.
    /// - Parameters:
    ///   - logger: where to say which mode is used.
    ///   - rescanIntervalMilliseconds: the rescan period of the fallback mode.
    ///   - controlPath: the udev daemon's control socket, whose presence selects the monitor mode.
    public init(logger: Logger, rescanIntervalMilliseconds: Int = 5000, controlPath: String = "/run/udev/control") {
        self.logger = logger
        self.rescanIntervalMilliseconds = max(100, rescanIntervalMilliseconds)
        self.controlPath = controlPath
    }

    /// Whether this watcher will use the udev monitor (true) or rescans (false).
    public var usesMonitor: Bool { DeviceDiscovery.udevDaemonRunning(controlPath: controlPath) }

    /// Starts watching. The first element is always a full `.rescanned` list; then events as they happen.
    /// - Throws: `DiscoveryError` when the wake-up pipe or the thread cannot be created.
    public func events() throws(DiscoveryError) -> AsyncStream<DeviceEvent> {
        let wake: (read: CInt, write: CInt)
        switch discovery_pipe() {
        case .success(let fds): wake = fds
        case .failure(let errno):
            throw DiscoveryError(code: .udevUnavailable, message: "device watcher: cannot create a pipe (\(errno))")
        }
        let (stream, continuation) = AsyncStream<DeviceEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let state = WatcherState()
        continuation.onTermination = { _ in
            state.stop()
            discovery_wake(wake.write)
        }
        let monitor = usesMonitor
        let logger = self.logger
        let interval = rescanIntervalMilliseconds
        let controlPath = self.controlPath
        let started = discovery_startThread {
            defer {
                discovery_close(wake.read)
                discovery_close(wake.write)
                continuation.finish()
            }
            if monitor {
                DeviceWatcher.runMonitor(
                    wakeFD: wake.read, state: state, continuation: continuation, logger: logger,
                    rescanInterval: interval, controlPath: controlPath)
            } else {
                logger.info(
                    "no udev daemon (its control socket is missing): udev hotplug events are not available, falling back to periodic rescans",
                    metadata: ["udev.control": "\(controlPath)", "discovery.rescan_ms": "\(interval)"])
                DeviceWatcher.runRescans(
                    wakeFD: wake.read, state: state, continuation: continuation, logger: logger, interval: interval)
            }
        }
        if !started {
            discovery_close(wake.read)
            discovery_close(wake.write)
            throw DiscoveryError(code: .udevUnavailable, message: "device watcher: cannot start its thread")
        }
        return stream
    }

    /// Resolves `watches` against the devices present and again after every event, and yields what changed:
    /// first a `.found` or `.unresolved` per watch, then `.lost` / `.found` as devices leave and come back.
    /// This is the daemon's whole hotplug reaction: reopen the modem or the console on `.found`, close on `.lost`.
    /// - Parameter watches: the config keys to keep resolved.
    /// - Throws: `DiscoveryError` when the watcher cannot start.
    public func trackedChanges(_ watches: [DeviceWatch]) throws(DiscoveryError) -> AsyncStream<DeviceTrackerChange> {
        let events = try self.events()
        return AsyncStream { continuation in
            let task = Task {
                var tracker = DeviceTracker()
                var watching = false
                for await event in events {
                    var changes = tracker.handle(event)
                    if !watching {
                        for w in watches { changes += tracker.watch(w.name, match: w.match, purpose: w.purpose) }
                        watching = true
                    }
                    for change in changes { continuation.yield(change) }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Waits until `match` resolves to a present device (at once when it does now): what the daemon does before
    /// (re)opening the modem or the console, so a stick that came back as ttyUSB5 is opened there.
    /// - Parameters:
    ///   - match: the parsed config value.
    ///   - purpose: what it is for.
    /// - Returns: the resolution.
    /// - Throws: `CancellationError` when the task is cancelled while waiting; `DiscoveryError` when the watcher
    ///   cannot start.
    public func waitUntilPresent(_ match: DeviceMatch, for purpose: DevicePurpose) async throws -> DeviceResolution {
        if match.isLiteral { return try DeviceResolver.resolve(match, for: purpose, in: []) }
        for await change in try trackedChanges([DeviceWatch(name: "wanted", match: match, purpose: purpose)]) {
            if case .found(_, let resolution) = change { return resolution }
        }
        try Task.checkCancellation()
        throw DiscoveryError(code: .udevUnavailable, message: "device watcher stopped before \(purpose) = \"\(match)\" appeared")
    }

    private static func runRescans(
        wakeFD: CInt, state: WatcherState, continuation: AsyncStream<DeviceEvent>.Continuation, logger: Logger,
        interval: Int
    ) {
        // Without udevd the kernel's own uevents still arrive (in the host's network namespace): listen to them
        // for a prompt reaction, and rescan on a timer for whatever they miss (or when they cannot be had).
        var kernel: UdevMonitor? = nil
        do throws(DiscoveryError) {
            kernel = try UdevMonitor(context: try UdevContext(), subsystems: ["tty", "net", "usb"], source: "kernel")
            logger.info("listening to kernel uevents directly (no udev daemon)")
        } catch {
            logger.info("kernel uevents unavailable, rescans only", metadata: ["error": "\(error)"])
        }
        var nextRescan = 0 as Int64
        while !state.isStopped {
            let now = Monotonic.nowMilliseconds()
            if now >= nextRescan {
                do throws(DiscoveryError) {
                    continuation.yield(.rescanned(try DeviceDiscovery.scan()))
                } catch {
                    logger.info("device rescan failed", metadata: ["error": "\(error)"])
                }
                nextRescan = Monotonic.nowMilliseconds() + Int64(interval)
            }
            let wait = Int(max(0, nextRescan - Monotonic.nowMilliseconds()))
            let fds = [wakeFD] + (kernel.map { [$0.fileDescriptor] } ?? [])
            let ready = discovery_pollReadable(fds, timeoutMilliseconds: wait)
            if ready[0] { discovery_drain(wakeFD) }
            if ready.count > 1, ready[1], let kernel {
                while let device = kernel.receive() {
                    for event in DeviceDiscovery.events(from: device) { continuation.yield(event) }
                }
            }
        }
    }

    private static func runMonitor(
        wakeFD: CInt, state: WatcherState, continuation: AsyncStream<DeviceEvent>.Continuation, logger: Logger,
        rescanInterval: Int, controlPath: String
    ) {
        let monitor: UdevMonitor
        do throws(DiscoveryError) {
            monitor = try UdevMonitor(context: try UdevContext(), subsystems: ["tty", "net", "usb"])
        } catch {
            logger.info(
                "udev monitor unavailable, falling back to periodic rescans",
                metadata: ["error": "\(error)", "discovery.rescan_ms": "\(rescanInterval)"])
            runRescans(wakeFD: wakeFD, state: state, continuation: continuation, logger: logger, interval: rescanInterval)
            return
        }
        logger.info("listening to udev events for tty, net and usb devices", metadata: ["udev.control": "\(controlPath)"])
        // The baseline comes after the monitor is receiving, so nothing between the two is missed.
        do throws(DiscoveryError) {
            continuation.yield(.rescanned(try DeviceDiscovery.scan()))
        } catch {
            logger.info("device scan failed", metadata: ["error": "\(error)"])
        }
        while !state.isStopped {
            let ready = discovery_pollReadable([monitor.fileDescriptor, wakeFD], timeoutMilliseconds: 60_000)
            if ready[1] { discovery_drain(wakeFD) }
            guard ready[0] else { continue }
            while let device = monitor.receive() {
                for event in DeviceDiscovery.events(from: device) { continuation.yield(event) }
            }
        }
    }
}

/// A config value to keep resolved: its key, the parsed match and what it is for.
public struct DeviceWatch: Hashable, Sendable {
    /// The config key, e.g. `modem.port`.
    public var name: String
    /// The parsed value.
    public var match: DeviceMatch
    /// What the device is for.
    public var purpose: DevicePurpose

    /// Creates a watch.
    public init(name: String, match: DeviceMatch, purpose: DevicePurpose) {
        self.name = name
        self.match = match
        self.purpose = purpose
    }
}

extension Monotonic {
    static func nowMilliseconds() -> Int64 { now() / 1_000_000 }
}

/// The stop flag shared between a stream's termination handler and its poll thread.
final class WatcherState: Sendable {
    private let stopped = Atomic<Bool>(false)
    var isStopped: Bool { stopped.load(ordering: .acquiring) }
    func stop() { stopped.store(true, ordering: .releasing) }
}
#endif
