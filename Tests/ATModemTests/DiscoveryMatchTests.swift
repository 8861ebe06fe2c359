import Foundation
import Testing

@testable import ATModem

/// DeviceMatch parsing and resolution against property sets of real devices (layer (a), pure).
@Suite("Discovery: matching config values to devices")
struct DiscoveryMatchTests {
    typealias F = DiscoveryFixtures

    /// A box with an E1752 on ttyUSB0..2, an FTDI console cable on ttyUSB3 and an MC7455 on ttyUSB4..6 + wwan0.
    static var box: [DiscoveredDevice] {
        (0...2).map { F.device(F.huaweiE1752(ttyIndex: $0, interface: $0)) }
            + [F.device(F.ftdiFT232R.replacingTTY(0, with: 3))]
    }

    @Test(
        "Parsing accepted forms",
        arguments: [
            ("auto", "auto"),
            ("AUTO", "auto"),
            ("/dev/ttyUSB2", "/dev/ttyUSB2"),
            ("/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A900fCv0-if00-port0",
             "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A900fCv0-if00-port0"),
            ("usb:12d1:1001,if=02", "usb:12d1:1001,if=02"),
            ("usb:12D1:1001, if=2", "usb:12d1:1001,if=02"),
            ("usb:403:6001,serial=A900fCv0", "usb:0403:6001,serial=A900fCv0"),
            ("usb:0x12d1", "usb:12d1"),
            ("serial:A900fCv0", "serial:A900fCv0"),
            ("usb:1199:9071,role=at", "usb:1199:9071,role=at"),
            ("wwan0", "wwan0"),
        ])
    func parses(input: String, canonical: String) throws {
        #expect("\(try DeviceMatch.parse(input))" == canonical)
    }

    @Test(
        "Bad values are refused with the accepted forms named",
        arguments: ["", "usb:", "usb:12345", "usb:12d1:zz", "usb:12d1,if=123", "usb:12d1,foo=1", "usb:12d1,if",
                    "serial:", "dev/ttyUSB0", "usb:12d1,role=modem"])
    func refuses(input: String) {
        #expect(throws: DiscoveryError.self) { try DeviceMatch.parse(input) }
        do {
            _ = try DeviceMatch.parse(input)
        } catch {
            #expect(error.code == .badMatch)
            #expect(error.message.contains("docs/devices.md"))
        }
    }

    @Test("auto finds the AT port for modem.port, the PPP port for link.device, the cable for console.device")
    func auto() throws {
        let box = Self.box
        #expect(try DeviceResolver.resolve(.auto, for: .modemPort, in: box).path == "/dev/ttyUSB2")
        #expect(try DeviceResolver.resolve(.auto, for: .linkDevice, in: box).path == "/dev/ttyUSB0")
        #expect(try DeviceResolver.resolve(.auto, for: .console, in: box).path == "/dev/ttyUSB3")
        #expect(throws: DiscoveryError.self) { try DeviceResolver.resolve(.auto, for: .linkInterface, in: box) }
    }

    @Test("A usb: match without if= narrows by the key's role; with if= it takes that interface")
    func usbMatch() throws {
        let box = Self.box
        let vendorOnly = try DeviceMatch.parse("usb:12d1:1001")
        #expect(try DeviceResolver.resolve(vendorOnly, for: .modemPort, in: box).path == "/dev/ttyUSB2")
        #expect(try DeviceResolver.resolve(vendorOnly, for: .linkDevice, in: box).path == "/dev/ttyUSB0")
        let if01 = try DeviceMatch.parse("usb:12d1:1001,if=01")
        #expect(try DeviceResolver.resolve(if01, for: .modemPort, in: box).path == "/dev/ttyUSB1")
        let bySerial = try DeviceMatch.parse("serial:A900fCv0")
        #expect(try DeviceResolver.resolve(bySerial, for: .console, in: box).path == "/dev/ttyUSB3")
        let byID = try DeviceMatch.parse("/dev/serial/by-id/usb-HUAWEI_Technology_HUAWEI_Mobile-if02-port0")
        #expect(try DeviceResolver.resolve(byID, for: .modemPort, in: box).path == "/dev/ttyUSB2")
    }

    @Test("Two identical AT ports are ambiguous, and the error names both matches to choose from")
    func ambiguous() throws {
        let box = Self.box + (0...2).map { F.device(F.huaweiE1752(ttyIndex: 7 + $0, interface: $0, usbPort: "1-2")) }
        do {
            _ = try DeviceResolver.resolve(.auto, for: .modemPort, in: box)
            Issue.record("expected ambiguity")
        } catch {
            #expect(error.code == .ambiguous)
            #expect(error.message.contains("/dev/ttyUSB2") && error.message.contains("/dev/ttyUSB9"))
            #expect(error.message.contains("usb:12d1:1001,if=02"))
        }
    }

    @Test("No match names what is present")
    func noMatch() throws {
        do {
            _ = try DeviceResolver.resolve(try DeviceMatch.parse("usb:1199:9071"), for: .modemPort, in: Self.box)
            Issue.record("expected no match")
        } catch {
            #expect(error.code == .noMatch)
            #expect(error.message.contains("usb:0403:6001"))
        }
    }

    @Test("A literal path resolves to itself even when discovery does not know it (a pty)")
    func literal() throws {
        let r = try DeviceResolver.resolve(.path("/dev/pts/9"), for: .modemPort, in: Self.box)
        #expect(r.path == "/dev/pts/9" && r.device == nil)
        let known = try DeviceResolver.resolve(.path("/dev/ttyUSB2"), for: .modemPort, in: Self.box)
        #expect(known.device?.interfaceNumber == "02")
    }

    @Test("The suggestion printed by `devices` resolves back to the same device")
    func suggestionRoundTrip() throws {
        for d in Self.box {
            let m = try #require(DeviceMatch.suggestion(for: d))
            let parsed = try DeviceMatch.parse("\(m)")
            #expect(try DeviceResolver.resolve(parsed, for: .serialPort, in: Self.box).device?.syspath == d.syspath)
        }
    }
}

extension String {
    /// The fixture text with ttyUSB<from> renamed to ttyUSB<to> (the same cable on another number).
    func replacingTTY(_ from: Int, with to: Int) -> String {
        var s = self
        while let r = s.range(of: "ttyUSB\(from)") { s.replaceSubrange(r, with: "ttyUSB\(to)") }
        return s
    }
}

/// The device part of `oob-agent check`, against the same fixture box.
@Suite("Discovery: check findings")
struct DiscoveryCheckTests {
    @Test("Resolvable keys are ok, a ttyUSB path is a warning with the match to use, bad values are problems")
    func findings() {
        let findings = DeviceCheck.run(
            keys: [
                ("console.device", "auto", .console),
                ("link.device", "usb:12d1:1001,if=00", .linkDevice),
                ("link.interface", "usb:zz", .linkInterface),
                ("modem.port", "/dev/ttyUSB2", .modemPort),
            ],
            devices: DiscoveryMatchTests.box)
        let byKey = Dictionary(grouping: findings, by: \.key)
        #expect(byKey["console.device"]?.map(\.severity) == [.ok])
        #expect(byKey["link.device"]?.first?.message.contains("/dev/ttyUSB0") == true)
        #expect(byKey["link.interface"]?.map(\.severity) == [.problem])
        // A ttyUSB path works but is fragile: a warning naming the match to use instead; then ModemManager's lines.
        let modem = byKey["modem.port"] ?? []
        #expect(modem.first?.severity == .warning)
        #expect(modem.first?.fix == "set modem.port = \"usb:12d1:1001,if=02\"")
        #expect(modem.count >= 2)
        // A literal path discovery does not know and that does not exist is a problem.
        let missing = DeviceCheck.run(keys: [("console.device", "/dev/ttyNOPE9", .console)], devices: [])
        #expect(missing.map(\.severity) == [.problem])
    }
}
