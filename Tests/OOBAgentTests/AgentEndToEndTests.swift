import Foundation
import ModemEmulator
import ServiceLifecycleTestKit
import Testing

@testable import OOBAgent

/// The daemon end to end: ModemEmulator (real pty), OpenSSH sshd on loopback as the jump host,
/// an echo server as the forwarded target. Each test builds its own world and tears it down.
extension AgentIntegrationSuites {
    @Suite("Agent end to end", .serialized, .timeLimit(.minutes(3)))
    struct AgentEndToEndTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

        @Test("UP → forward listening → bytes through it → expiry → forward gone → link-down SMS", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func lifecycle() async throws {
            let h = try AgentHarness(duration: .seconds(4))
            defer { h.stop() }
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { isListening(h.forwardPort) }, "forward never listened; sshd log: \(h.jumpHost.log)")
            let payload = Array("hello through the tunnel".utf8)
            #expect(echoThrough(port: h.forwardPort, payload: payload) == payload)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("UP until ") && $0.hasSuffix(", ssh -p \(h.forwardPort) 127.0.0.1") } })
            #expect(await eventually { !isListening(h.forwardPort) }, "forward still listening after expiry")
            #expect(await eventually { h.sentTexts().contains("DOWN: link down (session expired)") })
            #expect(h.emulator.storedMessages.isEmpty)
            #expect(h.status()?.state == "idle")
            #expect(h.status()?.lastSession?.reason == "session expired")
        }

        @Test("EXTEND is capped at session.max; DOWN ends the session at once", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func extendAndDown() async throws {
            let h = try AgentHarness(duration: .seconds(600), max: .seconds(700))
            defer { h.stop() }
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("UP until") } })
            #expect(h.status()?.state == "active")
            // A fresh code: the next 30-second step, stamped accordingly by the "network".
            try h.deliver("extend \(h.code(at: t + 30)) 60", timestamp: t + 30)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("UP until") && !$0.contains("ssh") } })
            let remaining = h.status()?.session?.remainingSeconds ?? 0
            #expect(remaining > 600 && remaining <= 700, "remaining \(remaining) s: EXTEND 60 min must be capped at max 700 s")
            try h.deliver("DOWN \(h.code(at: t + 60))", timestamp: t + 60)
            #expect(await eventually { !isListening(h.forwardPort) })
            #expect(await eventually { h.sentTexts().contains("DOWN: link down (DOWN received)") })
            #expect(h.status()?.state == "idle")
        }

        @Test("STATUS replies with state, signal, last session and uptime; changes nothing", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func status() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            let t = now()
            try h.deliver("STATUS \(h.code(at: t))", timestamp: t)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("STATUS idle, signal ") && $0.contains("up 0h") } })
            #expect(h.status()?.state == "idle")
            #expect(!isListening(h.forwardPort))
        }

        @Test("a replayed code, a stranger and a stale SMS get no reply and change nothing", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func refusals() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let (_, task) = h.startAgent(clock: SynchronizedClock())
            defer { task.cancel() }
            let t = now()
            try h.deliver("STATUS \(h.code(at: t))", timestamp: t)
            #expect(await eventually { h.sentTexts().count == 1 })
            try h.deliver("UP \(h.code(at: t))", timestamp: t + 1)  // replayed code
            try h.deliver("UP \(h.code(at: t))", from: AgentHarness.stranger, timestamp: t)  // stranger, right code
            let old = t - 3600
            try h.deliver("UP \(h.code(at: old))", timestamp: old)  // stale: an hour old by the synchronised clock
            try h.deliver("STATUS \(h.code(at: t))", timestamp: t)  // duplicate delivery of the first
            #expect(await eventually { h.emulator.storedMessages.isEmpty })
            try await Task.sleep(for: .seconds(2))
            #expect(h.sent.count == 1, "\(h.sent)")
            #expect(h.status()?.state == "idle")
            #expect(!isListening(h.forwardPort))
        }

        @Test("a code valid only for the SMS timestamp works while the system clock is hours off", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func clockHoursOff() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let (_, task) = h.startAgent(clock: OffsetAgentClock(offset: -5 * 3600))
            defer { task.cancel() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { isListening(h.forwardPort) })
            #expect(h.status()?.clock == "network")
            try h.deliver("DOWN \(h.code(at: t + 30))", timestamp: t + 30)
            #expect(await eventually { !isListening(h.forwardPort) })
        }

        @Test("the modem vanishing mid-session (USB reset) is survived", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func modemVanishes() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("UP until") } })
            h.emulator.vanish()
            #expect(await eventually { h.status()?.modem.present == false })
            let newPath = try #require(h.emulator.reappear())
            try FileManager.default.removeItem(atPath: h.modemLink)
            try FileManager.default.createSymbolicLink(atPath: h.modemLink, withDestinationPath: newPath)
            #expect(await eventually { h.status()?.modem.present == true })
            let payload = Array("still there".utf8)
            #expect(echoThrough(port: h.forwardPort, payload: payload) == payload)
            try h.deliver("DOWN \(h.code(at: t + 30))", timestamp: t + 30)
            #expect(await eventually { h.sentTexts().contains("DOWN: link down (DOWN received)") })
            #expect(!isListening(h.forwardPort))
        }

        @Test("a burst of 40 SMS into 25 slots is drained as it comes; nothing is lost", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func burst() async throws {
            let h = try AgentHarness(storage: 25)
            defer { h.stop() }
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            let t = now()
            for i in 0..<40 {
                let text = i == 39 ? "STATUS \(h.code(at: t))" : "hello \(i)"
                let sender = i == 39 ? AgentHarness.owner : AgentHarness.stranger
                // The network retries a delivery while the storage is full (bounded).
                var tries = 0
                while try h.deliver(text, from: sender, timestamp: t) == nil, tries < 400 {
                    tries += 1
                    try await Task.sleep(for: .milliseconds(25))
                }
            }
            #expect(await eventually(.seconds(60)) { h.sentTexts().contains { $0.hasPrefix("STATUS") } })
            #expect(await eventually { h.emulator.storedMessages.isEmpty })
            #expect(h.sent.count == 1)
        }

        @Test("graceful shutdown mid-session tears down and sends the link-down SMS first", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func gracefulShutdown() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            try await testGracefulShutdown { trigger in
                let (_, task) = h.startAgent()
                let t = now()
                try h.deliver("UP \(h.code(at: t))", timestamp: t)
                #expect(await eventually { isListening(h.forwardPort) })
                trigger.triggerGracefulShutdown()
                try await task.value
                #expect(!isListening(h.forwardPort))
                #expect(h.sentTexts().contains("DOWN: link down (agent stopping)"))
                #expect(!FileManager.default.fileExists(atPath: h.dir.file("state/session.json")))
            }
        }

        @Test("local up/down through the control socket", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func localUpDown() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let (_, task) = h.startAgent()
            defer { task.cancel() }
            #expect(await eventually { h.status() != nil })
            let socket = h.configuration.state.controlSocket
            let up = try await Task.detached { try ControlClient.send(ControlRequest(command: "up", minutes: 5), to: socket) }.value
            #expect(up.ok)
            #expect(await eventually { isListening(h.forwardPort) })
            #expect(h.status()?.session?.requesters == ["local"])
            let down = try await Task.detached { try ControlClient.send(ControlRequest(command: "down"), to: socket) }.value
            #expect(down.ok)
            #expect(await eventually { !isListening(h.forwardPort) })
            #expect(h.sent.isEmpty)
        }
    }
}
