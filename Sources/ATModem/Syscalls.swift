// The only file of ATModem that calls libc (style point 5): the engine's wake-up pipe and poll(2).
// Every wrapper captures errno at once, retries EINTR (except poll) and returns Errno.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

@inline(__always)
private func valueOrErrno<T: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> T) -> Result<T, Errno> {
    while true {
        let value = body()
        if value != -1 { return .success(value) }
        let err = Errno(rawValue: errno)
        if retryOnInterrupt && err == .interrupted { continue }
        precondition(err != .badFileDescriptor, "EBADF: a closed or foreign descriptor was used")
        return .failure(err)
    }
}

/// A non-blocking, close-on-exec pipe. The corresponding C functions are `pipe` and `fcntl` (Glibc's module does
/// not export `pipe2`).
func system_pipe() -> Result<(read: CInt, write: CInt), Errno> {
    var fds: [CInt] = [-1, -1]
    if case .failure(let e) = valueOrErrno({ pipe(&fds) }) { return .failure(e) }
    for fd in fds {
        _ = valueOrErrno { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        _ = valueOrErrno { fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }
    return .success((fds[0], fds[1]))
}

/// Sleeps the calling thread. The corresponding C function is `usleep`.
func system_usleep(_ microseconds: UInt32) {
    _ = usleep(microseconds)
}

/// The corresponding C function is `read`.
func system_read(_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { read(fd, buffer.baseAddress, buffer.count) }
}

/// The corresponding C function is `write`.
func system_write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { write(fd, buffer.baseAddress, buffer.count) }
}

/// The corresponding C function is `close` (never retried: on Linux the descriptor is gone either way).
func system_close(_ fd: CInt) {
    _ = close(fd)
}

/// Polls `fds` (pairs of descriptor and wanted events); returns the events that came back, in order.
/// EINTR is reported as "nothing happened" (the caller recomputes its deadline). The corresponding C function is
/// `poll`.
func system_poll(_ fds: [(fd: CInt, events: Int16)], timeoutMilliseconds: Int) -> Result<[Int16], Errno> {
    var pfds = fds.map { pollfd(fd: $0.fd, events: $0.events, revents: 0) }
    let result = valueOrErrno(retryOnInterrupt: false) {
        poll(&pfds, nfds_t(pfds.count), CInt(clamping: timeoutMilliseconds))
    }
    switch result {
    case .success: return .success(pfds.map { $0.revents })
    case .failure(let e) where e == .interrupted: return .success(pfds.map { _ in 0 })
    case .failure(let e): return .failure(e)
    }
}

let pollIn = Int16(POLLIN)
let pollHangUp = Int16(POLLHUP | POLLERR)
let pollInvalid = Int16(POLLNVAL)
