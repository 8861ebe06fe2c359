// Property sets of real devices, as `udevadm info` prints them, for the role-guessing and matching tests.
//
// VERBATIM means copied from public `udevadm info` output (the source is named); RECONSTRUCTED means no complete
// public dump was found: the ids, strings, interface layout and drivers come from the public lsusb/dmesg/kernel
// sources named, written in the exact property format of the verbatim dumps. Each says which.
@testable import ATModem

enum DiscoveryFixtures {
    static func device(_ text: String) -> DiscoveredDevice {
        guard let d = DiscoveredDevice(properties: UdevProperties.parse(udevadmInfo: text)) else {
            fatalError("fixture does not parse: \(text.prefix(80))")
        }
        return d
    }

    // MARK: - USB-serial adapters (console cables)

    /// VERBATIM: FTDI FT232R, `udevadm info -q all -n /dev/ttyUSB0` in the Ubuntu Forums thread
    /// "no love with lirc with FTDI usb receiver/blaster" (2011-04-03, Multimedia Software).
    static let ftdiFT232R = """
        P: /devices/pci0000:00/0000:00:12.0/usb3/3-1/3-1:1.0/ttyUSB0/tty/ttyUSB0
        N: ttyUSB0
        S: char/188:0
        S: serial/by-path/pci-0000:00:12.0-usb-0:1:1.0-port0
        S: serial/by-id/usb-FTDI_FT232R_USB_UART_A900fCv0-if00-port0
        E: UDEV_LOG=3
        E: DEVPATH=/devices/pci0000:00/0000:00:12.0/usb3/3-1/3-1:1.0/ttyUSB0/tty/ttyUSB0
        E: SUBSYSTEM=tty
        E: DEVNAME=ttyUSB0
        E: ID_PORT=0
        E: ID_PATH=pci-0000:00:12.0-usb-0:1:1.0
        E: ID_VENDOR=FTDI
        E: ID_VENDOR_ENC=FTDI
        E: ID_VENDOR_ID=0403
        E: ID_MODEL=FT232R_USB_UART
        E: ID_MODEL_ENC=FT232R\\x20USB\\x20UART
        E: ID_MODEL_ID=6001
        E: ID_REVISION=0600
        E: ID_SERIAL=FTDI_FT232R_USB_UART_A900fCv0
        E: ID_SERIAL_SHORT=A900fCv0
        E: ID_TYPE=generic
        E: ID_BUS=usb
        E: ID_USB_INTERFACES=:ffffff:
        E: ID_USB_INTERFACE_NUM=00
        E: ID_USB_DRIVER=ftdi_sio
        E: ID_IFACE=00
        E: ID_VENDOR_FROM_DATABASE=Future Technology Devices International, Ltd
        E: ID_MODEL_FROM_DATABASE=FT232 USB-Serial (UART) IC
        E: MAJOR=188
        E: MINOR=0
        E: DEVLINKS=/dev/char/188:0 /dev/serial/by-path/pci-0000:00:12.0-usb-0:1:1.0-port0 /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A900fCv0-if00-port0
        """

    /// VERBATIM: Prolific PL2303, `udevadm info --query=all --name=/dev/ttyUSB0` in a 2013 forum thread about a
    /// serial receipt printer under CUPS (post by evias, 2013-03-26).
    static let prolificPL2303 = """
        P: /devices/pci0000:00/0000:00:1d.2/usb8/8-2/8-2:1.0/ttyUSB0/tty/ttyUSB0
        N: ttyUSB0
        S: serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0
        S: serial/by-path/pci-0000:00:1d.2-usb-0:2:1.0-port0
        E: DEVLINKS=/dev/serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0 /dev/serial/by-path/pci-0000:00:1d.2-usb-0:2:1.0-port0
        E: DEVNAME=/dev/ttyUSB0
        E: DEVPATH=/devices/pci0000:00/0000:00:1d.2/usb8/8-2/8-2:1.0/ttyUSB0/tty/ttyUSB0
        E: ID_BUS=usb
        E: ID_MM_CANDIDATE=1
        E: ID_MODEL=USB-Serial_Controller
        E: ID_MODEL_ENC=USB-Serial\\x20Controller
        E: ID_MODEL_FROM_DATABASE=PL2303 Serial Port
        E: ID_MODEL_ID=2303
        E: ID_PATH=pci-0000:00:1d.2-usb-0:2:1.0
        E: ID_PATH_TAG=pci-0000_00_1d_2-usb-0_2_1_0
        E: ID_REVISION=0300
        E: ID_SERIAL=Prolific_Technology_Inc._USB-Serial_Controller
        E: ID_TYPE=generic
        E: ID_USB_DRIVER=pl2303
        E: ID_USB_INTERFACES=:ff0000:
        E: ID_USB_INTERFACE_NUM=00
        E: ID_VENDOR=Prolific_Technology_Inc.
        E: ID_VENDOR_ENC=Prolific\\x20Technology\\x20Inc.
        E: ID_VENDOR_FROM_DATABASE=Prolific Technology, Inc.
        E: ID_VENDOR_ID=067b
        E: MAJOR=188
        E: MINOR=0
        E: SUBSYSTEM=tty
        E: UDEV_LOG=3
        E: USEC_INITIALIZED=2627554295
        """

    /// VERBATIM: Silicon Labs CP2102, `udevadm info -q all -n /dev/ttyUSB*` on a Raspberry Pi Zero W, from public
    /// notes about reading a LD06 LiDAR over a CP2102 bridge.
    static let siliconLabsCP2102 = """
        P: /devices/platform/soc/20980000.usb/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0
        N: ttyUSB0
        L: 0
        S: serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0
        S: serial/by-path/platform-20980000.usb-usb-0:1:1.0-port0
        E: DEVPATH=/devices/platform/soc/20980000.usb/usb1/1-1/1-1:1.0/ttyUSB0/tty/ttyUSB0
        E: DEVNAME=/dev/ttyUSB0
        E: MAJOR=188
        E: MINOR=0
        E: SUBSYSTEM=tty
        E: USEC_INITIALIZED=26078064
        E: ID_VENDOR=Silicon_Labs
        E: ID_VENDOR_ENC=Silicon\\x20Labs
        E: ID_VENDOR_ID=10c4
        E: ID_MODEL=CP2102_USB_to_UART_Bridge_Controller
        E: ID_MODEL_ENC=CP2102\\x20USB\\x20to\\x20UART\\x20Bridge\\x20Controller
        E: ID_MODEL_ID=ea60
        E: ID_REVISION=0100
        E: ID_SERIAL=Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001
        E: ID_SERIAL_SHORT=0001
        E: ID_TYPE=generic
        E: ID_BUS=usb
        E: ID_USB_INTERFACES=:ff0000:
        E: ID_USB_INTERFACE_NUM=00
        E: ID_USB_DRIVER=cp210x
        E: ID_VENDOR_FROM_DATABASE=Cygnal Integrated Products, Inc.
        E: ID_MODEL_FROM_DATABASE=CP2102/CP2109 UART Bridge Controller [CP210x family]
        E: ID_PATH=platform-20980000.usb-usb-0:1:1.0
        E: ID_PATH_TAG=platform-20980000_usb-usb-0_1_1_0
        E: DEVLINKS=/dev/serial/by-id/usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0 /dev/serial/by-path/platform-20980000.usb-usb-0:1:1.0-port0
        E: TAGS=:systemd:
        """

    // MARK: - Huawei

    /// VERBATIM: a Huawei stick (12d1:141e) PCUI port, `udevadm info` in a 2010 forum post asking for a stable
    /// /dev/gsmmodem name (post by hselvaggi, 2010-03-24). The symlink `gsmmodem` was the poster's own rule.
    static let huawei141eIf02 = """
        P: /devices/pci0000:00/0000:00:1d.7/usb1/1-4/1-4:1.2/ttyUSB0/tty/ttyUSB0
        N: ttyUSB0
        S: char/188:0
        S: serial/by-path/pci-0000:00:1d.7-usb-0:4:1.2-port0
        S: serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if02-port0
        S: gsmmodem
        E: UDEV_LOG=3
        E: DEVPATH=/devices/pci0000:00/0000:00:1d.7/usb1/1-4/1-4:1.2/ttyUSB0/tty/ttyUSB0
        E: MAJOR=188
        E: MINOR=0
        E: DEVNAME=/dev/ttyUSB0
        E: SUBSYSTEM=tty
        E: ID_PORT=0
        E: ID_PATH=pci-0000:00:1d.7-usb-0:4:1.2
        E: ID_VENDOR=HUAWEI_Technology
        E: ID_VENDOR_ENC=HUAWEI\\x20Technology
        E: ID_VENDOR_ID=12d1
        E: ID_MODEL=HUAWEI_Mobile
        E: ID_MODEL_ENC=HUAWEI\\x20Mobile
        E: ID_MODEL_ID=141e
        E: ID_REVISION=0000
        E: ID_SERIAL=HUAWEI_Technology_HUAWEI_Mobile
        E: ID_TYPE=generic
        E: ID_BUS=usb
        E: ID_USB_INTERFACES=:ffffff:080650:
        E: ID_USB_INTERFACE_NUM=02
        E: ID_USB_DRIVER=option
        E: ID_IFACE=02
        E: ID_VENDOR_FROM_DATABASE=Huawei Technologies Co., Ltd.
        E: DEVLINKS=/dev/char/188:0 /dev/serial/by-path/pci-0000:00:1d.7-usb-0:4:1.2-port0 /dev/serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if02-port0 /dev/gsmmodem
        """

    /// RECONSTRUCTED: Huawei E1752 in modem mode, 12d1:1001 (it enumerates as 12d1:1446 storage first; the
    /// usb_modeswitch target list for 12d1:1446 includes 1001), three `option` ports: if00 modem (PPP), if01
    /// diagnostics, if02 PCUI (AT). Strings "HUAWEI Technology"/"HUAWEI Mobile" as in the 12d1:1446 lsusb -v
    /// posted on supermanhamuerto.com ("udev rules for the Huawei HSPA Modem"); format as `huawei141eIf02`.
    static func huaweiE1752(ttyIndex: Int, interface: Int, usbPort: String = "1-1") -> String {
        let bus = usbPort.split(separator: "-").first.map(String.init) ?? "1"
        return """
            E: DEVPATH=/devices/platform/soc/3f980000.usb/usb\(bus)/\(usbPort)/\(usbPort):1.\(interface)/ttyUSB\(ttyIndex)/tty/ttyUSB\(ttyIndex)
            E: DEVNAME=/dev/ttyUSB\(ttyIndex)
            E: SUBSYSTEM=tty
            E: ID_VENDOR=HUAWEI_Technology
            E: ID_VENDOR_ENC=HUAWEI\\x20Technology
            E: ID_VENDOR_ID=12d1
            E: ID_MODEL=HUAWEI_Mobile
            E: ID_MODEL_ENC=HUAWEI\\x20Mobile
            E: ID_MODEL_ID=1001
            E: ID_SERIAL=HUAWEI_Technology_HUAWEI_Mobile
            E: ID_BUS=usb
            E: ID_USB_INTERFACES=:ffffff:080650:
            E: ID_USB_INTERFACE_NUM=0\(interface)
            E: ID_USB_DRIVER=option
            E: DEVLINKS=/dev/serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if0\(interface)-port0
            """
    }

    /// RECONSTRUCTED: Huawei E3372 with "stick" firmware, 12d1:1506: if00 modem and if02 PCUI on `option`, the
    /// NCM data interface on `huawei_cdc_ncm` (wwan0) at if01. Ids from usb_modeswitch's 12d1:14fe → 1506 switch.
    static func huaweiE3372Stick(kind: String, interface: Int, ttyIndex: Int = 0) -> String {
        let leaf = kind == "net" ? "net/wwan0" : "ttyUSB\(ttyIndex)/tty/ttyUSB\(ttyIndex)"
        return """
            E: DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.\(interface)/\(leaf)
            E: SUBSYSTEM=\(kind)
            \(kind == "net" ? "E: INTERFACE=wwan0" : "E: DEVNAME=/dev/ttyUSB\(ttyIndex)")
            E: ID_VENDOR=HUAWEI_MOBILE
            E: ID_VENDOR_ENC=HUAWEI_MOBILE
            E: ID_VENDOR_ID=12d1
            E: ID_MODEL=HUAWEI_MOBILE
            E: ID_MODEL_ENC=HUAWEI_MOBILE
            E: ID_MODEL_ID=1506
            E: ID_BUS=usb
            E: ID_USB_INTERFACES=:ff0201:ff0216:ff0202:080650:
            E: ID_USB_INTERFACE_NUM=0\(interface)
            E: ID_USB_DRIVER=\(kind == "net" ? "huawei_cdc_ncm" : "option")
            """
    }

    /// RECONSTRUCTED: Huawei E3372h with HiLink firmware, 12d1:14dc, the stick is a router behind a cdc_ether
    /// interface. Ids and `ID_USB_INTERFACES=:020600:0a0000:080650:` as in public udev event fixtures of an
    /// OpenWrt-based bonding router project, strings "HUAWEI_MOBILE" as in a public `lsusb -v` of 12d1:14dc
    /// (mvp/uhubctl issue #255).
    static let huaweiE3372HiLink = """
        E: DEVPATH=/devices/platform/fc880000.usb/usb1/1-1/1-1.2/1-1.2:1.0/net/eth1
        E: SUBSYSTEM=net
        E: INTERFACE=eth1
        E: ID_BUS=usb
        E: ID_VENDOR=HUAWEI_MOBILE
        E: ID_VENDOR_ENC=HUAWEI_MOBILE
        E: ID_VENDOR_ID=12d1
        E: ID_MODEL=HUAWEI_MOBILE
        E: ID_MODEL_ENC=HUAWEI_MOBILE
        E: ID_MODEL_ID=14dc
        E: ID_MODEL_FROM_DATABASE=E3372 LTE/UMTS/GSM HiLink Modem/Networkcard
        E: ID_USB_INTERFACES=:020600:0a0000:080650:
        E: ID_USB_INTERFACE_NUM=00
        E: ID_USB_DRIVER=cdc_ether
        E: ID_NET_NAME_PATH=enu1u2
        """

    /// RECONSTRUCTED: Huawei E3372 as it first enumerates, 12d1:1f01, a CD-ROM only (usb_modeswitch's
    /// `12d1:1f01` entry, "HuaweiNewMode"). A usb_device, not a tty: discovery lists it to say what to do.
    static let huaweiE3372Storage = """
        E: DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-2
        E: SUBSYSTEM=usb
        E: DEVTYPE=usb_device
        E: DEVNAME=/dev/bus/usb/001/004
        E: ID_VENDOR=HUAWEI_MOBILE
        E: ID_VENDOR_ENC=HUAWEI_MOBILE
        E: ID_VENDOR_ID=12d1
        E: ID_MODEL=HUAWEI_MOBILE
        E: ID_MODEL_ENC=HUAWEI_MOBILE
        E: ID_MODEL_ID=1f01
        E: ID_USB_INTERFACES=:080650:
        """

    // MARK: - ZTE

    /// VERBATIM: ZTE MF636 (19d2:0031) port if03, `udevadm info` with ModemManager's ZTE tag, from a public forum
    /// post (2010). The tag makes it the PPP port.
    static let zteMF636If03 = """
        P: /devices/pci0000:00/0000:00:1d.7/usb1/1-7/1-7:1.3/ttyUSB2/tty/ttyUSB2
        N: ttyUSB2
        S: char/188:2
        S: serial/by-path/pci-0000:00:1d.7-usb-0:7:1.3-port0
        S: serial/by-id/usb-ZTE_Incorporated_ZTE_WCDMA_Technologies_MSM_P673C3TBPD010000-if03-port0
        E: UDEV_LOG=3
        E: DEVPATH=/devices/pci0000:00/0000:00:1d.7/usb1/1-7/1-7:1.3/ttyUSB2/tty/ttyUSB2
        E: MAJOR=188
        E: MINOR=2
        E: DEVNAME=/dev/ttyUSB2
        E: SUBSYSTEM=tty
        E: ID_PORT=0
        E: ID_PATH=pci-0000:00:1d.7-usb-0:7:1.3
        E: ID_VENDOR=ZTE_Incorporated
        E: ID_VENDOR_ENC=ZTE\\x2cIncorporated
        E: ID_VENDOR_ID=19d2
        E: ID_MODEL=ZTE_WCDMA_Technologies_MSM
        E: ID_MODEL_ENC=ZTE\\x20WCDMA\\x20Technologies\\x20MSM
        E: ID_MODEL_ID=0031
        E: ID_REVISION=0000
        E: ID_SERIAL=ZTE_Incorporated_ZTE_WCDMA_Technologies_MSM_P673C3TBPD010000
        E: ID_SERIAL_SHORT=P673C3TBPD010000
        E: ID_TYPE=generic
        E: ID_BUS=usb
        E: ID_USB_INTERFACES=:ffffff:080650:
        E: ID_USB_INTERFACE_NUM=03
        E: ID_USB_DRIVER=option
        E: ID_IFACE=03
        E: ID_VENDOR_FROM_DATABASE=ONDA Communication S.p.A.
        E: ID_MODEL_FROM_DATABASE=ZTE MF110/MF636
        E: ID_MM_ZTE_PORT_TYPE_MODEM=1
        E: DEVLINKS=/dev/char/188:2 /dev/serial/by-path/pci-0000:00:1d.7-usb-0:7:1.3-port0 /dev/serial/by-id/usb-ZTE_Incorporated_ZTE_WCDMA_Technologies_MSM_P673C3TBPD010000-if03-port0
        """

    /// RECONSTRUCTED: ZTE MF79U in its router mode, 19d2:1405, manufacturer "DEMO,Incorporated", product
    /// "DEMO Mobile Boardband", serial 1234567890ABCDEF (as its `usbmode -l` shows in the OpenWrt forum thread
    /// "ZTE MF79U usb modem not found"), an RNDIS function on `rndis_host`.
    static let zteMF79U = """
        E: DEVPATH=/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb1/1-1/1-1.3/1-1.3:1.0/net/usb0
        E: SUBSYSTEM=net
        E: INTERFACE=usb0
        E: ID_BUS=usb
        E: ID_VENDOR=DEMO_Incorporated
        E: ID_VENDOR_ENC=DEMO\\x2cIncorporated
        E: ID_VENDOR_ID=19d2
        E: ID_MODEL=DEMO_Mobile_Boardband
        E: ID_MODEL_ENC=DEMO\\x20Mobile\\x20Boardband
        E: ID_MODEL_ID=1405
        E: ID_SERIAL_SHORT=1234567890ABCDEF
        E: ID_USB_INTERFACES=:e00103:0a0000:080650:
        E: ID_USB_INTERFACE_NUM=00
        E: ID_USB_DRIVER=rndis_host
        """

    // MARK: - Sierra Wireless

    /// RECONSTRUCTED: Sierra Wireless MC7455 (1199:9071), QMI composition: qcserial on interfaces 0, 2, 3
    /// (ttyUSB0..2, per the dmesg in libqmi-devel "cdc-wdmX interface no longer created after reset", 2017-10)
    /// and qmi_wwan on interface 8 (wwan0, per the dmesg in the Sierra forum thread "MC7455: Fails to get
    /// IP/connect"). Port functions from the kernel's qcserial Sierra layout (0 DM, 2 NMEA, 3 AT).
    static func sierraMC7455(kind: String, interface: Int, ttyIndex: Int = 0) -> String {
        let leaf = kind == "net" ? "net/wwan0" : "ttyUSB\(ttyIndex)/tty/ttyUSB\(ttyIndex)"
        return """
            E: DEVPATH=/devices/pci0000:00/0000:00:14.0/usb2/2-3/2-3:1.\(interface)/\(leaf)
            E: SUBSYSTEM=\(kind)
            \(kind == "net" ? "E: INTERFACE=wwan0" : "E: DEVNAME=/dev/ttyUSB\(ttyIndex)")
            E: ID_BUS=usb
            E: ID_VENDOR=Sierra_Wireless__Incorporated
            E: ID_VENDOR_ENC=Sierra\\x20Wireless\\x2c\\x20Incorporated
            E: ID_VENDOR_ID=1199
            E: ID_MODEL=MC7455
            E: ID_MODEL_ENC=MC7455
            E: ID_MODEL_ID=9071
            E: ID_USB_INTERFACES=:ff0000:ffffff:
            E: ID_USB_INTERFACE_NUM=\(String(interface, radix: 16).count == 1 ? "0" : "")\(String(interface, radix: 16))
            E: ID_USB_DRIVER=\(kind == "net" ? "qmi_wwan" : "qcserial")
            """
    }
}
