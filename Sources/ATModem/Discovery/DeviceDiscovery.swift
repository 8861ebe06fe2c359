#if os(Linux)
/// Lists the tty and network devices that belong to USB devices, through libudev, plus modems still in storage mode.
///
/// Works with and without a udev daemon: where udevd runs, its properties (`ID_*`, `DEVLINKS`, ModemManager tags)
/// are used as they are; where it does not (containers), the same keys are filled from sysfs attributes of the
/// USB interface and device, and `/dev/serial/by-id` is read directly.
public enum DeviceDiscovery {
    /// Scans the devices present now.
    /// - Parameter includeNonUSB: also list ttys and interfaces that are not on USB (`ttyS0`, `lo`, ptys are never
    ///   listed: they have no device in sysfs).
    /// - Returns: the devices, sorted by kind and name.
    /// - Throws: `DiscoveryError` `.udevUnavailable` when libudev cannot scan /sys.
    public static func scan(includeNonUSB: Bool = false) throws(DiscoveryError) -> [DiscoveredDevice] {
        let context = try UdevContext()
        let links = linkMap()
        var result: [DiscoveredDevice] = []
        let enumerator = try UdevEnumerator(context: context, subsystems: ["tty", "net"])
        for syspath in try enumerator.scan() {
            guard let device = UdevDevice(syspath: syspath, context: context),
                let record = DiscoveredDevice(properties: properties(of: device, links: links))
            else { continue }
            if record.isUSB || includeNonUSB { result.append(record) }
        }
        result += try storageModeModems(context: context)
        return result.sorted { ($0.kind.rawValue, $0.name) < ($1.kind.rawValue, $1.name) }
    }

    /// Parses a config value and resolves it against the devices present now; a literal path comes back as it is.
    /// - Parameters:
    ///   - value: e.g. `"auto"`, `"usb:12d1:1001,if=02"`, `"/dev/ttyUSB2"`.
    ///   - purpose: what the key wants (`.modemPort` for `modem.port`, …).
    /// - Throws: `DiscoveryError` (`.badMatch`, `.noMatch`, `.ambiguous`, `.udevUnavailable`) with the fix.
    public static func resolve(_ value: String, for purpose: DevicePurpose) throws(DiscoveryError) -> DeviceResolution {
        let match = try DeviceMatch.parse(value)
        if match.isLiteral { return try DeviceResolver.resolve(match, for: purpose, in: []) }
        return try DeviceResolver.resolve(match, for: purpose, in: try scan())
    }

    /// The kernel names of every tty device libudev enumerates (`console`, `tty0`, `ttyS0`, `ttyUSB0`, …).
    public static func ttyNames() throws(DiscoveryError) -> [String] {
        let context = try UdevContext()
        let enumerator = try UdevEnumerator(context: context, subsystems: ["tty"])
        return try enumerator.scan().compactMap { UdevDevice(syspath: $0, context: context)?.sysname }.sorted()
    }

    /// Whether a udev daemon runs here (it creates `/run/udev/control`); without one, no hotplug events arrive.
    public static func udevDaemonRunning(controlPath: String = "/run/udev/control") -> Bool {
        discovery_exists(controlPath)
    }

    // MARK: - Property sets

    /// The device's udev properties, completed from sysfs where udevd did not fill them in.
    static func properties(of device: UdevDevice, links: [String: [String]]) -> [String: String] {
        var p = device.properties()
        func fill(_ key: String, _ value: String?) {
            if let value, !value.isEmpty, (p[key] ?? "").isEmpty { p[key] = value }
        }
        fill("DEVPATH", device.devpath)
        fill("SUBSYSTEM", device.subsystem)
        if device.subsystem == "net" { fill("INTERFACE", device.sysname) }
        if device.subsystem == "tty" { fill("DEVNAME", device.devnode ?? device.sysname.map { "/dev/" + $0 }) }
        if let usbInterface = device.parent(subsystem: "usb", devtype: "usb_interface") {
            fill("ID_BUS", "usb")
            fill("ID_USB_DRIVER", usbInterface.driver)
            fill("ID_USB_INTERFACE_NUM", usbInterface.sysattr("bInterfaceNumber"))
            if let c = usbInterface.sysattr("bInterfaceClass"), let s = usbInterface.sysattr("bInterfaceSubClass"),
                let pr = usbInterface.sysattr("bInterfaceProtocol")
            {
                fill("OOB_USB_INTERFACE_CLASS", (c + s + pr).lowercased())
            }
        }
        if let usbDevice = device.parent(subsystem: "usb", devtype: "usb_device") {
            fill("ID_BUS", "usb")
            fill("ID_VENDOR_ID", usbDevice.sysattr("idVendor"))
            fill("ID_MODEL_ID", usbDevice.sysattr("idProduct"))
            fill("ID_VENDOR_ENC", usbDevice.sysattr("manufacturer"))
            fill("ID_MODEL_ENC", usbDevice.sysattr("product"))
            fill("ID_SERIAL_SHORT", usbDevice.sysattr("serial"))
        }
        var devlinks = device.devlinks()
        if devlinks.isEmpty, let node = p["DEVNAME"], let real = discovery_realpath(node) {
            devlinks = links[real] ?? []
        }
        fill("DEVLINKS", devlinks.joined(separator: " "))
        return p
    }

    /// `/dev/serial/by-id` and `/dev/serial/by-path` links by the node they point to.
    static func linkMap() -> [String: [String]] {
        var map: [String: [String]] = [:]
        for dir in ["/dev/serial/by-id", "/dev/serial/by-path"] {
            for name in discovery_listDirectory(dir).sorted() {
                let link = dir + "/" + name
                if let target = discovery_realpath(link) { map[target, default: []].append(link) }
            }
        }
        return map
    }

    /// USB devices of modem makers whose only interfaces are mass storage: sticks waiting for usb_modeswitch.
    static func storageModeModems(context: UdevContext) throws(DiscoveryError) -> [DiscoveredDevice] {
        let enumerator = try UdevEnumerator(context: context, subsystems: ["usb"])
        var interfaceClasses: [String: [String]] = [:]  // usb_device syspath -> ["080650", …]
        var usbDevices: [UdevDevice] = []
        for syspath in try enumerator.scan() {
            guard let d = UdevDevice(syspath: syspath, context: context) else { continue }
            switch d.devtype {
            case "usb_interface":
                let parentPath = String(syspath[..<(syspath.lastIndex(of: "/") ?? syspath.endIndex)])
                let c = (d.sysattr("bInterfaceClass") ?? "??") + (d.sysattr("bInterfaceSubClass") ?? "??")
                    + (d.sysattr("bInterfaceProtocol") ?? "??")
                interfaceClasses[parentPath, default: []].append(c.lowercased())
            case "usb_device":
                usbDevices.append(d)
            default:
                break
            }
        }
        var found: [DiscoveredDevice] = []
        for d in usbDevices {
            guard let syspath = d.syspath, let vendor = d.sysattr("idVendor"), let product = d.sysattr("idProduct")
            else { continue }
            var p = d.properties()
            p["SUBSYSTEM"] = "usb"
            p["DEVPATH"] = d.devpath ?? syspath
            p["ID_VENDOR_ID"] = p["ID_VENDOR_ID"] ?? vendor
            p["ID_MODEL_ID"] = p["ID_MODEL_ID"] ?? product
            if p["ID_VENDOR_ENC"] == nil { p["ID_VENDOR_ENC"] = d.sysattr("manufacturer") }
            if p["ID_MODEL_ENC"] == nil { p["ID_MODEL_ENC"] = d.sysattr("product") }
            if p["ID_SERIAL_SHORT"] == nil { p["ID_SERIAL_SHORT"] = d.sysattr("serial") }
            if p["ID_USB_INTERFACES"] == nil, let classes = interfaceClasses[syspath] {
                p["ID_USB_INTERFACES"] = ":" + classes.joined(separator: ":") + ":"
            }
            if let record = DiscoveredDevice(properties: p), record.role == .needsModeSwitch {
                found.append(record)
            }
        }
        return found
    }

    /// Turns a monitor event into `DeviceEvent`s (none for events discovery does not care about; a rename,
    /// udev's `move`, is the old path's removal and the new one's arrival).
    static func events(from device: UdevDevice) -> [DeviceEvent] {
        guard let action = device.action, let devpath = device.devpath else { return [] }
        switch action {
        case "remove":
            return [.removed(syspath: devpath)]
        case "add", "change", "bind", "move":
            let p = properties(of: device, links: linkMap())
            guard let record = DiscoveredDevice(properties: p) else { return [] }
            if record.kind == .usb && record.role != .needsModeSwitch { return [] }
            var events: [DeviceEvent] = []
            if action == "move", let old = p["DEVPATH_OLD"], !old.isEmpty { events.append(.removed(syspath: old)) }
            events.append(action == "change" ? .changed(record) : .added(record))
            return events
        default:
            return []
        }
    }
}
#endif
