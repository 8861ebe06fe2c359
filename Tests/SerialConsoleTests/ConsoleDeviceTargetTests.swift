// The relay told by device discovery where its device is (`ConsoleRelay.useDevice(_:)`): a USB-serial adapter that
// came back under another name, or that is gone.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SerialIO
import Testing

@testable import SerialConsole

@Suite("Console device moved or gone (discovery)")
struct ConsoleDeviceTargetPureTests {
    let a = ConsoleClientID(1)
    let peer = ConsolePeer(uid: 1000, pid: 42, userName: "alice")

    @Test("gone: clients are told once that the relay waits, input is refused; back at a new path: the move is marked")
    func waitingThenMoved() throws {
        var m = ConsoleRelayStateMachine()
        _ = m.deviceOpened(firstTime: true)
        m.connected(a, peer: peer)
        _ = try m.hello(a, mode: .writer)
        _ = m.deviceLost(reason: "the device hung up")
        let waiting = m.deviceWaiting(reason: "the console adapter at /dev/ttyUSB0 left")
        #expect(waiting.contains(.record(.deviceWaiting(reason: "the console adapter at /dev/ttyUSB0 left"))))
        #expect(waiting.contains { if case .notify(a, let n) = $0 { n.kind == .deviceLost && n.text.contains("waiting") } else { false } })
        #expect(m.deviceWaiting(reason: "the console adapter at /dev/ttyUSB0 left").isEmpty, "told twice")
        #expect(try m.input(from: a) != .forwardInput)
        // A loss reported while waiting does not turn the waiting back into retrying.
        #expect(m.deviceLost(reason: "read: EIO").isEmpty)
        let b = ConsoleClientID(2)
        m.connected(b, peer: peer)
        let hello = try m.hello(b, mode: .readOnly)
        #expect(hello.contains { if case .notify(b, let n) = $0 { n.text.contains("waiting for it to come back") } else { false } })

        let moved = m.deviceOpened(at: "/dev/ttyUSB3", previous: "/dev/ttyUSB0")
        #expect(moved.contains(.record(.deviceMoved(from: "/dev/ttyUSB0", to: "/dev/ttyUSB3"))))
        #expect(moved.contains { if case .notify(a, let n) = $0 { n.kind == .deviceBack && n.text.contains("/dev/ttyUSB3") } else { false } })
        #expect(try m.input(from: a) == .forwardInput)
        #expect(ConsoleEvent.deviceMoved(from: "/dev/ttyUSB0", to: "/dev/ttyUSB3").logText == "device now at /dev/ttyUSB3 (was /dev/ttyUSB0)")
    }
}

extension ConsoleRelayPTYTests {
    @Test("gone: the relay stops retrying until discovery names the device; at its new path both ways work again")
    func deviceGoneThenFoundElsewhere() async throws {
        let h = try RelayHarness()
        try await h.start()
        let writer = try h.attach(.writer)
        var w = Received()
        try h.routerWrite(Array("first\r\n".utf8))
        collect(writer, into: &w) { $0.output.count >= 7 }

        h.unplug()
        h.relay.useDevice(.gone(reason: "the console adapter at /dev/ttyUSB0 left"))
        collect(writer, into: &w) { $0.notices.contains { $0.text.contains("waiting for it to come back") } }
        #expect(w.notices.contains { $0.kind == .deviceLost && $0.text.contains("waiting for it to come back") })
        try await waitFor("the relay to wait") { h.relay.statistics.waitingReason != nil }
        #expect(h.relay.statistics.devicePath == nil)

        // The old path works again, but discovery has not named it: the relay does not spin on it.
        try h.plugIn()
        try await Task.sleep(for: .milliseconds(1500))  // several of the harness's 400 ms reopen rounds
        #expect(!h.relay.statistics.deviceOpen, "the relay retried a device discovery said was gone")

        let moved = try PseudoTerminal()
        defer { moved.close() }
        h.relay.useDevice(.path(moved.slavePath))
        collect(writer, into: &w) { $0.notices.contains { $0.kind == .deviceBack } }
        #expect(w.notices.contains { $0.kind == .deviceBack && $0.text.contains("back at \(moved.slavePath)") })
        try await waitFor("the device to open at its new path") { h.relay.statistics.deviceOpen }
        #expect(h.relay.statistics.devicePath == moved.slavePath && h.relay.statistics.waitingReason == nil)

        try writer.sendInput(Array("show run\r".utf8))
        var got: [UInt8] = []
        let deadline = Monotonic.now() + 10_000_000_000
        while got.count < 9, Monotonic.now() < deadline {
            if moved.waitMasterReadable(timeoutMilliseconds: 50) { got += try moved.readMaster(maxCount: 4096) }
        }
        #expect(got == Array("show run\r".utf8))
        _ = try moved.writeMaster(Array("second\r\n".utf8))
        collect(writer, into: &w) { $0.output.count >= 15 }
        #expect(w.output == Array("first\r\nsecond\r\n".utf8))
        try await h.stop()
        let log = h.logText()
        #expect(log.contains("device gone: the console adapter at /dev/ttyUSB0 left"), "\(log)")
        #expect(log.contains("device now at \(moved.slavePath) (was \(h.devicePath))"), "\(log)")
    }

    @Test("moved while open: the relay closes the old path and opens the new one; told before start, it starts waiting")
    func movedWhileOpenAndGoneAtStart() async throws {
        let h = try RelayHarness()
        try await h.start()
        let writer = try h.attach(.writer)
        var w = Received()
        let other = try PseudoTerminal()
        defer { other.close() }
        h.relay.useDevice(.path(other.slavePath))
        collect(writer, into: &w) { $0.notices.contains { $0.kind == .deviceBack } }
        #expect(w.notices.contains { $0.kind == .deviceBack && $0.text.contains(other.slavePath) })
        try await waitFor("the device to open at the new path") { h.relay.statistics.devicePath == other.slavePath && h.relay.statistics.deviceOpen }
        try await h.stop()

        // A relay told before it runs that its device is gone starts waiting, and never opens the configured path.
        let g = try RelayHarness()
        g.relay.useDevice(.gone(reason: "console.device = \"auto\": no device fits"))
        let relay = g.relay
        let task = Task { try await relay.run() }
        try await waitFor("the relay to listen") { relay.statistics.listening }
        #expect(relay.statistics.waitingReason == "console.device = \"auto\": no device fits")
        let client = try g.attach(.writer)
        var c = Received()
        collect(client, into: &c) { $0.notices.contains { $0.kind == .deviceLost } }
        #expect(c.notices.contains { $0.text.contains("no device fits") && $0.text.contains("waiting") })
        #expect(!relay.statistics.deviceOpen)
        task.cancel()
        try await task.value
        let log = g.logText()
        #expect(log.contains("relay started without its device (console.device = \"auto\": no device fits)"), "\(log)")
        #expect(!log.contains("device gone:"), "\(log)")
    }
}
