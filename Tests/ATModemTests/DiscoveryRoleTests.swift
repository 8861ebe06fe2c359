import Testing

@testable import ATModem

/// Role guessing and record building against property sets of real devices (layer (a), pure).
@Suite("Discovery: records and roles of real devices")
struct DiscoveryRoleTests {
    typealias F = DiscoveryFixtures

    @Test("FTDI FT232R is a console adapter with its by-id link, serial and model")
    func ftdi() {
        let d = F.device(F.ftdiFT232R)
        #expect(d.kind == .tty)
        #expect(d.path == "/dev/ttyUSB0")
        #expect(d.vendorID == "0403" && d.productID == "6001")
        #expect(d.manufacturer == "FTDI")
        #expect(d.model == "FT232R USB UART")
        #expect(d.serial == "A900fCv0")
        #expect(d.interfaceNumber == "00")
        #expect(d.driver == "ftdi_sio")
        #expect(d.byIDPath == "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A900fCv0-if00-port0")
        #expect(d.role == .console)
        #expect(d.confidence == .certain)
        #expect(d.usbDevicePath == "/devices/pci0000:00/0000:00:12.0/usb3/3-1")
    }

    @Test("Prolific PL2303 and Silicon Labs CP2102 are console adapters")
    func bridges() {
        let pl = F.device(F.prolificPL2303)
        #expect(pl.role == .console)
        #expect(pl.vendorID == "067b" && pl.productID == "2303")
        #expect(pl.manufacturer == "Prolific Technology Inc.")
        #expect(pl.serial == nil)
        let cp = F.device(F.siliconLabsCP2102)
        #expect(cp.role == .console)
        #expect(cp.driver == "cp210x")
        #expect(cp.model == "CP2102 USB to UART Bridge Controller")
        #expect(cp.serial == "0001")
    }

    @Test("Huawei E1752: interface 0 is the PPP port, 1 diagnostics, 2 the AT (PCUI) port")
    func huaweiE1752() {
        let ports = (0...2).map { F.device(F.huaweiE1752(ttyIndex: $0, interface: $0)) }
        #expect(ports.map(\.role) == [.dataPort, .diagnostic, .atPort])
        #expect(ports.allSatisfy { $0.usbDevicePath == ports[0].usbDevicePath })
        #expect(ports[2].byIDPath == "/dev/serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if02-port0")
        // The verbatim 12d1:141e dump: its interface 2 is likewise the PCUI port.
        #expect(F.device(F.huawei141eIf02).role == .atPort)
    }

    @Test("Huawei interface protocol from sysfs overrides the layout guess")
    func huaweiProtocol() {
        var p = UdevProperties.parse(udevadmInfo: F.huaweiE1752(ttyIndex: 0, interface: 0))
        p["OOB_USB_INTERFACE_CLASS"] = "ff0202"
        #expect(DiscoveredDevice(properties: p)?.role == .atPort)
        #expect(DiscoveredDevice(properties: p)?.confidence == .certain)
    }

    @Test("Huawei E3372 stick mode: PPP, AT and the NCM network interface; HiLink mode: a cdc_ether interface")
    func huaweiE3372() {
        #expect(F.device(F.huaweiE3372Stick(kind: "tty", interface: 0, ttyIndex: 0)).role == .dataPort)
        #expect(F.device(F.huaweiE3372Stick(kind: "tty", interface: 2, ttyIndex: 1)).role == .atPort)
        let ncm = F.device(F.huaweiE3372Stick(kind: "net", interface: 1))
        #expect(ncm.kind == .net && ncm.name == "wwan0" && ncm.role == .network && ncm.path == nil)
        let hilink = F.device(F.huaweiE3372HiLink)
        #expect(hilink.role == .network)
        #expect(hilink.name == "eth1")
        #expect(hilink.reason.contains("HiLink"))
    }

    @Test("A stick in CD-ROM mode is flagged with the usb_modeswitch fix")
    func storageMode() {
        let d = F.device(F.huaweiE3372Storage)
        #expect(d.kind == .usb)
        #expect(d.role == .needsModeSwitch)
        #expect(d.fix?.contains("usb_modeswitch -v 0x12d1 -p 0x1f01 -J") == true)
        #expect(d.fix?.contains("apt-get install usb-modeswitch") == true)
        // A storage-only device of a non-modem vendor (a USB stick) is not flagged.
        var p = UdevProperties.parse(udevadmInfo: F.huaweiE3372Storage)
        p["ID_VENDOR_ID"] = "0781"
        p["ID_MODEL_ID"] = "5567"
        #expect(DiscoveredDevice(properties: p)?.role == .other)
    }

    @Test("ZTE MF636 PPP port by ModemManager's tag; ZTE MF79U is an RNDIS network interface")
    func zte() {
        let mf636 = F.device(F.zteMF636If03)
        #expect(mf636.role == .dataPort && mf636.confidence == .certain)
        #expect(mf636.manufacturer == "ZTE,Incorporated")
        let mf79 = F.device(F.zteMF79U)
        #expect(mf79.role == .network && mf79.name == "usb0" && mf79.driver == "rndis_host")
        #expect(mf79.serial == "1234567890ABCDEF")
    }

    @Test("Sierra MC7455: DM, NMEA, AT on qcserial and the qmi_wwan interface")
    func sierra() {
        let roles = [(0, 0), (2, 1), (3, 2)].map { F.device(F.sierraMC7455(kind: "tty", interface: $0.0, ttyIndex: $0.1)).role }
        #expect(roles == [.diagnostic, .gps, .atPort])
        let net = F.device(F.sierraMC7455(kind: "net", interface: 8))
        #expect(net.role == .network && net.interfaceNumber == "08" && net.reason.contains("qmi_wwan"))
        #expect(net.manufacturer == "Sierra Wireless, Incorporated")
    }

    @Test("Without udev properties, the interface number comes from the sysfs path")
    func sysfsFallback() {
        let d = DiscoveredDevice(properties: [
            "DEVPATH": "/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.2/1-4.2:1.3/ttyUSB7/tty/ttyUSB7",
            "SUBSYSTEM": "tty", "DEVNAME": "/dev/ttyUSB7",
        ])
        #expect(d?.interfaceNumber == "03")
        #expect(d?.usbDevicePath == "/devices/pci0000:00/0000:00:14.0/usb1/1-4/1-4.2")
        #expect(d?.isUSB == true)
        // Interface 10 is "1.10" in the sysfs name (decimal) and "0a" in ID_USB_INTERFACE_NUM (hex).
        let qmi = DiscoveredDevice(properties: [
            "DEVPATH": "/devices/pci0000:00/0000:00:14.0/usb2/2-3/2-3:1.10/net/wwan1", "SUBSYSTEM": "net",
        ])
        #expect(qmi?.interfaceNumber == "0a")
        #expect(qmi?.name == "wwan1")
        let serial8250 = DiscoveredDevice(properties: [
            "DEVPATH": "/devices/platform/serial8250/tty/ttyS0", "SUBSYSTEM": "tty", "DEVNAME": "/dev/ttyS0",
        ])
        #expect(serial8250?.isUSB == false)
        #expect(serial8250?.role == .other)
    }

    @Test("udevadm text parsing: E:, bare KEY=VALUE and S: lines; escapes decoded")
    func parsing() {
        let p = UdevProperties.parse(udevadmInfo: "P: /devices/x\nS: serial/by-id/a\nE: A_B=1\nC_D=two words\nnoise\n")
        #expect(p == ["DEVPATH": "/devices/x", "DEVLINKS": "/dev/serial/by-id/a", "A_B": "1", "C_D": "two words"])
        #expect(UdevProperties.decodeEscapes("ZTE\\x2cIncorporated") == "ZTE,Incorporated")
        #expect(UdevProperties.decodeEscapes("bad\\xZZ") == "bad\\xZZ")
    }
}
