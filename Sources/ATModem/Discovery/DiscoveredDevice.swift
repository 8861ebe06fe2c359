/// What a device is for, as far as discovery can tell.
public enum DeviceRole: String, Hashable, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The port to send AT commands and read SMS on (`modem.port`).
    case atPort = "at"
    /// The modem's data port, for PPP (`link.device`); it usually answers AT too.
    case dataPort = "data"
    /// A network interface of a modem (HiLink/RNDIS/NCM/QMI/MBIM), for `link.mode = "interface"`.
    case network
    /// A USB-serial adapter: the usual router console cable (`console.device`).
    case console
    /// A modem's diagnostics (QCDM/DM) port: never talk AT to it.
    case diagnostic
    /// A modem's GPS/NMEA port.
    case gps
    /// A modem port whose function is unknown: `devices --probe` tells whether it answers AT.
    case candidate
    /// A modem still in its CD-ROM / mass-storage mode: it needs usb_modeswitch before it has any port.
    case needsModeSwitch = "needs_modeswitch"
    /// Anything else.
    case other

    public var description: String {
        switch self {
        case .atPort: return "AT port"
        case .dataPort: return "data (PPP) port"
        case .network: return "network interface"
        case .console: return "console adapter"
        case .diagnostic: return "diagnostics port"
        case .gps: return "GPS port"
        case .candidate: return "modem port (probe to tell)"
        case .needsModeSwitch: return "modem in storage mode"
        case .other: return "other"
        }
    }
}

/// How sure a role guess is.
public enum RoleConfidence: String, Hashable, Sendable, Codable {
    /// ModemManager's own udev tags, the driver's class, or a probe said so.
    case certain
    /// The vendor's usual interface layout says so.
    case likely
    /// A fallback; probe or configure explicitly.
    case guess
}

/// One tty, network interface or USB device found by discovery, reduced to what a user and the matcher need.
///
/// Built from a udev property set only (`init(properties:)`), so fixtures written down from `udevadm info` and live
/// libudev enumeration go through the same code.
public struct DiscoveredDevice: Hashable, Sendable {
    /// Which kernel subsystem the device belongs to.
    public enum Kind: String, Hashable, Sendable, Codable {
        case tty, net, usb
    }

    /// tty, net, or usb (for a modem in storage mode, which has neither).
    public var kind: Kind
    /// The sysfs device path (`DEVPATH`), unique while the device is present.
    public var syspath: String
    /// The kernel name: `ttyUSB2`, `wwan0`, `1-1.4`.
    public var name: String
    /// The device node, for ttys (`/dev/ttyUSB2`).
    public var path: String?
    /// USB vendor id, four lowercase hex digits.
    public var vendorID: String?
    /// USB product id, four lowercase hex digits.
    public var productID: String?
    /// The USB manufacturer string.
    public var manufacturer: String?
    /// The USB product string.
    public var model: String?
    /// The USB serial number string.
    public var serial: String?
    /// The USB interface number, two hex digits as in `ID_USB_INTERFACE_NUM` (`02`).
    public var interfaceNumber: String?
    /// The kernel driver of the USB interface (`option`, `cdc_ether`, `ftdi_sio`, …).
    public var driver: String?
    /// The `/dev/serial/by-id/…` link, when udev made one.
    public var byIDPath: String?
    /// Every `/dev` link udev made for it.
    public var devlinks: [String]
    /// The sysfs path of the physical USB device it belongs to (groups a modem's ports).
    public var usbDevicePath: String?
    /// The guessed role.
    public var role: DeviceRole
    /// How sure the guess is.
    public var confidence: RoleConfidence
    /// Why that role was guessed, for the `devices` listing.
    public var reason: String
    /// What to do about it, when something must be done (a stick in storage mode).
    public var fix: String?
    /// Whether udev tags it `ID_MM_DEVICE_IGNORE=1` (ModemManager keeps off it).
    public var ignoredByModemManager: Bool
    /// The raw property set it was built from.
    public var properties: [String: String]

    /// Whether the device sits on USB.
    public var isUSB: Bool { usbDevicePath != nil || properties["ID_BUS"] == "usb" }

    /// The path a user would put in the config for it: the by-id link when there is one, else the node or name.
    public var preferredReference: String { byIDPath ?? path ?? name }

    /// Builds the record from a property set and guesses its role.
    /// - Parameter properties: `udevadm info` style properties (`SUBSYSTEM`, `DEVPATH`, `DEVNAME`, `ID_*`, …).
    /// - Returns: nil when the set lacks `DEVPATH` or names a subsystem other than tty, net or usb.
    public init?(properties: [String: String]) {
        guard let devpath = properties["DEVPATH"], !devpath.isEmpty else { return nil }
        let subsystem = properties["SUBSYSTEM"] ?? ""
        guard let kind = Kind(rawValue: subsystem) else { return nil }
        self.kind = kind
        self.syspath = devpath
        self.properties = properties
        let lastComponent = devpath.split(separator: "/").last.map(String.init) ?? devpath
        switch kind {
        case .tty:
            let devname = properties["DEVNAME"] ?? lastComponent
            self.path = devname.hasPrefix("/") ? devname : "/dev/" + devname
            self.name = self.path.map { String($0.split(separator: "/").last ?? "") } ?? lastComponent
        case .net:
            self.path = nil
            self.name = properties["INTERFACE"] ?? lastComponent
        case .usb:
            self.path = properties["DEVNAME"].map { $0.hasPrefix("/") ? $0 : "/dev/" + $0 }
            self.name = lastComponent
        }
        let usbLayout = DiscoveredDevice.usbLayout(devpath: devpath)
        self.usbDevicePath = kind == .usb ? devpath : usbLayout?.device
        self.vendorID = DiscoveredDevice.normalizedHexID(properties["ID_VENDOR_ID"] ?? properties["ID_USB_VENDOR_ID"])
        self.productID = DiscoveredDevice.normalizedHexID(properties["ID_MODEL_ID"] ?? properties["ID_USB_MODEL_ID"])
        self.manufacturer = DiscoveredDevice.text(properties, encoded: "ID_VENDOR_ENC", plain: "ID_VENDOR")
        self.model = DiscoveredDevice.text(properties, encoded: "ID_MODEL_ENC", plain: "ID_MODEL")
        self.serial = properties["ID_SERIAL_SHORT"] ?? properties["ID_USB_SERIAL_SHORT"]
        self.interfaceNumber = DiscoveredDevice.normalizedInterface(
            properties["ID_USB_INTERFACE_NUM"] ?? properties["ID_IFACE"] ?? usbLayout?.interface)
        self.driver = properties["ID_USB_DRIVER"] ?? properties["ID_NET_DRIVER"] ?? properties["DRIVER"]
        self.devlinks = (properties["DEVLINKS"] ?? "").split(separator: " ").map(String.init)
        self.byIDPath = devlinks.first { $0.hasPrefix("/dev/serial/by-id/") }
        self.ignoredByModemManager = properties["ID_MM_DEVICE_IGNORE"] == "1"
        let guess = DeviceRoleGuesser.guess(
            kind: kind, vendorID: vendorID, productID: productID, interfaceNumber: interfaceNumber,
            driver: driver, properties: properties, isUSB: usbLayout != nil || properties["ID_BUS"] == "usb")
        self.role = guess.role
        self.confidence = guess.confidence
        self.reason = guess.reason
        self.fix = guess.fix
    }

    // MARK: - Pure helpers

    /// Splits a sysfs path at its USB interface component (`1-7:1.3`): the device path before it and the
    /// interface number (hex) after the dot.
    static func usbLayout(devpath: String) -> (device: String, interface: String)? {
        let parts = devpath.split(separator: "/", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() where i > 0 {
            guard let colon = part.firstIndex(of: ":") else { continue }
            let head = part[..<colon]
            let tail = part[part.index(after: colon)...]
            guard head.first?.isNumber == true, head.contains("-"),
                head.allSatisfy({ $0.isNumber || $0 == "-" || $0 == "." })
            else { continue }
            // The kernel names interfaces BUS-PORT:CONFIG.IFNUM with IFNUM in decimal ("2-3:1.10"), while
            // bInterfaceNumber and ID_USB_INTERFACE_NUM are hex ("0a").
            let pieces = tail.split(separator: ".")
            guard pieces.count == 2, let number = Int(pieces[1]), Int(pieces[0]) != nil, (0...255).contains(number)
            else {
                continue
            }
            let hex = String(number, radix: 16)
            return (parts[0..<i].joined(separator: "/"), hex.count == 1 ? "0" + hex : hex)
        }
        return nil
    }

    static func normalizedHexID(_ value: String?) -> String? {
        guard var v = value?.lowercased(), !v.isEmpty else { return nil }
        if v.hasPrefix("0x") { v.removeFirst(2) }
        guard !v.isEmpty, v.count <= 4, v.allSatisfy(\.isHexDigit) else { return nil }
        return String(repeating: "0", count: 4 - v.count) + v
    }

    static func normalizedInterface(_ value: String?) -> String? {
        guard let v = value?.lowercased(), !v.isEmpty, v.count <= 2, v.allSatisfy(\.isHexDigit) else { return nil }
        return v.count == 1 ? "0" + v : v
    }

    static func text(_ properties: [String: String], encoded: String, plain: String) -> String? {
        if let e = properties[encoded], !e.isEmpty {
            return UdevProperties.decodeEscapes(e).trimmingSpaces()
        }
        if let p = properties[plain], !p.isEmpty {
            return p.replacingUnderscores()
        }
        return nil
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }

    fileprivate func replacingUnderscores() -> String {
        String(map { $0 == "_" ? " " : $0 })
    }
}
