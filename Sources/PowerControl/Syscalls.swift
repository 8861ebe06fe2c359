// The only file of PowerControl that calls libc for descriptors, ioctls, locks and threads (style point 5).
// Every wrapper captures errno at once and retries EINTR where that is safe.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

@inline(__always)
func power_valueOrErrno<T: FixedWidthInteger>(_ body: () -> T) -> Result<T, Errno> {
    while true {
        let value = body()
        if value != -1 { return .success(value) }
        let err = Errno(rawValue: errno)
        if err == .interrupted { continue }
        precondition(err != .badFileDescriptor, "EBADF: a closed or foreign descriptor was used")
        return .failure(err)
    }
}

func power_open(_ path: String, _ flags: CInt, _ mode: mode_t = 0) -> Result<CInt, Errno> {
    power_valueOrErrno { open(path, flags, mode) }
}

func power_close(_ fd: CInt) {
    _ = close(fd)
}

/// ioctl with a pointer argument (the GPIO uAPI structures).
func power_ioctl(_ fd: CInt, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<CInt, Errno> {
    power_valueOrErrno { ioctl(fd, request, arg) }
}

/// flock without blocking; `.wouldBlock` when another process holds it.
func power_flock(_ fd: CInt, _ operation: CInt) -> Result<Void, Errno> {
    power_valueOrErrno { flock(fd, operation) }.map { _ in () }
}

/// Whether `path` is an executable file for this process.
func power_isExecutable(_ path: String) -> Bool {
    access(path, X_OK) == 0
}

/// Whether `path` exists.
func power_exists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

/// Sends a signal to a process this module started.
func power_kill(_ pid: Int32, _ signal: CInt) {
    _ = kill(pid, signal)
}

/// Sleeps the calling (dedicated) thread.
func power_sleep(milliseconds: Int) {
    guard milliseconds > 0 else { return }
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}

/// Renames atomically (the state file is written to a temporary file first).
func power_rename(_ from: String, _ to: String) -> Result<Void, Errno> {
    power_valueOrErrno { rename(from, to) }.map { _ in () }
}

/// Starts a detached thread running `body`.
func power_startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: @unchecked Sendable {
        // Sound: handed to exactly one new thread, never touched by the creator afterwards.
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread, nil,
        { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, context)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(context).release()
        return false
    }
    pthread_detach(thread)
    return true
}

/// The real user id (for "who asked" on the command line).
func power_getuid() -> UInt32 { getuid() }

/// The login name of the real user id, from the password database.
func power_userName() -> String? {
    guard let pw = getpwuid(getuid()), let name = pw.pointee.pw_name else { return nil }
    return String(cString: name)
}
