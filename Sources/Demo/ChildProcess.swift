import Spawn

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// A child process of the demo, started with `posix_spawn(3)` (``SpawnedProcess``) in its own process group (so a
/// Ctrl-C on the terminal reaches only the demo, which then ends its children in order), with every signal at its
/// default and none blocked. It is ended by its PID only (`terminate`).
///
/// Not thread-safe: the demo drives its children from one thread.
final class ChildProcess {
    private let process: SpawnedProcess
    /// The process ID.
    var pid: pid_t { process.pid }
    /// The command line, for messages.
    let commandLine: [String]

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
        var options = SpawnOptions(
            stdin: stdinPipe ? .pipe : .null, stderr: .stdout, environmentChanges: environment, newProcessGroup: true)
        switch output {
        case .file(let path): options.stdout = .file(path)
        case .pipe: options.stdout = .pipe
        case .null: options.stdout = .null
        }
        do {
            process = try SpawnedProcess(arguments[0], Array(arguments.dropFirst()), options: options)
        } catch {
            throw DemoError(.spawn, error.message)
        }
        if let fd = process.stdout { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// Whether it has not exited yet (reaps it when it has).
    var isRunning: Bool { process.isRunning }

    /// The exit code (or 128 + signal) once it has exited.
    var exitCode: Int32? { process.tryWait()?.code }

    /// Waits up to `timeout` milliseconds for the exit; returns whether it exited.
    @discardableResult
    func wait(milliseconds: Int) -> Bool {
        process.wait(timeout: .milliseconds(milliseconds)) != nil
    }

    /// Sends `signal` to the child (by PID), waits up to `graceMilliseconds`, then SIGKILLs it.
    /// Its own children that are still alive afterwards (e.g. sshd's per-connection processes) are ended too,
    /// also by PID.
    func terminate(signal: CInt = SIGTERM, graceMilliseconds: Int = 5000) {
        let descendants = ChildProcess.descendants(of: pid)
        if isRunning {
            process.signal(signal)
            if !wait(milliseconds: graceMilliseconds) {
                process.signal(SIGKILL)
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
        process.write(Array(text.utf8))
    }

    /// Closes the child's stdin pipe (it reads end of file).
    func closeInput() {
        process.closeStdin()
    }

    /// What the child wrote to its output pipe since the last call (empty if nothing).
    func readAvailable() -> [UInt8] {
        guard let outputFD = process.stdout else { return [] }
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
