import Foundation
import Logging
import SerialIO
import Synchronization
import OOBTestSupport
import Spawn
import Testing

@testable import ATModem

/// Discovery on this machine: libudev enumeration compared with /sys, the watcher's modes, the AT probe on ptys,
/// the ModemManager check (layer (c)).
@Suite("Discovery: libudev and probes on this machine", .serialized, .timeLimit(.minutes(2)))
struct DiscoveryLiveTests {
    static func sysClass(_ name: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/\(name)")) ?? [])
    }

    @Test("libudev enumerates exactly the ttys of /sys/class/tty")
    func ttysMatchSysfs() throws {
        let fromUdev = try DeviceDiscovery.ttyNames()
        let fromSys = Self.sysClass("tty")
        print("discovery: \(fromUdev.count) ttys via libudev, \(fromSys.count) in /sys/class/tty")
        #expect(!fromSys.isEmpty, "this machine has no /sys/class/tty")
        #expect(Set(fromUdev) == fromSys)
    }

    @Test("A full scan reports every tty and network interface, and only USB ones by default")
    func scan() throws {
        let all = try DeviceDiscovery.scan(includeNonUSB: true)
        #expect(Set(all.filter { $0.kind == .tty }.map(\.name)) == Self.sysClass("tty"))
        #expect(Set(all.filter { $0.kind == .net }.map(\.name)) == Self.sysClass("net"))
        for d in all where d.kind == .tty {
            #expect(d.path == "/dev/\(d.name)")
            #expect(d.syspath.hasPrefix("/devices/"))
        }
        let usbOnly = try DeviceDiscovery.scan()
        #expect(usbOnly.allSatisfy { $0.isUSB || $0.kind == .usb })
        // Whatever USB ttys this machine has must agree with sysfs about their USB identity.
        for d in usbOnly where d.kind == .tty {
            let sysDevice = "/sys\(d.usbDevicePath ?? "")/idVendor"
            let vendor = try String(contentsOfFile: sysDevice, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(d.vendorID == vendor)
        }
        print("discovery: \(usbOnly.count) USB devices here: \(usbOnly.map(\.name))")
    }

    @Test("Without a udev daemon the watcher says so and delivers rescans")
    func watcherFallback() async throws {
        let log = LogCapture()
        let watcher = DeviceWatcher(
            logger: log.logger, rescanIntervalMilliseconds: 200, controlPath: "/nonexistent/udev-control-\(getpid())")
        #expect(!watcher.usesMonitor)
        var seen = 0
        for await event in try watcher.events() {
            // Kernel uevents (from anything else happening on this machine) may come in between: only rescans count.
            guard case .rescanned(let list) = event else { continue }
            #expect(Set(list.map(\.syspath)) == Set(try DeviceDiscovery.scan().map(\.syspath)))
            seen += 1
            if seen == 2 { break }
        }
        #expect(seen == 2)
        #expect(log.messages.contains { $0.contains("no udev daemon") && $0.contains("rescans") })
    }

    @Test("The tracked changes of the real watcher: a literal pty path is found, auto with no modem is unresolved")
    func trackedChanges() async throws {
        let watcher = DeviceWatcher(
            logger: LogCapture().logger, rescanIntervalMilliseconds: 200, controlPath: "/nonexistent/udev-\(getpid())")
        let stream = try watcher.trackedChanges([
            DeviceWatch(name: "console.device", match: .path("/dev/pts/77"), purpose: .console),
            DeviceWatch(name: "modem.port", match: .usb(.init(vendorID: "ffff", productID: "0001")), purpose: .modemPort),
        ])
        var changes: [DeviceTrackerChange] = []
        for await change in stream {
            changes.append(change)
            if changes.count == 2 { break }
        }
        #expect(changes.first == .found(watch: "console.device", resolution: DeviceResolution(path: "/dev/pts/77", device: nil)))
        guard case .unresolved("modem.port", let error) = changes.last else {
            Issue.record("modem.port: \(changes)")
            return
        }
        #expect(error.code == .noMatch)
    }

    @Test("Without a udev daemon the kernel's own uevents still drive events promptly (root: a change on a tty)")
    func kernelUevents() async throws {
        guard getuid() == 0 else {
            try Test.cancel("writing /sys/class/tty/*/uevent needs root")
        }
        let ttys = try DeviceDiscovery.scan(includeNonUSB: true).filter { $0.kind == .tty && $0.name != "console" }
        guard let tty = ttys.first(where: { $0.name.hasPrefix("ttyS") }) ?? ttys.first else {
            try Test.cancel("no tty device here")
        }
        let log = LogCapture()
        let watcher = DeviceWatcher(
            logger: log.logger, rescanIntervalMilliseconds: 600_000, controlPath: "/nonexistent/udev-\(getpid())")
        var iterator = try watcher.events().makeAsyncIterator()
        guard case .rescanned = await iterator.next() else {
            Issue.record("no baseline")
            return
        }
        guard log.messages.contains(where: { $0.contains("listening to kernel uevents") }) else {
            try Test.cancel("kernel uevents are not delivered here (\(log.messages))")
        }
        // Ask the kernel to re-announce the device: a "change" uevent, which nothing else acts on without udevd.
        let uevent = "/sys\(tty.syspath)/uevent"
        try "change".write(toFile: uevent, atomically: false, encoding: .utf8)
        let next = await iterator.next()
        guard case .changed(let device) = next else {
            Issue.record("expected a change event for \(tty.name), got \(String(describing: next))")
            return
        }
        #expect(device.syspath == tty.syspath)
        #expect(device.path == tty.path)
    }

    @Test("waitUntilPresent: a literal path at once; an absent device waits until cancelled")
    func waitUntilPresent() async throws {
        let watcher = DeviceWatcher(
            logger: LogCapture().logger, rescanIntervalMilliseconds: 100, controlPath: "/nonexistent/udev-\(getpid())")
        #expect(try await watcher.waitUntilPresent(.path("/dev/pts/3"), for: .modemPort).path == "/dev/pts/3")
        let waiting = Task {
            try await watcher.waitUntilPresent(.usb(.init(vendorID: "ffff", productID: "0002")), for: .modemPort)
        }
        try await Task.sleep(for: .milliseconds(400))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        #expect(try DeviceDiscovery.resolve("/dev/ttyUSB9", for: .modemPort).path == "/dev/ttyUSB9")
        #expect(throws: DiscoveryError.self) { try DeviceDiscovery.resolve("usb:ffff:0003", for: .modemPort) }
    }

    @Test("With a udev daemon the watcher opens a libudev monitor and starts with a full list")
    func watcherMonitor() async throws {
        let log = LogCapture()
        // Any existing path stands for /run/udev/control: the monitor mode is chosen and the netlink socket opened.
        let watcher = DeviceWatcher(logger: log.logger, controlPath: "/proc/self/status")
        #expect(watcher.usesMonitor)
        var iterator = try watcher.events().makeAsyncIterator()
        let first = await iterator.next()
        guard case .rescanned = first else {
            Issue.record("first event is not a full list: \(String(describing: first))")
            return
        }
        #expect(log.messages.contains { $0.contains("listening to udev events") })
    }

    @Test("The AT probe tells a port that answers OK from a silent one")
    func probeAnswersAndSilence() async throws {
        // Everything that blocks (the probe's poll waits, the modem side's pty loop) runs on threads of its own.
        let modem = try PseudoTerminal()
        let path = modem.slavePath
        let box = UncheckedBox(modem)
        async let probe = offPool { ATPortProbe.probe(path: path, timeoutMilliseconds: 3000) }
        let seen = try await offPool { () throws -> String in
            let modem = box.value
            var got: [UInt8] = []
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline, !String(decoding: got, as: UTF8.self).contains("AT\r") {
                if modem.waitMasterReadable(timeoutMilliseconds: 100) { got += try modem.readMaster() }
            }
            _ = try modem.writeMaster(Array("\r\nOK\r\n".utf8))
            return String(decoding: got, as: UTF8.self)
        }
        let outcome = try await probe
        #expect(outcome == .answered, "probe: \(outcome), modem saw \(seen.debugDescription)")

        let silent = try PseudoTerminal()
        let silentPath = silent.slavePath
        #expect(try await offPool { ATPortProbe.probe(path: silentPath, timeoutMilliseconds: 400) } == .silent)
        let missing = "/dev/nonexistent-tty-\(getpid())"
        #expect(try await offPool { ATPortProbe.probe(path: missing) }.jsonValue == "error")
        withExtendedLifetime(silent) {}
    }

    @Test("The AT probe never touches a port another process holds")
    func probeBusy() async throws {
        let pty = try PseudoTerminal()
        let path = pty.slavePath
        let holder = try SpawnedProcess("/bin/sh", ["-c", "exec 3<>\(path); exec sleep 30"])
        defer { holder.terminate(grace: .zero) }
        let outcome = try await offPool { () -> ProbeOutcome in
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline, DeviceHolders.find(path: path).isEmpty { usleep(20_000) }
            return ATPortProbe.probe(path: path, timeoutMilliseconds: 500)
        }
        guard case .busy(let who) = outcome else {
            Issue.record("expected busy, got \(outcome)")
            return
        }
        #expect(who.contains("sleep"))
        #expect(pty.waitMasterReadable(timeoutMilliseconds: 0) == false, "nothing was sent to the held port")
    }

    @Test("ModemManager check: held port, not ignored, ignored, absent")
    func modemManagerCheck() {
        let modem = DiscoveryFixtures.device(DiscoveryFixtures.huaweiE1752(ttyIndex: 2, interface: 2))
        let mm = PortHolder(pid: 321, name: "ModemManager")
        let held = ModemManagerCheck.evaluate(
            modemPath: "/dev/ttyUSB2", modemManagerPIDs: [321], holders: [mm], device: modem)
        #expect(held.map(\.severity) == [ModemManagerFinding.Severity.problem])
        #expect(held[0].message.contains("ModemManager (pid 321) holds the modem port /dev/ttyUSB2"))
        #expect(held[0].fix?.contains("ID_MM_DEVICE_IGNORE") == true)

        let notIgnored = ModemManagerCheck.evaluate(
            modemPath: "/dev/ttyUSB2", modemManagerPIDs: [321], holders: [], device: modem)
        #expect(notIgnored.map(\.severity) == [ModemManagerFinding.Severity.warning])

        var ignoredProps = modem.properties
        ignoredProps["ID_MM_DEVICE_IGNORE"] = "1"
        let ignored = ModemManagerCheck.evaluate(
            modemPath: "/dev/ttyUSB2", modemManagerPIDs: [321], holders: [],
            device: DiscoveredDevice(properties: ignoredProps))
        #expect(ignored.map(\.severity) == [ModemManagerFinding.Severity.ok])

        let absent = ModemManagerCheck.evaluate(modemPath: "/dev/ttyUSB2", modemManagerPIDs: [], holders: [], device: nil)
        #expect(absent.map(\.severity) == [ModemManagerFinding.Severity.ok])

        // On this machine: the check runs and agrees with /proc.
        let here = ModemManagerCheck.run(modemPath: "/dev/null", device: nil)
        #expect(!here.isEmpty)
        #expect(ModemManagerCheck.modemManagerPIDs().isEmpty == here.contains { $0.message == "ModemManager is not running" })
    }

    @Test("The udev rules name the modem for ModemManager to ignore and give the console a stable name")
    func udevRules() {
        let rules = UdevRules.render(
            modem: DiscoveryFixtures.device(DiscoveryFixtures.huaweiE1752(ttyIndex: 2, interface: 2)),
            console: DiscoveryFixtures.device(DiscoveryFixtures.ftdiFT232R))
        #expect(rules.contains("ATTRS{idVendor}==\"12d1\", ATTRS{idProduct}==\"1001\", ENV{ID_MM_DEVICE_IGNORE}=\"1\""))
        #expect(rules.contains("ENV{ID_USB_INTERFACE_NUM}==\"02\", SYMLINK+=\"oob-modem\""))
        #expect(rules.contains("ENV{ID_SERIAL_SHORT}==\"A900fCv0\""))
        #expect(rules.contains("SYMLINK+=\"oob-console\""))
    }
}

/// A log handler that keeps messages in memory (the global logging system is never bootstrapped).
final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])
    var messages: [String] { storage.withLock { $0 } }
    var logger: Logger {
        let storage = self
        return Logger(label: "test") { _ in Handler(capture: storage) }
    }
    func append(_ s: String) { storage.withLock { $0.append(s) } }

    struct Handler: LogHandler {
        let capture: LogCapture
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
            let meta = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(meta)")
        }
    }
}

/// Hands a non-Sendable test object to one helper thread. Sound: the test does not touch it meanwhile.
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
