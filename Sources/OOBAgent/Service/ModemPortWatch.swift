import ATModem
import Logging
import Synchronization

/// Keeps `modem.port` resolved when it is `"auto"` or a device match: device events (the udev monitor, or rescans
/// where no udev daemon runs) go through a `DeviceTracker`, and ``path`` is where the modem is now — nil while it
/// is gone or the value matches nothing. The modem loop opens it there and reopens it when it moves.
final class ModemPortWatch: Sendable {
    let value: String
    let match: DeviceMatch
    private let current = Mutex<String?>(nil)

    /// - Throws: `DiscoveryError` when `value` is not a valid match.
    init(value: String) throws {
        self.value = value
        match = try DeviceMatch.parse(value)
    }

    /// Where the modem is now.
    var path: String? { current.withLock { $0 } }

    /// Feeds `events` into a tracker until they end (the first event is a full device list).
    func run(events: AsyncStream<DeviceEvent>, logger: Logger) async {
        var tracker = DeviceTracker()
        var watching = false
        for await event in events {
            var changes = tracker.handle(event)
            if !watching {
                changes += tracker.watch("modem.port", match: match, purpose: .modemPort)
                watching = true
            }
            for change in changes { apply(change, logger: logger) }
        }
    }

    func apply(_ change: DeviceTrackerChange, logger: Logger) {
        switch change {
        case .found(_, let resolution):
            current.withLock { $0 = resolution.path }
            logger.info("modem.port resolved", metadata: ["modem.port": "\(value)", "modem.device": "\(resolution.path)"])
        case .lost(_, let path):
            current.withLock { $0 = nil }
            logger.warning("modem gone; waiting for it to come back", metadata: ["modem.port": "\(value)", "modem.device": "\(path)"])
        case .unresolved(_, let error):
            current.withLock { $0 = nil }
            logger.warning("modem.port matches no single device", metadata: ["modem.port": "\(value)", "error": "\(error)"])
        }
    }
}
