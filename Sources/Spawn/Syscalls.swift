// The libc calls of the Spawn module (style point: syscalls through one wrapper file per module).

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// `posix_spawn_file_actions_addclosefrom_np` (glibc ≥ 2.34), looked up at run time: the Swift Glibc module does
/// not import it. Nil when the C library lacks it.
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
    else { return nil }
    return unsafeBitCast(
        symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt).self)
}()

/// An error number of a failed call.
struct SpawnErrno: Error {
    let code: CInt
}

/// Where one of the child's standard descriptors comes from, resolved to a descriptor or a path.
enum SpawnSource {
    case descriptor(CInt)
    case open(String, CInt, mode_t)
}

/// Spawns `path` with `arguments` (argv[0] is `path`), every signal unblocked and at its default disposition,
/// descriptors 0, 1, 2 from `stdio`, every other descriptor closed, optionally in a new process group.
/// The corresponding C function is `posix_spawn`; returns the PID or the error number.
func spawn_start(
    _ path: String, _ arguments: [String], environment: [String]?, stdio: [SpawnSource], newProcessGroup: Bool
) -> Result<pid_t, SpawnErrno> {
    var actions = posix_spawn_file_actions_t()
    var attributes = posix_spawnattr_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawnattr_init(&attributes)
    defer {
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attributes)
    }
    // First move every source descriptor above 2 (dup2 onto itself would keep it CLOEXEC-free but not dup it).
    for (target, source) in stdio.enumerated() {
        switch source {
        case .descriptor(let fd):
            if fd == CInt(target) {
                // Same number: dup2 to itself does not clear FD_CLOEXEC, so go through a spare number.
                posix_spawn_file_actions_adddup2(&actions, fd, 100 + CInt(target))
                posix_spawn_file_actions_adddup2(&actions, 100 + CInt(target), CInt(target))
            } else {
                posix_spawn_file_actions_adddup2(&actions, fd, CInt(target))
            }
        case .open(let file, let flags, let mode):
            posix_spawn_file_actions_addopen(&actions, CInt(target), file, flags, mode)
        }
    }
    if let addCloseFrom {
        _ = addCloseFrom(&actions, 3)
    } else {
        // No closefrom: close what is open now, except descriptors already marked close-on-exec.
        for fd in spawn_openDescriptors() where fd > 2 && fcntl(fd, F_GETFD) & FD_CLOEXEC == 0 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    sigdelset(&all, SIGKILL)
    sigdelset(&all, SIGSTOP)
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setsigdefault(&attributes, &all)
    var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
    if newProcessGroup {
        posix_spawnattr_setpgroup(&attributes, 0)
        flags |= Int32(POSIX_SPAWN_SETPGROUP)
    }
    posix_spawnattr_setflags(&attributes, Int16(flags))
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let rc: CInt
    if let environment {
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    } else {
        rc = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    }
    return rc == 0 ? .success(pid) : .failure(SpawnErrno(code: rc))
}

/// The descriptors this process has open (from /proc/self/fd).
func spawn_openDescriptors() -> [CInt] {
    guard let dir = opendir("/proc/self/fd") else { return [] }
    defer { closedir(dir) }
    let own = dirfd(dir)
    var result: [CInt] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if let fd = CInt(name), fd != own { result.append(fd) }
    }
    return result
}

/// The current environment as `NAME=value` entries.
func spawn_environment() -> [String] {
    var result: [String] = []
    var e = environ
    while let entry = e.pointee {
        result.append(String(cString: entry))
        e += 1
    }
    return result
}

/// A close-on-exec pipe. The corresponding C function is `pipe2`.
func spawn_pipe() -> Result<(read: CInt, write: CInt), SpawnErrno> {
    var fds: [CInt] = [0, 0]
    // pipe2 is not imported; the spawn closes every descriptor above 2 in the child anyway.
    guard pipe(&fds) == 0 else { return .failure(SpawnErrno(code: errno)) }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return .success((fds[0], fds[1]))
}

/// Closes a descriptor.
func spawn_close(_ fd: CInt) { _ = close(fd) }

/// Reads up to `capacity` bytes (EINTR retried); empty at end of file, nil on EAGAIN, error number otherwise.
func spawn_read(_ fd: CInt, _ capacity: Int) -> Result<[UInt8]?, SpawnErrno> {
    var buffer = [UInt8](repeating: 0, count: capacity)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, capacity) }
        if n >= 0 { return .success(Array(buffer[0..<n])) }
        if errno == EINTR { continue }
        if errno == EAGAIN || errno == EWOULDBLOCK { return .success(nil) }
        return .failure(SpawnErrno(code: errno))
    }
}

/// Writes all of `bytes` (blocking descriptor; EINTR retried); false when the reader went away.
func spawn_writeAll(_ fd: CInt, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += n
    }
    return true
}

/// Polls descriptors for input; returns which ones are readable or hung up (empty on timeout).
func spawn_pollReadable(_ fds: [CInt], timeoutMilliseconds: Int) -> [CInt] {
    var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    let n = poll(&entries, nfds_t(entries.count), CInt(clamping: timeoutMilliseconds))
    guard n > 0 else { return [] }
    return entries.filter { $0.revents != 0 }.map(\.fd)
}

/// Sets O_NONBLOCK on a descriptor.
func spawn_setNonBlocking(_ fd: CInt) { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

/// Reaps `pid` if it has exited: its raw wait status, nil if it still runs, -1 if it is not (or no longer) our child.
/// The corresponding C function is `waitpid` with `WNOHANG`.
func spawn_reapIfExited(_ pid: pid_t) -> CInt? {
    var status: CInt = 0
    while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid { return status }
        if r == 0 { return nil }
        if errno == EINTR { continue }
        return -1
    }
}

/// Blocks until `pid` has exited without reaping it (so that the reaping happens under the owner's lock).
/// The corresponding C function is `waitid` with `WNOWAIT`.
func spawn_waitExitedNoReap(_ pid: pid_t) {
    var info = siginfo_t()
    while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
        if errno != EINTR { return }
    }
}

/// Sends `signal` to `pid`. The corresponding C function is `kill`.
@discardableResult
func spawn_kill(_ pid: pid_t, _ signal: CInt) -> Bool { kill(pid, signal) == 0 }

/// Reads a small file such as /proc/PID/stat whole; nil if it cannot be opened.
func spawn_readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    while case .success(let chunk?) = spawn_read(fd, 4096), !chunk.isEmpty { out += chunk }
    return String(decoding: out, as: UTF8.self)
}

/// Sleeps for `milliseconds`.
func spawn_sleep(milliseconds: Int) { usleep(useconds_t(milliseconds) * 1000) }

/// A readable text for an error number.
func spawn_describe(_ code: CInt) -> String { String(cString: strerror(code)) }

let spawnSIGTERM = SIGTERM
let spawnSIGKILL = SIGKILL
let spawnRDONLY = O_RDONLY
let spawnWRONLY = O_WRONLY
let spawnAppendCreate = O_WRONLY | O_CREAT | O_APPEND
let spawnTruncateCreate = O_WRONLY | O_CREAT | O_TRUNC
