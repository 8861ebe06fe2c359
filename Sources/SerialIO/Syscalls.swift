// The only file of SerialIO that calls libc for file descriptors and terminals (style point 5).
// Every wrapper captures errno at once, retries EINTR and returns Errno.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

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

func system_tcgetattr(_ fd: CInt) -> Result<termios, Errno> {
    var t = termios()
    return valueOrErrno { tcgetattr(fd, &t) }.map { _ in t }
}

func system_tcsetattr(_ fd: CInt, _ t: termios, _ when: CInt = TCSANOW) -> Result<Void, Errno> {
    var t = t
    return valueOrErrno { tcsetattr(fd, when, &t) }.map { _ in () }
}

func system_tcsendbreak(_ fd: CInt, _ duration: CInt) -> Result<Void, Errno> {
    valueOrErrno { tcsendbreak(fd, duration) }.map { _ in () }
}

func system_tcdrain(_ fd: CInt) -> Result<Void, Errno> {
    valueOrErrno { tcdrain(fd) }.map { _ in () }
}

func system_tcflush(_ fd: CInt, _ queue: CInt) -> Result<Void, Errno> {
    valueOrErrno { tcflush(fd, queue) }.map { _ in () }
}

func system_ioctl(_ fd: CInt, _ request: UInt) -> Result<Void, Errno> {
    valueOrErrno { ioctl(fd, request) }.map { _ in () }
}

func system_ioctl(_ fd: CInt, _ request: UInt, _ arg: UnsafeMutableRawPointer) -> Result<CInt, Errno> {
    valueOrErrno { ioctl(fd, request, arg) }
}

func system_flock(_ fd: CInt, _ operation: CInt) -> Result<Void, Errno> {
    valueOrErrno { flock(fd, operation) }.map { _ in () }
}

func system_fcntl(_ fd: CInt, _ cmd: CInt, _ arg: CInt) -> Result<CInt, Errno> {
    valueOrErrno { fcntl(fd, cmd, arg) }
}

func system_poll(_ fds: inout [pollfd], _ timeoutMilliseconds: CInt) -> Result<Int, Errno> {
    // EINTR is reported, not retried: the caller recomputes its deadline.
    valueOrErrno(retryOnInterrupt: false) { Int(poll(&fds, nfds_t(fds.count), timeoutMilliseconds)) }
}

/// `_IOW('T', 0x31, int)`: the macro is not imported into Swift. Same value on x86_64, arm and arm64.
let ioctlTIOCSPTLCK: UInt = 0x4004_5431
/// `_IOR('T', 0x30, unsigned int)`: the macro is not imported into Swift.
let ioctlTIOCGPTN: UInt = 0x8004_5430

/// Opens a new pty master through /dev/ptmx (what posix_openpt does; Glibc's module does not export it).
func system_posix_openpt(_ flags: CInt) -> Result<CInt, Errno> {
    valueOrErrno { open("/dev/ptmx", flags) }
}

/// Unlocks the slave of a pty master (what unlockpt does): ioctl TIOCSPTLCK with 0.
func system_unlockpt(_ fd: CInt) -> Result<Void, Errno> {
    var unlock: CInt = 0
    return withUnsafeMutablePointer(to: &unlock) { p in
        valueOrErrno { ioctl(fd, ioctlTIOCSPTLCK, p) }.map { _ in () }
    }
}

/// The slave path of a pty master (what ptsname does): ioctl TIOCGPTN gives the number under /dev/pts.
func system_ptsname(_ fd: CInt) -> Result<String, Errno> {
    var number: CUnsignedInt = 0
    return withUnsafeMutablePointer(to: &number) { p in
        valueOrErrno { ioctl(fd, ioctlTIOCGPTN, p) }.map { _ in "/dev/pts/\(p.pointee)" }
    }
}
