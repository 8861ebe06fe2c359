import ATModem
import Foundation
import Logging
import Synchronization
import Testing

@testable import OOBAgent

/// `link.interface` as a device match: resolved afresh at every session attempt, so a stick that came back under
/// another interface name between two sessions is found.
extension AgentIntegrationSuites {
    @Suite("Agent link discovery", .serialized, .timeLimit(.minutes(3)))
    struct AgentLinkDiscoveryTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        /// A Huawei E3372h (HiLink, cdc_ether) network interface named `name`, as udev describes it.
        static func hilink(name: String) -> DiscoveredDevice? {
            DiscoveredDevice(properties: [
                "DEVPATH": "/devices/platform/fc880000.usb/usb1/1-1/1-1.2/1-1.2:1.0/net/\(name)", "SUBSYSTEM": "net",
                "INTERFACE": name, "ID_BUS": "usb", "ID_VENDOR": "HUAWEI_MOBILE", "ID_VENDOR_ID": "12d1",
                "ID_MODEL": "HUAWEI_MOBILE", "ID_MODEL_ID": "14dc", "ID_USB_INTERFACES": ":020600:0a0000:080650:",
                "ID_USB_INTERFACE_NUM": "00", "ID_USB_DRIVER": "cdc_ether",
            ])
        }

        @Test("a link.interface match is resolved afresh at each session: the interface renamed between sessions is the one used", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func linkInterfaceRenamedBetweenSessions() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            // Names no interface here has: each session fails at "does not exist", naming the interface it resolved to.
            let suffix = String(UInt32.random(in: 0..<0xFFFF), radix: 16)
            let (first, second) = ("oobA\(suffix)", "oobB\(suffix)")
            let present = Mutex<[DiscoveredDevice]>([try #require(Self.hilink(name: first))])
            h.configuration.link.mode = .interface
            h.configuration.link.interface = "usb:12d1:14dc"
            h.configuration.session.attempts = 1
            let service = AgentService(
                configuration: h.configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                clock: SynchronizedClock(), deviceScan: { present.withLock { $0 } })
            let task = Task { try await service.run() }
            defer { task.cancel() }
            let socket = h.configuration.state.controlSocket
            #expect(await eventually { h.status() != nil })

            _ = try await Task.detached { try ControlClient.send(ControlRequest(command: "up", minutes: 5), to: socket) }.value
            #expect(
                await eventually { h.status()?.lastSession?.reason.contains(first) == true },
                "\(String(describing: h.status()))")

            // Between the sessions the stick re-enumerated: its interface has another name now.
            let renamed = try #require(Self.hilink(name: second))
            present.withLock { $0 = [renamed] }
            _ = try await Task.detached { try ControlClient.send(ControlRequest(command: "up", minutes: 5), to: socket) }.value
            #expect(
                await eventually { h.status()?.lastSession?.reason.contains(second) == true },
                "\(String(describing: h.status()))")

            // Gone altogether: the session says the match found nothing, and how to fix it.
            present.withLock { $0 = [] }
            _ = try await Task.detached { try ControlClient.send(ControlRequest(command: "up", minutes: 5), to: socket) }.value
            #expect(
                await eventually { h.status()?.lastSession?.reason.contains("no device fits") == true },
                "\(String(describing: h.status()))")
        }
    }
}
