import Foundation
import ModemEmulator
import Spawn
import Testing

@testable import OOBAgent

/// The built `oob-agent` binary, run as a subprocess (signals are real).
enum Binary {
    static let path: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/oob-agent").path
    }()
    static var exists: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs the binary to completion: (exit status, stdout, stderr).
    static func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        // posix_spawn through Spawn (Foundation's Process can hang in waitpid here: see docs/spawn.md).
        let result = try SpawnedProcess.run(path, arguments, timeout: .seconds(120))
        return (result.status.code, result.stdoutText, result.stderrText)
    }

    /// Starts `oob-agent run` in the background, its stderr in `logPath`.
    static func startDaemon(config: String, logPath: String, extra: [String] = [], environment: [String: String] = [:]) throws -> DaemonProcess {
        try DaemonProcess(arguments: [path, "run", "--config", config] + extra, logPath: logPath, environment: environment)
    }
}

/// A child process started with posix_spawn and reaped with waitpid (so its exit is seen at once).
final class DaemonProcess: @unchecked Sendable {
    let pid: pid_t
    private(set) var exitStatus: Int32?

    init(arguments: [String], logPath: String, environment: [String: String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var env = ProcessInfo.processInfo.environment.filter { $0.key != "NOTIFY_SOCKET" && $0.key != "JOURNAL_STREAM" }
        for (k, v) in environment { env[k] = v }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        // The child starts with no blocked signals and default handlers, whatever this test thread has.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let r = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard r == 0 else { throw HarnessError.failed("posix_spawn \(arguments[0]): \(r)") }
        self.pid = pid
    }

    /// Whether the process still runs (reaps it when it has exited).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
            return false
        }
        return r == 0
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Kills it (SIGKILL) and reaps it if it still runs.
    func kill9() {
        if isRunning {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = -9
        }
    }
}

extension AgentIntegrationSuites {
    @Suite("Daemon process", .serialized, .timeLimit(.minutes(3)))
    struct DaemonProcessTests {
        static let ready = Binary.exists && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

        @Test("SIGTERM mid-session: forward gone, link-down SMS sent, exit 0", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func sigterm() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let log = h.dir.file("daemon.log")
            let daemon = try Binary.startDaemon(config: h.configPath, logPath: log)
            defer { daemon.kill9() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { isListening(h.forwardPort) }, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            daemon.signal(SIGTERM)
            #expect(await eventually { !daemon.isRunning })
            #expect(daemon.exitStatus == 0)
            #expect(!isListening(h.forwardPort))
            #expect(h.sentTexts().contains("DOWN: link down (agent stopping)"), "\(h.sent)")
            #expect(!FileManager.default.fileExists(atPath: h.dir.file("state/session.json")))
        }

        @Test("SIGKILL mid-session, then restart: the new daemon tears down and sends the owed SMS", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func sigkillAndRestart() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let log = h.dir.file("daemon.log")
            let first = try Binary.startDaemon(config: h.configPath, logPath: log)
            defer { first.kill9() }
            let t = now()
            try h.deliver("UP \(h.code(at: t))", timestamp: t)
            #expect(await eventually { isListening(h.forwardPort) })
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("UP until") } })
            first.kill9()
            let record = try #require(try SessionRecord.load(dir: h.dir.file("state")))
            #expect(record.state == .active && record.owedSMS == [AgentHarness.owner])
            let second = try Binary.startDaemon(config: h.configPath, logPath: h.dir.file("daemon2.log"))
            defer { second.kill9() }
            #expect(await eventually { h.sentTexts().contains("DOWN: link down (agent restarted)") }, "\(h.sent)")
            #expect(await eventually { !FileManager.default.fileExists(atPath: h.dir.file("state/session.json")) })
            #expect(!isListening(h.forwardPort))
            // The replayed UP (same code) is still refused by the restarted daemon.
            // Judged once the daemon has read and deleted it from the modem's storage.
            let slot = try #require(try h.deliver("UP \(h.code(at: t))", timestamp: t + 2))
            #expect(await eventually { h.emulator.storedMessages[slot] == nil }, "the replayed UP was never read")
            // An obeyed SMS changes the state before it is deleted: judged and refused, the daemon is still idle.
            #expect(h.status()?.state == "idle", "\(String(describing: h.status()))")
            #expect(!isListening(h.forwardPort))
            #expect(h.sentTexts().filter { $0.hasPrefix("UP until") }.count == 1, "\(h.sent)")
            second.signal(SIGTERM)
            #expect(await eventually { !second.isRunning })
        }

        @Test("systemd notify: READY=1 with a status line, from the real binary", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func notify() async throws {
            let h = try AgentHarness(bridged: true)
            defer { h.stop() }
            let listener = try NotifyListener(path: h.dir.file("notify.sock"))
            let logPath = h.dir.file("daemon.log")
            let p = try Binary.startDaemon(
                config: h.configPath, logPath: logPath, environment: ["NOTIFY_SOCKET": listener.name, "JOURNAL_STREAM": "8:1234"]
            )
            defer { p.kill9() }
            #expect(listener.receive()?.hasPrefix("READY=1\nSTATUS=idle") == true)
            p.signal(SIGTERM)
            #expect(await eventually { !p.isRunning })
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            #expect(log.contains("<6>agent running"), "journald priority prefix expected: \(log)")
        }
    }
}

extension AgentIntegrationSuites {
    @Suite("Command line", .serialized, .timeLimit(.minutes(2)))
    struct CommandLineTests {
        @Test("enroll writes a 0600 secret, refuses to overwrite without --force, prints the URI and QR; code matches", .enabled(if: Binary.exists, "needs the oob-agent binary built next to the tests (swift build --build-tests)"))
        func enrollAndCode() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let config = dir.write("agent.toml", minimalConfig(dir), mode: 0o644)
            let first = try Binary.run(["enroll", "--config", config, "--label", "site 1"])
            #expect(first.status == 0, "\(first.err)")
            #expect(first.out.contains("otpauth://totp/oob-agent:site%201?secret="))
            #expect(first.out.contains("▀") || first.out.contains("▄"))
            #expect((try FileSystem.status(dir.file("totp.secret"))).permissions == 0o600)
            let again = try Binary.run(["enroll", "--config", config])
            #expect(again.status == 2)
            #expect(again.err.contains("--force"))
            let code = try Binary.run(["code", "--config", config, "--at", "59"])
            let secret = try String(contentsOfFile: dir.file("totp.secret"), encoding: .utf8)
            #expect(code.out == (try TOTP(base32: secret.trimmingCharacters(in: .whitespacesAndNewlines))).code(at: 59) + "\n")
            #expect(try Binary.run(["enroll", "--config", config, "--force", "--no-qr"]).status == 0)
        }

        @Test("a configuration error exits 2 naming the key and the fix", .enabled(if: Binary.exists, "needs the oob-agent binary built next to the tests (swift build --build-tests)"))
        func configError() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let config = dir.write("agent.toml", minimalConfig(dir, extra: "[session]\nduraton = \"10m\"\n"), mode: 0o644)
            let r = try Binary.run(["check", "--config", config])
            #expect(r.status == 2)
            #expect(r.err.contains("session.duraton"), "\(r.err)")
            #expect(r.err.contains("did you mean duration?"))
        }

        @Test("check: one line per problem with its fix, non-zero exit; jumphost-setup prints the restricted line", .enabled(if: Binary.exists, "needs the oob-agent binary built next to the tests (swift build --build-tests)"))
        func check() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let config = dir.write("agent.toml", minimalConfig(dir), mode: 0o644)
            try shell("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", dir.file("id_ed25519"), "-C", "t"])
            dir.write("totp.secret", rfcSecretBase32, mode: 0o644)
            let r = try Binary.run(["check", "--config", config])
            #expect(r.status == 1)
            #expect(r.out.contains("PROBLEM: auth.totp_secret_file") && r.out.contains("chmod 600"))
            #expect(r.out.contains("PROBLEM: tunnel.known_hosts") && r.out.contains("ssh-keyscan"))
            #expect(r.out.contains("PROBLEM: modem.port"))
            let line = try Binary.run(["jumphost-setup", "--config", config])
            #expect(line.status == 0)
            #expect(line.out.hasPrefix("restrict,port-forwarding,permitlisten=\"127.0.0.1:31337\",command=\"/usr/sbin/nologin\" ssh-ed25519 AAAA"))
        }

        @Test("status without a daemon says so and exits 1", .enabled(if: Binary.exists, "needs the oob-agent binary built next to the tests (swift build --build-tests)"))
        func statusNoDaemon() throws {
            let dir = TempDir()
            defer { dir.cleanup() }
            let config = dir.write("agent.toml", minimalConfig(dir), mode: 0o644)
            let r = try Binary.run(["status", "--config", config, "--json"])
            #expect(r.status == 1)
            #expect(r.err.contains("no daemon is listening"))
        }
    }
}
