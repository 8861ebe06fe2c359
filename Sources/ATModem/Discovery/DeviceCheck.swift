#if os(Linux)
/// One line of `oob-agent check` about a device key.
public struct DeviceCheckFinding: Hashable, Sendable, CustomStringConvertible {
    /// ok, warning or problem (the same words as `ModemManagerFinding`).
    public var severity: ModemManagerFinding.Severity
    /// The config key, e.g. `modem.port`.
    public var key: String
    /// What was found.
    public var message: String
    /// What to do, for warnings and problems.
    public var fix: String?

    public var description: String {
        let text = fix.map { "\(message); fix: \($0)" } ?? message
        return text.hasPrefix(key) ? text : "\(key): \(text)"
    }
}

/// The device part of `oob-agent check`: each configured device value parses, resolves to a present device, and
/// (for the modem) ModemManager keeps off it.
public enum DeviceCheck {
    /// Checks `keys` against the devices present now.
    /// - Parameters:
    ///   - keys: (config key, value as written, purpose), e.g. `("modem.port", "usb:12d1:1001,if=02", .modemPort)`.
    ///   - devices: the devices present (default: a fresh libudev scan).
    /// - Returns: one or more findings per key, plus the ModemManager findings for `modem.port`.
    public static func run(
        keys: [(key: String, value: String, purpose: DevicePurpose)], devices: [DiscoveredDevice]? = nil
    ) -> [DeviceCheckFinding] {
        var findings: [DeviceCheckFinding] = []
        let present: [DiscoveredDevice]
        if let devices {
            present = devices
        } else {
            do throws(DiscoveryError) {
                present = try DeviceDiscovery.scan(includeNonUSB: true)
            } catch {
                return [DeviceCheckFinding(severity: .problem, key: "devices", message: error.message, fix: nil)]
            }
        }
        for (key, value, purpose) in keys {
            let match: DeviceMatch
            do throws(DiscoveryError) {
                match = try DeviceMatch.parse(value)
            } catch {
                findings.append(DeviceCheckFinding(severity: .problem, key: key, message: error.message, fix: nil))
                continue
            }
            let resolution: DeviceResolution
            do throws(DiscoveryError) {
                resolution = try DeviceResolver.resolve(match, for: purpose, in: present)
            } catch {
                findings.append(DeviceCheckFinding(severity: .problem, key: key, message: error.message, fix: nil))
                continue
            }
            if match.isLiteral, purpose.kind == .tty, resolution.device == nil, !discovery_exists(resolution.path) {
                findings.append(
                    DeviceCheckFinding(
                        severity: .problem, key: key, message: "\(resolution.path) does not exist",
                        fix: "plug the device in, or use a device match (`oob-agent devices` prints one)"))
                continue
            }
            var message = "\"\(value)\" is \(resolution.path)"
            if let d = resolution.device {
                message += " (\(d.role)"
                if let m = d.manufacturer ?? d.model { message += ", \(m)" }
                message += ")"
            }
            var finding = DeviceCheckFinding(severity: .ok, key: key, message: message, fix: nil)
            if match.isLiteral, let d = resolution.device, d.isUSB, let suggestion = DeviceMatch.suggestion(for: d) {
                finding.severity = .warning
                finding.message += "; a ttyUSB/ttyACM number can change after a USB reset"
                finding.fix = "set \(key) = \"\(suggestion)\""
            }
            findings.append(finding)
            if purpose == .modemPort {
                for mm in ModemManagerCheck.run(modemPath: resolution.path, device: resolution.device) {
                    findings.append(DeviceCheckFinding(severity: mm.severity, key: key, message: mm.message, fix: mm.fix))
                }
            }
        }
        return findings
    }
}
#endif
