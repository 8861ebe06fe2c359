import Foundation
import ModemEmulator
import Testing

@testable import OOBAgent

/// The figures of `bench/agent/RESULTS.md`. Not a test: it runs only with `OOB_BENCH=1` (see
/// `bench/agent/run.sh`), asserts nothing about speed and prints what it measured.
extension AgentIntegrationSuites {
    @Suite("Agent benchmarks", .serialized, .enabled(if: ProcessInfo.processInfo.environment["OOB_BENCH"] == "1", "a benchmark: runs with OOB_BENCH=1 (bench/agent/run.sh), never in CI"))
    struct AgentBenchmarks {
        static var binary: String { ProcessInfo.processInfo.environment["OOB_AGENT_BIN"] ?? Binary.path }

        func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

        func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

        func report(_ name: String, _ values: [Double]) -> String {
            let sorted = values.sorted()
            let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            return String(format: "%@: n=%d median=%.1f ms min=%.1f ms max=%.1f ms", name, values.count, median, sorted.first ?? 0, sorted.last ?? 0)
        }

        @Test("activation latency and teardown time (20 sessions), next to ssh -R spawned per session", .timeLimit(.minutes(10)))
        func activationAndTeardown() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let daemon = try DaemonProcess(
                arguments: [Self.binary, "run", "--config", h.configPath, "--log-level", "warning"], logPath: h.dir.file("daemon.log"),
                environment: [:]
            )
            defer { daemon.kill9() }
            #expect(await eventually { h.status() != nil })
            var activation: [Double] = []
            var teardown: [Double] = []
            let clock = ContinuousClock()
            let base = now()
            for i in 0..<20 {
                let t = base + Int64(60 * i)
                let start = clock.now
                try h.deliver("UP \(h.code(at: t))", timestamp: t)
                while !isListening(h.forwardPort) {
                    if clock.now - start > .seconds(30) { break }
                    try await Task.sleep(for: .microseconds(500))
                }
                activation.append(ms(clock.now - start))
                #expect(await eventually { h.sentTexts().filter { $0.hasPrefix("UP until") }.count == i + 1 })
                let downStart = clock.now
                try h.deliver("DOWN \(h.code(at: t + 30))", timestamp: t + 30)
                while isListening(h.forwardPort) {
                    if clock.now - downStart > .seconds(30) { break }
                    try await Task.sleep(for: .microseconds(500))
                }
                teardown.append(ms(clock.now - downStart))
                #expect(await eventually { h.sentTexts().filter { $0.hasPrefix("DOWN: link down") }.count == i + 1 })
            }
            // The peer design: OpenSSH's ssh -R spawned per session, to the same sshd and target.
            var sshR: [Double] = []
            for _ in 0..<20 {
                let start = clock.now
                let ssh = try DaemonProcess(
                    arguments: [
                        "/usr/bin/ssh", "-N", "-i", h.dir.file("id_ed25519"), "-o", "UserKnownHostsFile=\(h.dir.file("known_hosts"))",
                        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-p", "\(h.jumpHost.port)",
                        "-R", "127.0.0.1:\(h.forwardPort):127.0.0.1:\(h.echo.port)", "root@127.0.0.1",
                    ],
                    logPath: h.dir.file("ssh.log"), environment: [:]
                )
                while !isListening(h.forwardPort) {
                    if clock.now - start > .seconds(30) { break }
                    try await Task.sleep(for: .microseconds(500))
                }
                sshR.append(ms(clock.now - start))
                ssh.signal(SIGKILL)
                #expect(await eventually { !ssh.isRunning })
                #expect(await eventually { !isListening(h.forwardPort) })
            }
            let lines = [
                report("activation (SMS delivered -> forward listening), oob-agent", activation),
                report("activation, ssh -R spawned per session (tunnel part only)", sshR),
                report("teardown (DOWN SMS delivered -> forward gone), oob-agent", teardown),
            ]
            let text = lines.joined(separator: "\n")
            print(text)
            try? (text + "\n").write(toFile: ProcessInfo.processInfo.environment["OOB_BENCH_OUT"] ?? "/tmp/oob-agent-bench-activation.txt", atomically: true, encoding: .utf8)
        }

        @Test("idle footprint with ^RSSI noise: resident memory and CPU", .timeLimit(.minutes(15)))
        func idleFootprint() async throws {
            let seconds = Int(ProcessInfo.processInfo.environment["OOB_BENCH_IDLE_SECONDS"] ?? "600") ?? 600
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            h.emulator.reconfigure { $0.noise = .betweenReplies }
            var text = h.configurationText(duration: .seconds(1800), max: .seconds(14400))
            text = text.replacingOccurrences(of: "poll = \"1s\"", with: "poll = \"10s\"")
            try text.write(toFile: h.configPath, atomically: true, encoding: .utf8)
            let daemon = try DaemonProcess(
                arguments: [Self.binary, "run", "--config", h.configPath, "--log-level", "warning"], logPath: h.dir.file("daemon.log"),
                environment: [:]
            )
            defer { daemon.kill9() }
            #expect(await eventually { h.status()?.modem.present == true })
            try await Task.sleep(for: .seconds(10))
            let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
            func cpuTicks() -> Double {
                guard let stat = try? String(contentsOfFile: "/proc/\(daemon.pid)/stat", encoding: .utf8) else { return 0 }
                let fields = stat.split(separator: ")").last!.split(separator: " ")
                return Double(fields[11])! + Double(fields[12])!  // utime, stime (fields 14 and 15)
            }
            func rssKiB() -> Int {
                guard let status = try? String(contentsOfFile: "/proc/\(daemon.pid)/status", encoding: .utf8) else { return 0 }
                let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
                return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
            }
            let rssStart = rssKiB()
            let cpu0 = cpuTicks()
            let wall0 = ContinuousClock.now
            var rssMax = rssStart
            for _ in 0..<(seconds / 5) {
                try await Task.sleep(for: .seconds(5))
                rssMax = max(rssMax, rssKiB())
            }
            let cpu1 = cpuTicks()
            let wall = ms(ContinuousClock.now - wall0) / 1000
            let rssEnd = rssKiB()
            let cpuPercent = (cpu1 - cpu0) / ticks / wall * 100
            let line = String(
                format: "idle %d s with ^RSSI noise: RSS start %.1f MiB, end %.1f MiB, max %.1f MiB; CPU %.3f %% of a core (%.2f s of CPU)",
                Int(wall), Double(rssStart) / 1024, Double(rssEnd) / 1024, Double(rssMax) / 1024, cpuPercent, (cpu1 - cpu0) / ticks
            )
            print(line)
            try? (line + "\n").write(toFile: ProcessInfo.processInfo.environment["OOB_BENCH_IDLE_OUT"] ?? "/tmp/oob-agent-bench-idle.txt", atomically: true, encoding: .utf8)
            #expect(daemon.isRunning)
        }
    }
}
