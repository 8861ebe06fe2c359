/// Renders `etc/udev/90-oob-agent.rules` for a given modem and console adapter (pure).
///
/// The rules do two things: `ENV{ID_MM_DEVICE_IGNORE}="1"` on every interface of the modem's USB device, so
/// ModemManager leaves it alone, and a stable symlink `/dev/oob-console` for the console adapter (plus
/// `/dev/oob-modem` for the modem's AT port when its interface number is known).
public enum UdevRules {
    /// The rules text.
    /// - Parameters:
    ///   - modem: the modem's AT port (vendor, product and interface number are used).
    ///   - console: the console adapter (vendor, product and, when it has one, serial).
    public static func render(modem: DiscoveredDevice?, console: DiscoveredDevice?) -> String {
        var lines = [
            "# /etc/udev/rules.d/90-oob-agent.rules, written by `oob-agent devices --udev-rules`.",
            "# Reload with: udevadm control --reload && udevadm trigger",
            "",
        ]
        if let modem, let v = modem.vendorID, let p = modem.productID {
            lines += [
                "# The modem (\(modem.manufacturer ?? "?") \(modem.model ?? "?")): ModemManager keeps off every port.",
                "ACTION!=\"remove\", SUBSYSTEMS==\"usb\", ATTRS{idVendor}==\"\(v)\", ATTRS{idProduct}==\"\(p)\", "
                    + "ENV{ID_MM_DEVICE_IGNORE}=\"1\"",
            ]
            if let i = modem.interfaceNumber {
                lines.append(
                    "ACTION!=\"remove\", SUBSYSTEM==\"tty\", ENV{ID_VENDOR_ID}==\"\(v)\", ENV{ID_MODEL_ID}==\"\(p)\", "
                        + "ENV{ID_USB_INTERFACE_NUM}==\"\(i)\", SYMLINK+=\"oob-modem\"")
            }
            lines.append("")
        } else {
            lines += ["# No modem given: add one with `oob-agent devices --udev-rules` once it is plugged in.", ""]
        }
        if let console, let v = console.vendorID, let p = console.productID {
            var match = "ACTION!=\"remove\", SUBSYSTEM==\"tty\", ENV{ID_VENDOR_ID}==\"\(v)\", ENV{ID_MODEL_ID}==\"\(p)\""
            if let serial = console.serial { match += ", ENV{ID_SERIAL_SHORT}==\"\(serial)\"" }
            if let i = console.interfaceNumber { match += ", ENV{ID_USB_INTERFACE_NUM}==\"\(i)\"" }
            lines += [
                "# The router console adapter (\(console.manufacturer ?? "?") \(console.model ?? "?")): /dev/oob-console;"
                    + " ModemManager must not probe it either (AT commands on a router console are typed input).",
                match + ", ENV{ID_MM_DEVICE_IGNORE}=\"1\", SYMLINK+=\"oob-console\"",
                "",
            ]
        }
        return lines.joined(separator: "\n")
    }
}
