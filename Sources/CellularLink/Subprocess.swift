import Dispatch
import Foundation
import Spawn
import Synchronization
import SystemPackage

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
        let r: ProcessOutput
        do {
            r = try SpawnedProcess.run(path, arguments, timeout: .seconds(120))
        } catch {
            throw CellularLinkError(
                code: .commandFailed,
                message: "cannot start \(path); install it (see scripts/install-deps.sh) or fix the path")
        }
        let status: Int32
        switch r.status {
        case .exited(let c): status = c
        case .signalled(let sig): status = -sig
        case .unknown: status = -1
        }
        return CommandOutput(status: status, stdout: r.stdoutText, stderr: r.stderrText)
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
/// Spawned through ``SpawnedProcess`` (posix_spawn, every signal unblocked); one thread reads its output, one
/// thread waits for it. All mutable state lives in a ``Locked``.
final class ChildProcess: Sendable {
    /// The child's process id.
    var pid: Int32 { process.pid }
    /// Its start time in clock ticks since boot (/proc/PID/stat field 22), to tell it from a reused PID.
    var startTime: UInt64? { process.startTime }
    /// Lines it prints on stdout and stderr, in order; finishes at EOF.
    let lines: AsyncStream<String>
    private let process: SpawnedProcess
    private let state = Locked<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    /// Starts `path` with `arguments`, stdout and stderr into one pipe, stdin from /dev/null.
    /// - Throws: ``CellularLinkError`` `.linkFailed` when it cannot be started.
    init(path: String, arguments: [String], environment: [String: String]? = nil) throws {
        do {
            process = try SpawnedProcess(
                path, arguments,
                options: SpawnOptions(stdout: .pipe, stderr: .stdout, environment: environment, newProcessGroup: true))
        } catch {
            throw CellularLinkError(
                code: .linkFailed, message: "cannot start \(path); check link.pppd / the path and that it is executable",
                underlying: Errno(rawValue: error.errno))
        }
        let (lines, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(256))
        self.lines = lines
        let process = self.process
        let readFD = process.stdout ?? -1
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
            continuation.finish()
        }
        reader.name = "link-child-output"
        reader.start()
        let state = self.state
        let waiter = Thread {
            let status: Int32
            switch process.wait() {
            case .exited(let c): status = c
            case .signalled(let sig): status = -sig
            case .unknown: status = -1
            }
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
        process.signal(signalTERM)
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline {
            if let status = exitStatus { return status }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if let status = exitStatus { return status }
        process.signal(signalKILL)
        return await waitForExit()
    }
}

/// Telling a live process from a reused PID (``ProcessCheck`` of the Spawn module).
typealias ProcessIdentity = ProcessCheck

/// A `Mutex` in a class, so that closures and tasks can share it (a `Mutex` itself cannot be captured).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
