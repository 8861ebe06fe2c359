// SpawnedProcess, exercised with real programs: what a caller relies on when it starts sshd, pppd, ssh-keygen.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Spawn
import Testing

@Suite("Spawn: child processes", .serialized, .timeLimit(.minutes(2)))
struct SpawnedProcessTests {
    @Test("run collects stdout and stderr apart, and the exit code")
    func collectsOutput() throws {
        let r = try SpawnedProcess.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(r.stdoutText == "out\n")
        #expect(r.stderrText == "err\n")
        #expect(r.status == .exited(3))
        #expect(!r.timedOut)
    }

    @Test("a chatty child filling both pipes does not deadlock")
    func chattyChild() throws {
        let r = try SpawnedProcess.run(
            "/bin/sh", ["-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; head -c 1048576 /dev/zero"],
            timeout: .seconds(60))
        #expect(r.stdout.count == 2 * 1_048_576)
        #expect(r.stderr.count == 1_048_576)
        #expect(r.status.succeeded)
    }

    @Test("input is written to stdin, then closed")
    func input() throws {
        let r = try SpawnedProcess.run("/bin/cat", [], input: Array("hello\n".utf8))
        #expect(r.stdoutText == "hello\n")
    }

    @Test("a child past its timeout is ended (SIGTERM) and reported as timed out")
    func timeout() throws {
        let r = try SpawnedProcess.run("/bin/sleep", ["30"], timeout: .milliseconds(300))
        #expect(r.timedOut)
        #expect(r.status == .signalled(SIGTERM))
    }

    @Test("a descendant that keeps the pipes open does not hold run up")
    func descendantKeepsPipes() throws {
        // The descendant lives 30 s holding the pipes; run returns when the child exits, long before that (the
        // timeout is 20 s: a run held up by the pipes would come back timed out, or after 30 s).
        let started = ContinuousClock.now
        let r = try SpawnedProcess.run("/bin/sh", ["-c", "sleep 30 & echo $!"], timeout: .seconds(20))
        let took = ContinuousClock.now - started
        let orphan = pid_t(r.stdoutText.filter(\.isNumber)) ?? 0
        defer { if orphan > 0 { kill(orphan, SIGKILL) } }
        #expect(r.status.succeeded)
        #expect(!r.timedOut)
        #expect(orphan > 0)
        #expect(kill(orphan, 0) == 0, "the descendant is still running when run has returned")
        #expect(took < .seconds(15), "run waited \(took) for a descendant holding its pipes")
    }

    @Test("the child starts with no blocked signals and only 0, 1, 2 open, whatever the caller has")
    func cleanStart() throws {
        // A descriptor this process leaves inheritable, and SIGTERM blocked in the spawning thread.
        let leaked = open("/dev/null", O_RDONLY)
        defer { close(leaked) }
        var block = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGTERM)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let r = try SpawnedProcess.run(
            "/bin/sh", ["-c", "grep SigBlk /proc/self/status; ls /proc/self/fd"],
            options: SpawnOptions(stdout: .pipe, stderr: .stdout))
        let lines = r.stdoutText.split(separator: "\n")
        #expect(lines.first == "SigBlk:\t0000000000000000", "\(r.stdoutText)")
        // ls lists 0, 1, 2 and the directory it reads (3).
        #expect(Set(lines.dropFirst()) == ["0", "1", "2", "3"], "\(r.stdoutText)")
    }

    @Test("terminate ends a child by SIGTERM, then SIGKILL when it ignores SIGTERM")
    func terminate() throws {
        let polite = try SpawnedProcess("/bin/sleep", ["30"])
        #expect(polite.terminate(grace: .seconds(5)) == .signalled(SIGTERM))
        let stubborn = try SpawnedProcess("/bin/sh", ["-c", "trap '' TERM; echo ready; exec sleep 30"], options: SpawnOptions(stdout: .pipe))
        var ready: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16)
        while !ready.contains(0x0A) {
            let n = read(stubborn.stdout!, &buffer, buffer.count)
            if n <= 0 { break }
            ready += buffer[0..<n]
        }
        #expect(stubborn.terminate(grace: .milliseconds(300)) == .signalled(SIGKILL))
        #expect(!stubborn.signal(SIGTERM), "a reaped child is never signalled again")
    }

    @Test("a new process group, and a start time that tells the child from a reused PID")
    func groupAndIdentity() async throws {
        let child = try SpawnedProcess("/bin/sleep", ["30"], options: SpawnOptions(newProcessGroup: true))
        #expect(getpgid(child.pid) == child.pid)
        #expect(child.startTime != nil)
        #expect(ProcessCheck.isAlive(pid: child.pid, startTime: child.startTime))
        #expect(!ProcessCheck.isAlive(pid: child.pid, startTime: (child.startTime ?? 0) + 1))
        #expect(!ProcessCheck.signal(pid: child.pid, startTime: (child.startTime ?? 0) + 1, SIGTERM))
        #expect(await child.stop(grace: .seconds(5)) == .signalled(SIGTERM))
        #expect(!ProcessCheck.isAlive(pid: child.pid, startTime: child.startTime))
    }

    @Test("a missing program is a clear error naming it")
    func missing() {
        #expect {
            _ = try SpawnedProcess("/nonexistent/program-\(getpid())")
        } throws: { error in
            (error as? SpawnError)?.code == .spawn
                && (error as? SpawnError)?.message.contains("/nonexistent/program-") == true
        }
    }

    @Test("exited() waits without holding a pool thread, with several children at once")
    func asyncWait() async throws {
        let children = try (0..<4).map { _ in try SpawnedProcess("/bin/sleep", ["0.3"]) }
        for child in children {
            #expect(await child.exited() == .exited(0))
        }
    }
}
