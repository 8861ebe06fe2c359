// The only file of SerialConsole that calls libc for descriptors, sockets, terminals and threads (style point 5).
// Every wrapper captures errno at once, retries EINTR (except poll, whose caller recomputes its deadline) and
// returns Errno. EBADF is a programmer error.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage
#if DEBUG
import Synchronization
#endif

/// Runs `body` until it does not fail with EINTR; maps -1 to the current errno.
@inline(__always)
func valueOrErrno<T: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> T) -> Result<T, Errno> {
    while true {
        let value = body()
        if value != -1 { return .success(value) }
        let err = Errno(rawValue: errno)
        if retryOnInterrupt && err == .interrupted { continue }
        precondition(err != .badFileDescriptor, "EBADF: a closed or foreign descriptor was used")
        return .failure(err)
    }
}

// MARK: - Call trace (debug builds only)

#if DEBUG
/// A debug-only record of selected syscalls, so tests can assert what the relay asked of the kernel where the
/// kernel gives no other sign (a pty ignores a break: `tcsendbreak` on either side delivers nothing).
enum SyscallTrace {
    private static let calls = Mutex<[String]?>(nil)

    /// Starts recording (clearing what was recorded).
    static func start() { calls.withLock { $0 = [] } }

    /// Stops recording and returns the calls seen, in order.
    static func stop() -> [String] { calls.withLock { let c = $0 ?? []; $0 = nil; return c } }

    /// What has been recorded so far, recording going on.
    static func snapshot() -> [String] { calls.withLock { $0 ?? [] } }

    static func record(_ call: @autoclosure () -> String) {
        calls.withLock { if $0 != nil { $0!.append(call()) } }
    }
}
#endif

// MARK: - Descriptors

func system_open(_ path: String, _ flags: CInt, _ mode: mode_t = 0) -> Result<CInt, Errno> {
    valueOrErrno { open(path, flags, mode) }
}

func system_close(_ fd: CInt) {
    // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
    _ = close(fd)
}

func system_read(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { read(fd, buffer.baseAddress, buffer.count) }
}

func system_write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { write(fd, buffer.baseAddress, buffer.count) }
}

func system_poll(_ fds: inout [pollfd], _ timeoutMilliseconds: CInt) -> Result<Int, Errno> {
    valueOrErrno(retryOnInterrupt: false) { Int(poll(&fds, nfds_t(fds.count), timeoutMilliseconds)) }
}

func system_setNonBlockingCloseOnExec(_ fd: CInt) -> Result<Void, Errno> {
    valueOrErrno { fcntl(fd, F_GETFL) }.flatMap { flags in
        valueOrErrno { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }.flatMap { _ in
        valueOrErrno { fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }.map { _ in () }
}

/// A non-blocking close-on-exec pipe: the relay loop's wake-up channel and the console client's signal channel.
func system_pipe() -> Result<(read: CInt, write: CInt), Errno> {
    var fds: [CInt] = [-1, -1]
    return valueOrErrno { pipe(&fds) }.flatMap { _ in
        for fd in fds {
            if case .failure(let e) = system_setNonBlockingCloseOnExec(fd) {
                system_close(fds[0])
                system_close(fds[1])
                return .failure(e)
            }
        }
        return .success((fds[0], fds[1]))
    }
}

// MARK: - Files

func system_unlink(_ path: String) -> Result<Void, Errno> {
    valueOrErrno { unlink(path) }.map { _ in () }
}

func system_rename(_ from: String, _ to: String) -> Result<Void, Errno> {
    valueOrErrno { rename(from, to) }.map { _ in () }
}

func system_chmod(_ path: String, _ mode: mode_t) -> Result<Void, Errno> {
    valueOrErrno { chmod(path, mode) }.map { _ in () }
}

func system_chown(_ path: String, _ uid: uid_t, _ gid: gid_t) -> Result<Void, Errno> {
    valueOrErrno { chown(path, uid, gid) }.map { _ in () }
}

func system_mkdir(_ path: String, _ mode: mode_t) -> Result<Void, Errno> {
    valueOrErrno { mkdir(path, mode) }.map { _ in () }
}

func system_lstat(_ path: String) -> Result<stat, Errno> {
    var st = stat()
    return valueOrErrno { lstat(path, &st) }.map { _ in st }
}

func system_fstat(_ fd: CInt) -> Result<stat, Errno> {
    var st = stat()
    return valueOrErrno { fstat(fd, &st) }.map { _ in st }
}

func system_flock(_ fd: CInt, _ operation: CInt) -> Result<Void, Errno> {
    valueOrErrno { flock(fd, operation) }.map { _ in () }
}

/// Makes further opens of a terminal fail with EBUSY (except for root). The corresponding C call is
/// `ioctl(fd, TIOCEXCL)`.
func system_setExclusiveTerminal(_ fd: CInt) -> Result<Void, Errno> {
    valueOrErrno { ioctl(fd, UInt(TIOCEXCL)) }.map { _ in () }
}

/// The canonical path of `path`, symlinks resolved. The corresponding C function is `realpath`.
func system_realpath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(decoding: UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)), as: UTF8.self)
}

// MARK: - Unix sockets

/// `struct ucred` of <sys/socket.h> (only visible with _GNU_SOURCE, so not imported into Swift): pid, uid, gid.
struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

private func withUnixAddress<R>(
    _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result<R, Errno>
) -> Result<R, Errno> {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let capacity = MemoryLayout.size(ofValue: address.sun_path)
    guard bytes.count < capacity else { return .failure(.fileNameTooLong) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            body($0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
}

func system_socketUnix() -> Result<CInt, Errno> {
    let type = CInt(SOCK_STREAM.rawValue) | CInt(SOCK_NONBLOCK.rawValue) | CInt(SOCK_CLOEXEC.rawValue)
    return valueOrErrno { socket(AF_UNIX, type, 0) }
}

func system_bind(_ fd: CInt, path: String) -> Result<Void, Errno> {
    withUnixAddress(path) { address, length in valueOrErrno { bind(fd, address, length) }.map { _ in () } }
}

func system_listen(_ fd: CInt, _ backlog: CInt) -> Result<Void, Errno> {
    valueOrErrno { listen(fd, backlog) }.map { _ in () }
}

/// Connects a socket to a Unix path. On a non-blocking socket a Unix connect completes at once or fails
/// (EAGAIN when the listener's backlog is full).
func system_connect(_ fd: CInt, path: String) -> Result<Void, Errno> {
    withUnixAddress(path) { address, length in valueOrErrno { connect(fd, address, length) }.map { _ in () } }
}

/// Accepts one connection, made non-blocking and close-on-exec (accept4 is not imported without _GNU_SOURCE).
func system_accept(_ fd: CInt) -> Result<CInt, Errno> {
    valueOrErrno { accept(fd, nil, nil) }.flatMap { client in
        if case .failure(let e) = system_setNonBlockingCloseOnExec(client) {
            system_close(client)
            return .failure(e)
        }
        return .success(client)
    }
}

/// The credentials of the process at the other end of a Unix socket, as the kernel recorded them at connect.
/// The corresponding C call is `getsockopt(fd, SOL_SOCKET, SO_PEERCRED, …)`.
func system_peerCredentials(_ fd: CInt) -> Result<PeerCredentials, Errno> {
    var credentials = PeerCredentials()
    var length = socklen_t(MemoryLayout<PeerCredentials>.size)
    return valueOrErrno { getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) }.map { _ in credentials }
}

/// Sends on a socket without raising SIGPIPE when the peer is gone (EPIPE is returned instead).
func system_send(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { send(fd, buffer.baseAddress, buffer.count, CInt(MSG_NOSIGNAL)) }
}

func system_recv(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { recv(fd, buffer.baseAddress, buffer.count, 0) }
}

func system_shutdownWrite(_ fd: CInt) {
    _ = shutdown(fd, CInt(SHUT_WR))
}

// MARK: - Users and groups

/// The name of a user id, or nil when the password database has none. The corresponding C function is `getpwuid_r`.
func system_userName(uid: UInt32) -> String? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>? = nil
    var buffer = [CChar](repeating: 0, count: 4096)
    let rc = getpwuid_r(uid_t(uid), &entry, &buffer, buffer.count, &result)
    guard rc == 0, result != nil, let name = entry.pw_name else { return nil }
    return String(cString: name)
}

/// The user id of a user name. The corresponding C function is `getpwnam_r`.
func system_userID(name: String) -> UInt32? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>? = nil
    var buffer = [CChar](repeating: 0, count: 4096)
    let rc = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
    guard rc == 0, result != nil else { return nil }
    return UInt32(entry.pw_uid)
}

/// The group id of a group name. The corresponding C function is `getgrnam_r`.
func system_groupID(name: String) -> UInt32? {
    var entry = group()
    var result: UnsafeMutablePointer<group>? = nil
    var buffer = [CChar](repeating: 0, count: 16384)
    let rc = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
    guard rc == 0, result != nil else { return nil }
    return UInt32(entry.gr_gid)
}

// MARK: - Terminals

func system_isatty(_ fd: CInt) -> Bool { isatty(fd) == 1 }

func system_tcgetattr(_ fd: CInt) -> Result<termios, Errno> {
    var t = termios()
    return valueOrErrno { tcgetattr(fd, &t) }.map { _ in t }
}

func system_tcsetattr(_ fd: CInt, _ t: termios, _ when: CInt = TCSANOW) -> Result<Void, Errno> {
    var t = t
    return valueOrErrno { tcsetattr(fd, when, &t) }.map { _ in () }
}

func system_cfmakeraw(_ t: inout termios) { cfmakeraw(&t) }

/// Sends a break on a serial line: zero bits for 0.25–0.5 s, after the output queued in the kernel is sent.
/// The corresponding C function is `tcsendbreak`. POSIX: "If duration is 0, it shall cause transmission of
/// zero-valued bits for at least 0.25 seconds, and not more than 0.5 seconds." Linux blocks the caller meanwhile.
func system_tcsendbreak(_ fd: CInt, _ duration: CInt) -> Result<Void, Errno> {
    let result = valueOrErrno { tcsendbreak(fd, duration) }.map { _ in () }
    #if DEBUG
    SyscallTrace.record("tcsendbreak(\(fd), \(duration)) = \(result)")
    #endif
    return result
}

// MARK: - Time

/// The wall clock as seconds and nanoseconds since the epoch (for timestamps in the console log only;
/// deadlines use `Monotonic`).
func system_wallClock() -> (seconds: Int, nanoseconds: Int) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return (Int(ts.tv_sec), Int(ts.tv_nsec))
}

/// Breaks seconds since the epoch into UTC calendar fields. The corresponding C function is `gmtime_r`.
func system_utcFields(_ seconds: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
    var t = time_t(seconds)
    var fields = tm()
    gmtime_r(&t, &fields)
    return (
        Int(fields.tm_year) + 1900, Int(fields.tm_mon) + 1, Int(fields.tm_mday), Int(fields.tm_hour),
        Int(fields.tm_min), Int(fields.tm_sec)
    )
}

// MARK: - Threads

/// Holds a closure for the trip to a new thread.
private final class ThreadEntry {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Starts a detached thread running `body`. The corresponding C function is `pthread_create`.
func system_startThread(_ body: @escaping @Sendable () -> Void) -> Result<Void, Errno> {
    let entry = Unmanaged.passRetained(ThreadEntry(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            guard let raw else { return nil }
            let entry = Unmanaged<ThreadEntry>.fromOpaque(raw).takeRetainedValue()
            entry.body()
            return nil
        }, entry)
    if rc != 0 {
        Unmanaged<ThreadEntry>.fromOpaque(entry).release()
        return .failure(Errno(rawValue: rc))
    }
    pthread_detach(thread)
    return .success(())
}

// MARK: - Signals (console client)

/// The descriptor the signal handler writes the signal number to, and the terminal it restores.
/// Written only while the handlers are not installed, read by the handler (async-signal-safe: plain loads).
nonisolated(unsafe) private var signalPipeWrite: CInt = -1
nonisolated(unsafe) private var signalTerminalFD: CInt = -1
nonisolated(unsafe) private var signalTerminalSettings = termios()

/// Installs handlers for `signals` that restore `terminal` to `settings` (tcsetattr is async-signal-safe) and
/// write the signal number to `pipe`. SIGPIPE is ignored so a vanished relay is an EPIPE, not a death.
func system_installSignalHandlers(_ signals: [CInt], pipe: CInt, terminal: CInt, settings: termios?) {
    signalPipeWrite = pipe
    if let settings {
        signalTerminalSettings = settings
        signalTerminalFD = terminal
    } else {
        signalTerminalFD = -1
    }
    signal(SIGPIPE, SIG_IGN)
    for number in signals {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            if signalTerminalFD >= 0 { tcsetattr(signalTerminalFD, TCSANOW, &signalTerminalSettings) }
            var byte = UInt8(truncatingIfNeeded: number)
            _ = write(signalPipeWrite, &byte, 1)
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(number, &action, nil)
    }
}

/// Puts the default disposition back for `signals`.
func system_restoreSignalHandlers(_ signals: [CInt]) {
    for number in signals {
        signal(number, SIG_DFL)
    }
    signalTerminalFD = -1
}
