import ATModem
import Foundation
import Logging
import ModemEmulator
import SerialConsole
import SerialIO
import Testing

@testable import OOBAgent

/// `console.device` as a device match, through the daemon: device events drive the same `DeviceTracker` the udev
/// monitor (or the rescan fallback) drives, and the console relay moves to where the USB-serial adapter came back.
extension AgentIntegrationSuites {
    @Suite("Agent console discovery", .serialized, .timeLimit(.minutes(3)))
    struct AgentConsoleDiscoveryTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        /// An FTDI FT232R cable (serial A900fCv0), as udev describes it, whose device node is a test pty.
        static func ftdiCable(node: String, ttyIndex: Int) -> DiscoveredDevice? {
            DiscoveredDevice(properties: [
                "DEVPATH": "/devices/pci0000:00/0000:00:12.0/usb3/3-1/3-1:1.0/ttyUSB\(ttyIndex)/tty/ttyUSB\(ttyIndex)",
                "DEVNAME": node, "SUBSYSTEM": "tty", "ID_VENDOR": "FTDI", "ID_VENDOR_ID": "0403",
                "ID_MODEL": "FT232R_USB_UART", "ID_MODEL_ID": "6001", "ID_SERIAL": "FTDI_FT232R_USB_UART_A900fCv0",
                "ID_SERIAL_SHORT": "A900fCv0", "ID_BUS": "usb", "ID_USB_INTERFACES": ":ffffff:",
                "ID_USB_INTERFACE_NUM": "00", "ID_USB_DRIVER": "ftdi_sio",
            ])
        }

        /// How the device list reaches the tracker: udev's add/remove events, or (no udev daemon) full rescans.
        enum Feed: String, CaseIterable, CustomTestStringConvertible {
            case udevEvents = "udev events"
            case rescans = "periodic rescans"
            var testDescription: String { rawValue }
        }

        @Test(
            "the console adapter came back under a new name: the relay reopens it there, clients are told, status shows the path",
            .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"), arguments: Feed.allCases)
        func consoleRenamed(feedKind: Feed) async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let socket = h.dir.file("console.sock")
            let logPath = h.dir.file("console.log")
            let value = "usb:0403:6001,serial=A900fCv0"
            h.configuration.console = .init(device: value, baud: 115_200, socket: socket, log: logPath)
            // The modem is found by its match too: both keys follow the one device event stream.
            let modemPath = try #require(h.emulator.devicePath)
            let modem = try #require(AgentDiscoveryTests.huaweiATPort(node: modemPath, ttyIndex: 2))
            h.configuration.modem.port = .match("usb:12d1:1001,if=02")

            var router = try PseudoTerminal()
            defer { router.close() }
            let firstPath = router.slavePath
            let first = try #require(Self.ftdiCable(node: firstPath, ttyIndex: 0))
            let (events, feed) = AsyncStream.makeStream(of: DeviceEvent.self)
            feed.yield(.rescanned([modem, first]))
            let service = AgentService(
                configuration: h.configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                clock: SynchronizedClock(), deviceEvents: { _ in events })
            let task = Task { try await service.run() }
            defer { task.cancel() }

            #expect(
                await eventually { h.status()?.console?.state == "open" && h.status()?.console?.path == firstPath },
                "the console did not open at \(firstPath): \(String(describing: h.status()?.console))")
            let client = try ConsoleClient(socketPath: socket, hello: ConsoleHello(mode: .writer, scrollbackLimit: 0))
            defer { client.close() }
            var received = Received()
            // Both ways on the first device.
            try client.sendInput(Array("one\r".utf8))
            #expect(try readRouter(router, count: 4) == Array("one\r".utf8))
            _ = try router.writeMaster(Array("R1> ".utf8))
            receive(client, into: &received) { String(decoding: $0.output, as: UTF8.self).contains("R1> ") }

            // The pty the adapter comes back as is made now, while the old one is still open, so its name differs
            // (as ttyUSB0 → ttyUSB3) whatever other tests do with ptys meanwhile; the relay learns of it only later.
            let comeback = try PseudoTerminal()
            // The adapter leaves: its tty hangs up, and udev (or the next rescan) no longer lists it.
            router.close()
            switch feedKind {
            case .udevEvents: feed.yield(.removed(syspath: first.syspath))
            case .rescans: feed.yield(.rescanned([modem]))
            }
            #expect(await eventually { h.status()?.console?.state == "waiting" }, "\(String(describing: h.status()?.console))")
            let waiting = try #require(h.status()?.console)
            #expect(waiting.path == nil && waiting.device == value)
            #expect(waiting.detail?.contains(firstPath) == true, "\(waiting)")
            receive(client, into: &received) { r in r.notices.contains { $0.kind == .deviceLost && $0.text.contains("waiting") } }
            #expect(received.notices.contains { $0.kind == .deviceLost && $0.text.contains("waiting") }, "\(received.notices)")

            // It comes back under another name.
            router = comeback
            let newPath = router.slavePath
            #expect(newPath != firstPath)
            let back = try #require(Self.ftdiCable(node: newPath, ttyIndex: 3))
            switch feedKind {
            case .udevEvents: feed.yield(.added(back))
            case .rescans: feed.yield(.rescanned([modem, back]))
            }
            #expect(
                await eventually { h.status()?.console?.state == "open" && h.status()?.console?.path == newPath },
                "the console did not reopen at \(newPath): \(String(describing: h.status()?.console))")
            receive(client, into: &received) { r in r.notices.contains { $0.kind == .deviceBack && $0.text.contains(newPath) } }
            #expect(received.notices.contains { $0.kind == .deviceBack && $0.text.contains(newPath) }, "\(received.notices)")

            // Typed by the client, it arrives at the NEW device; the router's output there reaches the client.
            try client.sendInput(Array("show version\r".utf8))
            #expect(try readRouter(router, count: 13) == Array("show version\r".utf8))
            _ = try router.writeMaster(Array("R2# ".utf8))
            receive(client, into: &received) { String(decoding: $0.output, as: UTF8.self).contains("R2# ") }
            #expect(String(decoding: received.output, as: UTF8.self).hasSuffix("R2# "))

            // `status --json` and `status` name the device in use; the console log marks the move.
            #expect(await eventually { h.status()?.modem.present == true }, "the modem, found by its match, did not open")
            let status = try #require(h.status())
            let json = ControlJSON.line(status)
            #expect(json.contains("\"path\":\"\(newPath.replacingOccurrences(of: "/", with: "\\/"))\""), "\(json)")
            #expect(json.contains("\"state\":\"open\""), "\(json)")
            #expect(status.devicesInUse == [newPath: "console.device", modemPath: "modem.port"], "\(status.devicesInUse)")
            #expect(status.humanDescription.contains("console: \(newPath) (open, 1 attached) for \(value)"), "\(status.humanDescription)")
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            #expect(log.contains("device gone: the console adapter at \(firstPath) left"), "\(log)")
            #expect(log.contains("device now at \(newPath) (was \(firstPath))"), "\(log)")
            #expect(log.contains("R1> ") && log.contains("R2# "), "\(log)")
            feed.finish()
        }

        @Test(
            "the real daemon with a console match nothing here fits: the relay waits and says why (status --json, the client), on the real device watcher",
            .enabled(if: Binary.exists && sshdAvailable, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func daemonConsoleWaits() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let value = "usb:0403:6001,serial=NOPE\(UInt16.random(in: 0...UInt16.max))"
            let socket = h.dir.file("console.sock")
            let text = try String(contentsOfFile: h.configPath, encoding: .utf8)
                + "\n[console]\ndevice = \"\(value)\"\nsocket = \"\(socket)\"\nlog = \"\(h.dir.file("console.log"))\"\n"
            try text.write(toFile: h.configPath, atomically: true, encoding: .utf8)
            let logPath = h.dir.file("daemon.log")
            let daemon = try Binary.startDaemon(config: h.configPath, logPath: logPath)
            defer { daemon.kill9() }
            func daemonLog() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

            var console: [String: Any] = [:]
            let waiting = await eventually {
                let r = try? Binary.run(["status", "--config", h.configPath, "--json"])
                guard let out = r?.out, let object = try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
                    let c = object["console"] as? [String: Any]
                else { return false }
                console = c
                return c["state"] as? String == "waiting"
            }
            #expect(waiting, "\(console)\n\(daemonLog())")
            #expect(console["device"] as? String == value)
            #expect(console["path"] == nil || console["path"] is NSNull, "\(console)")
            #expect((console["detail"] as? String)?.contains("no device fits") == true, "\(console)")
            // The production watcher: the udev monitor, or (no udev daemon) the rescans.
            let log = daemonLog()
            #expect(
                log.contains("listening to udev events") || log.contains("falling back to periodic rescans"), "\(log)")

            let client = try ConsoleClient(socketPath: socket, hello: ConsoleHello(mode: .writer, scrollbackLimit: 0))
            defer { client.close() }
            var received = Received()
            receive(client, into: &received) { r in r.notices.contains { $0.kind == .deviceLost } }
            #expect(
                received.notices.contains { $0.kind == .deviceLost && $0.text.contains("no device fits") && $0.text.contains("waiting") },
                "\(received.notices)")
            daemon.signal(SIGTERM)
            #expect(await eventually { !daemon.isRunning })
            #expect(daemon.exitStatus == 0)
        }

        @Test("check: a console.device match that resolves to nothing is a problem with the fix", .enabled(if: Binary.exists, "needs the oob-agent binary built next to the tests (swift build --build-tests)"))
        func checkConsoleMatchesNothing() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let value = "usb:0403:6001,serial=NOPE0000"
            let config = dir.write("agent.toml", minimalConfig(dir, extra: "[console]\ndevice = \"\(value)\"\n"), mode: 0o644)
            let r = try Binary.run(["check", "--config", config])
            #expect(r.status == 1)
            let line = r.out.split(separator: "\n").first { $0.contains("console.device") }.map(String.init) ?? ""
            #expect(line.hasPrefix("PROBLEM: console.device = \"\(value)\": no device fits"), "\(r.out)")
            #expect(line.contains("check the match with `oob-agent devices`, or plug the device in"), "\(line)")
        }

        @Test("console.device as a literal path: the relay runs inside the agent and status shows it", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func consoleLiteralPath() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let router = try PseudoTerminal()
            defer { router.close() }
            h.configuration.console = .init(device: router.slavePath, baud: 115_200, socket: h.dir.file("console.sock"), log: h.dir.file("console.log"))
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            #expect(await eventually { h.status()?.console?.state == "open" }, "\(String(describing: h.status()?.console))")
            #expect(h.status()?.console?.path == router.slavePath)
            #expect(await eventually { h.status()?.modem.present == true })
            #expect(h.status()?.modem.path == h.modemLink)
            #expect(h.status()?.devicesInUse == [router.slavePath: "console.device", h.modemLink: "modem.port"])
        }
    }
}

/// What a console client received.
private struct Received {
    var output: [UInt8] = []
    var notices: [ConsoleNotice] = []
}

/// Receives frames until `until` holds (or 10 s pass).
private func receive(_ client: ConsoleClient, into received: inout Received, until: (Received) -> Bool) {
    let deadline = Monotonic.now() + 10_000_000_000
    while !until(received), Monotonic.now() < deadline {
        guard let frame = try? client.receive(timeoutMilliseconds: 50) else { continue }
        switch frame {
        case .output(let bytes): received.output += bytes
        case .notice(let notice): received.notices.append(notice)
        default: break
        }
    }
}

/// Reads the router's side of the pty until `count` bytes came (or 10 s pass).
private func readRouter(_ router: PseudoTerminal, count: Int) throws -> [UInt8] {
    var got: [UInt8] = []
    let deadline = Monotonic.now() + 10_000_000_000
    while got.count < count, Monotonic.now() < deadline {
        if router.waitMasterReadable(timeoutMilliseconds: 50) { got += try router.readMaster(maxCount: 4096) }
    }
    return got
}
