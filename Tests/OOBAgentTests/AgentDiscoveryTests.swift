import ATModem
import Foundation
import Logging
import ModemEmulator
import PowerControl
import SerialIO
import Testing

@testable import OOBAgent

/// `modem.port` as a device match, through the daemon: device events drive the same `DeviceTracker` the udev monitor
/// (or the rescan fallback) drives, and the agent reopens the modem where it came back.
extension AgentIntegrationSuites {
    @Suite("Agent device discovery", .serialized, .timeLimit(.minutes(3)))
    struct AgentDiscoveryTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        /// A Huawei E1752's PCUI (AT) port, as udev describes it, whose device node is the emulator's pty.
        static func huaweiATPort(node: String, ttyIndex: Int) -> DiscoveredDevice? {
            DiscoveredDevice(properties: [
                "DEVPATH": "/devices/platform/soc/3f980000.usb/usb1/1-1/1-1:1.2/ttyUSB\(ttyIndex)/tty/ttyUSB\(ttyIndex)",
                "DEVNAME": node, "SUBSYSTEM": "tty", "ID_VENDOR": "HUAWEI_Technology", "ID_VENDOR_ID": "12d1",
                "ID_MODEL": "HUAWEI_Mobile", "ID_MODEL_ID": "1001", "ID_SERIAL": "HUAWEI_Technology_HUAWEI_Mobile", "ID_BUS": "usb",
                "ID_USB_INTERFACES": ":ffffff:080650:", "ID_USB_INTERFACE_NUM": "02", "ID_USB_DRIVER": "option",
            ])
        }

        @Test("the modem came back under a new name (USB reset): the agent finds it by its match and answers again", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func modemRenamed() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let firstPath = try #require(h.emulator.devicePath)
            let first = try #require(Self.huaweiATPort(node: firstPath, ttyIndex: 2))
            h.configuration.modem.port = .match("usb:12d1:1001,if=02")
            let (events, feed) = AsyncStream.makeStream(of: DeviceEvent.self)
            feed.yield(.rescanned([first]))
            let service = AgentService(
                configuration: h.configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                clock: SynchronizedClock(), deviceEvents: { _ in events })
            let task = Task { try await service.run() }
            defer { task.cancel() }
            let t = Int64(Date().timeIntervalSince1970)
            try h.deliver("STATUS \(h.code(at: t))", timestamp: t)
            #expect(await eventually { h.sentTexts().count == 1 }, "no reply while at \(firstPath)")

            // The USB reset: the AT port leaves, and comes back as another tty.
            h.emulator.vanish()
            feed.yield(.removed(syspath: first.syspath))
            #expect(await eventually { h.status()?.modem.present == false })
            // Take the freed pty number, so the stick really comes back under another name (as ttyUSB2 → ttyUSB5).
            // Tests running in parallel take and free pty numbers too: keep taking (bounded) until this one is held,
            // and should the stick still come back at the old name, unplug it and try again.
            var placeholders: [PseudoTerminal] = []
            defer { for p in placeholders { p.close() } }
            while placeholders.count < 64 && !placeholders.contains(where: { $0.slavePath == firstPath }) {
                placeholders.append(try PseudoTerminal())
            }
            var newPath = try #require(h.emulator.reappear())
            var tries = 0
            while newPath == firstPath && tries < 5 {
                tries += 1
                h.emulator.vanish()
                placeholders.append(try PseudoTerminal())
                newPath = try #require(h.emulator.reappear())
            }
            #expect(newPath != firstPath)
            feed.yield(.added(try #require(Self.huaweiATPort(node: newPath, ttyIndex: 5))))
            #expect(await eventually { h.status()?.modem.present == true }, "the agent did not reopen the modem at \(newPath)")
            try h.deliver("STATUS \(h.code(at: t + 30))", timestamp: t + 30)
            #expect(await eventually { h.sentTexts().count == 2 }, "no reply after the modem came back at \(newPath): \(h.sent)")
            feed.finish()
        }

        @Test("modem.port, link.device, link.interface and console.device accept auto and device matches")
        func configurationAcceptsMatches() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let text = minimalConfig(dir)
            let c = try ConfigurationLoader.parse(
                minimalConfig(
                    dir,
                    extra: "[link]\nmode = \"interface\"\ninterface = \"usb:12d1:1506,if=01\"\n[console]\ndevice = \"usb:0403:6001\"\n"
                ).replacingOccurrences(of: #"port = "/dev/ttyUSB2""#, with: #"port = "usb:12d1:1001,if=02""#))
            #expect(c.modem.port == .match("usb:12d1:1001,if=02"))
            #expect(c.link.interface == "usb:12d1:1506,if=01")
            #expect(c.console?.device == "usb:0403:6001")
            #expect(throws: AgentError.self) {
                try ConfigurationLoader.parse(text.replacingOccurrences(of: #"port = "/dev/ttyUSB2""#, with: #"port = "usb:zz:1001""#))
            }
        }

        @Test("[[power]] takes every key of the power module, [console] the console module's extra keys")
        func moduleKeys() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let c = try ConfigurationLoader.parse(
                minimalConfig(
                    dir,
                    extra: """
                        [console]
                        device = "/dev/ttyUSB3"
                        data_bits = 7
                        parity = "even"
                        stop_bits = 2
                        flow = "rtscts"
                        socket_group = "oob-console"
                        log_max_bytes = 65536
                        log_files = 2
                        scrollback = 4096
                        client_buffer = 131072
                        [[power]]
                        name = "router"
                        driver = "serial-relay"
                        device = "usb:0403:6001,serial=A50285BI"
                        channel = 2
                        off_time = "5s"
                        cycle = "pulse"
                        pulse = "700ms"
                        status_query = "board"
                        baud = 19200
                        without_session = false
                        [[power]]
                        name = "plug"
                        driver = "command"
                        command = "/usr/local/bin/plug"
                        args = ["--host", "127.0.0.1"]
                        timeout = "20s"
                        [[power]]
                        name = "fan"
                        driver = "gpio"
                        device = "/dev/gpiochip0"
                        channel = 17
                        active_low = true
                        """))
            let console = try #require(c.console)
            #expect(console.dataBits == 7 && console.parity == "even" && console.stopBits == 2 && console.flow == "rtscts")
            #expect(console.socketGroup == "oob-console" && console.logMaxBytes == 65536 && console.logFiles == 2)
            #expect(console.scrollback == 4096 && console.clientBuffer == 131072)
            #expect(c.power.count == 3)
            #expect(c.power[0].cycleMode == .pulse && c.power[0].pulse == .milliseconds(700) && c.power[0].statusQuery == .board)
            #expect(c.power[0].baudRate == 19200 && !c.power[0].allowWithoutSession && c.power[0].offTime == .seconds(5))
            #expect(c.power[1].arguments == ["--host", "127.0.0.1"] && c.power[1].timeout == .seconds(20))
            #expect(c.power[2].activeLow && c.power[2].channel == 17)
            do {
                _ = try ConfigurationLoader.parse(minimalConfig(dir, extra: "[[power]]\nname = \"x\"\ndriver = \"serial-relay\"\ndevice = \"/dev/ttyUSB4\"\nchannel = 1\ncycle = \"sideways\"\n"))
                Issue.record("a bad cycle mode was accepted")
            } catch let error as AgentError {
                #expect("\(error)".contains("cycle") && "\(error)".contains("off-on or pulse"), "\(error)")
            }
        }
    }
}
