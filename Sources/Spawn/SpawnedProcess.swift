import Synchronization
import Foundation

/// A failure to start a program, with what to do about it.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public enum Code: Sendable, Equatable {
        /// A pipe could not be created (descriptor limit).
        case pipe
        /// `posix_spawn` failed (missing program, not executable, …).
        case spawn
    }

    /// The kind of failure.
    public let code: Code
    /// The problem and its fix, for a human.
    public let message: String
    /// The error number of the failed call.
    public let errno: Int32

    public var description: String { message }
}

/// How the child's stdin, stdout or stderr is connected.
public enum StandardStream: Sendable, Equatable {
    /// `/dev/null`.
    case null
    /// The caller's own descriptor of the same number (the terminal, the test log).
    case inherit
    /// A pipe whose other end the caller gets (``SpawnedProcess/stdin``, ``SpawnedProcess/stdout``,
    /// ``SpawnedProcess/stderr``).
    case pipe
    /// A file, opened for reading (stdin) or created and appended to (stdout, stderr).
    case file(String)
    /// A file created or truncated (stdout, stderr).
    case truncate(String)
    /// This descriptor of the caller (it stays the caller's; the child gets a copy).
    case descriptor(Int32)
    /// stderr only: into whatever stdout goes to.
    case stdout
}

/// What the child gets, besides its arguments.
public struct SpawnOptions: Sendable {
    /// stdin (default `/dev/null`).
    public var stdin: StandardStream = .null
    /// stdout (default `/dev/null`).
    public var stdout: StandardStream = .null
    /// stderr (default `/dev/null`).
    public var stderr: StandardStream = .null
    /// The whole environment; nil: the caller's.
    public var environment: [String: String]?
    /// Variables set (or, with nil, removed) on top of ``environment`` or the caller's environment.
    public var environmentChanges: [String: String?] = [:]
    /// Start the child in a process group of its own (a Ctrl-C on the terminal then does not reach it).
    public var newProcessGroup = false

    /// Everything at its default: stdio to `/dev/null`, the caller's environment, the caller's process group.
    public init(
        stdin: StandardStream = .null, stdout: StandardStream = .null, stderr: StandardStream = .null,
        environment: [String: String]? = nil, environmentChanges: [String: String?] = [:],
        newProcessGroup: Bool = false
    ) {
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.environment = environment
        self.environmentChanges = environmentChanges
        self.newProcessGroup = newProcessGroup
    }
}

/// How a child ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    /// It called exit with this code.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)
    /// Someone else reaped it (status unknown).
    case unknown

    init(raw: Int32) {
        if raw < 0 {
            self = .unknown
        } else if raw & 0x7F == 0 {
            self = .exited((raw >> 8) & 0xFF)
        } else {
            self = .signalled(raw & 0x7F)
        }
    }

    /// The shell's convention: the exit code, or 128 + the signal number, or -1 when unknown.
    public var code: Int32 {
        switch self {
        case .exited(let c): c
        case .signalled(let s): 128 + s
        case .unknown: -1
        }
    }

    /// Whether it exited with code 0.
    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let c): "exited with status \(c)"
        case .signalled(let s): "was killed by signal \(s)"
        case .unknown: "ended (status unknown)"
        }
    }
}

/// A child process started with `posix_spawn(3)`: every signal unblocked and at its default disposition (a child
/// of a thread that blocks SIGTERM would otherwise ignore it), every descriptor but 0, 1, 2 closed, optionally in
/// a process group of its own.
///
/// There is no monitor thread and no SIGCHLD handler: the child is reaped by whoever waits for it (``wait()``,
/// ``tryWait()``, ``exited()``), under a lock, so it is never signalled after being reaped (its PID cannot have
/// been reused before that). Signals go to this PID only.
public final class SpawnedProcess: Sendable {
    /// The child's process ID.
    public let pid: Int32
    /// The program and its arguments, for messages.
    public let commandLine: [String]
    /// The caller's end of the child's stdin pipe (``StandardStream/pipe``), else nil. Close it with
    /// ``closeStdin()``.
    public let stdin: Int32?
    /// The caller's end of the child's stdout pipe, else nil; closed when this object goes away.
    public let stdout: Int32?
    /// The caller's end of the child's stderr pipe, else nil; closed when this object goes away.
    public let stderr: Int32?
    /// Its start time (/proc/PID/stat field 22), to tell it from a process that reuses the PID later.
    public let startTime: UInt64?
    private let state = Mutex<(status: ExitStatus?, stdinOpen: Bool)>((nil, true))

    /// Starts `path` (an absolute path) with `arguments`.
    /// - Throws: ``SpawnError`` when a pipe cannot be made or the program cannot be started.
    public init(_ path: String, _ arguments: [String] = [], options: SpawnOptions = SpawnOptions()) throws(SpawnError) {
        var parentEnds: [Int32?] = [nil, nil, nil]
        var childEnds: [Int32] = []
        defer { childEnds.forEach(spawn_close) }
        func closeParentEnds() { parentEnds.forEach { $0.map(spawn_close) } }
        var stdio: [SpawnSource] = []
        for (index, stream) in [options.stdin, options.stdout, options.stderr].enumerated() {
            let forReading = index == 0
            switch stream {
            case .null:
                stdio.append(.open("/dev/null", forReading ? spawnRDONLY : spawnWRONLY, 0))
            case .inherit:
                stdio.append(.descriptor(Int32(index)))
            case .descriptor(let fd):
                stdio.append(.descriptor(fd))
            case .file(let file):
                stdio.append(.open(file, forReading ? spawnRDONLY : spawnAppendCreate, 0o600))
            case .truncate(let file):
                stdio.append(.open(file, forReading ? spawnRDONLY : spawnTruncateCreate, 0o600))
            case .stdout:
                stdio.append(.descriptor(1))
            case .pipe:
                guard case .success(let p) = spawn_pipe() else {
                    closeParentEnds()
                    throw SpawnError(
                        code: .pipe, message: "cannot create a pipe to start \(path): too many open files; raise the limit",
                        errno: 24)
                }
                parentEnds[index] = forReading ? p.write : p.read
                childEnds.append(forReading ? p.read : p.write)
                stdio.append(.descriptor(forReading ? p.read : p.write))
            }
        }
        var environment: [String]?
        if options.environment != nil || !options.environmentChanges.isEmpty {
            var env: [String: String] = [:]
            if let given = options.environment {
                env = given
            } else {
                for entry in spawn_environment() {
                    let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    env[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
                }
            }
            for (k, v) in options.environmentChanges { env[k] = v }
            environment = env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        }
        switch spawn_start(
            path, arguments, environment: environment, stdio: stdio, newProcessGroup: options.newProcessGroup)
        {
        case .success(let pid):
            self.pid = pid
        case .failure(let failure):
            let code = failure.code
            closeParentEnds()
            throw SpawnError(
                code: .spawn,
                message: "cannot start \(path): \(spawn_describe(code)); install it or fix the path", errno: code)
        }
        commandLine = [path] + arguments
        stdin = parentEnds[0]
        stdout = parentEnds[1]
        stderr = parentEnds[2]
        startTime = ProcessCheck.startTime(of: pid)
    }

    deinit {
        if let stdin, state.withLock({ $0.stdinOpen }) { spawn_close(stdin) }
        stdout.map(spawn_close)
        stderr.map(spawn_close)
    }

    /// Closes the caller's end of the stdin pipe (the child reads end of file). Safe to call twice.
    public func closeStdin() {
        guard let stdin else { return }
        let wasOpen = state.withLock { s in
            defer { s.stdinOpen = false }
            return s.stdinOpen
        }
        if wasOpen { spawn_close(stdin) }
    }

    /// Writes `bytes` to the child's stdin pipe (blocking); false when there is none or the child closed it.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        guard let stdin, state.withLock({ $0.stdinOpen }) else { return false }
        return spawn_writeAll(stdin, bytes)
    }

    /// How it ended, reaping it if it has exited; nil while it runs. Never blocks.
    public func tryWait() -> ExitStatus? {
        state.withLock { s in
            if let status = s.status { return status }
            guard let raw = spawn_reapIfExited(pid) else { return nil }
            s.status = ExitStatus(raw: raw)
            return s.status
        }
    }

    /// Whether it has not exited yet.
    public var isRunning: Bool { tryWait() == nil }

    /// Blocks the calling thread until it exits (use ``exited()`` from async code).
    @discardableResult
    public func wait() -> ExitStatus {
        while true {
            if let status = tryWait() { return status }
            spawn_waitExitedNoReap(pid)
        }
    }

    /// Blocks at most `timeout` for the exit; nil if it still runs.
    public func wait(timeout: Duration) -> ExitStatus? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pause = 1
        while true {
            if let status = tryWait() { return status }
            if clock.now >= deadline { return nil }
            spawn_sleep(milliseconds: pause)
            pause = min(pause * 2, 20)
        }
    }

    /// Waits for the exit without holding a thread of Swift's cooperative pool (a thread of its own blocks).
    @discardableResult
    public func exited() async -> ExitStatus {
        if let status = tryWait() { return status }
        return await withCheckedContinuation { (c: CheckedContinuation<ExitStatus, Never>) in
            let thread = Thread { c.resume(returning: self.wait()) }
            thread.start()
        }
    }

    /// Sends `signal` if it has not been reaped yet (so never to a stranger that reused the PID).
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        state.withLock { s in
            guard s.status == nil else { return false }
            return spawn_kill(pid, signal)
        }
    }

    /// SIGTERM, then SIGKILL when it is still running after `grace`; returns how it ended. Blocks.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) -> ExitStatus {
        if let status = tryWait() { return status }
        signal(spawnSIGTERM)
        if let status = wait(timeout: grace) { return status }
        signal(spawnSIGKILL)
        return wait()
    }

    /// ``terminate(grace:)`` on a thread of its own (for async code: never blocks Swift's cooperative pool).
    @discardableResult
    public func stop(grace: Duration = .seconds(5)) async -> ExitStatus {
        if let status = tryWait() { return status }
        return await withCheckedContinuation { (c: CheckedContinuation<ExitStatus, Never>) in
            let thread = Thread { c.resume(returning: self.terminate(grace: grace)) }
            thread.start()
        }
    }
}

/// What ``SpawnedProcess/run(_:_:options:input:timeout:)`` collected.
public struct ProcessOutput: Sendable {
    /// How it ended.
    public var status: ExitStatus
    /// What it printed on stdout.
    public var stdout: [UInt8]
    /// What it printed on stderr (empty when stderr went into stdout).
    public var stderr: [UInt8]
    /// Whether it ran past the timeout and was ended (SIGTERM, then SIGKILL).
    public var timedOut: Bool

    /// stdout as UTF-8 text.
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// stderr as UTF-8 text.
    public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

extension SpawnedProcess {
    /// Runs `path` to completion (blocking the calling thread), reading stdout and stderr together so that a chatty
    /// child never blocks on a full pipe. After `timeout` it gets SIGTERM, two seconds later SIGKILL. Output is read
    /// until the child has exited and its pipes are closed, or until one second after its exit when a descendant
    /// keeps them open.
    /// - Parameters:
    ///   - options: `stdout`/`stderr` default to pipes here; `.stdout` for stderr merges the two.
    ///   - input: written to its stdin (then closed), else stdin is `options.stdin`.
    /// - Throws: ``SpawnError`` when it cannot be started.
    public static func run(
        _ path: String, _ arguments: [String] = [], options: SpawnOptions = SpawnOptions(stdout: .pipe, stderr: .pipe),
        input: [UInt8]? = nil, timeout: Duration = .seconds(60)
    ) throws(SpawnError) -> ProcessOutput {
        var options = options
        if input != nil { options.stdin = .pipe }
        let child = try SpawnedProcess(path, arguments, options: options)
        if let input {
            let c = child
            Thread {
                c.write(input)
                c.closeStdin()
            }.start()
        }
        var buffers: [Int32: [UInt8]] = [:]
        var open = [child.stdout, child.stderr].compactMap { $0 }
        for fd in open {
            spawn_setNonBlocking(fd)
            buffers[fd] = []
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var timedOut = false
        var exitedAt: ContinuousClock.Instant?
        while true {
            for fd in spawn_pollReadable(open, timeoutMilliseconds: open.isEmpty ? 10 : 20) {
                while true {
                    guard case .success(let chunk) = spawn_read(fd, 65536) else {
                        open.removeAll { $0 == fd }
                        break
                    }
                    guard let chunk else { break }
                    if chunk.isEmpty {
                        open.removeAll { $0 == fd }
                        break
                    }
                    buffers[fd, default: []] += chunk
                }
            }
            if exitedAt == nil, child.tryWait() != nil { exitedAt = clock.now }
            if let exitedAt {
                if open.isEmpty || clock.now - exitedAt > .seconds(1) { break }
            } else if !timedOut, clock.now >= deadline {
                timedOut = true
                let c = child
                Thread { c.terminate(grace: .seconds(2)) }.start()
            }
        }
        return ProcessOutput(
            status: child.wait(), stdout: child.stdout.flatMap { buffers[$0] } ?? [],
            stderr: child.stderr.flatMap { buffers[$0] } ?? [], timedOut: timedOut)
    }

    /// ``run(_:_:options:input:timeout:)`` on a thread of its own (for async code: never blocks Swift's cooperative
    /// pool).
    public static func runOffPool(
        _ path: String, _ arguments: [String] = [], options: SpawnOptions = SpawnOptions(stdout: .pipe, stderr: .pipe),
        input: [UInt8]? = nil, timeout: Duration = .seconds(60)
    ) async throws(SpawnError) -> ProcessOutput {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<ProcessOutput, SpawnError>, Never>) in
            Thread {
                c.resume(returning: Result { () throws(SpawnError) in
                    try run(path, arguments, options: options, input: input, timeout: timeout)
                })
            }.start()
        }
        return try result.get()
    }
}

/// Telling a live process from a reused PID, through /proc (for processes that are not our children, e.g. a pppd
/// recorded in a journal by an earlier run).
public enum ProcessCheck {
    /// Field 22 of /proc/PID/stat (start time in clock ticks since boot), nil if the process is gone.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let fields = statFields(pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// The fields of /proc/PID/stat after the command name (state first).
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = spawn_readSmallFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else {
            return nil
        }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// Whether `pid` is alive and is the process that started at `startTime` (nil: any; zombies count as gone).
    public static func isAlive(pid: Int32, startTime: UInt64?) -> Bool {
        guard let fields = statFields(pid), fields.count > 19, fields[0] != "Z" else { return false }
        return startTime == nil || UInt64(fields[19]) == startTime
    }

    /// The parent PID of `pid`, nil if it is gone.
    public static func parent(of pid: Int32) -> Int32? {
        guard let fields = statFields(pid), fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// Sends `signal` only if `pid` is still the process that started at `startTime`.
    @discardableResult
    public static func signal(pid: Int32, startTime: UInt64?, _ signal: Int32) -> Bool {
        guard isAlive(pid: pid, startTime: startTime) else { return false }
        return spawn_kill(pid, signal)
    }

    /// SIGTERM, then SIGKILL after `grace`, to a process that is not our child; returns when it is gone (or after
    /// two more seconds).
    public static func terminate(pid: Int32, startTime: UInt64?, grace: Duration) async {
        guard signal(pid: pid, startTime: startTime, spawnSIGTERM) else { return }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: grace)
        while clock.now < deadline {
            if !isAlive(pid: pid, startTime: startTime) { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        signal(pid: pid, startTime: startTime, spawnSIGKILL)
        for _ in 0..<100 where isAlive(pid: pid, startTime: startTime) {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}
