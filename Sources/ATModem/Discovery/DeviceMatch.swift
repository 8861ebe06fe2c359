/// How a configuration value names a device: a fixed path, or a description that discovery resolves against the
/// devices present now (and again whenever they come back under another name).
///
/// Syntax (documented in docs/devices.md):
/// - `auto` — the one device whose guessed role fits the key (`modem.port` wants the AT port, `link.device` the
///   data port, `link.interface` the modem's network interface, `console.device` a USB-serial adapter).
/// - `/dev/serial/by-id/…` or `/dev/serial/by-path/…` — udev's stable link, matched against the devices' links.
/// - any other absolute path (`/dev/ttyUSB2`, `/dev/pts/7`) — used as it is, no discovery.
/// - `usb:VVVV[:PPPP][,if=NN][,serial=S][,role=R]` — USB vendor id, product id, interface number (hex, as
///   `ID_USB_INTERFACE_NUM`), serial number, role (`at`, `data`, `network`, `console`, …).
/// - `serial:S[,if=NN]` — the USB serial number alone (any vendor).
/// - a bare interface name (`wwan0`, `ppp0`) — used as it is.
public enum DeviceMatch: Hashable, Sendable, CustomStringConvertible {
    /// Find the device by its guessed role.
    case auto
    /// A literal device path, used without discovery.
    case path(String)
    /// A literal network interface name, used without discovery.
    case name(String)
    /// A udev link (`/dev/serial/by-id/…`), resolved against the devices' links.
    case link(String)
    /// USB identity fields.
    case usb(USBMatch)

    /// USB identity fields of a match; nil fields match anything.
    public struct USBMatch: Hashable, Sendable {
        /// Vendor id, four lowercase hex digits.
        public var vendorID: String?
        /// Product id, four lowercase hex digits.
        public var productID: String?
        /// Interface number, two lowercase hex digits.
        public var interfaceNumber: String?
        /// USB serial number (`ID_SERIAL_SHORT`), compared exactly.
        public var serial: String?
        /// Guessed role the device must have.
        public var role: DeviceRole?

        /// Creates a USB match.
        public init(
            vendorID: String? = nil, productID: String? = nil, interfaceNumber: String? = nil, serial: String? = nil,
            role: DeviceRole? = nil
        ) {
            self.vendorID = vendorID
            self.productID = productID
            self.interfaceNumber = interfaceNumber
            self.serial = serial
            self.role = role
        }

        /// Whether `device` has every field this match sets.
        public func matches(_ device: DiscoveredDevice) -> Bool {
            if let vendorID, device.vendorID != vendorID { return false }
            if let productID, device.productID != productID { return false }
            if let interfaceNumber, device.interfaceNumber != interfaceNumber { return false }
            if let serial, device.serial != serial, device.properties["ID_SERIAL"] != serial { return false }
            if let role, device.role != role { return false }
            return true
        }
    }

    /// Parses a configuration value.
    /// - Parameter text: the value, e.g. `"auto"`, `"/dev/ttyUSB2"`, `"usb:12d1:1001,if=02"`.
    /// - Throws: `DiscoveryError` `.badMatch` naming the bad part and the accepted forms.
    public static func parse(_ text: String) throws(DiscoveryError) -> DeviceMatch {
        let value = text.trimmingWhitespace()
        func bad(_ why: String) -> DiscoveryError {
            DiscoveryError(
                code: .badMatch,
                message: "device \"\(text)\": \(why); write \"auto\", an absolute path such as /dev/ttyUSB2 or "
                    + "/dev/serial/by-id/…, or a match such as \"usb:12d1:1001,if=02\" (see docs/devices.md)",
                subject: text)
        }
        if value.isEmpty { throw bad("empty value") }
        if value.lowercased() == "auto" { return .auto }
        if value.hasPrefix("/") {
            if value.hasPrefix("/dev/serial/by-id/") || value.hasPrefix("/dev/serial/by-path/") {
                return .link(value)
            }
            return .path(value)
        }
        let lower = value.lowercased()
        if lower.hasPrefix("usb:") || lower.hasPrefix("serial:") {
            let isSerial = lower.hasPrefix("serial:")
            let body = value.dropFirst(isSerial ? 7 : 4)
            var parts = body.split(separator: ",", omittingEmptySubsequences: false).map {
                String($0).trimmingWhitespace()
            }
            var match = USBMatch()
            if isSerial {
                guard let first = parts.first, !first.isEmpty else { throw bad("no serial number after \"serial:\"") }
                match.serial = first
                parts.removeFirst()
            } else {
                let ids = (parts.first ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                parts.removeFirst()
                guard ids.count <= 2, let vendor = ids.first, !vendor.isEmpty else {
                    throw bad("expected usb:VENDOR[:PRODUCT] with four hex digits each")
                }
                guard let v = DiscoveredDevice.normalizedHexID(vendor) else {
                    throw bad("vendor id \"\(vendor)\" is not 1–4 hex digits")
                }
                match.vendorID = v
                if ids.count == 2 {
                    guard let p = DiscoveredDevice.normalizedHexID(ids[1]) else {
                        throw bad("product id \"\(ids[1])\" is not 1–4 hex digits")
                    }
                    match.productID = p
                }
            }
            for part in parts {
                guard let eq = part.firstIndex(of: "=") else { throw bad("\"\(part)\" is not KEY=VALUE") }
                let key = part[..<eq].lowercased().trimmingWhitespace()
                let val = String(part[part.index(after: eq)...]).trimmingWhitespace()
                guard !val.isEmpty else { throw bad("\(key)= has no value") }
                switch key {
                case "if", "interface":
                    guard let n = DiscoveredDevice.normalizedInterface(val) else {
                        throw bad("interface \"\(val)\" is not a 1–2 digit hex number (as in ID_USB_INTERFACE_NUM)")
                    }
                    match.interfaceNumber = n
                case "serial":
                    match.serial = val
                case "role":
                    guard let role = DeviceRole(rawValue: val.lowercased()) else {
                        throw bad(
                            "role \"\(val)\" is unknown (one of "
                                + DeviceRole.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                    }
                    match.role = role
                default:
                    throw bad("unknown key \"\(key)\" (known: if, serial, role)")
                }
            }
            return .usb(match)
        }
        if value.contains("/") || value.contains(":") || value.contains(" ") {
            throw bad("not a path (paths start with /) and not a known match form")
        }
        return .name(value)
    }

    /// Whether the value is used as written, without discovery.
    public var isLiteral: Bool {
        switch self {
        case .path, .name: return true
        case .auto, .link, .usb: return false
        }
    }

    /// Whether `device` satisfies this match (for `.auto` every device does; the resolver filters by role).
    public func matches(_ device: DiscoveredDevice) -> Bool {
        switch self {
        case .auto: return true
        case .path(let p): return device.path == p || device.devlinks.contains(p)
        case .name(let n): return device.name == n
        case .link(let l): return device.devlinks.contains(l)
        case .usb(let m): return m.matches(device)
        }
    }

    /// The canonical configuration text.
    public var description: String {
        switch self {
        case .auto: return "auto"
        case .path(let p), .link(let p), .name(let p): return p
        case .usb(let m):
            var s: String
            if let v = m.vendorID {
                s = "usb:\(v)"
                if let p = m.productID { s += ":\(p)" }
                if let i = m.interfaceNumber { s += ",if=\(i)" }
                if let serial = m.serial { s += ",serial=\(serial)" }
            } else {
                s = "serial:\(m.serial ?? "")"
                if let i = m.interfaceNumber { s += ",if=\(i)" }
            }
            if let r = m.role { s += ",role=\(r.rawValue)" }
            return s
        }
    }

    /// The match a user can paste into the config for `device`: vendor, product and interface number.
    public static func suggestion(for device: DiscoveredDevice) -> DeviceMatch? {
        guard let v = device.vendorID else { return nil }
        return .usb(USBMatch(vendorID: v, productID: device.productID, interfaceNumber: device.interfaceNumber))
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
