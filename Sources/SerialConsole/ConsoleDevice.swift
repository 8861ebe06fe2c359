#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import SerialIO
import SystemPackage

/// Why the console device could not be opened: retried with backoff, unless `isFatal` (its settings are
/// rejected, or it is not a terminal), which no retry cures.
struct DeviceOpenFailure: Error, Hashable {
    var message: String
    var isFatal: Bool
}

/// The console tty, opened raw and non-blocking, exclusively, **keeping** what the kernel had buffered (unlike
/// `SerialPort`, which flushes at open): the router's output from before the relay opened belongs in the
/// scrollback. The one owner of its descriptor; used by the relay thread only.
final class ConsoleDevice {
    let path: String
    private(set) var fd: CInt

    private init(path: String, fd: CInt) {
        self.path = path
        self.fd = fd
    }

    deinit {
        close()
    }

    /// Closes the descriptor. Idempotent.
    func close() {
        if fd >= 0 {
            system_close(fd)
            fd = -1
        }
    }

    /// Opens `path` with `configuration`.
    ///
    /// Exclusive means an advisory `flock(LOCK_EX)`, `TIOCEXCL` (further opens refused except to root), and, as
    /// root bypasses `TIOCEXCL`, a refusal when another process holds the device (ModemManager probing it, a
    /// forgotten `screen`). A pty slave is exempt from that last check: the program that made the pty (an
    /// emulator, `socat pty,…`) holds its slave legitimately.
    static func open(
        path: String, configuration: SerialConfiguration, exclusive: Bool
    ) -> Result<ConsoleDevice, DeviceOpenFailure> {
        let isPTY = system_realpath(path)?.hasPrefix("/dev/pts/") ?? false
        if exclusive && !isPTY, let holder = DeviceHolders.find(path: path).first {
            let hint =
                holder.isModemManager
                ? "stop ModemManager (systemctl stop ModemManager) or install etc/udev/90-oob-agent.rules so it "
                    + "ignores the console"
                : "stop that process, or check [console] device"
            return .failure(DeviceOpenFailure(message: "\(path) is busy: held by \(holder); \(hint)", isFatal: false))
        }
        let fd: CInt
        switch system_open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC) {
        case .success(let value): fd = value
        case .failure(let errno):
            let message: String
            switch errno {
            case .noSuchFileOrDirectory, .noSuchAddressOrDevice, .operationNotSupportedByDevice:
                message = "\(path) is not there; check that the USB-serial adapter is plugged in and [console] device"
            case .permissionDenied, .notPermitted:
                message = "\(path): permission denied; run the daemon as root or in group dialout"
            case .resourceBusy:
                message = "\(path) is busy: another program has it open exclusively; stop it"
            default:
                message = "\(path): open failed (\(errno))"
            }
            return .failure(DeviceOpenFailure(message: message, isFatal: false))
        }
        let device = ConsoleDevice(path: path, fd: fd)
        if exclusive {
            if case .failure(.wouldBlock) = system_flock(fd, LOCK_EX | LOCK_NB) {
                return .failure(
                    DeviceOpenFailure(
                        message: "\(path) is busy: another process holds its lock (another relay?); stop it",
                        isFatal: false))
            }
            _ = system_setExclusiveTerminal(fd)
        }
        do {
            try configuration.applyRaw(to: FileDescriptor(rawValue: fd), path: path)
        } catch {
            let fatal = error.code == .unsupportedSetting || error.code == .notATerminal
            var message = error.message
            if error.code == .notATerminal { message += "; [console] device must be a serial port (a tty)" }
            if error.code == .unsupportedSetting { message += "; fix [console] baud, data_bits, parity, stop_bits or flow" }
            return .failure(DeviceOpenFailure(message: message, isFatal: fatal))
        }
        // VMIN 1, VTIME 0 on a non-blocking descriptor: an empty tty reads EAGAIN and only a hang-up reads 0
        // (EOF). With VMIN 0 an empty tty would read 0 as well, and a vanished adapter could not be told apart.
        if case .success(var t) = system_tcgetattr(fd) {
            withUnsafeMutableBytes(of: &t.c_cc) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
            _ = system_tcsetattr(fd, t)
        }
        return .success(device)
    }
}

@available(*, unavailable)
extension ConsoleDevice: Sendable {}
