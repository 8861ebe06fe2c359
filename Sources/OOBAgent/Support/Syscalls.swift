// The only file of OOBAgent that calls libc (style point 5): files, clocks and Unix sockets.
// Every wrapper captures errno at once and retries EINTR.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
public import SystemPackage
import Foundation

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

/// What `stat(2)` says about a file, reduced to what the agent checks.
public struct FileStatus: Sendable, Equatable {
    /// Permission bits (`st_mode & 0o7777`).
    public var permissions: UInt32
    /// Owner uid.
    public var owner: UInt32
    /// A regular file (not a directory, device, socket).
    public var isRegularFile: Bool
    /// A character device.
    public var isCharacterDevice: Bool
    /// A Unix socket.
    public var isSocket: Bool
    /// Size in bytes.
    public var size: Int
}

/// File helpers over libc, for configuration, secrets and state files.
public enum FileSystem {
    /// Reads a whole (small) file.
    /// - Throws: `Errno`.
    public static func readFile(_ path: String, limit: Int = 1 << 20) throws(Errno) -> [UInt8] {
        let fd = try valueOrErrno { open(path, O_RDONLY | O_CLOEXEC) }.get()
        defer { _ = close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try buffer.withUnsafeMutableBytes { b in valueOrErrno { read(fd, b.baseAddress, b.count) } }.get()
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
            if out.count > limit { throw Errno.fileTooLarge }
        }
        return out
    }

    /// `stat(2)` of `path` (following symlinks).
    public static func status(_ path: String) throws(Errno) -> FileStatus {
        var st = stat()
        _ = try valueOrErrno { stat(path, &st) }.get()
        let type = st.st_mode & S_IFMT
        return FileStatus(
            permissions: UInt32(st.st_mode & 0o7777), owner: UInt32(st.st_uid), isRegularFile: type == S_IFREG,
            isCharacterDevice: type == S_IFCHR, isSocket: type == S_IFSOCK, size: Int(st.st_size)
        )
    }

    /// Whether something exists at `path`.
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
    /// fsync of the directory. A reader (or a daemon restarted after a crash) sees the old or the
    /// new content, never a mix.
    /// - Parameters:
    ///   - mode: the permission bits of the new file.
    ///   - exclusive: fail with `EEXIST` if `path` exists (used by `enroll` without `--force`).
    public static func writeAtomically(
        _ path: String, _ bytes: [UInt8], mode: UInt32 = 0o600, exclusive: Bool = false
    ) throws(Errno) {
        if exclusive && exists(path) { throw Errno.fileExists }
        let tmp = path + ".tmp.\(getpid())"
        let fd = try valueOrErrno { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode_t(mode)) }.get()
        var ok = false
        defer {
            if !ok { _ = unlink(tmp) }
        }
        do {
            defer { _ = close(fd) }
            _ = try valueOrErrno { fchmod(fd, mode_t(mode)) }.get()
            var offset = 0
            while offset < bytes.count {
                let n = try bytes.withUnsafeBytes { b in
                    valueOrErrno { write(fd, b.baseAddress! + offset, b.count - offset) }
                }.get()
                offset += n
            }
            _ = try valueOrErrno { fsync(fd) }.get()
        }
        _ = try valueOrErrno { rename(tmp, path) }.get()
        ok = true
        let dir = directory(of: path)
        if let dfd = try? valueOrErrno({ open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }).get() {
            _ = fsync(dfd)
            _ = close(dfd)
        }
    }

    /// Removes a file; a missing file is not an error.
    public static func remove(_ path: String) throws(Errno) {
        if unlink(path) != 0 {
            let e = Errno(rawValue: errno)
            if e != .noSuchFileOrDirectory { throw e }
        }
    }

    /// Creates `path` and its missing parents with `mode`.
    public static func createDirectory(_ path: String, mode: UInt32 = 0o700) throws(Errno) {
        if exists(path) { return }
        let parent = directory(of: path)
        if parent != path && parent != "/" { try createDirectory(parent, mode: 0o755) }
        if mkdir(path, mode_t(mode)) != 0 {
            let e = Errno(rawValue: errno)
            if e != .fileExists { throw e }
        }
    }

    /// The directory part of an absolute path.
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    /// Whether the current process may read `path`.
    public static func isReadable(_ path: String) -> Bool { access(path, R_OK) == 0 }

    /// The effective uid of this process.
    public static var effectiveUserID: UInt32 { UInt32(geteuid()) }
}

// MARK: - Clocks

/// The system's clocks: wall time and whether the kernel believes it is synchronised.
public enum SystemClock {
    /// Seconds since the Unix epoch, from CLOCK_REALTIME.
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// True when NTP (or systemd-timesyncd) has synchronised the system clock.
    ///
    /// Reads the kernel's `STA_UNSYNC` flag through `adjtimex(2)` (a read-only call when `modes`
    /// is 0), or the flag file `/run/systemd/timesync/synchronized` that timesyncd creates.
    /// The corresponding C function is `adjtimex`.
    public static func isSynchronized() -> Bool {
        if FileSystem.exists("/run/systemd/timesync/synchronized") { return true }
        // Glibc's module map does not export <sys/timex.h>; look the function up by name and pass
        // a zeroed buffer larger than `struct timex` (208 bytes on LP64). modes = 0: read only.
        typealias AdjTimex = @convention(c) (UnsafeMutableRawPointer) -> CInt
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "adjtimex") else { return false }
        let adjtimex = unsafeBitCast(symbol, to: AdjTimex.self)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        let state = adjtimex(buffer)
        // struct timex on LP64: unsigned modes @0, long offset @8, freq @16, maxerror @24,
        // esterror @32, int status @40. TIME_ERROR (5) is returned while STA_UNSYNC (0x40) is set.
        let status = buffer.load(fromByteOffset: 40, as: CInt.self)
        return state >= 0 && state != 5 && (status & 0x40) == 0
    }
}

// MARK: - Unix sockets

/// Minimal Unix-domain socket calls for the control socket and the systemd notify datagram.
enum UnixSocket {
    static func fillAddress(_ path: String, abstract: Bool = false) -> (sockaddr_un, socklen_t)? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let length = MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1)
        return (addr, socklen_t(length))
    }

    static func socket(_ type: CInt) throws(Errno) -> CInt {
        try valueOrErrno { Glibc.socket(AF_UNIX, type | CInt(SOCK_CLOEXEC.rawValue), 0) }.get()
    }

    static func bindAndListen(_ path: String, mode: UInt32) throws(Errno) -> CInt {
        guard let filled = fillAddress(path) else { throw Errno.fileNameTooLong }
        var addr = filled.0
        let len = filled.1
        let fd = try socket(CInt(SOCK_STREAM.rawValue))
        do {
            _ = unlink(path)
            _ = try withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in valueOrErrno { bind(fd, sa, len) } }
            }.get()
            _ = try valueOrErrno { chmod(path, mode_t(mode)) }.get()
            _ = try valueOrErrno { listen(fd, 16) }.get()
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        return fd
    }

    static func connect(_ path: String) throws(Errno) -> CInt {
        guard let filled = fillAddress(path) else { throw Errno.fileNameTooLong }
        var addr = filled.0
        let len = filled.1
        let fd = try socket(CInt(SOCK_STREAM.rawValue))
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in valueOrErrno { Glibc.connect(fd, sa, len) } }
        }
        if case .failure(let e) = r {
            _ = Glibc.close(fd)
            throw e
        }
        return fd
    }

    /// Sends one datagram to `path` ('@' first = Linux abstract namespace).
    static func sendDatagram(_ bytes: [UInt8], to path: String) throws(Errno) {
        let abstract = path.hasPrefix("@")
        guard let filled = fillAddress(path, abstract: abstract) else { throw Errno.fileNameTooLong }
        var addr = filled.0
        let len = filled.1
        let fd = try socket(CInt(SOCK_DGRAM.rawValue))
        defer { _ = Glibc.close(fd) }
        _ = try withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { b in valueOrErrno { sendto(fd, b.baseAddress, b.count, CInt(MSG_NOSIGNAL), sa, len) } }
            }
        }.get()
    }

    /// Waits for `fd` to become readable; false on timeout.
    static func waitReadable(_ fd: CInt, timeoutMilliseconds: CInt) throws(Errno) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let n = try valueOrErrno { poll(&p, 1, timeoutMilliseconds) }.get()
        return n > 0
    }

    /// A pipe (close-on-exec, non-blocking) whose read end wakes a thread blocked in ``waitReadable(_:wake:)``.
    static func wakePipe() throws(Errno) -> (read: CInt, write: CInt) {
        var fds: [CInt] = [-1, -1]
        _ = try valueOrErrno { pipe(&fds) }.get()
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        return (fds[0], fds[1])
    }

    /// Blocks without a timeout until `fd` is readable (true) or `wake` is readable or closed (false).
    static func waitReadable(_ fd: CInt, wake: CInt) throws(Errno) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        _ = try valueOrErrno { poll(&fds, 2, -1) }.get()
        return fds[1].revents == 0 && fds[0].revents != 0
    }

    /// Wakes the thread waiting on the read end of a ``wakePipe()``.
    static func wake(_ writeEnd: CInt) {
        var byte: UInt8 = 1
        _ = Glibc.write(writeEnd, &byte, 1)
    }

    static func accept(_ fd: CInt) throws(Errno) -> CInt {
        let client = try valueOrErrno { Glibc.accept(fd, nil, nil) }.get()
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        return client
    }

    static func read(_ fd: CInt, into buffer: inout [UInt8]) throws(Errno) -> Int {
        try buffer.withUnsafeMutableBytes { b in valueOrErrno { Glibc.read(fd, b.baseAddress, b.count) } }.get()
    }

    static func writeAll(_ fd: CInt, _ bytes: [UInt8]) throws(Errno) {
        var offset = 0
        while offset < bytes.count {
            offset += try bytes.withUnsafeBytes { b in
                valueOrErrno { send(fd, b.baseAddress! + offset, b.count - offset, CInt(MSG_NOSIGNAL)) }
            }.get()
        }
    }

    static func close(_ fd: CInt) { _ = Glibc.close(fd) }

    static func shutdownBoth(_ fd: CInt) { _ = shutdown(fd, CInt(SHUT_RDWR)) }
}

/// This process.
public enum ProcessIdentity {
    /// getpid(2).
    public static var pid: Int32 { getpid() }
}

/// Whole lines to stderr (one write(2) each, so lines from threads never interleave).
public enum StandardError {
    /// Writes `line` plus a newline to fd 2.
    public static func writeLine(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { b in write(2, b.baseAddress! + offset, b.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    /// Local wall-clock time as `HH:MM:SS` (for terminal output).
    static func timeOfDay() -> String {
        var t = time(nil)
        var tmv = tm()
        localtime_r(&t, &tmv)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec))"
    }
}

extension FileSystem {
    /// Whether the current process may write `path`.
    public static func isWritable(_ path: String) -> Bool { access(path, W_OK) == 0 }

    /// Whether the current process may execute `path` (and it is a regular file).
    public static func isExecutable(_ path: String) -> Bool {
        access(path, X_OK) == 0 && ((try? status(path))?.isRegularFile ?? false)
    }
}

/// The process environment.
public enum Environment {
    /// getenv(3).
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The host name (for the enrolment label).
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, 255) == 0 else { return "oob-agent" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether stdout is a terminal.
    public static var stdoutIsTerminal: Bool { isatty(1) == 1 }
}

// MARK: - The webhook's TCP socket

/// The socket calls of `notify.webhook` (``Webhook``): a non-blocking TCP socket bound to the cellular
/// interface and address when there are any, every wait bounded by the POST's one deadline.
enum WebhookSocket {
    /// Milliseconds left until `deadline` (0 when passed), for poll(2).
    static func millisecondsLeft(until deadline: ContinuousClock.Instant) -> CInt {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return 0 }
        let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
        return CInt(min(ms, Int64(CInt.max)))
    }

    /// Waits until `fd` is ready for `events` (POLLIN / POLLOUT); false when `deadline` passed first.
    static func wait(_ fd: CInt, forWriting: Bool, until deadline: ContinuousClock.Instant) throws(Errno) -> Bool {
        while true {
            let ms = millisecondsLeft(until: deadline)
            if ms == 0 { return false }
            var p = pollfd(fd: fd, events: Int16(forWriting ? POLLOUT : POLLIN), revents: 0)
            let n = try valueOrErrno { poll(&p, 1, ms) }.get()
            if n > 0 { return true }
        }
    }

    /// Connects to `address` (numeric, resolved through the link's DNS) or else to `host`'s addresses from the
    /// system's resolver (getaddrinfo), in turn, before `deadline`, bound to `interface` (SO_BINDTODEVICE) and
    /// `localAddress` (bind) when given, as the tunnel's socket is.
    /// - Returns: the connected, non-blocking descriptor (the caller closes it).
    /// - Throws: ``AgentError`` (`.io`) naming the step that failed and the fix.
    static func connect(
        host: String, address: String?, port: String, interface: String?, localAddress: String?, deadline: ContinuousClock.Instant,
        progress: WebhookProgress
    ) throws -> CInt {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | (address != nil ? AI_NUMERICHOST : 0)
        if localAddress != nil && address == nil { hints.ai_family = AF_INET }  // bound to the link's IPv4 address
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address ?? host, port, &hints, &result)
        guard rc == 0, result != nil else {
            let why = rc == 0 ? "no address" : String(cString: gai_strerror(rc))
            if let address {
                throw AgentError(.io, "\(host) resolved to \(address), which is not an address (\(why)); fix: use an IP address in notify.webhook")
            }
            throw AgentError(.io, "cannot resolve \(host) (\(why)); fix: check the host name in notify.webhook and the system's resolver, or use an IP address")
        }
        defer { freeaddrinfo(result) }
        // getaddrinfo cannot be interrupted: one that came back late must not start a POST the caller gave up on.
        guard ContinuousClock.now < deadline, !progress.abandoned else {
            throw AgentError(.io, "resolving \(host) with the system's resolver passed the deadline; fix: check /etc/resolv.conf, or use an IP address in notify.webhook")
        }
        let shown = address.map { "\(host) (\($0))" } ?? host
        progress.stage = "connecting to \(shown) port \(port)"
        var lastError: any Error = AgentError(.io, "cannot connect to \(shown) port \(port)")
        var next = result
        while let info = next {
            next = info.pointee.ai_next
            do {
                return try connect(info.pointee, host: shown, port: port, interface: interface, localAddress: localAddress, deadline: deadline)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func connect(
        _ info: addrinfo, host: String, port: String, interface: String?, localAddress: String?, deadline: ContinuousClock.Instant
    ) throws -> CInt {
        let fd = try valueOrErrno {
            socket(info.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }.mapError { AgentError(.io, "cannot create a TCP socket", underlying: $0) }.get()
        do {
            if let interface, !interface.isEmpty {
                // SO_BINDTODEVICE: the POST leaves through the cellular interface, whatever the main routing table says.
                let name = Array(interface.utf8CString)
                let r = name.withUnsafeBytes { b in valueOrErrno { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, b.baseAddress, socklen_t(b.count)) } }
                if case .failure(let e) = r {
                    if e == .operationNotSupportedByDevice {  // ENODEV
                        throw AgentError(.io, "there is no interface \(interface) to send the webhook through; fix: check link.interface, and that the link is up")
                    }
                    throw AgentError(.io, "cannot bind the socket to interface \(interface) (SO_BINDTODEVICE); fix: run the agent as root or with CAP_NET_RAW", underlying: e)
                }
            }
            if let localAddress, info.ai_family == AF_INET {
                var local = sockaddr_in()
                local.sin_family = sa_family_t(AF_INET)
                if inet_pton(AF_INET, localAddress, &local.sin_addr) == 1 {
                    let r = withUnsafePointer(to: &local) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                            valueOrErrno { bind(fd, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                        }
                    }
                    if case .failure(let e) = r {
                        throw AgentError(.io, "cannot bind the socket to \(localAddress) on \(interface ?? "the link"); fix: is the link still up?", underlying: e)
                    }
                }
            }
            let r = valueOrErrno { Glibc.connect(fd, info.ai_addr, info.ai_addrlen) }
            if case .failure(let e) = r {
                guard e == .nowInProgress else {
                    throw AgentError(.io, "cannot connect to \(host) port \(port); fix: check the webhook server listens there and is reachable over the cellular link", underlying: e)
                }
                guard try wait(fd, forWriting: true, until: deadline) else {
                    throw AgentError(.io, "connecting to \(host) port \(port) timed out; fix: check the address and that the carrier routes to it")
                }
                var error: CInt = 0
                var length = socklen_t(MemoryLayout<CInt>.size)
                _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error != 0 {
                    throw AgentError(
                        .io, "cannot connect to \(host) port \(port); fix: check the webhook server listens there and is reachable over the cellular link",
                        underlying: Errno(rawValue: error))
                }
            }
            return fd
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
    }

    /// send(2) without SIGPIPE; `.wouldBlock` when the buffer is full.
    static func send(_ fd: CInt, _ bytes: ArraySlice<UInt8>) -> Result<Int, Errno> {
        bytes.withUnsafeBytes { b in valueOrErrno { Glibc.send(fd, b.baseAddress, b.count, CInt(MSG_NOSIGNAL)) } }
    }

    /// recv(2) of up to `buffer.count` bytes; 0 at end of stream.
    static func receive(_ fd: CInt, into buffer: inout [UInt8]) -> Result<Int, Errno> {
        buffer.withUnsafeMutableBytes { b in valueOrErrno { recv(fd, b.baseAddress, b.count, 0) } }
    }

    static func close(_ fd: CInt) { _ = Glibc.close(fd) }

    /// Blocks SIGPIPE on the calling thread (the webhook's own): OpenSSL writes to the socket with
    /// write(2), and a peer that closed must give EPIPE, not kill the daemon. A SIGPIPE left pending on
    /// the thread is discarded when it ends.
    static func blockSIGPIPEOnThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }
}

/// Hands the code pages that only start-up (or a burst of work) needed back to the kernel (see
/// `bench/agent/RESULTS.md`).
///
/// Parsing arguments and the configuration, initialising the runtime, opening the modem or answering a control
/// request touch code all over the (static) binary and its libraries, and the kernel maps file pages 64 KiB at a
/// time around each fault: afterwards most of the resident set is code that an idle daemon does not run.
/// `MADV_DONTNEED` on the read-only, file-backed mappings unmaps those pages (they stay in the page cache, shared
/// with everyone else); what the idle daemon does run faults back in at once (minor faults, no I/O). Mappings
/// holding any private anonymous page (relocated RELRO data, a debugger's breakpoints) are left alone, since
/// dropping those would lose data; read-only mappings cannot gain such pages between the check and the call.
public enum IdlePages {
    /// Releases the read-only file-backed pages of this process. Returns the KiB released.
    @discardableResult
    public static func release() -> Int {
        guard let bytes = try? FileSystem.readFile("/proc/self/smaps", limit: 16 << 20) else { return 0 }
        var releasedKiB = 0
        var range: (start: UInt, end: UInt)?
        var rss = 0
        for line in bytes.split(separator: 10) {
            let fields = line.split(separator: 32)
            guard let first = fields.first else { continue }
            if first.contains(UInt8(ascii: "-")) && fields.count >= 6 {
                // A mapping header: "start-end perms offset dev inode path".
                range = nil
                rss = 0
                let bounds = first.split(separator: UInt8(ascii: "-"))
                let perms = String(decoding: fields[1], as: UTF8.self)
                guard perms == "r--p" || perms == "r-xp", fields[5].first == UInt8(ascii: "/"), bounds.count == 2,
                    let start = UInt(String(decoding: bounds[0], as: UTF8.self), radix: 16),
                    let end = UInt(String(decoding: bounds[1], as: UTF8.self), radix: 16)
                else { continue }
                range = (start, end)
            } else if fields.count >= 2, range != nil {
                let key = String(decoding: first, as: UTF8.self)
                if key == "Rss:" {
                    rss = Int(String(decoding: fields[1], as: UTF8.self)) ?? 0
                } else if key == "Anonymous:" {
                    // Checked before anything is dropped: a mapping with a private page keeps everything.
                    if let r = range, String(decoding: fields[1], as: UTF8.self) == "0", rss > 0,
                        madvise(UnsafeMutableRawPointer(bitPattern: r.start), Int(r.end - r.start), MADV_DONTNEED) == 0
                    {
                        releasedKiB += rss
                    }
                    range = nil
                }
            }
        }
        return releasedKiB
    }
}
