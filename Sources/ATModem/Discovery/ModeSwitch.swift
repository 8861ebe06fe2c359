/// Recognises a cellular stick still in its CD-ROM / mass-storage mode, and says how to switch it (pure).
public enum ModeSwitch {
    /// Storage-mode ids of common sticks (from usb_modeswitch's device reference), with the switch method.
    static let knownStorageModes: [String: String] = [
        "12d1:1446": "-J",  // Huawei E1552/E1752/E173 family
        "12d1:1f01": "-J",  // Huawei E3372/E303/E353 (HiLink or stick firmware)
        "12d1:14fe": "-J",  // Huawei E3372 stick firmware
        "12d1:1505": "-J",
        "12d1:1c0b": "-J",
        "19d2:2000": "-K",  // ZTE MF-series
        "19d2:0166": "-K",
        "19d2:1225": "-K",  // ZTE MF79U / MF823 and friends
        "19d2:1588": "-K",
        "1199:0fff": "-K",  // Sierra TRU-Install
        "05c6:f000": "-K",
        "1e0e:f000": "-K",
    ]

    /// The interface classes (two hex digits each) out of udev's `ID_USB_INTERFACES=:080650:ffffff:`.
    public static func interfaceClasses(_ value: String?) -> [String] {
        guard let value else { return [] }
        return value.split(separator: ":").filter { $0.count == 6 }.map { String($0.prefix(2)).lowercased() }
    }

    /// The fix text when a device in storage mode is a modem that needs switching, else nil.
    /// - Parameters:
    ///   - vendorID: USB vendor id.
    ///   - productID: USB product id.
    ///   - interfaceClasses: the classes of all its interfaces.
    public static func fix(vendorID: String?, productID: String?, interfaceClasses: [String]) -> String? {
        guard let vendorID, let productID else { return nil }
        let key = "\(vendorID):\(productID)"
        let onlyStorage = !interfaceClasses.isEmpty && interfaceClasses.allSatisfy { $0 == "08" }
        let method: String
        if let known = knownStorageModes[key] {
            method = known
        } else if onlyStorage, DeviceRoleGuesser.modemVendors[vendorID] != nil {
            method = vendorID == "12d1" ? "-J" : "-K"
        } else {
            return nil
        }
        return "install usb-modeswitch and usb-modeswitch-data (apt-get install usb-modeswitch usb-modeswitch-data) "
            + "and replug the stick: it then switches by itself; to switch it now by hand: "
            + "usb_modeswitch -v 0x\(vendorID) -p 0x\(productID) \(method)"
    }
}
