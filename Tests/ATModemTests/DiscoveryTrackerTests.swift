import Testing

@testable import ATModem

/// The reaction to devices leaving and coming back, driven through `DeviceTracker.handle(_:)`: the entry point the
/// udev monitor and the rescan fallback feed (layer (a), pure).
@Suite("Discovery: tracking devices that leave and come back")
struct DiscoveryTrackerTests {
    typealias F = DiscoveryFixtures

    static func e1752(first: Int, usbPort: String = "1-1") -> [DiscoveredDevice] {
        (0...2).map { F.device(F.huaweiE1752(ttyIndex: first + $0, interface: $0, usbPort: usbPort)) }
    }

    @Test("The modem left as ttyUSB2 and came back as ttyUSB5: the match resolves to the new path")
    func renamedAfterReset() throws {
        var tracker = DeviceTracker(devices: Self.e1752(first: 0) + [F.device(F.ftdiFT232R.replacingTTY(0, with: 3))])
        let start = tracker.watch("modem.port", match: try DeviceMatch.parse("usb:12d1:1001,if=02"), purpose: .modemPort)
        #expect(start.count == 1)
        guard case .found(_, let first) = start.first else {
            Issue.record("not found at start: \(start)")
            return
        }
        #expect(first.path == "/dev/ttyUSB2")
        let console = tracker.watch("console.device", match: .auto, purpose: .console)
        #expect(tracker.resolution(of: "console.device")?.path == "/dev/ttyUSB3")
        #expect(console.count == 1)

        // USB reset: udev removes the three ports (one event each, as the monitor delivers them).
        var changes: [DeviceTrackerChange] = []
        for d in Self.e1752(first: 0) { changes += tracker.handle(.removed(syspath: d.syspath)) }
        #expect(changes.contains(.lost(watch: "modem.port", path: "/dev/ttyUSB2")))
        #expect(changes.contains { if case .unresolved(let w, let e) = $0 { w == "modem.port" && e.code == .noMatch } else { false } })
        #expect(tracker.resolution(of: "modem.port") == nil)
        // The console cable was not touched.
        #expect(!changes.contains { if case .lost("console.device", _) = $0 { true } else { false } })

        // It comes back on another bus port with ttyUSB4..6: the AT port is now ttyUSB5... as if01, ttyUSB6 as if02.
        changes = []
        for d in Self.e1752(first: 4, usbPort: "1-3") { changes += tracker.handle(.added(d)) }
        let found = changes.compactMap { c -> DeviceResolution? in
            if case .found("modem.port", let r) = c { return r } else { return nil }
        }
        #expect(found.map(\.path) == ["/dev/ttyUSB6"])
        #expect(tracker.resolution(of: "modem.port")?.device?.interfaceNumber == "02")
    }

    @Test("Exactly the issue's case: ttyUSB2 leaves, ttyUSB5 arrives with the same identity")
    func ttyUSB2ToTtyUSB5() throws {
        let old = F.device(F.huaweiE1752(ttyIndex: 2, interface: 2))
        let new = F.device(F.huaweiE1752(ttyIndex: 5, interface: 2, usbPort: "1-2"))
        var tracker = DeviceTracker(devices: [old])
        _ = tracker.watch("modem.port", match: .auto, purpose: .modemPort)
        #expect(tracker.resolution(of: "modem.port")?.path == "/dev/ttyUSB2")
        _ = tracker.handle(.removed(syspath: old.syspath))
        let back = tracker.handle(.added(new))
        #expect(back == [.found(watch: "modem.port", resolution: DeviceResolution(path: "/dev/ttyUSB5", device: new))])
    }

    @Test("Removing the USB device removes its ports (one remove event for the parent)")
    func parentRemoval() {
        let ports = Self.e1752(first: 0)
        var tracker = DeviceTracker(devices: ports)
        _ = tracker.watch("modem.port", match: .auto, purpose: .modemPort)
        let usb = try! #require(ports[0].usbDevicePath)
        let changes = tracker.handle(.removed(syspath: usb))
        #expect(changes.first == .lost(watch: "modem.port", path: "/dev/ttyUSB2"))
        #expect(tracker.devices.isEmpty)
    }

    @Test("The rescan fallback drives the same reactions")
    func rescans() {
        var tracker = DeviceTracker()
        let start = tracker.watch("modem.port", match: .auto, purpose: .modemPort)
        #expect(start.count == 1)
        #expect(tracker.handle(.rescanned([])).isEmpty, "the same error is not repeated on every rescan")
        let up = tracker.handle(.rescanned(Self.e1752(first: 0)))
        #expect(up.map { if case .found(_, let r) = $0 { r.path } else { "?" } } == ["/dev/ttyUSB2"])
        #expect(tracker.handle(.rescanned(Self.e1752(first: 0))).isEmpty, "no change, no event")
        let moved = tracker.handle(.rescanned(Self.e1752(first: 3, usbPort: "1-4")))
        #expect(moved.count == 2)
        #expect(moved.first == .lost(watch: "modem.port", path: "/dev/ttyUSB2"))
        #expect(tracker.resolution(of: "modem.port")?.path == "/dev/ttyUSB5")
    }

    @Test("A resolved watch stays on its device when a second modem appears")
    func sticky() {
        var tracker = DeviceTracker(devices: Self.e1752(first: 0))
        _ = tracker.watch("modem.port", match: .auto, purpose: .modemPort)
        let changes = tracker.handle(.added(F.device(F.huaweiE1752(ttyIndex: 9, interface: 2, usbPort: "1-5"))))
        #expect(changes.isEmpty)
        #expect(tracker.resolution(of: "modem.port")?.path == "/dev/ttyUSB2")
    }

    @Test("A literal path is lost when its device is removed and found when it returns")
    func literalPath() {
        let port = F.device(F.huaweiE1752(ttyIndex: 2, interface: 2))
        var tracker = DeviceTracker(devices: [port])
        _ = tracker.watch("modem.port", match: .path("/dev/ttyUSB2"), purpose: .modemPort)
        #expect(tracker.resolution(of: "modem.port")?.device == port)
        let gone = tracker.handle(.removed(syspath: port.syspath))
        #expect(gone.first == .lost(watch: "modem.port", path: "/dev/ttyUSB2"))
        let back = tracker.handle(.added(port))
        #expect(back == [.found(watch: "modem.port", resolution: DeviceResolution(path: "/dev/ttyUSB2", device: port))])
        // A pty path that discovery never lists stays resolved whatever happens.
        _ = tracker.watch("console.device", match: .path("/dev/pts/4"), purpose: .console)
        #expect(tracker.handle(.rescanned([])).filter { if case .lost("console.device", _) = $0 { true } else { false } }.isEmpty)
        #expect(tracker.resolution(of: "console.device")?.path == "/dev/pts/4")
    }
}
