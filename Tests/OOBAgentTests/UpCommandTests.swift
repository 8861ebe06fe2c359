import Foundation
import Testing

@testable import OOBAgent

extension AgentIntegrationSuites {
    /// `oob-agent up` waits for the outcome, against the real binary and a real daemon.
    @Suite("oob-agent up waits", .serialized, .timeLimit(.minutes(3)))
    struct UpCommandTests {
        static let ready = Binary.exists && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        func daemonLog(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        @Test("up returns once the forward listens, printing the ssh command and the time left; down ends it", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func upWaitsForTheSession() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let log = h.dir.file("daemon.log")
            let daemon = try Binary.startDaemon(config: h.configPath, logPath: log)
            defer { daemon.kill9() }
            #expect(await eventually { h.status() != nil }, "\(daemonLog(log))")
            let up = try Binary.run(["up", "--config", h.configPath, "--minutes", "5"])
            #expect(up.status == 0, "\(up.err) \(daemonLog(log))")
            // When `up` returns the session is up: the forward listens on the jump host already.
            #expect(isListening(h.forwardPort))
            #expect(h.status()?.state == "active")
            let lines = up.out.split(separator: "\n").map(String.init)
            #expect(lines.count == 2, "\(up.out)")
            #expect(lines.first?.hasPrefix("session up until ") == true && lines.first?.contains(" s left)") == true, "\(up.out)")
            let minutesLeft = lines.first.flatMap { $0.split(separator: "(").last?.split(separator: " ").first }.flatMap { Int($0) }
            #expect(minutesLeft == 4 || minutesLeft == 5, "\(up.out)")
            #expect(lines.last == "ssh -p \(h.forwardPort) 127.0.0.1", "\(up.out)")
            let down = try Binary.run(["down", "--config", h.configPath])
            #expect(down.status == 0, "\(down.err)")
            #expect(await eventually { !isListening(h.forwardPort) })
            daemon.signal(SIGTERM)
            #expect(await eventually { !daemon.isRunning })
        }

        @Test("up prints the reason and exits 1 when the session cannot come up", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func upReportsFailure() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            h.jumpHost.stop()  // nothing listens on the jump host's port: every attempt fails
            let log = h.dir.file("daemon.log")
            let daemon = try Binary.startDaemon(config: h.configPath, logPath: log)
            defer { daemon.kill9() }
            #expect(await eventually { h.status() != nil }, "\(daemonLog(log))")
            let up = try Binary.run(["up", "--config", h.configPath])
            #expect(up.status == 1, "\(up.out) \(up.err)")
            #expect(up.out.isEmpty, "\(up.out)")
            #expect(up.err.contains("oob-agent: FAILED: tunnel: "), "\(up.err)")
            #expect(up.err.contains("attempt 1 of 2"), "\(up.err)")
            #expect(h.status()?.state == "idle")
            daemon.signal(SIGTERM)
            #expect(await eventually { !daemon.isRunning })
        }

        @Test("up --timeout gives up (exit 1) while the daemon goes on; --no-wait returns at once", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func upTimeoutAndNoWait() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            // A "jump host" that accepts TCP connections and never says a word: the session stays in connecting.
            let silent = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(silent) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, len) } }
            listen(silent, 4)
            _ = withUnsafeMutablePointer(to: &addr) { p in p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(silent, $0, &len) } }
            let silentPort = Int(UInt16(bigEndian: addr.sin_port))
            let text = h.configurationText(duration: .seconds(600), max: .seconds(3600))
                .replacingOccurrences(of: "port = \(h.jumpHost.port)\n", with: "port = \(silentPort)\n")
            try text.write(toFile: h.configPath, atomically: true, encoding: .utf8)
            let log = h.dir.file("daemon.log")
            let daemon = try Binary.startDaemon(config: h.configPath, logPath: log)
            defer { daemon.kill9() }
            #expect(await eventually { h.status() != nil }, "\(daemonLog(log))")
            let up = try Binary.run(["up", "--config", h.configPath, "--timeout", "2"])
            #expect(up.status == 1, "\(up.out) \(up.err)")
            #expect(up.err.contains("the session is not up after 2 s (connecting)"), "\(up.err)")
            #expect(up.err.contains("oob-agent down"), "\(up.err)")
            #expect(h.status()?.state == "connecting")
            let again = try Binary.run(["up", "--config", h.configPath, "--no-wait"])
            #expect(again.status == 0, "\(again.err)")
            #expect(again.out == "session already connecting\n", "\(again.out)")
            let down = try Binary.run(["down", "--config", h.configPath])
            #expect(down.status == 0, "\(down.err)")
            #expect(await eventually { h.status()?.state == "idle" })
            daemon.signal(SIGTERM)
            #expect(await eventually { !daemon.isRunning })
        }
    }
}
