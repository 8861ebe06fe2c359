// `oob-agent demo`, the built binary run as a person would: the story's milestones in order, exit codes, a clear
// message without OpenSSH, a clean Ctrl-C in --interactive, and no child process left behind.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Foundation
import Spawn
import Testing

/// The `oob-agent` binary of this build (`swift build --build-tests` builds it next to the tests).
private let demoBinary: String = {
    let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    return "/\(root)/.build/debug/oob-agent"
}()

/// The built binary run with pipes on stdout and stderr.
private final class DemoProcess {
    private let process: SpawnedProcess
    var pid: pid_t { process.pid }
    private let outFD: CInt
    private let errFD: CInt
    private(set) var stdout: [UInt8] = []
    private(set) var stderr: [UInt8] = []
    private(set) var exitCode: Int32?

    init(_ arguments: [String]) throws {
        process = try SpawnedProcess(demoBinary, arguments, options: SpawnOptions(stdout: .pipe, stderr: .pipe))
        outFD = process.stdout ?? -1
        errFD = process.stderr ?? -1
        _ = fcntl(outFD, F_SETFL, fcntl(outFD, F_GETFL) | O_NONBLOCK)
        _ = fcntl(errFD, F_SETFL, fcntl(errFD, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        process.signal(SIGKILL)
        process.wait()
    }

    var output: String { String(decoding: stdout, as: UTF8.self) }
    var errors: String { String(decoding: stderr, as: UTF8.self) }

    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        for (fd, isOut) in [(outFD, true), (errFD, false)] {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                if isOut { stdout += buffer[0..<n] } else { stderr += buffer[0..<n] }
            }
        }
    }

    /// Reads output until `condition` holds or the process exits or `seconds` pass; returns whether it held.
    /// Polls with `Task.sleep`, so a minute-long demo does not hold one of the test pool's few threads.
    @discardableResult
    func readUntil(seconds: Int, _ condition: (DemoProcess) -> Bool = { _ in false }) async -> Bool {
        let end = Date().addingTimeInterval(TimeInterval(seconds))
        while Date() < end {
            drain()
            if condition(self) { return true }
            if exitCode == nil, let status = process.tryWait() {
                // -1 when reaped by someone else in this test process (the status is lost).
                exitCode = status.code
            }
            if exitCode != nil {
                drain()
                return condition(self)
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(self)
    }

    /// Waits for the exit (up to `seconds`); returns the exit code.
    func waitForExit(seconds: Int) async -> Int32? {
        await readUntil(seconds: seconds) { $0.exitCode != nil }
        return exitCode
    }
}

/// The positions of `milestones` in `text`, in order; records an issue for the first missing or out of order.
private func expectInOrder(_ milestones: [String], in text: String) {
    var from = text.startIndex
    for m in milestones {
        guard let r = text.range(of: m, range: from..<text.endIndex) else {
            let anywhere = text.range(of: m) != nil
            Issue.record("milestone \"\(m)\" \(anywhere ? "out of order" : "missing") in the demo's output:\n\(text)")
            return
        }
        from = r.upperBound
    }
}

/// Every `pid N` the demo printed.
private func printedPIDs(_ text: String) -> [pid_t] {
    var pids: [pid_t] = []
    var rest = Substring(text)
    while let r = rest.range(of: "pid ") {
        rest = rest[r.upperBound...]
        if let p = pid_t(rest.prefix(while: { $0.isNumber })) { pids.append(p) }
    }
    return pids
}

private func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    guard let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(after: close)...].drop(while: { $0 == " " }).first != "Z"
}

/// The temp directory the demo announced.
private func tempDirectory(_ text: String) -> String? {
    guard let r = text.range(of: "temp directory ") else { return nil }
    return String(text[r.upperBound...].prefix(while: { $0 != " " && $0 != "\n" }))
}

private let haveOpenSSH = access("/usr/sbin/sshd", X_OK) == 0 && access("/usr/bin/ssh", X_OK) == 0

@Suite("oob-agent demo (the built binary)", .serialized, .timeLimit(.minutes(5)))
struct DemoCommandTests {
    @Test(
        "the whole story: SMS, authenticated, tunnel, login through the forward, router prompt, expiry, link-down SMS",
        .enabled(if: haveOpenSSH, "OpenSSH (openssh-server, openssh-client) is not installed")
    )
    func wholeStory() async throws {
        let demo = try DemoProcess(["demo"])
        let code = await demo.waitForExit(seconds: 200)
        let out = demo.output
        #expect(code == 0, "exit code; stderr: \(demo.errors)\nstdout:\n\(out)")
        expectInOrder(
            [
                "jump host: OpenSSH sshd on 127.0.0.1:",
                "permitlisten=\"127.0.0.1:",
                "daemon: oob-agent run --config",
                "router: powered on",
                "SMS from a stranger, +46709999999",
                "ignored (sender not in auth.senders): UP from +46709999999; deleted, no reply",
                "SMS delivered: \"UP ",
                "authenticated: UP from +46701234567",
                "link: coming up",
                "tunnel up: the jump host listens on 127.0.0.1:",
                "SMS sent by the box to +46701234567: \"UP until ",
                "now run: ssh -p ",
                "gw-site1 login:",
                "login through the forward succeeded",
                "router prompt seen on the console: \"gw-site1#\"",
                "(a replay, by someone who read it off the phone)",
                "refused (code already used): UP from +46701234567",
                "session ending (session expired)",
                "teardown complete",
                "SMS sent by the box to +46701234567: \"DOWN: link down (session expired)\"",
                "closed on the jump host",
                "daemon idle",
                "daemon stopped",
                "no child process left",
                "removed",
            ], in: out)
        // The login really ran on the router: its shell answered `uptime`.
        #expect(out.contains("load average"))
        // Exactly two SMS left the box, both to the owner: the UP reply and the link-down SMS.
        #expect(out.components(separatedBy: "SMS sent by the box to").count - 1 == 2, "\(out)")
        let pids = printedPIDs(out)
        #expect(pids.count >= 4, "the demo names its children's PIDs:\n\(out)")
        for pid in pids { #expect(!isAlive(pid), "pid \(pid) is still running after the demo") }
        let dir = try #require(tempDirectory(out))
        #expect(access(dir, F_OK) != 0, "\(dir) should be removed")
        #expect(!demo.errors.contains("Fatal error"))
    }

    @Test("without sshd: a clear message naming the packages, exit code 1, nothing left behind")
    func missingSSHD() async throws {
        let demo = try DemoProcess(["demo", "--sshd", "/nonexistent/usr/sbin/sshd"])
        let code = await demo.waitForExit(seconds: 30)
        #expect(code == 1)
        let errors = demo.errors
        #expect(errors.contains("/nonexistent/usr/sbin/sshd is missing"), "stderr: \(errors)")
        #expect(errors.contains("apt-get install openssh-server openssh-client"), "stderr: \(errors)")
        #expect(errors.contains("scripts/demo.sh"), "stderr: \(errors)")
        #expect(!errors.contains("Fatal error") && !errors.contains("Stack"), "no crash: \(errors)")
        #expect(!demo.output.contains("temp directory"), "nothing is set up: \(demo.output)")
    }

    @Test(
        "--interactive keeps the session open for ssh -p, and Ctrl-C tears down with the link-down SMS",
        .enabled(if: haveOpenSSH, "OpenSSH (openssh-server, openssh-client) is not installed")
    )
    func interactiveThenCtrlC() async throws {
        let demo = try DemoProcess(["demo", "--interactive"])
        let ready = await demo.readUntil(seconds: 90) { $0.output.contains("Press Ctrl-C") }
        try #require(ready, "the demo should wait for Ctrl-C:\n\(demo.output)\n\(demo.errors)")
        // The printed command works as printed (a person's try, from another terminal).
        let out = demo.output
        let line = try #require(out.split(separator: "\n").first { $0.contains("now run: ssh -p ") })
        let command = String(line[line.range(of: "now run: ")!.upperBound...])
        let ssh = try await SpawnedProcess.runOffPool(
            "/bin/sh",
            ["-c", command.replacingOccurrences(of: "ssh ", with: "ssh -o BatchMode=yes ", options: .anchored) + " echo reached-the-box"],
            options: SpawnOptions(stdout: .pipe, stderr: .stdout), timeout: .seconds(60))
        let sshOutput = ssh.stdoutText
        #expect(ssh.status == .exited(0) && sshOutput.contains("reached-the-box"), "\(command): \(sshOutput)")

        kill(demo.pid, SIGINT)
        let code = await demo.waitForExit(seconds: 90)
        let all = demo.output
        #expect(code == 0, "exit code; stderr: \(demo.errors)\n\(all)")
        expectInOrder(
            [
                "Ctrl-C: stopping the daemon",
                "session ending (agent stopping)",
                "SMS sent by the box to +46701234567: \"DOWN: link down (agent stopping)\"",
                "closed on the jump host",
                "no child process left",
            ], in: all)
        for pid in printedPIDs(all) { #expect(!isAlive(pid), "pid \(pid) is still running after the demo") }
    }
}
