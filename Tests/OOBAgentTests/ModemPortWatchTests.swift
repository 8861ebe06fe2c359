import ATModem
import Logging
import Testing

@testable import OOBAgent

/// The modem loop learns that `modem.port` moved (a USB reset renamed the stick) from the device event itself,
/// without polling the watch on a timer.
@Suite("modem.port watch: a move wakes the modem loop", .serialized, .timeLimit(.minutes(1)))
struct ModemPortWatchTests {
    static let logger = Logger(label: "test.watch", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A Huawei E1752 AT port (interface 02) as udev describes it.
    static func e1752(tty: Int, usbPort: String) throws -> DiscoveredDevice {
        try #require(
            DiscoveredDevice(properties: [
                "DEVPATH": "/devices/platform/soc/3f980000.usb/usb1/\(usbPort)/\(usbPort):1.2/ttyUSB\(tty)/tty/ttyUSB\(tty)",
                "DEVNAME": "/dev/ttyUSB\(tty)", "SUBSYSTEM": "tty", "ID_VENDOR_ID": "12d1", "ID_MODEL_ID": "1001",
                "ID_BUS": "usb", "ID_USB_INTERFACE_NUM": "02", "ID_USB_DRIVER": "option",
            ]))
    }

    /// Waits (bounded) until `condition` holds.
    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test("waitUntilMoved returns when the modem shows up under another path, not while it is gone or back at the same")
    func moveWakesTheWaiter() async throws {
        let watch = try ModemPortWatch(value: "usb:12d1:1001,if=02")
        let (events, feed) = AsyncStream.makeStream(of: DeviceEvent.self)
        let first = try Self.e1752(tty: 2, usbPort: "1-1")
        let runner = Task { await watch.run(events: events, logger: Self.logger) }
        defer {
            feed.finish()
            runner.cancel()
        }
        feed.yield(.rescanned([first]))
        #expect(await eventually { watch.path == "/dev/ttyUSB2" })

        let moved = Task { await watch.waitUntilMoved(from: "/dev/ttyUSB2"); return watch.path }
        // Gone (USB reset), then back under the same name: not a move.
        feed.yield(.removed(syspath: first.syspath))
        #expect(await eventually { watch.path == nil })
        feed.yield(.added(first))
        #expect(await eventually { watch.path == "/dev/ttyUSB2" })
        feed.yield(.removed(syspath: first.syspath))
        #expect(await eventually { watch.path == nil })
        // Back as ttyUSB5 on another port: the waiter wakes and sees the new path.
        feed.yield(.added(try Self.e1752(tty: 5, usbPort: "1-3")))
        #expect(await moved.value == "/dev/ttyUSB5")
    }

    @Test("a wait that is cancelled returns at once (the modem loop's task group ends)")
    func cancelledWaitReturns() async throws {
        let watch = try ModemPortWatch(value: "usb:12d1:1001,if=02")
        let waiter = Task { await watch.waitUntilMoved(from: "/dev/ttyUSB2") }
        waiter.cancel()
        await waiter.value
        // And a wait that starts after the move returns at once too.
        let (events, feed) = AsyncStream.makeStream(of: DeviceEvent.self)
        let runner = Task { await watch.run(events: events, logger: Self.logger) }
        defer {
            feed.finish()
            runner.cancel()
        }
        feed.yield(.rescanned([try Self.e1752(tty: 7, usbPort: "1-2")]))
        #expect(await eventually { watch.path == "/dev/ttyUSB7" })
        await watch.waitUntilMoved(from: "/dev/ttyUSB2")
        #expect(watch.path == "/dev/ttyUSB7")
    }
}
