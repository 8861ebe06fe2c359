// The only file of Tunnel that calls libc for descriptors, sockets and files (style point 5).
// Every wrapper captures errno at once, retries EINTR and returns SystemErrno.
// (Tunnel does not depend on swift-system, so a tiny errno type stands in for SystemPackage.Errno.)

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// An errno value captured right after a failing call.
struct SystemErrno: Error, Hashable, Sendable, CustomStringConvertible {
    var rawValue: Int32
    init(_ rawValue: Int32) { self.rawValue = rawValue }
    static var current: SystemErrno { SystemErrno(errno) }
    var description: String { "errno \(rawValue): \(String(cString: strerror(rawValue)))" }
    var isWouldBlock: Bool { rawValue == EAGAIN || rawValue == EWOULDBLOCK }
    static let again = SystemErrno(EAGAIN)
    static let inProgress = SystemErrno(EINPROGRESS)
}

@inline(__always)
private func valueOrErrno<T: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> T) -> Result<T, SystemErrno> {
    while true {
        let value = body()
        if value != -1 { return .success(value) }
        let err = SystemErrno.current
        if retryOnInterrupt && err.rawValue == EINTR { continue }
        precondition(err.rawValue != EBADF, "EBADF: a closed or foreign descriptor was used")
        return .failure(err)
    }
}

// MARK: - Files

/// Reads a whole (small) file; refuses files over `limit` bytes.
func system_readFile(_ path: String, limit: Int = 1 << 20) -> Result<[UInt8], SystemErrno> {
    let fd: CInt
    switch valueOrErrno({ open(path, O_RDONLY | O_CLOEXEC) }) {
    case .success(let v): fd = v
    case .failure(let e): return .failure(e)
    }
    defer { _ = close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let r = chunk.withUnsafeMutableBytes { b in valueOrErrno { read(fd, b.baseAddress, b.count) } }
        switch r {
        case .success(0): return .success(out)
        case .success(let n):
            out.append(contentsOf: chunk[0..<n])
            if out.count > limit { return .failure(SystemErrno(EFBIG)) }
        case .failure(let e): return .failure(e)
        }
    }
}

/// The permission bits and file type of `path` (stat(2), following links).
func system_statMode(_ path: String) -> Result<UInt32, SystemErrno> {
    var st = stat()
    return valueOrErrno { stat(path, &st) }.map { _ in UInt32(st.st_mode) }
}

func system_isRegularFile(_ mode: UInt32) -> Bool { (mode & UInt32(S_IFMT)) == UInt32(S_IFREG) }

/// A C string in a fixed array, up to its NUL.
func cString(_ chars: [CChar]) -> String {
    String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Descriptors

func system_close(_ fd: CInt) {
    // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
    _ = close(fd)
}

/// A non-blocking, close-on-exec pipe used to wake a poll() loop: (read end, write end).
/// (eventfd(2) is not exported by Swift's Glibc module.)
func system_wakePipe() -> Result<(CInt, CInt), SystemErrno> {
    var fds: [CInt] = [-1, -1]
    if case .failure(let e) = valueOrErrno({ pipe(&fds) }) { return .failure(e) }
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return .success((fds[0], fds[1]))
}

/// Makes the read end of a wake pipe readable (for good: a stop is final).
func system_wakeSignal(_ fd: CInt) {
    var one: UInt8 = 1
    _ = write(fd, &one, 1)
}

func system_poll(_ fds: inout [pollfd], _ timeoutMilliseconds: CInt) -> Result<Int, SystemErrno> {
    // EINTR is reported, not retried: the caller recomputes its deadline.
    valueOrErrno(retryOnInterrupt: false) { Int(poll(&fds, nfds_t(fds.count), timeoutMilliseconds)) }
}

// MARK: - Sockets

/// A resolved socket address (IPv4 or IPv6) with its family.
struct SocketAddress: Sendable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t
    var family: CInt { CInt(storage.ss_family) }

    var description: String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var serv = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        var copy = storage
        let rc = withUnsafePointer(to: &copy) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                getnameinfo(sa, length, &host, socklen_t(host.count), &serv, socklen_t(serv.count),
                            NI_NUMERICHOST | NI_NUMERICSERV)
            }
        }
        guard rc == 0 else { return "?" }
        let h = cString(host)
        return family == AF_INET6 ? "[\(h)]:\(cString(serv))" : "\(h):\(cString(serv))"
    }
}

/// getaddrinfo for a TCP endpoint; returns every address in resolver order or the gai error text.
func system_resolve(_ host: String, port: Int, numericOnly: Bool = false) -> Result<[SocketAddress], ResolveError> {
    var hints = addrinfo()
    hints.ai_family = AF_UNSPEC
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : 0)
    var result: UnsafeMutablePointer<addrinfo>?
    let rc = getaddrinfo(host, String(port), &hints, &result)
    guard rc == 0 else { return .failure(ResolveError(text: String(cString: gai_strerror(rc)))) }
    defer { freeaddrinfo(result) }
    var out: [SocketAddress] = []
    var p = result
    while let ai = p {
        var storage = sockaddr_storage()
        let len = ai.pointee.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: ai.pointee.ai_addr, count: Int(len)))
        }
        out.append(SocketAddress(storage: storage, length: len))
        p = ai.pointee.ai_next
    }
    return .success(out)
}

struct ResolveError: Error { var text: String }

/// A non-blocking, close-on-exec TCP socket.
func system_tcpSocket(family: CInt) -> Result<CInt, SystemErrno> {
    valueOrErrno { socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
}

/// Starts a non-blocking connect: success, or `.inProgress` (wait for POLLOUT, then `system_socketError`).
func system_connect(_ fd: CInt, _ address: SocketAddress) -> Result<Void, SystemErrno> {
    var copy = address.storage
    let rc = withUnsafePointer(to: &copy) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            valueOrErrno { connect(fd, sa, address.length) }
        }
    }
    return rc.map { _ in () }
}

func system_bind(_ fd: CInt, _ address: SocketAddress) -> Result<Void, SystemErrno> {
    var copy = address.storage
    return withUnsafePointer(to: &copy) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            valueOrErrno { bind(fd, sa, address.length) }.map { _ in () }
        }
    }
}

/// The pending error of a socket (SO_ERROR), used after a non-blocking connect; 0 means connected.
func system_socketError(_ fd: CInt) -> Int32 {
    var value: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    if getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0 { return errno }
    return value
}

func system_setIntOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: Int32) -> Result<Void, SystemErrno> {
    var v = value
    return valueOrErrno { setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }.map { _ in () }
}

/// SO_BINDTODEVICE: pins the socket to one interface (needs CAP_NET_RAW).
func system_bindToDevice(_ fd: CInt, _ interface: String) -> Result<Void, SystemErrno> {
    var name = Array(interface.utf8CString)
    return valueOrErrno { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &name, socklen_t(name.count)) }.map { _ in () }
}

/// recv(2) without retrying EAGAIN; 0 means the peer closed its side.
@inline(__always)
func system_recv(_ fd: CInt, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ flags: CInt) -> Result<Int, SystemErrno> {
    valueOrErrno { recv(fd, buffer, count, flags) }
}

/// send(2) with MSG_NOSIGNAL (a closed peer gives EPIPE, never SIGPIPE).
@inline(__always)
func system_send(_ fd: CInt, _ buffer: UnsafeRawPointer, _ count: Int) -> Result<Int, SystemErrno> {
    valueOrErrno { send(fd, buffer, count, Int32(MSG_NOSIGNAL)) }
}

func system_shutdownWrite(_ fd: CInt) {
    _ = shutdown(fd, Int32(SHUT_WR))
}

/// TCP_QUICKACK must be re-armed after every receive: the kernel clears it by itself.
@inline(__always)
func system_quickAck(_ fd: CInt) {
    var one: Int32 = 1
    _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
}

/// Parses a numeric IPv4/IPv6 address (for `bindAddress`).
func system_parseNumericAddress(_ text: String) -> SocketAddress? {
    guard case .success(let list) = system_resolve(text, port: 0, numericOnly: true), let first = list.first else {
        return nil
    }
    return first
}

// MARK: - Constants not imported as such

let tcpNoDelay = Int32(TCP_NODELAY)
let tcpUserTimeout = Int32(TCP_USER_TIMEOUT)
let tcpKeepIdle = Int32(TCP_KEEPIDLE)
let tcpKeepInterval = Int32(TCP_KEEPINTVL)
let tcpKeepCount = Int32(TCP_KEEPCNT)
let ipprotoTCP = Int32(IPPROTO_TCP)
let pollIn = Int16(POLLIN)
let pollOut = Int16(POLLOUT)
let pollErrHup = Int16(POLLERR | POLLHUP | POLLNVAL)

/// Monotonic nanoseconds (CLOCK_MONOTONIC): deadlines that ignore wall-clock jumps.
@inline(__always)
func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
