#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Foundation
import SerialIO
import SystemPackage
import Synchronization

/// The demo's "USB cable": a fresh pty whose slave the daemon opens, joined byte for byte to an emulator's pty.
///
/// The daemon opens its modem port exclusively and refuses a device that another process holds open (as it must
/// when ModemManager grabs a real modem). An emulator's own pty slave is held by its creator — here the demo —
/// to survive the port's close and reopen, so the daemon would take the demo for a rival. Behind this bridge the
/// daemon gets a device that nobody else holds, exactly like a USB tty, and its exclusivity check stays on.
final class PTYBridge: Sendable {
    /// The path the daemon opens.
    let devicePath: String
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)

    /// Opens `emulatorPath` (the emulator's slave) and a new pty, and starts copying between them on a thread.
    /// - Throws: ``DemoError`` when either side cannot be opened.
    init(emulatorPath: String) throws(DemoError) {
        let emulator = open(emulatorPath, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard emulator >= 0 else {
            throw DemoError(.io, "cannot open the modem emulator's pty \(emulatorPath): \(ChildProcess.errnoText())")
        }
        var t = termios()
        if tcgetattr(emulator, &t) == 0 {
            cfmakeraw(&t)
            tcsetattr(emulator, TCSANOW, &t)
        }
        let pty: PseudoTerminal
        do {
            pty = try PseudoTerminal()
        } catch {
            close(emulator)
            throw DemoError(.io, "cannot open a pty for the modem: \(error); fix: mount devpts (/dev/pts)")
        }
        // Nobody but the daemon may hold the device's slave side.
        pty.releaseSlaveKeeper()
        devicePath = pty.slavePath
        let master = dup(pty.master.rawValue)
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        pty.close()
        let box = Fds(emulator: emulator, master: master)
        Thread.detachNewThread { [self, box] in
            self.copyLoop(box)
            close(box.emulator)
            close(box.master)
            self.finished.store(true, ordering: .releasing)
        }
    }

    /// Stops copying and closes both sides.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        for _ in 0..<200 where !finished.load(ordering: .acquiring) { usleep(5000) }
    }

    private struct Fds: Sendable {
        let emulator: CInt
        let master: CInt
    }

    private func copyLoop(_ fds: Fds) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopping.load(ordering: .relaxed) {
            var p = [
                pollfd(fd: fds.emulator, events: Int16(POLLIN), revents: 0),
                pollfd(fd: fds.master, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&p, 2, 50) > 0 else { continue }
            var moved = false
            for (from, to) in [(0, 1), (1, 0)] where p[from].revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes { read(p[from].fd, $0.baseAddress, $0.count) }
                guard n > 0 else { continue }
                moved = true
                var offset = 0
                var spins = 0
                while offset < n && spins < 200 {
                    let w = buffer.withUnsafeBytes { write(p[to].fd, $0.baseAddress! + offset, n - offset) }
                    if w > 0 {
                        offset += w
                    } else {
                        spins += 1
                        usleep(1000)
                    }
                }
            }
            // The daemon's side is closed (POLLHUP on the master): wait for it to open the device.
            if !moved { usleep(20_000) }
        }
    }
}
