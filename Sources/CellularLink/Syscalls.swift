// The only file of CellularLink that calls libc (style point 5). Every wrapper captures errno at once,
// retries EINTR (except poll, whose caller recomputes its deadline) and returns Result<_, Errno>.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SystemPackage

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

// MARK: - Files

func system_open(_ path: String, _ flags: CInt, _ mode: mode_t = 0) -> Result<CInt, Errno> {
    valueOrErrno { open(path, flags | O_CLOEXEC, mode) }
}

func system_close(_ fd: CInt) {
    // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
    _ = close(fd)
}

func system_write(_ fd: CInt, _ buffer: UnsafeRawBufferPointer) -> Result<Int, Errno> {
    valueOrErrno { write(fd, buffer.baseAddress, buffer.count) }
}

func system_fsync(_ fd: CInt) -> Result<Void, Errno> {
    valueOrErrno { fsync(fd) }.map { _ in () }
}

func system_rename(_ from: String, _ to: String) -> Result<Void, Errno> {
    valueOrErrno { rename(from, to) }.map { _ in () }
}

func system_mkdir(_ path: String, _ mode: mode_t) -> Result<Void, Errno> {
    valueOrErrno { mkdir(path, mode) }.map { _ in () }
}

func system_realpath(_ path: String) -> String? {
    guard let p = realpath(path, nil) else { return nil }
    defer { free(p) }
    return String(cString: p)
}

let openWriteCreateTruncate = O_WRONLY | O_CREAT | O_TRUNC
let openReadOnlyDirectory = O_RDONLY | O_DIRECTORY

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the directory.
/// A crash leaves either the old or the new content, never a torn file.
func system_writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) -> Result<Void, Errno> {
    let tmp = path + ".tmp"
    let fd: CInt
    switch system_open(tmp, openWriteCreateTruncate, mode) {
    case .success(let f): fd = f
    case .failure(let e): return .failure(e)
    }
    var written = 0
    while written < bytes.count {
        let r = bytes.withUnsafeBytes { b in
            system_write(fd, UnsafeRawBufferPointer(rebasing: b[written...]))
        }
        switch r {
        case .success(let n): written += n
        case .failure(let e):
            system_close(fd)
            return .failure(e)
        }
    }
    if case .failure(let e) = system_fsync(fd) {
        system_close(fd)
        return .failure(e)
    }
    system_close(fd)
    if case .failure(let e) = system_rename(tmp, path) { return .failure(e) }
    let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    if case .success(let dfd) = system_open(dir.isEmpty ? "/" : dir, openReadOnlyDirectory) {
        _ = system_fsync(dfd)
        system_close(dfd)
    }
    return .success(())
}

// MARK: - Processes

func system_kill(_ pid: Int32, _ signal: CInt) -> Result<Void, Errno> {
    valueOrErrno { kill(pid, signal) }.map { _ in () }
}

let signalTERM: CInt = SIGTERM
let signalKILL: CInt = SIGKILL

// MARK: - Sockets

func system_socket(_ domain: CInt, _ type: CInt) -> Result<CInt, Errno> {
    valueOrErrno { socket(domain, type | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0) }
}

/// SO_BINDTODEVICE: packets of this socket leave through `device` only, whatever the routing table says.
func system_bindToDevice(_ fd: CInt, _ device: String) -> Result<Void, Errno> {
    var bytes = Array(device.utf8CString)
    return valueOrErrno {
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, &bytes, socklen_t(bytes.count))
    }.map { _ in () }
}

func system_bind(_ fd: CInt, _ address: SocketAddress) -> Result<Void, Errno> {
    address.withSockaddr { sa, len in valueOrErrno { bind(fd, sa, len) } }.map { _ in () }
}

/// Non-blocking connect: `.success(false)` means "in progress" (EINPROGRESS), poll for POLLOUT.
func system_connect(_ fd: CInt, _ address: SocketAddress) -> Result<Bool, Errno> {
    let r = address.withSockaddr { sa, len in valueOrErrno { connect(fd, sa, len) } }
    switch r {
    case .success: return .success(true)
    case .failure(let e) where e == .nowInProgress: return .success(false)
    case .failure(let e): return .failure(e)
    }
}

/// SO_ERROR: the outcome of a non-blocking connect.
func system_socketError(_ fd: CInt) -> Errno? {
    var value: CInt = 0
    var len = socklen_t(MemoryLayout<CInt>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) == 0 else { return Errno(rawValue: errno) }
    return value == 0 ? nil : Errno(rawValue: value)
}

func system_send(_ fd: CInt, _ bytes: [UInt8]) -> Result<Int, Errno> {
    bytes.withUnsafeBytes { b in valueOrErrno { send(fd, b.baseAddress, b.count, CInt(MSG_NOSIGNAL)) } }
}

func system_recv(_ fd: CInt, _ capacity: Int) -> Result<[UInt8], Errno> {
    var buffer = [UInt8](repeating: 0, count: capacity)
    let r = buffer.withUnsafeMutableBytes { b in valueOrErrno { recv(fd, b.baseAddress, b.count, 0) } }
    return r.map { Array(buffer.prefix($0)) }
}

/// Waits until `fd` has one of `events`; returns false on timeout. EINTR counts as "not yet".
func system_pollOne(_ fd: CInt, events: Int16, timeoutMilliseconds: Int) -> Result<Bool, Errno> {
    var p = pollfd(fd: fd, events: events, revents: 0)
    let r = valueOrErrno(retryOnInterrupt: false) { poll(&p, 1, CInt(max(0, min(timeoutMilliseconds, 60_000)))) }
    switch r {
    case .success(let n): return .success(n > 0)
    case .failure(let e) where e == .interrupted: return .success(false)
    case .failure(let e): return .failure(e)
    }
}

let pollIn = Int16(POLLIN)
let pollOut = Int16(POLLOUT)
let socketStream = CInt(SOCK_STREAM.rawValue)
let socketDatagram = CInt(SOCK_DGRAM.rawValue)

// MARK: - Addresses

/// An IPv4 or IPv6 socket address (address + port), parsed from text by inet_pton.
struct SocketAddress: Sendable {
    private enum Storage: Sendable {
        case v4(sockaddr_in)
        case v6(sockaddr_in6)
    }
    private let storage: Storage

    /// Parses a numeric IPv4 or IPv6 address; nil for anything else (names are not resolved here).
    init?(ip: String, port: UInt16) {
        var a4 = in_addr()
        if inet_pton(AF_INET, ip, &a4) == 1 {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            sa.sin_addr = a4
            storage = .v4(sa)
            return
        }
        var a6 = in6_addr()
        if inet_pton(AF_INET6, ip, &a6) == 1 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            sa.sin6_addr = a6
            storage = .v6(sa)
            return
        }
        return nil
    }

    var family: CInt {
        switch storage {
        case .v4: return CInt(AF_INET)
        case .v6: return CInt(AF_INET6)
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch storage {
        case .v4(var sa):
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(var sa):
            return withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }
}

/// Formats 4 or 16 raw address bytes as text (inet_ntop); nil for another length.
func system_formatAddress(_ bytes: [UInt8]) -> String? {
    let family: CInt
    switch bytes.count {
    case 4: family = CInt(AF_INET)
    case 16: family = CInt(AF_INET6)
    default: return nil
    }
    var out = [CChar](repeating: 0, count: 64)
    let ok = bytes.withUnsafeBytes { b in inet_ntop(family, b.baseAddress, &out, socklen_t(out.count)) != nil }
    guard ok else { return nil }
    return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Parses a numeric IPv4 or IPv6 address to its raw bytes; nil for anything else.
func system_parseAddress(_ text: String) -> [UInt8]? {
    var a4 = in_addr()
    if inet_pton(AF_INET, text, &a4) == 1 {
        return withUnsafeBytes(of: &a4) { Array($0) }
    }
    var a6 = in6_addr()
    if inet_pton(AF_INET6, text, &a6) == 1 {
        return withUnsafeBytes(of: &a6) { Array($0) }
    }
    return nil
}

/// Writes `value` to a /proc/sys file (no temporary file: procfs files cannot be renamed over).
func system_writeProcFile(_ path: String, _ value: String) -> Result<Void, Errno> {
    let fd: CInt
    switch system_open(path, O_WRONLY) {
    case .success(let f): fd = f
    case .failure(let e): return .failure(e)
    }
    defer { system_close(fd) }
    let bytes = Array((value + "\n").utf8)
    return bytes.withUnsafeBytes { system_write(fd, $0) }.map { _ in () }
}

/// Reads up to `capacity` bytes (empty at end of file). The corresponding C function is `read`.
func system_read(_ fd: CInt, _ capacity: Int) -> Result<[UInt8], Errno> {
    var buffer = [UInt8](repeating: 0, count: capacity)
    let r = buffer.withUnsafeMutableBytes { b in valueOrErrno { read(fd, b.baseAddress, b.count) } }
    return r.map { Array(buffer.prefix($0)) }
}
