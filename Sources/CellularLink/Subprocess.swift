import Dispatch
import Foundation
import Synchronization

/// What a finished helper program printed.
struct CommandOutput: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs short helper programs (`ip`, `sysctl`-like writes are done directly) and waits for them.
enum Command {
    /// Runs `path` with `arguments` to completion, capturing stdout and stderr (posix_spawn, not Foundation's
    /// `Process`, whose child watching breaks when a child's descendants keep its descriptors).
    /// - Throws: ``CellularLinkError`` `.commandFailed` when the program cannot be started.
    static func run(_ path: String, _ arguments: [String]) throws -> CommandOutput {
        guard case .success(let out) = system_pipe(), case .success(let err) = system_pipe() else {
            throw CellularLinkError(code: .commandFailed, message: "cannot create pipes to run \(path)")
        }
        let spawned = system_spawn(path, arguments, environment: nil, outputFD: out.write, errorFD: err.write)
        system_close(out.write)
        system_close(err.write)
        defer {
            system_close(out.read)
            system_close(err.read)
        }
        guard case .success(let pid) = spawned else {
            throw CellularLinkError(
                code: .commandFailed,
                message: "cannot start \(path); install it (see scripts/install-deps.sh) or fix the path")
        }
        let (o, e) = system_readBoth(out.read, err.read)
        let status = system_waitForChild(pid)
        return CommandOutput(
            status: status, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// Runs `path` and throws when it exits non-zero, with its stderr in the message.
    @discardableResult
    static func check(_ path: String, _ arguments: [String]) throws -> String {
        let r = try run(path, arguments)
        guard r.status == 0 else {
            let cmd = ([path] + arguments).joined(separator: " ")
            let detail = r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw CellularLinkError(
                code: .commandFailed, message: "`\(cmd)` failed (exit \(r.status)): \(detail)")
        }
        return r.stdout
    }
}

/// A long-running child (pppd, udhcpc) whose output lines and death are watched.
///
/// Spawned with `posix_spawn` (``system_spawn``) with every signal unblocked; one thread reads its output,
/// one thread waits for it (`waitpid`). All mutable state lives in a ``Locked``.
final class ChildProcess: Sendable {
    /// The child's process id.
    let pid: Int32
    /// Its start time in clock ticks since boot (/proc/PID/stat field 22), to tell it from a reused PID.
    let startTime: UInt64?
    /// Lines it prints on stdout and stderr, in order; finishes at EOF.
    let lines: AsyncStream<String>
    private let state = Locked<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    /// Starts `path` with `arguments`, stdout and stderr into one pipe, stdin from /dev/null.
    /// - Throws: ``CellularLinkError`` `.linkFailed` when it cannot be started.
    init(path: String, arguments: [String], environment: [String: String]? = nil) throws {
        let fds: (read: CInt, write: CInt)
        switch system_pipe() {
        case .success(let p): fds = p
        case .failure(let e):
            throw CellularLinkError(code: .linkFailed, message: "cannot create a pipe for \(path)", underlying: e)
        }
        let env = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let spawned = system_spawn(path, arguments, environment: env, outputFD: fds.write, errorFD: fds.write)
        system_close(fds.write)
        switch spawned {
        case .success(let p): pid = p
        case .failure(let e):
            system_close(fds.read)
            throw CellularLinkError(
                code: .linkFailed, message: "cannot start \(path); check link.pppd / the path and that it is executable",
                underlying: e)
        }
        startTime = ProcessIdentity.startTime(of: pid)
        let (lines, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(256))
        self.lines = lines
        let readFD = fds.read
        let reader = Thread {
            var pending: [UInt8] = []
            while case .success(let chunk) = system_read(readFD, 4096), !chunk.isEmpty {
                pending += chunk
                while let nl = pending.firstIndex(of: 0x0A) {
                    continuation.yield(String(decoding: pending[..<nl], as: UTF8.self))
                    pending.removeSubrange(...nl)
                }
            }
            if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            system_close(readFD)
            continuation.finish()
        }
        reader.name = "link-child-output"
        reader.start()
        let pid = self.pid
        let state = self.state
        let waiter = Thread {
            let status = system_waitForChild(pid)
            let waiters = state.withLock { s -> [CheckedContinuation<Int32, Never>] in
                s.status = status
                defer { s.waiters = [] }
                return s.waiters
            }
            for w in waiters { w.resume(returning: status) }
        }
        waiter.name = "link-child-wait"
        waiter.start()
    }

    /// The exit status if it has exited (negative: killed by that signal), else nil.
    var exitStatus: Int32? { state.withLock { $0.status } }

    /// Waits until the child has exited; returns its status (negative: the signal that killed it).
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { c in
            let done = state.withLock { s -> Int32? in
                if let status = s.status { return status }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`; returns when it has exited.
    func terminate(grace: Duration) async -> Int32 {
        if let status = exitStatus { return status }
        _ = system_kill(pid, signalTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline {
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let status = exitStatus { return status }
        _ = system_kill(pid, signalKILL)
        return await waitForExit()
    }
}

/// Telling a live process from a reused PID, through /proc.
enum ProcessIdentity {
    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot), nil if the process is gone.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, so start time (22) is index 19 here.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether `pid` is alive and is the process that started at `startTime` (zombies count as gone).
    static func isAlive(pid: Int32, startTime: UInt64?) -> Bool {
        guard let now = self.startTime(of: pid) else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            stat[stat.index(after: close)...].split(separator: " ").first == "Z"
        {
            return false
        }
        return startTime == nil || startTime == now
    }

    /// SIGTERM, then SIGKILL after `grace`, to a process that is not our child (recovery after a restart).
    static func terminate(pid: Int32, startTime: UInt64?, grace: Duration) async {
        guard isAlive(pid: pid, startTime: startTime) else { return }
        _ = system_kill(pid, signalTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline {
            if !isAlive(pid: pid, startTime: startTime) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        if isAlive(pid: pid, startTime: startTime) { _ = system_kill(pid, signalKILL) }
        for _ in 0..<100 where isAlive(pid: pid, startTime: startTime) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A `Mutex` in a class, so that closures and tasks can share it (a `Mutex` itself cannot be captured).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
