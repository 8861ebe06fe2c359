// The only place in the project that imports libudev (style point 3). Each C handle has one owning class that
// releases it in deinit; a child keeps its parent alive with a strong reference.
#if os(Linux)
import CUdev

/// Owner of a `struct udev *` context.
final class UdevContext {
    let handle: OpaquePointer

    /// Creates a libudev context. The corresponding C function is `udev_new`.
    init() throws(DiscoveryError) {
        guard let h = udev_new() else {
            throw DiscoveryError(
                code: .udevUnavailable,
                message: "libudev could not be initialised (udev_new failed); is /sys mounted?")
        }
        handle = h
    }

    deinit {
        // udev_unref: drops the reference taken by udev_new.
        udev_unref(handle)
    }
}

/// Owner of a `struct udev_device *` (one reference).
final class UdevDevice {
    let handle: OpaquePointer
    let context: UdevContext

    /// Takes ownership of one reference to `handle`.
    init(owning handle: OpaquePointer, context: UdevContext) {
        self.handle = handle
        self.context = context
    }

    /// A device by sysfs path. The corresponding C function is `udev_device_new_from_syspath`.
    convenience init?(syspath: String, context: UdevContext) {
        guard let h = udev_device_new_from_syspath(context.handle, syspath) else { return nil }
        self.init(owning: h, context: context)
    }

    deinit {
        udev_device_unref(handle)
    }

    private static func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }

    var devpath: String? { Self.string(udev_device_get_devpath(handle)) }
    var syspath: String? { Self.string(udev_device_get_syspath(handle)) }
    var subsystem: String? { Self.string(udev_device_get_subsystem(handle)) }
    var devtype: String? { Self.string(udev_device_get_devtype(handle)) }
    var sysname: String? { Self.string(udev_device_get_sysname(handle)) }
    var devnode: String? { Self.string(udev_device_get_devnode(handle)) }
    var driver: String? { Self.string(udev_device_get_driver(handle)) }
    /// The event's action (`add`, `remove`, …), for devices received from a monitor.
    var action: String? { Self.string(udev_device_get_action(handle)) }

    /// A sysfs attribute (`idVendor`, `bInterfaceNumber`), trimmed. The corresponding C function is
    /// `udev_device_get_sysattr_value`.
    func sysattr(_ name: String) -> String? {
        guard let v = Self.string(udev_device_get_sysattr_value(handle, name)) else { return nil }
        var s = Substring(v)
        while let l = s.last, l == "\n" || l == " " { s = s.dropLast() }
        while let f = s.first, f == " " { s = s.dropFirst() }
        return s.isEmpty ? nil : String(s)
    }

    /// Every udev property (from the kernel uevent and, where udevd runs, from its database).
    func properties() -> [String: String] {
        var result: [String: String] = [:]
        // udev_list_entry_foreach is a macro; walk the list by hand.
        var entry = udev_device_get_properties_list_entry(handle)
        while let e = entry {
            if let name = Self.string(udev_list_entry_get_name(e)) {
                result[name] = Self.string(udev_list_entry_get_value(e)) ?? ""
            }
            entry = udev_list_entry_get_next(e)
        }
        return result
    }

    /// The `/dev` links udev made (empty without udevd).
    func devlinks() -> [String] {
        var links: [String] = []
        var entry = udev_device_get_devlinks_list_entry(handle)
        while let e = entry {
            if let name = Self.string(udev_list_entry_get_name(e)) { links.append(name) }
            entry = udev_list_entry_get_next(e)
        }
        return links
    }

    /// The nearest ancestor with this subsystem and devtype, with its own reference.
    /// The corresponding C function is `udev_device_get_parent_with_subsystem_devtype`; its result is owned by
    /// the child, so the wrapper takes a reference of its own (`udev_device_ref`).
    func parent(subsystem: String, devtype: String?) -> UdevDevice? {
        guard let p = udev_device_get_parent_with_subsystem_devtype(handle, subsystem, devtype) else { return nil }
        guard let referenced = udev_device_ref(p) else { return nil }
        return UdevDevice(owning: referenced, context: context)
    }
}

/// Owner of a `struct udev_enumerate *`.
final class UdevEnumerator {
    let handle: OpaquePointer
    let context: UdevContext

    /// Prepares an enumeration of `subsystems`. The corresponding C function is `udev_enumerate_new`.
    init(context: UdevContext, subsystems: [String]) throws(DiscoveryError) {
        guard let h = udev_enumerate_new(context.handle) else {
            throw DiscoveryError(code: .udevUnavailable, message: "libudev: udev_enumerate_new failed")
        }
        handle = h
        self.context = context
        for s in subsystems { udev_enumerate_add_match_subsystem(h, s) }
    }

    deinit {
        udev_enumerate_unref(handle)
    }

    /// Scans sysfs and returns the sysfs paths found. The corresponding C function is `udev_enumerate_scan_devices`.
    func scan() throws(DiscoveryError) -> [String] {
        let rc = udev_enumerate_scan_devices(handle)
        if rc < 0 {
            throw DiscoveryError(
                code: .udevUnavailable, message: "libudev could not scan /sys (error \(rc)); is /sys mounted?")
        }
        var paths: [String] = []
        var entry = udev_enumerate_get_list_entry(handle)
        while let e = entry {
            if let p = udev_list_entry_get_name(e) { paths.append(String(cString: p)) }
            entry = udev_list_entry_get_next(e)
        }
        return paths
    }
}

/// Owner of a `struct udev_monitor *`: udevd's processed events (netlink source "udev") or, where no udevd runs,
/// the kernel's raw uevents (source "kernel").
final class UdevMonitor {
    let handle: OpaquePointer
    let context: UdevContext

    /// Opens the monitor for `subsystems` and starts receiving. The corresponding C functions are
    /// `udev_monitor_new_from_netlink`, `udev_monitor_filter_add_match_subsystem_devtype` and
    /// `udev_monitor_enable_receiving`.
    /// - Parameter source: `"udev"` (events after udevd's rules) or `"kernel"` (raw uevents).
    init(context: UdevContext, subsystems: [String], source: String = "udev") throws(DiscoveryError) {
        guard let h = udev_monitor_new_from_netlink(context.handle, source) else {
            throw DiscoveryError(
                code: .udevUnavailable, message: "libudev: cannot open the netlink monitor (udev_monitor_new_from_netlink)")
        }
        handle = h
        self.context = context
        for s in subsystems { udev_monitor_filter_add_match_subsystem_devtype(h, s, nil) }
        let rc = udev_monitor_enable_receiving(h)
        if rc < 0 {
            throw DiscoveryError(
                code: .udevUnavailable, message: "libudev: cannot receive udev events (error \(rc))")
        }
    }

    deinit {
        udev_monitor_unref(handle)
    }

    /// The netlink descriptor to poll for readability (non-blocking, owned by the monitor).
    var fileDescriptor: CInt { udev_monitor_get_fd(handle) }

    /// The next event, or nil when none is queued. The corresponding C function is `udev_monitor_receive_device`.
    func receive() -> UdevDevice? {
        guard let d = udev_monitor_receive_device(handle) else { return nil }
        return UdevDevice(owning: d, context: context)
    }
}

@available(*, unavailable)
extension UdevContext: Sendable {}
@available(*, unavailable)
extension UdevDevice: Sendable {}
@available(*, unavailable)
extension UdevEnumerator: Sendable {}
@available(*, unavailable)
extension UdevMonitor: Sendable {}
#endif
