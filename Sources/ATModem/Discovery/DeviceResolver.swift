/// What a configuration key wants a device for: decides the kind and, for `auto`, the roles that fit.
public enum DevicePurpose: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// `modem.port`: the AT command port.
    case modemPort = "modem.port"
    /// `link.device`: the PPP data port (may be the AT port).
    case linkDevice = "link.device"
    /// `link.interface`: the modem's network interface.
    case linkInterface = "link.interface"
    /// `console.device`: the router's console cable.
    case console = "console.device"
    /// Any serial port (`[[power]] device`, a relay board's USB-serial port).
    case serialPort = "serial"

    /// tty or net.
    public var kind: DiscoveredDevice.Kind {
        self == .linkInterface ? .net : .tty
    }

    /// The roles that satisfy `auto`, best first.
    public var autoRoles: [DeviceRole] {
        switch self {
        case .modemPort: return [.atPort]
        case .linkDevice: return [.dataPort, .atPort]
        case .linkInterface: return [.network]
        case .console: return [.console]
        case .serialPort: return [.console]
        }
    }

    public var description: String { rawValue }
}

/// A match resolved to a present device.
public struct DeviceResolution: Hashable, Sendable {
    /// The path to open (`/dev/ttyUSB5`) or the interface name (`wwan0`).
    public var path: String
    /// The device, when discovery knows it (nil for a literal path it does not list, e.g. a pty).
    public var device: DiscoveredDevice?
}

/// Resolves a `DeviceMatch` against a device list (pure).
public enum DeviceResolver {
    /// Resolves `match` for `purpose` among `devices`.
    /// - Parameters:
    ///   - match: the parsed config value.
    ///   - purpose: what the device is for.
    ///   - devices: the devices present now.
    /// - Returns: the path (or interface name) and the device.
    /// - Throws: `DiscoveryError` `.noMatch` (with what is present) or `.ambiguous` (with the candidates and how to
    ///   narrow the match).
    public static func resolve(_ match: DeviceMatch, for purpose: DevicePurpose, in devices: [DiscoveredDevice])
        throws(DiscoveryError) -> DeviceResolution
    {
        let ofKind = devices.filter { $0.kind == purpose.kind }
        switch match {
        case .path(let p), .name(let p):
            return DeviceResolution(path: p, device: ofKind.first { match.matches($0) })
        case .link, .usb:
            var candidates = ofKind.filter { match.matches($0) }
            if candidates.count > 1, case .usb(let m) = match, m.role == nil {
                // Narrow by the roles the key wants (a stick with several ports and no `if=`).
                for role in purpose.autoRoles {
                    let narrowed = candidates.filter { $0.role == role }
                    if !narrowed.isEmpty {
                        candidates = narrowed
                        break
                    }
                }
            }
            return try pick(candidates, match: match, purpose: purpose, present: ofKind)
        case .auto:
            for role in purpose.autoRoles {
                let candidates = ofKind.filter { $0.role == role }
                if !candidates.isEmpty {
                    return try pick(candidates, match: match, purpose: purpose, present: ofKind)
                }
            }
            return try pick([], match: match, purpose: purpose, present: ofKind)
        }
    }

    private static func pick(
        _ candidates: [DiscoveredDevice], match: DeviceMatch, purpose: DevicePurpose, present: [DiscoveredDevice]
    ) throws(DiscoveryError) -> DeviceResolution {
        if candidates.count == 1, let only = candidates.first {
            return DeviceResolution(path: only.path ?? only.name, device: only)
        }
        if candidates.isEmpty {
            let seen =
                present.filter(\.isUSB).isEmpty
                ? "no USB \(purpose.kind == .net ? "network interface" : "serial port") is present"
                : "present: " + present.filter(\.isUSB).map(describe).joined(separator: "; ")
            let hint: String
            switch match {
            case .auto:
                hint = "plug the device in, or set \(purpose) to a path or a usb: match (`oob-agent devices` lists them)"
            default:
                hint = "check the match with `oob-agent devices`, or plug the device in"
            }
            return try fail(
                .noMatch, "\(purpose) = \"\(match)\": no device fits (\(seen)); \(hint)", match: match)
        }
        let listed = candidates.map(describe).joined(separator: "; ")
        return try fail(
            .ambiguous,
            "\(purpose) = \"\(match)\": \(candidates.count) devices fit (\(listed)); set \(purpose) to one of "
                + candidates.map { "\"\(DeviceMatch.suggestion(for: $0).map { "\($0)" } ?? ($0.path ?? $0.name))\"" }
                .joined(separator: " or ")
                + " (add serial=… to tell identical sticks apart)",
            match: match)
    }

    private static func fail(_ code: DiscoveryError.Code, _ message: String, match: DeviceMatch)
        throws(DiscoveryError) -> DeviceResolution
    {
        throw DiscoveryError(code: code, message: message, subject: "\(match)")
    }

    static func describe(_ d: DiscoveredDevice) -> String {
        var s = d.path ?? d.name
        if let v = d.vendorID, let p = d.productID { s += " usb:\(v):\(p)" }
        if let i = d.interfaceNumber { s += ",if=\(i)" }
        s += " (\(d.role))"
        return s
    }
}
