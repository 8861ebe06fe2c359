#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
public import SystemPackage

/// A pty pair: the master side is where an emulated device (a modem, a router console, a relay board) speaks;
/// the slave side is the `/dev/pts/N` path that the code under test opens like a serial port.
public final class PseudoTerminal {
    /// The master descriptor, owned by this object. Non-blocking.
    public private(set) var master: FileDescriptor
    /// The slave path, e.g. `/dev/pts/7`.
    public let slavePath: String
    /// A descriptor on the slave kept open by this object, so that the master does not see EIO (hang-up)
    /// while the code under test closes and reopens the port. Closed by `hangUp()`.
    private var slaveKeeper: CInt

    /// Opens a new pty pair with the slave in raw mode.
    /// - Throws: `SerialIOError` when no pty can be had.
    public init() throws(SerialIOError) {
        let m: CInt
        switch system_posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) {
        case .success(let fd): m = fd
        case .failure(let errno): throw SerialIOError.fromErrno(errno, operation: "posix_openpt", path: "/dev/ptmx")
        }
        do throws(SerialIOError) {
            if case .failure(let errno) = system_unlockpt(m) {
                throw SerialIOError.fromErrno(errno, operation: "unlockpt", path: "/dev/ptmx")
            }
            let name: String
            switch system_ptsname(m) {
            case .success(let n): name = n
            case .failure(let errno): throw SerialIOError.fromErrno(errno, operation: "ptsname", path: "/dev/ptmx")
            }
            let s: CInt
            switch system_open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) {
            case .success(let fd): s = fd
            case .failure(let errno): throw SerialIOError.fromErrno(errno, operation: "open", path: name)
            }
            if case .success(var t) = system_tcgetattr(s) {
                cfmakeraw(&t)
                _ = system_tcsetattr(s, t)
            }
            self.master = FileDescriptor(rawValue: m)
            self.slavePath = name
            self.slaveKeeper = s
        } catch {
            system_close(m)
            throw error
        }
    }

    deinit {
        close()
    }

    /// Closes both sides. Idempotent.
    public func close() {
        if slaveKeeper >= 0 {
            system_close(slaveKeeper)
            slaveKeeper = -1
        }
        if master.rawValue >= 0 {
            system_close(master.rawValue)
            master = FileDescriptor(rawValue: -1)
        }
    }

    /// Drops the keeper descriptor on the slave, so the master sees a hang-up once the code under test closes.
    public func releaseSlaveKeeper() {
        if slaveKeeper >= 0 {
            system_close(slaveKeeper)
            slaveKeeper = -1
        }
    }

    /// Reads what the slave side wrote, up to `maxCount` bytes; empty when nothing is waiting.
    public func readMaster(maxCount: Int = 4096) throws(SerialIOError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: maxCount)
        let result = out.withUnsafeMutableBytes { system_read(master.rawValue, $0) }
        switch result {
        case .success(let n):
            out.removeSubrange(n...)
            return out
        case .failure(let errno):
            // EIO on a master means no slave is open right now: nothing to read.
            if errno == .wouldBlock || errno == .ioError { return [] }
            throw SerialIOError.fromErrno(errno, operation: "read", path: "pty master")
        }
    }

    /// Writes bytes for the slave side to read; returns how many the pty took.
    public func writeMaster(_ bytes: some Collection<UInt8>) throws(SerialIOError) -> Int {
        let array = Array(bytes)
        if array.isEmpty { return 0 }
        switch array.withUnsafeBytes({ system_write(master.rawValue, $0) }) {
        case .success(let n): return n
        case .failure(let errno):
            if errno == .wouldBlock { return 0 }
            throw SerialIOError.fromErrno(errno, operation: "write", path: "pty master")
        }
    }

    /// Waits for bytes from the slave side, up to `timeoutMilliseconds`.
    public func waitMasterReadable(timeoutMilliseconds: Int) -> Bool {
        var fds = [pollfd(fd: master.rawValue, events: Int16(POLLIN), revents: 0)]
        guard case .success(let n) = system_poll(&fds, CInt(clamping: timeoutMilliseconds)), n > 0 else { return false }
        return fds[0].revents & Int16(POLLIN) != 0
    }
}

@available(*, unavailable)
extension PseudoTerminal: Sendable {}
