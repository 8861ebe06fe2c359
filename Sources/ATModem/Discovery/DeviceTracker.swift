/// A change in the device list, from the udev monitor or from a rescan.
public enum DeviceEvent: Hashable, Sendable {
    /// A device appeared (udev `add`, or `bind` of its interface).
    case added(DiscoveredDevice)
    /// A device's properties changed (udev `change`).
    case changed(DiscoveredDevice)
    /// A device went away (udev `remove`), by sysfs path.
    case removed(syspath: String)
    /// A full rescan: the complete list of devices present now (the fallback without a udev daemon).
    case rescanned([DiscoveredDevice])
}

/// What a watched configuration value now resolves to.
public enum DeviceTrackerChange: Hashable, Sendable {
    /// The watched device is present at `resolution.path`: at start, or after it came back (maybe renamed).
    case found(watch: String, resolution: DeviceResolution)
    /// The watched device went away; it was at `path`.
    case lost(watch: String, path: String)
    /// The value resolves to no device, or to several; the error says which and how to fix it.
    case unresolved(watch: String, error: DiscoveryError)
}

/// Keeps the device list and resolves watched config values against it, event by event (pure value type, no I/O).
///
/// The udev monitor, the rescan fallback and the tests all feed it through `handle(_:)`; the daemon reacts to the
/// returned changes (reopen the modem at the new path, restart the console relay).
/// A watch that is resolved stays on its device while that device is present and still matches, even if another
/// candidate appears; it moves only after the device left.
public struct DeviceTracker: Sendable {
    private enum WatchState: Sendable {
        /// Not resolved; the last error message reported, so the same one is not repeated on every event.
        case unresolved(lastMessage: String?)
        /// Resolved to a device or a literal path.
        case resolved(DeviceResolution)
    }

    private struct Watch: Sendable {
        var match: DeviceMatch
        var purpose: DevicePurpose
        var state: WatchState
    }

    /// The devices present, by sysfs path.
    public private(set) var devices: [String: DiscoveredDevice]
    private var watches: [String: Watch] = [:]
    private var watchOrder: [String] = []
    /// Every device node or name seen so far: a literal path is "lost" only if it belonged to a device we saw.
    private var seenPaths: Set<String> = []

    /// Creates a tracker with the devices present now.
    public init(devices: [DiscoveredDevice] = []) {
        self.devices = Dictionary(devices.map { ($0.syspath, $0) }, uniquingKeysWith: { _, new in new })
        for d in devices { seenPaths.insert(d.path ?? d.name) }
    }

    /// Starts watching a config value; returns its first resolution (or why there is none).
    /// - Parameters:
    ///   - name: the config key, e.g. `modem.port`.
    ///   - match: the parsed value.
    ///   - purpose: what it is for.
    public mutating func watch(_ name: String, match: DeviceMatch, purpose: DevicePurpose) -> [DeviceTrackerChange] {
        if watches[name] == nil { watchOrder.append(name) }
        watches[name] = Watch(match: match, purpose: purpose, state: .unresolved(lastMessage: nil))
        return reevaluate(name)
    }

    /// The current resolution of a watch, nil while unresolved.
    public func resolution(of name: String) -> DeviceResolution? {
        guard let w = watches[name], case .resolved(let r) = w.state else { return nil }
        return r
    }

    /// Applies one event and returns what changed for the watches, in watch order.
    public mutating func handle(_ event: DeviceEvent) -> [DeviceTrackerChange] {
        switch event {
        case .added(let d), .changed(let d):
            devices[d.syspath] = d
            seenPaths.insert(d.path ?? d.name)
        case .removed(let syspath):
            devices[syspath] = nil
            // A removed USB interface or device takes its children with it.
            let prefix = syspath.hasSuffix("/") ? syspath : syspath + "/"
            for key in devices.keys where key.hasPrefix(prefix) { devices[key] = nil }
        case .rescanned(let list):
            devices = Dictionary(list.map { ($0.syspath, $0) }, uniquingKeysWith: { _, new in new })
            for d in list { seenPaths.insert(d.path ?? d.name) }
        }
        var changes: [DeviceTrackerChange] = []
        for name in watchOrder { changes += reevaluate(name) }
        return changes
    }

    private mutating func reevaluate(_ name: String) -> [DeviceTrackerChange] {
        guard var w = watches[name] else { return [] }
        defer { watches[name] = w }
        let present = devices.values.sorted { $0.syspath < $1.syspath }

        // A resolved watch keeps its device while that device is there and still matches.
        if case .resolved(let current) = w.state {
            if let device = current.device, let now = devices[device.syspath], w.match.matches(now),
                now.path ?? now.name == current.path
            {
                return []
            }
            if current.device == nil, w.match.isLiteral,
                !seenPaths.contains(current.path) || present.contains(where: { w.match.matches($0) })
            {
                return []
            }
        }

        let outcome: Result<DeviceResolution, DiscoveryError>
        if w.match.isLiteral {
            let p = "\(w.match)"
            let owner = present.first { $0.kind == w.purpose.kind && w.match.matches($0) }
            if owner == nil, seenPaths.contains(p) {
                outcome = .failure(
                    DiscoveryError(
                        code: .noMatch, message: "\(w.purpose) = \"\(p)\": the device is gone (unplugged or reset)",
                        subject: p))
            } else {
                outcome = .success(DeviceResolution(path: p, device: owner))
            }
        } else {
            do throws(DiscoveryError) {
                outcome = .success(try DeviceResolver.resolve(w.match, for: w.purpose, in: present))
            } catch {
                outcome = .failure(error)
            }
        }

        var changes: [DeviceTrackerChange] = []
        switch (w.state, outcome) {
        case (.resolved(let old), .success(let new)):
            if old.path != new.path || old.device?.syspath != new.device?.syspath {
                changes.append(.lost(watch: name, path: old.path))
                changes.append(.found(watch: name, resolution: new))
            }
            w.state = .resolved(new)
        case (.unresolved, .success(let new)):
            changes.append(.found(watch: name, resolution: new))
            w.state = .resolved(new)
        case (.resolved(let old), .failure(let error)):
            changes.append(.lost(watch: name, path: old.path))
            changes.append(.unresolved(watch: name, error: error))
            w.state = .unresolved(lastMessage: error.message)
        case (.unresolved(let last), .failure(let error)):
            if last != error.message {
                changes.append(.unresolved(watch: name, error: error))
            }
            w.state = .unresolved(lastMessage: error.message)
        }
        return changes
    }
}
