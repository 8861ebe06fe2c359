#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
public import SystemPackage

/// A terminal device opened raw and non-blocking; the one owner of its file descriptor.
///
/// Not thread-safe: one thread (or one actor) uses a port at a time. Reads and writes never block;
/// `waitReadable`/`waitWritable` wait with a deadline through poll(2).
public final class SerialPort {
    /// The device path this port was opened from.
    public let path: String
    /// The settings applied at open.
    public let configuration: SerialConfiguration
    private var fd: CInt
    private let original: termios?

    /// The raw descriptor, for poll loops. Valid until `close()`.
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: fd) }
    /// Whether `close()` has been called.
    public var isClosed: Bool { fd < 0 }

    /// Opens `path`, makes it raw with `configuration`, and claims it exclusively.
    ///
    /// Exclusive means two things: an advisory `flock(LOCK_EX)` that cooperating programs honour, and `TIOCEXCL`,
    /// which makes the kernel refuse further opens by anyone but root. Root bypasses `TIOCEXCL`, so the open also
    /// looks in /proc for another process holding the device (ModemManager is the usual one) and refuses to share.
    /// For a pty slave, the process that created the pty (holding its master: socat, an emulator) does not count.
    ///
    /// - Parameters:
    ///   - path: the device, e.g. `/dev/ttyUSB2` or a pty slave.
    ///   - configuration: baud rate, framing and flow control.
    ///   - exclusive: claim the port for this process alone (default true).
    /// - Throws: `SerialIOError` with `.busy` naming the holder, `.notFound`, `.permissionDenied`, `.notATerminal`.
    public init(path: String, configuration: SerialConfiguration = SerialConfiguration(), exclusive: Bool = true) throws(SerialIOError) {
        self.path = path
        self.configuration = configuration
        if exclusive, let holder = DeviceHolders.competing(path: path).first {
            throw SerialIOError(
                code: .busy, path: path,
                message: "\(path) is busy: held by \(holder). "
                    + (holder.isModemManager
                        ? "Stop ModemManager (systemctl stop ModemManager) or install etc/udev/90-oob-agent.rules so it ignores the modem"
                        : "Stop that process or choose another port"))
        }
        let fd: CInt
        switch system_open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) {
        case .success(let value): fd = value
        case .failure(let errno): throw SerialIOError.fromErrno(errno, operation: "open", path: path)
        }
        self.fd = fd
        do throws(SerialIOError) {
            if exclusive {
                if case .failure(let errno) = system_flock(fd, LOCK_EX | LOCK_NB) {
                    if errno == .wouldBlock {
                        throw SerialIOError(
                            code: .busy, path: path,
                            message: "\(path) is busy: another process holds its lock; stop it or choose another port")
                    }
                }
                _ = system_ioctl(fd, UInt(TIOCEXCL))
            }
            var t: termios
            switch system_tcgetattr(fd) {
            case .success(let value): t = value
            case .failure(let errno): throw SerialIOError.fromErrno(errno, operation: "tcgetattr", path: path)
            }
            self.original = t
            do throws(SerialIOError) {
                try configuration.apply(to: &t)
            } catch {
                var e = error
                e.path = path
                e.message = "\(path): \(e.message)"
                throw e
            }
            if case .failure(let errno) = system_tcsetattr(fd, t) {
                throw SerialIOError.fromErrno(errno, operation: "tcsetattr", path: path)
            }
            _ = system_tcflush(fd, TCIOFLUSH)
        } catch {
            system_close(fd)
            throw error
        }
    }

    deinit {
        close()
    }

    /// Restores the original settings where possible and closes the descriptor. Idempotent.
    public func close() {
        guard fd >= 0 else { return }
        if let original { _ = system_tcsetattr(fd, original) }
        system_close(fd)
        fd = -1
    }

    /// Reads what is available now, up to `maxCount` bytes. Returns an empty array when nothing is there.
    /// - Throws: `.vanished` when the device went away (EIO, ENXIO, ENODEV, or EOF on a tty).
    public func read(maxCount: Int = 4096) throws(SerialIOError) -> [UInt8] {
        precondition(fd >= 0, "read on a closed SerialPort")
        var out = [UInt8](repeating: 0, count: maxCount)
        let result = out.withUnsafeMutableBytes { system_read(fd, $0) }
        switch result {
        case .success(let n):
            if n == 0 {
                // With VMIN 0 / VTIME 0 a tty returns 0 both when nothing is waiting (n_tty_read gives up before
                // it looks at O_NONBLOCK) and when the other side hung up (a vanished USB device, a closed pty
                // master). poll tells them apart: only a hang-up sets POLLHUP/POLLERR.
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                if case .success(let ready) = system_poll(&fds, 0), ready > 0,
                   fds[0].revents & Int16(POLLHUP | POLLERR) != 0
                {
                    throw SerialIOError(code: .vanished, path: path, message: "\(path): the device hung up")
                }
                return []
            }
            out.removeSubrange(n...)
            return out
        case .failure(let errno):
            if errno == .wouldBlock { return [] }
            throw SerialIOError.fromErrno(errno, operation: "read", path: path)
        }
    }

    /// Writes as much of `bytes` as the device takes now; returns the count written (possibly 0).
    public func write(_ bytes: some Collection<UInt8>) throws(SerialIOError) -> Int {
        precondition(fd >= 0, "write on a closed SerialPort")
        let array = Array(bytes)
        if array.isEmpty { return 0 }
        let result = array.withUnsafeBytes { system_write(fd, $0) }
        switch result {
        case .success(let n): return n
        case .failure(let errno):
            if errno == .wouldBlock { return 0 }
            throw SerialIOError.fromErrno(errno, operation: "write", path: path)
        }
    }

    /// Writes all of `bytes`, waiting for the device as needed, until `timeoutMilliseconds` pass.
    public func writeAll(_ bytes: some Collection<UInt8>, timeoutMilliseconds: Int = 5000) throws(SerialIOError) {
        var rest = Array(bytes)[...]
        let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
        while !rest.isEmpty {
            let n = try write(rest)
            rest = rest.dropFirst(n)
            if rest.isEmpty { break }
            let left = Int((deadline - Monotonic.now()) / 1_000_000)
            if left <= 0 {
                throw SerialIOError(code: .timedOut, path: path, message: "\(path): write timed out (device not draining)")
            }
            _ = try waitWritable(timeoutMilliseconds: left)
        }
    }

    /// Waits until the port has bytes to read or `timeoutMilliseconds` pass; returns whether it is readable.
    /// - Throws: `.vanished` when poll reports a hang-up or error on the device.
    public func waitReadable(timeoutMilliseconds: Int) throws(SerialIOError) -> Bool {
        try wait(events: Int16(POLLIN), timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Waits until the port accepts writes or `timeoutMilliseconds` pass.
    public func waitWritable(timeoutMilliseconds: Int) throws(SerialIOError) -> Bool {
        try wait(events: Int16(POLLOUT), timeoutMilliseconds: timeoutMilliseconds)
    }

    private func wait(events: Int16, timeoutMilliseconds: Int) throws(SerialIOError) -> Bool {
        var fds = [pollfd(fd: fd, events: events, revents: 0)]
        switch system_poll(&fds, CInt(clamping: max(0, timeoutMilliseconds))) {
        case .success(let n):
            if n == 0 { return false }
            if fds[0].revents & Int16(POLLNVAL) != 0 {
                preconditionFailure("poll on a closed descriptor")
            }
            if fds[0].revents & events != 0 { return true }
            if fds[0].revents & Int16(POLLHUP | POLLERR) != 0 {
                throw SerialIOError(code: .vanished, path: path, message: "\(path): the device hung up")
            }
            return false
        case .failure(let errno):
            if errno == .interrupted { return false }
            throw SerialIOError.fromErrno(errno, operation: "poll", path: path)
        }
    }

    /// Sends a break (`tcsendbreak`, about 0.25–0.5 s of zero bits), as a console's `~B` does.
    public func sendBreak() throws(SerialIOError) {
        if case .failure(let errno) = system_tcsendbreak(fd, 0) {
            throw SerialIOError.fromErrno(errno, operation: "tcsendbreak", path: path)
        }
    }

    /// Waits until everything written has been transmitted (`tcdrain`).
    public func drain() throws(SerialIOError) {
        if case .failure(let errno) = system_tcdrain(fd) {
            throw SerialIOError.fromErrno(errno, operation: "tcdrain", path: path)
        }
    }

    /// Discards bytes received but not read and written but not sent.
    public func flush() {
        _ = system_tcflush(fd, TCIOFLUSH)
    }
}

@available(*, unavailable)
extension SerialPort: Sendable {}
