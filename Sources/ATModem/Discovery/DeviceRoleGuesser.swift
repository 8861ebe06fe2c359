/// The result of guessing a device's role.
public struct RoleGuess: Hashable, Sendable {
    /// The role.
    public var role: DeviceRole
    /// How sure.
    public var confidence: RoleConfidence
    /// Why, in a few words.
    public var reason: String
    /// What the user must do, when anything.
    public var fix: String?
}

/// Guesses what a tty, network interface or USB device is for, from its properties alone (pure, no I/O).
///
/// Order of evidence: ModemManager's own port tags (`ID_MM_PORT_TYPE_*`, set by its udev rules where it is
/// installed), then the driver (USB-serial bridge chips are console cables, usbnet drivers are network interfaces),
/// then the vendor's usual interface layout (Huawei, Sierra/Gobi qcserial, ZTE, Quectel), then a fallback that asks
/// for a probe.
public enum DeviceRoleGuesser {
    /// Drivers of USB-serial bridge chips: a console cable, not a modem.
    public static let consoleDrivers: Set<String> = [
        "ftdi_sio", "pl2303", "cp210x", "ch341", "ch343", "ark3116", "mos7720", "mos7840", "ti_usb_3410_5052",
        "oti6858", "io_edgeport", "keyspan", "digi_acceleport", "f81232", "xr_serial",
    ]
    /// Drivers of modem serial functions.
    public static let modemSerialDrivers: Set<String> = ["option", "qcserial", "sierra", "usb_wwan", "huawei_cdc_ncm"]
    /// Drivers of USB network functions a cellular modem exposes.
    public static let networkDrivers: Set<String> = [
        "cdc_ether", "rndis_host", "cdc_ncm", "huawei_cdc_ncm", "qmi_wwan", "cdc_mbim", "sierra_net", "cdc_eem",
        "ipheth",
    ]
    /// USB vendor ids of cellular modem makers (for cdc_acm and storage-mode decisions).
    public static let modemVendors: [String: String] = [
        "12d1": "Huawei", "19d2": "ZTE", "1199": "Sierra Wireless", "2c7c": "Quectel", "05c6": "Qualcomm",
        "1bc7": "Telit", "1e2d": "Gemalto/Cinterion", "2cb7": "Fibocom", "1e0e": "SIMCom", "413c": "Dell (Sierra)",
        "03f0": "HP (Gobi)", "0bdb": "Ericsson", "1410": "Novatel", "1c9e": "Longcheer", "2001": "D-Link",
    ]

    /// Guesses the role of one device.
    /// - Parameters:
    ///   - kind: tty, net or usb.
    ///   - vendorID: USB vendor id (lowercase hex).
    ///   - productID: USB product id.
    ///   - interfaceNumber: USB interface number (two hex digits).
    ///   - driver: the interface's kernel driver.
    ///   - properties: the full property set (for ModemManager tags and interface classes).
    ///   - isUSB: whether the device sits on USB.
    /// - Returns: the guess.
    public static func guess(
        kind: DiscoveredDevice.Kind, vendorID: String?, productID: String?, interfaceNumber: String?,
        driver: String?, properties: [String: String], isUSB: Bool
    ) -> RoleGuess {
        switch kind {
        case .usb:
            if let fix = ModeSwitch.fix(
                vendorID: vendorID, productID: productID,
                interfaceClasses: ModeSwitch.interfaceClasses(properties["ID_USB_INTERFACES"]))
            {
                return RoleGuess(
                    role: .needsModeSwitch, confidence: .certain,
                    reason: "modem in CD-ROM/mass-storage mode: no serial or network port yet", fix: fix)
            }
            return RoleGuess(role: .other, confidence: .guess, reason: "USB device")
        case .net:
            return guessNetwork(vendorID: vendorID, productID: productID, driver: driver, properties: properties)
        case .tty:
            return guessTTY(
                vendorID: vendorID, productID: productID, interfaceNumber: interfaceNumber, driver: driver,
                properties: properties, isUSB: isUSB)
        }
    }

    // MARK: - Network interfaces

    static func guessNetwork(vendorID: String?, productID: String?, driver: String?, properties: [String: String])
        -> RoleGuess
    {
        guard let driver, networkDrivers.contains(driver) else {
            return RoleGuess(role: .other, confidence: .guess, reason: "network interface, not a USB modem function")
        }
        let what: String
        switch driver {
        case "cdc_ether":
            what = vendorID == "12d1"
                ? "cdc_ether: Huawei HiLink mode (the stick is a router behind this interface; SMS only via its web API)"
                : "cdc_ether: USB Ethernet function of a modem"
        case "rndis_host": what = "rndis_host: RNDIS modem (router mode)"
        case "qmi_wwan": what = "qmi_wwan: QMI data interface (raw-IP, needs the QMI port to connect)"
        case "cdc_mbim": what = "cdc_mbim: MBIM data interface"
        case "cdc_ncm", "huawei_cdc_ncm": what = "\(driver): NCM data interface"
        default: what = "\(driver): USB network function"
        }
        return RoleGuess(role: .network, confidence: .certain, reason: what)
    }

    // MARK: - Serial ports

    static func guessTTY(
        vendorID: String?, productID: String?, interfaceNumber: String?, driver: String?,
        properties: [String: String], isUSB: Bool
    ) -> RoleGuess {
        guard isUSB else {
            return RoleGuess(role: .other, confidence: .guess, reason: "not a USB device")
        }
        // 1. ModemManager's port tags (its udev rules know many layouts).
        if properties["ID_MM_PORT_TYPE_AT_PRIMARY"] == "1" {
            return RoleGuess(role: .atPort, confidence: .certain, reason: "ModemManager tags it the primary AT port")
        }
        if properties["ID_MM_PORT_TYPE_AT_PPP"] == "1" || properties["ID_MM_ZTE_PORT_TYPE_MODEM"] == "1" {
            return RoleGuess(role: .dataPort, confidence: .certain, reason: "ModemManager tags it the PPP port")
        }
        if properties["ID_MM_PORT_TYPE_AT_SECONDARY"] == "1" || properties["ID_MM_ZTE_PORT_TYPE_AUX"] == "1" {
            return RoleGuess(role: .atPort, confidence: .certain, reason: "ModemManager tags it an AT port")
        }
        if properties["ID_MM_PORT_TYPE_QCDM"] == "1" {
            return RoleGuess(role: .diagnostic, confidence: .certain, reason: "ModemManager tags it QCDM")
        }
        if properties["ID_MM_PORT_TYPE_GPS"] == "1" {
            return RoleGuess(role: .gps, confidence: .certain, reason: "ModemManager tags it GPS")
        }
        guard let driver else {
            return RoleGuess(role: .other, confidence: .guess, reason: "USB tty without a known driver")
        }
        // 2. USB-serial bridge chips.
        if consoleDrivers.contains(driver) {
            return RoleGuess(
                role: .console, confidence: .certain, reason: "\(driver): USB-serial adapter (console cable)")
        }
        // 3. CDC ACM: a modem's AT port when the maker builds modems, else a device's own console.
        if driver == "cdc_acm" {
            if let vendorID, let maker = modemVendors[vendorID] {
                return RoleGuess(role: .atPort, confidence: .likely, reason: "cdc_acm port of a \(maker) modem")
            }
            return RoleGuess(
                role: .console, confidence: .guess, reason: "cdc_acm: a device's USB console (probe if it is a modem)")
        }
        guard modemSerialDrivers.contains(driver) else {
            return RoleGuess(role: .other, confidence: .guess, reason: "\(driver): USB serial function")
        }
        // 4. Vendor layouts.
        let ifnum = interfaceNumber ?? ""
        let ifClass = properties["OOB_USB_INTERFACE_CLASS"]  // "ff0202": class, subclass, protocol of this interface
        switch vendorID {
        case "12d1":
            // Huawei encodes the function in bInterfaceProtocol (low nibble 1 modem, 2 PCUI, 3 diagnostics).
            if let ifClass, ifClass.count == 6, ifClass.hasPrefix("ff"), let proto = UInt8(ifClass.suffix(2), radix: 16)
            {
                switch proto & 0x0f {
                case 1: return RoleGuess(role: .dataPort, confidence: .certain, reason: "Huawei modem (PPP) interface")
                case 2: return RoleGuess(role: .atPort, confidence: .certain, reason: "Huawei PCUI (AT) interface")
                case 3: return RoleGuess(role: .diagnostic, confidence: .certain, reason: "Huawei diagnostics interface")
                default: break
                }
            }
            switch ifnum {
            case "00": return RoleGuess(role: .dataPort, confidence: .likely, reason: "Huawei interface 0: modem (PPP)")
            case "01": return RoleGuess(role: .diagnostic, confidence: .likely, reason: "Huawei interface 1: diagnostics")
            case "02": return RoleGuess(role: .atPort, confidence: .likely, reason: "Huawei interface 2: PCUI (AT)")
            default: break
            }
        case "1199", "413c":
            // Sierra Wireless QMI layout (kernel qcserial "Sierra" layout): 0 DM, 2 NMEA, 3 AT modem.
            switch ifnum {
            case "00": return RoleGuess(role: .diagnostic, confidence: .likely, reason: "Sierra interface 0: DM/diagnostics")
            case "02": return RoleGuess(role: .gps, confidence: .likely, reason: "Sierra interface 2: NMEA")
            case "03": return RoleGuess(role: .atPort, confidence: .likely, reason: "Sierra interface 3: AT modem port")
            default: break
            }
        case "2c7c":
            // Quectel: 0 DM, 1 NMEA, 2 AT, 3 modem (AT + PPP).
            switch ifnum {
            case "00": return RoleGuess(role: .diagnostic, confidence: .likely, reason: "Quectel interface 0: DM")
            case "01": return RoleGuess(role: .gps, confidence: .likely, reason: "Quectel interface 1: NMEA")
            case "02": return RoleGuess(role: .atPort, confidence: .likely, reason: "Quectel interface 2: AT")
            case "03": return RoleGuess(role: .dataPort, confidence: .likely, reason: "Quectel interface 3: modem (PPP)")
            default: break
            }
        case "19d2":
            // ZTE sticks most often: 0 diagnostics, 1 NMEA, 2 AT (PCUI), 3 modem (PPP).
            switch ifnum {
            case "00": return RoleGuess(role: .diagnostic, confidence: .guess, reason: "ZTE interface 0: diagnostics")
            case "02": return RoleGuess(role: .atPort, confidence: .guess, reason: "ZTE interface 2: AT (probe to confirm)")
            case "03": return RoleGuess(role: .dataPort, confidence: .guess, reason: "ZTE interface 3: modem (PPP)")
            default: break
            }
        default:
            if driver == "qcserial" {
                // Gobi 2000+ layout (kernel qcserial "G2K"): 1 DM, 2 AT modem, 3 NMEA.
                switch ifnum {
                case "01": return RoleGuess(role: .diagnostic, confidence: .likely, reason: "Gobi interface 1: DM")
                case "02": return RoleGuess(role: .atPort, confidence: .likely, reason: "Gobi interface 2: AT modem port")
                case "03": return RoleGuess(role: .gps, confidence: .likely, reason: "Gobi interface 3: NMEA")
                default: break
                }
            }
        }
        return RoleGuess(
            role: .candidate, confidence: .guess,
            reason: "\(driver) interface \(ifnum.isEmpty ? "?" : ifnum): unknown function; `devices --probe` tells")
    }
}
