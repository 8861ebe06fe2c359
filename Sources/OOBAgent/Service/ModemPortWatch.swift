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
    /// The waits of ``waitUntilMoved(from:)``: the path each waits to leave, and its continuation.
    private let moveWaiters = Mutex<(next: Int, waiting: [Int: (from: String, continuation: CheckedContinuation<Void, Never>)])>(
        (0, [:]))

    /// - Throws: `DiscoveryError` when `value` is not a valid match.
    init(value: String) throws {
        self.value = value
        match = try DeviceMatch.parse(value)
    }

    /// Where the modem is now.
    var path: String? { current.withLock { $0 } }

    /// Returns once the modem is found under a path other than `from` (a USB reset renamed it), or at once when
    /// the task is cancelled. No timer: it is woken by the device event that moved it.
    func waitUntilMoved(from path: String) async {
        let id = moveWaiters.withLock { state in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                // Registered under the lock that apply() takes after every change, so none is missed.
                let resumeNow = moveWaiters.withLock { state in
                    if Task.isCancelled || hasMoved(from: path) { return true }
                    state.waiting[id] = (path, c)
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            moveWaiters.withLock { $0.waiting.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    private func hasMoved(from path: String) -> Bool {
        if let now = self.path, now != path { return true }
        return false
    }

    /// Resumes the waits whose modem has moved.
    private func wakeMoveWaiters() {
        let ready = moveWaiters.withLock { state in
            let moved = state.waiting.filter { hasMoved(from: $0.value.from) }
            for id in moved.keys { state.waiting.removeValue(forKey: id) }
            return moved.values.map(\.continuation)
        }
        for c in ready { c.resume() }
    }

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
        wakeMoveWaiters()
    }
}
