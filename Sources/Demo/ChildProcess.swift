#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// A child process of the demo, started with `posix_spawn(3)` in its own process group (so a Ctrl-C on the
/// terminal reaches only the demo, which then ends its children in order), with SIGINT, SIGTERM, SIGPIPE and
/// SIGCHLD at their defaults and no blocked signals. It is ended by its PID only (`terminate`).
///
/// Not thread-safe: the demo drives its children from one thread.
final class ChildProcess {
    /// The process ID.
    let pid: pid_t
    /// The command line, for messages.
    let commandLine: [String]
    private var status: CInt?
    /// The write end of the child's stdin pipe, when asked for.
    private(set) var stdinFD: CInt = -1
    /// The read end of the child's stdout+stderr pipe, when asked for.
    private(set) var outputFD: CInt = -1

    /// How the child's standard descriptors are connected.
    enum Output {
        /// stdout and stderr appended to this file.
        case file(String)
        /// stdout and stderr into a pipe the demo reads (`readAvailable`).
        case pipe
        /// `/dev/null`.
        case null
    }

    /// Starts `arguments[0]` (an absolute path).
    /// - Parameters:
    ///   - arguments: the program and its arguments.
    ///   - output: where stdout and stderr go.
    ///   - stdinPipe: give the child a stdin pipe the demo writes to (`writeInput`); else `/dev/null`.
    ///   - environment: `NAME: value` entries replacing the demo's (a `nil` value removes the variable).
    /// - Throws: ``DemoError`` when the program cannot be started.
    init(
        _ arguments: [String], output: Output = .null, stdinPipe: Bool = false, environment: [String: String?] = [:]
    ) throws(DemoError) {
        commandLine = arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var toClose: [CInt] = []
        defer { toClose.forEach { _ = close($0) } }

        if stdinPipe {
            var p: [CInt] = [0, 0]
            guard makePipe(&p) else { throw DemoError(.spawn, "cannot create a pipe: \(Self.errnoText())") }
            posix_spawn_file_actions_adddup2(&actions, p[0], 0)
            toClose.append(p[0])
            stdinFD = p[1]
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        switch output {
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .pipe:
            var p: [CInt] = [0, 0]
            guard makePipe(&p) else { throw DemoError(.spawn, "cannot create a pipe: \(Self.errnoText())") }
            posix_spawn_file_actions_adddup2(&actions, p[1], 1)
            posix_spawn_file_actions_adddup2(&actions, p[1], 2)
            toClose.append(p[1])
            outputFD = p[0]
            _ = fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK)
        case .null:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT] { sigaddset(&defaults, s) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        var env: [String] = []
        var e = environ
        while let entry = e.pointee {
            let s = String(cString: entry)
            let name = s.split(separator: "=", maxSplits: 1).first.map(String.init) ?? s
            if environment[name] == nil { env.append(s) }
            e += 1
        }
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) {
            if let v { env.append("\(k)=\(v)") }
        }

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, &attributes, &argv, &envp)
        guard rc == 0 else {
            if stdinFD >= 0 { _ = close(stdinFD) }
            if outputFD >= 0 { _ = close(outputFD) }
            throw DemoError(.spawn, "cannot start \(arguments[0]): \(String(cString: strerror(rc)))")
        }
        self.pid = pid
    }

    deinit {
        if stdinFD >= 0 { _ = close(stdinFD) }
        if outputFD >= 0 { _ = close(outputFD) }
    }

    /// Whether it has not exited yet (reaps it when it has).
    var isRunning: Bool {
        poll()
        return status == nil
    }

    /// The exit code (or 128 + signal) once it has exited.
    var exitCode: Int32? {
        poll()
        guard let status else { return nil }
        if status & 0x7F == 0 { return (status >> 8) & 0xFF }
        return 128 + (status & 0x7F)
    }

    private func poll() {
        guard status == nil else { return }
        var s: CInt = 0
        if waitpid(pid, &s, WNOHANG) == pid { status = s }
    }

    /// Waits up to `timeout` milliseconds for the exit; returns whether it exited.
    @discardableResult
    func wait(milliseconds: Int) -> Bool {
        let end = Clock.milliseconds() + Int64(milliseconds)
        while isRunning {
            if Clock.milliseconds() >= end { return false }
            usleep(10_000)
        }
        return true
    }

    /// Sends `signal` to the child (by PID), waits up to `graceMilliseconds`, then SIGKILLs it.
    /// Its own children that are still alive afterwards (e.g. sshd's per-connection processes) are ended too,
    /// also by PID.
    func terminate(signal: CInt = SIGTERM, graceMilliseconds: Int = 5000) {
        let descendants = ChildProcess.descendants(of: pid)
        if isRunning {
            kill(pid, signal)
            if !wait(milliseconds: graceMilliseconds) {
                kill(pid, SIGKILL)
                wait(milliseconds: 2000)
            }
        }
        for d in descendants where ChildProcess.isAlive(d) {
            kill(d, SIGTERM)
        }
        closeInput()
    }

    /// Writes to the child's stdin pipe.
    func writeInput(_ text: String) {
        guard stdinFD >= 0 else { return }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// Closes the child's stdin pipe (it reads end of file).
    func closeInput() {
        if stdinFD >= 0 {
            _ = close(stdinFD)
            stdinFD = -1
        }
    }

    /// What the child wrote to its output pipe since the last call (empty if nothing).
    func readAvailable() -> [UInt8] {
        guard outputFD >= 0 else { return [] }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    /// Whether a process with this PID exists (and is not a zombie).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? readSmallFile("/proc/\(pid)/stat") else { return true }
        // "pid (comm) S ..." — the state follows the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let rest = stat[stat.index(after: close)...].drop(while: { $0 == " " })
        return rest.first != "Z"
    }

    /// The PIDs whose parent chain leads to `pid` (from /proc).
    static func descendants(of pid: pid_t) -> [pid_t] {
        var parent: [pid_t: pid_t] = [:]
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let p = pid_t(name), let stat = try? readSmallFile("/proc/\(p)/stat"),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let pp = pid_t(fields[1]) { parent[p] = pp }
        }
        var result: [pid_t] = []
        var frontier = [pid]
        while let next = frontier.popLast() {
            for (child, pp) in parent where pp == next {
                result.append(child)
                frontier.append(child)
            }
        }
        return result
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// Reads a small file (e.g. under /proc) whole.
func readSmallFile(_ path: String) throws(DemoError) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw DemoError(.io, "cannot read \(path): \(ChildProcess.errnoText())") }
    defer { _ = close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Monotonic milliseconds.
enum Clock {
    static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A pipe whose ends are closed on exec (the spawn actions dup the child's ends into place).
func makePipe(_ p: inout [CInt]) -> Bool {
    guard pipe(&p) == 0 else { return false }
    for fd in p { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return true
}
