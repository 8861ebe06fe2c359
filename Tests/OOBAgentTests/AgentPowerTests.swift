import Foundation
import ModemEmulator
import OOBTestSupport
import PowerControl
import Testing

@testable import OOBAgent

/// `POWER <code> <name> cycle|on|off` through the whole daemon: an SMS from the ModemEmulator, the agent's
/// authentication, the PowerController and the serial-relay driver against a KMTronic-style board on a pty.
extension AgentIntegrationSuites {
    @Suite("Agent power end to end", .serialized, .timeLimit(.minutes(3)))
    struct AgentPowerTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

        /// The switching frames (`FF 01 00` off, `FF 01 01` on) the board received for relay 1, with their times.
        func switching(_ board: RelayBoardEmulator) -> [RelayBoardEmulator.Frame] {
            board.frames.filter { $0.bytes.count == 3 && $0.bytes[0] == 0xFF && $0.bytes[1] == 1 && $0.bytes[2] <= 1 }
        }

        @Test("POWER … cycle by SMS reaches the board (off, then on after off_time) and the reply says so; hostile twins are refused silently", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func cycleBySMS() async throws {
            let board = try RelayBoardEmulator(relayCount: 2)
            defer { board.stop() }
            let h = try AgentHarness()
            defer { h.stop() }
            h.configuration.power = [
                PowerOutletConfiguration(name: "router", driver: .serialRelay, device: board.devicePath, channel: 1, offTime: .seconds(1))
            ]
            let (_, task) = h.startAgent(clock: SynchronizedClock())
            defer { task.cancel() }
            let t = now()
            let text = "POWER \(h.code(at: t)) router cycle"
            try h.deliver(text, timestamp: t)
            #expect(await eventually { h.sentTexts().contains("POWER router cycled") }, "replies: \(h.sent)")
            let frames = switching(board)
            #expect(frames.map(\.bytes) == [[0xFF, 0x01, 0x00], [0xFF, 0x01, 0x01]], "frames: \(board.received)")
            if frames.count == 2 {
                #expect(frames[1].at - frames[0].at >= 1_000_000_000, "on came before off_time had passed")
            }
            #expect(board.relay(1))
            #expect(h.status()?.state == "idle", "POWER must not start a session")

            // The hostile twins: a stranger with a right code, the owner with a wrong code, the owner's code replayed.
            let before = board.received.count
            let t2 = t + 60
            try h.deliver("POWER \(h.code(at: t2)) router off", from: AgentHarness.stranger, timestamp: t2)
            let right = h.code(at: t2)
            let wrong = String(right.reversed()) == right ? "000001" : String(right.reversed())
            try h.deliver("POWER \(wrong == right ? "999999" : wrong) router off", timestamp: t2)
            try h.deliver(text, timestamp: t + 1)
            #expect(await eventually { h.emulator.storedMessages.isEmpty })
            try await Task.sleep(for: .seconds(2))
            #expect(board.received.count == before, "a refused SMS reached the board: \(board.received)")
            #expect(h.sent.count == 1, "a refused SMS got a reply: \(h.sent)")
            #expect(board.relay(1))
        }

        @Test("POWER for an unknown outlet and for a without_session = false outlet with no session answer FAILED", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func refusedWithReason() async throws {
            let board = try RelayBoardEmulator(relayCount: 2)
            defer { board.stop() }
            let h = try AgentHarness()
            defer { h.stop() }
            h.configuration.power = [
                PowerOutletConfiguration(
                    name: "switch", driver: .serialRelay, device: board.devicePath, channel: 2, allowWithoutSession: false)
            ]
            let (_, task) = h.startAgent(clock: SynchronizedClock())
            defer { task.cancel() }
            let t = now()
            try h.deliver("POWER \(h.code(at: t)) toaster on", timestamp: t)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("FAILED: ") && $0.contains("toaster") } }, "\(h.sent)")
            let t2 = t + 60
            try h.deliver("POWER \(h.code(at: t2)) switch off", timestamp: t2)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("FAILED: ") && $0.contains("without a session") } }, "\(h.sent)")
            #expect(board.received.isEmpty, "\(board.received)")
        }

        @Test("the control socket's power request switches the outlet and logs who asked", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func controlSocket() async throws {
            let board = try RelayBoardEmulator(relayCount: 2)
            defer { board.stop() }
            let h = try AgentHarness()
            defer { h.stop() }
            h.configuration.power = [
                PowerOutletConfiguration(name: "router", driver: .serialRelay, device: board.devicePath, channel: 1)
            ]
            let (_, task) = h.startAgent(clock: SynchronizedClock())
            defer { task.cancel() }
            #expect(await eventually { h.status() != nil })
            let response = try ControlClient.send(
                ControlRequest(command: "power", outlet: "router", action: "on", by: "tester"), to: h.configuration.state.controlSocket,
                timeout: .seconds(30))
            #expect(response.ok && response.message == "POWER router on", "\(response)")
            #expect(board.relay(1))
            let actionLog = (try? String(contentsOfFile: h.configuration.state.dir + "/power-actions.log", encoding: .utf8)) ?? ""
            #expect(actionLog.contains("socket:tester"), "action log: \(actionLog)")
            let bad = try ControlClient.send(
                ControlRequest(command: "power", outlet: "toaster", action: "on"), to: h.configuration.state.controlSocket)
            #expect(!bad.ok && (bad.error ?? "").contains("toaster"))
        }

        @Test("the built daemon: POWER by SMS and `oob-agent power` through its control socket reach the board", .enabled(if: Binary.exists && sshdAvailable, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func builtDaemon() async throws {
            let board = try RelayBoardEmulator(relayCount: 2, keepSlaveOpen: false)
            defer { board.stop() }
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let config = try String(contentsOfFile: h.configPath, encoding: .utf8) + """

                [[power]]
                name = "router"
                driver = "serial-relay"
                device = "\(board.devicePath)"
                channel = 1
                off_time = "1s"
                """
            try config.write(toFile: h.configPath, atomically: true, encoding: .utf8)
            let log = h.dir.file("daemon.log")
            let daemon = try Binary.startDaemon(config: h.configPath, logPath: log)
            defer { daemon.kill9() }
            let t = now()
            try h.deliver("POWER \(h.code(at: t)) router cycle", timestamp: t)
            #expect(
                await eventually { h.sentTexts().contains("POWER router cycled") },
                "\(h.sent); log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            #expect(switching(board).map(\.bytes) == [[0xFF, 0x01, 0x00], [0xFF, 0x01, 0x01]], "\(board.received)")
            // A stranger's twin is refused: no frame, no reply.
            let before = board.received.count
            try h.deliver("POWER \(h.code(at: t + 60)) router off", from: AgentHarness.stranger, timestamp: t + 60)
            #expect(await eventually { h.emulator.storedMessages.isEmpty })
            try await Task.sleep(for: .seconds(1))
            #expect(board.received.count == before && h.sent.count == 1, "\(board.received) \(h.sent)")
            // The local CLI goes through the daemon (it owns the board while it runs).
            // (posix_spawn, not Foundation's Process: its waitUntilExit can hang here.)
            let cliLog = h.dir.file("cli.log")
            let cli = try DaemonProcess(
                arguments: [Binary.path, "power", "router", "off", "--config", h.configPath], logPath: cliLog, environment: [:])
            defer { cli.kill9() }
            #expect(await eventually { !cli.isRunning })
            #expect(cli.exitStatus == 0, "\((try? String(contentsOfFile: cliLog, encoding: .utf8)) ?? "")")
            #expect(!board.relay(1))
            let daemonLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(daemonLog.contains("power.by=sms:\(AgentHarness.owner)") && daemonLog.contains("socket:"), "\(daemonLog)")
            daemon.signal(SIGTERM)
            #expect(await eventually { !daemon.isRunning })
        }
    }
}
