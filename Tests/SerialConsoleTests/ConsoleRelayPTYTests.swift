// Layer (c): the relay on a real pty, clients on its real Unix socket.

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Logging
import SerialIO
import ServiceLifecycleTestKit
import Testing

@testable import SerialConsole

@Suite("ConsoleRelay on a real pty", .serialized, .timeLimit(.minutes(3)))
struct ConsoleRelayPTYTests {
    @Test("all 256 byte values and large blocks cross both ways, whole and in order")
    func bytesBothWays() async throws {
        let h = try RelayHarness()
        try await h.start()
        let client = try h.attach(.writer)
        #expect(client.welcome.role == .writer)
        #expect(client.welcome.device == h.devicePath)

        // Device → client: every byte value, then 1 MiB, written as the router would, read as it comes.
        let fromDevice = (0...255).map { UInt8($0) } + [UInt8].pattern(count: 1 << 20, seed: 1)
        var received = Received()
        var offset = 0
        while offset < fromDevice.count {
            let n = try h.router.writeMaster(fromDevice[offset..<min(offset + 4096, fromDevice.count)])
            offset += n
            drain(client, into: &received, waitMilliseconds: n == 0 ? 20 : 0)
        }
        collect(client, into: &received) { $0.output.count >= fromDevice.count }
        #expect(received.output.count == fromDevice.count)
        #expect(received.output == fromDevice)

        // Client → device: every byte value, then 256 KiB, in 4 KiB input frames, drained at the router.
        let toDevice = (0...255).reversed().map { UInt8($0) } + [UInt8].pattern(count: 256 << 10, seed: 2)
        var atRouter: [UInt8] = []
        var sent = 0
        while sent < toDevice.count {
            let chunk = Array(toDevice[sent..<min(sent + 4096, toDevice.count)])
            try client.sendInput(chunk)
            sent += chunk.count
            atRouter += try h.router.readMaster(maxCount: 65536)
        }
        atRouter += try h.routerRead(count: toDevice.count - atRouter.count)
        #expect(atRouter.count == toDevice.count)
        #expect(atRouter == toDevice)
        try await waitFor("the byte count") { h.relay.statistics.bytesToDevice == UInt64(toDevice.count) }
        client.close()
        try await h.stop()
    }

    @Test("what the router printed before anyone attached is replayed, then the console goes live")
    func scrollbackOnAttach() async throws {
        let h = try RelayHarness(scrollbackBytes: 4096)
        // Printed before the relay opened the device: the kernel buffers it, and the relay keeps it.
        let early = Array("U-Boot 2023.04\r\nDRAM:  512 MiB\r\n".utf8)
        try h.routerWrite(early)
        try await h.start()
        try await waitFor("the relay to read the early output") {
            h.relay.statistics.bytesFromDevice == UInt64(early.count)
        }
        let first = try h.attach(.readOnly, scrollback: 100_000)
        var firstReceived = Received()
        collect(first, into: &firstReceived) { $0.frames.contains(.scrollbackEnd) }
        #expect(firstReceived.output == early)
        first.close()

        // A boot log longer than the ring: only its last 4096 bytes are kept.
        var boot: [UInt8] = []
        for i in 0..<300 { boot += Array("[    \(i).000000] kernel: line \(i) of the boot log\r\n".utf8) }
        try h.routerWrite(boot)
        try await waitFor("the relay to read the boot log") {
            h.relay.statistics.bytesFromDevice == UInt64(early.count + boot.count)
        }

        let client = try h.attach(.readOnly, scrollback: 100_000)
        var received = Received()
        collect(client, into: &received) { $0.frames.contains(.scrollbackEnd) }
        guard case .scrollbackBegin(let count)? = received.frames.first else {
            Issue.record("the first frame after welcome is not scrollback-begin: \(received.frames.prefix(2))")
            return
        }
        #expect(count == 4096)
        #expect(received.output == Array(boot.suffix(4096)))

        try h.routerWrite(Array("Router login: ".utf8))
        collect(client, into: &received) { $0.output.count >= 4096 + 14 }
        #expect(received.output == Array(boot.suffix(4096)) + Array("Router login: ".utf8))

        // A smaller request gets only the newest bytes.
        let short = try h.attach(.readOnly, scrollback: 14)
        var shortReceived = Received()
        collect(short, into: &shortReceived) { $0.frames.contains(.scrollbackEnd) }
        #expect(shortReceived.output == Array("Router login: ".utf8))
        try await h.stop()
    }

    @Test("two clients, one writer: the spectator sees everything and its input is refused")
    func spectatorIsReadOnly() async throws {
        let h = try RelayHarness()
        try await h.start()
        let writer = try h.attach(.writer)
        // A second client asking to write finds the seat taken and attaches read-only, told by whom.
        let spectator = try h.attach(.writer)
        #expect(writer.welcome.role == .writer)
        #expect(spectator.welcome.role == .spectator)
        var s = Received()
        collect(spectator, into: &s) { $0.notices.contains { $0.text.contains("held by") } }
        #expect(s.notices.contains { $0.text.contains("pid \(getpid())") })

        try spectator.sendInput(Array("reload\r".utf8))
        try spectator.send(.sendBreak)
        collect(spectator, into: &s) { $0.notices.contains { $0.kind == .inputRefused } }
        #expect(s.notices.contains { $0.kind == .inputRefused && $0.text.contains("read-only") })

        try writer.sendInput(Array("show ip route\r".utf8))
        #expect(try h.routerRead(count: 14) == Array("show ip route\r".utf8))
        // Nothing of the spectator's reached the router.
        #expect(try h.routerRead(count: 1, timeoutMilliseconds: 200) == [])

        let route = Array("S* 0.0.0.0/0 via 192.0.2.1\r\n".utf8)
        try h.routerWrite(route)
        var w = Received()
        collect(writer, into: &w) { $0.output.count >= route.count }
        collect(spectator, into: &s) { $0.output.count >= route.count }
        #expect(w.output == route)
        #expect(s.output == w.output)
        try await waitFor("two attached") { h.relay.statistics.attachedClients == 2 }
        try await h.stop()
    }

    @Test("--force takes the writer's seat and the previous writer is told who took it")
    func forceTakeover() async throws {
        let h = try RelayHarness()
        try await h.start()
        let first = try h.attach(.writer)
        let second = try h.attach(.force)
        #expect(second.welcome.role == .writer)
        var f = Received()
        collect(first, into: &f) { $0.notices.contains { $0.kind == .writerSeatTaken } }
        let notice = f.notices.first { $0.kind == .writerSeatTaken }
        #expect(notice?.text.contains("root (uid 0, pid \(getpid()))") == true || notice?.text.contains("uid \(getuid())") == true)
        #expect(notice?.text.contains("--force") == true)

        try first.sendInput(Array("x".utf8))
        collect(first, into: &f) { $0.notices.contains { $0.kind == .inputRefused } }
        try second.sendInput(Array("enable\r".utf8))
        #expect(try h.routerRead(count: 7) == Array("enable\r".utf8))
        try await waitFor("the writer") { h.relay.statistics.writer?.pid == getpid() }
        try await h.stop()
        #expect(h.logText().contains("force-takeover by "))
    }

    @Test("a break requested by the writer is sent on the device with tcsendbreak")
    func breakReachesDevice() async throws {
        // A pty ignores breaks: on Linux 6.x tcsendbreak on either side delivers nothing to the other, neither
        // as \377\0\0 with PARMRK nor through TIOCPKT (checked while writing this test). So the test asserts the
        // call the relay makes on the device's descriptor, through the syscall trace of the debug build.
        let h = try RelayHarness()
        try await h.start()
        let writer = try h.attach(.writer)
        SyscallTrace.start()
        defer { _ = SyscallTrace.stop() }
        try writer.sendInput(Array("before\r".utf8))
        try writer.send(.sendBreak)
        var w = Received()
        collect(writer, into: &w) { $0.notices.contains { $0.kind == .breakSent } }
        try await waitFor("the break") { h.relay.statistics.breaksSent == 1 }
        let calls = SyscallTrace.snapshot().filter { $0.hasPrefix("tcsendbreak(") }
        #expect(calls.count == 1)
        // The descriptor it was sent on is the device: /proc/self/fd/N resolves to the pty slave.
        if let call = calls.first, let fd = Int(call.dropFirst("tcsendbreak(".count).prefix { $0 != "," }) {
            var target = [CChar](repeating: 0, count: 256)
            let n = readlink("/proc/self/fd/\(fd)", &target, 255)
            #expect(n > 0 && String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == h.router.slavePath)
            #expect(call.hasSuffix(", 0) = success()"))
        }
        // The input typed before the break reached the device first.
        #expect(try h.routerRead(count: 7) == Array("before\r".utf8))
        try await h.stop()
        #expect(h.logText().contains("break by root (uid 0, pid \(getpid()))"))
    }

    @Test("the device vanishing and returning at the same path is survived; clients stay attached")
    func deviceVanishesAndReturns() async throws {
        let h = try RelayHarness()
        try await h.start()
        let writer = try h.attach(.writer)
        let spectator = try h.attach(.readOnly)
        try h.routerWrite(Array("before\r\n".utf8))
        var w = Received()
        collect(writer, into: &w) { $0.output.count >= 8 }

        h.unplug()
        collect(writer, into: &w) { $0.notices.contains { $0.kind == .deviceLost } }
        #expect(w.notices.contains { $0.kind == .deviceLost && $0.text.contains("reconnecting") })
        try writer.sendInput(Array("lost\r".utf8))
        collect(writer, into: &w) { $0.notices.contains { $0.kind == .inputRefused } }

        try h.plugIn()
        collect(writer, into: &w) { $0.notices.contains { $0.kind == .deviceBack } }
        #expect(w.notices.contains { $0.kind == .deviceBack })
        try await waitFor("the reopen to be counted") { h.relay.statistics.reopens == 1 }

        try h.routerWrite(Array("after\r\n".utf8))
        collect(writer, into: &w) { $0.output.count >= 15 }
        #expect(w.output == Array("before\r\nafter\r\n".utf8))
        var s = Received()
        collect(spectator, into: &s) { $0.output.count >= 15 }
        #expect(s.output == w.output)
        #expect(s.notices.contains { $0.kind == .deviceLost } && s.notices.contains { $0.kind == .deviceBack })

        try writer.sendInput(Array("show log\r".utf8))
        #expect(try h.routerRead(count: 9) == Array("show log\r".utf8))
        try await h.stop()
        let log = h.logText()
        #expect(log.contains("device lost:") && log.contains("device back"))
    }

    @Test("a spectator that stops reading is dropped with a notice; the device and the writer keep flowing")
    func slowSpectatorDropped() async throws {
        let h = try RelayHarness(clientBufferBytes: 64 << 10, logMaximumBytes: 64 << 20)
        try await h.start()
        let writer = try h.attach(.writer)
        let slow = try h.attach(.readOnly)  // never reads until the end
        let total = 1 << 20
        let data = [UInt8].pattern(count: total, seed: 7)
        var w = Received()
        var offset = 0
        var typed: [UInt8] = []
        var atRouter: [UInt8] = []
        var round = 0
        while offset < total {
            let n = try h.router.writeMaster(data[offset..<min(offset + 8192, total)])
            offset += n
            drain(writer, into: &w, waitMilliseconds: n == 0 ? 20 : 0)
            // The writer types while the flood goes on; its input must get through.
            round += 1
            if round % 16 == 0 {
                let keys = Array("k\(round)\r".utf8)
                try writer.sendInput(keys)
                typed += keys
            }
            atRouter += try h.router.readMaster(maxCount: 65536)
        }
        collect(writer, into: &w) { $0.output.count >= total }
        #expect(w.output.count == total)
        #expect(w.output == data)
        atRouter += try h.routerRead(count: typed.count - atRouter.count)
        #expect(atRouter == typed)
        #expect(!typed.isEmpty)
        try await waitFor("the drop to be counted") {
            h.relay.statistics.droppedClients == 1 && h.relay.statistics.attachedClients == 1
        }

        // The slow one finds, after whatever it had been sent, the notice, then the end of the connection.
        var s = Received()
        collect(slow, into: &s) { _ in false }
        #expect(s.closed)
        #expect(s.notices.last?.kind == .dropped)
        #expect(s.notices.last?.text.contains("too slowly") == true)
        #expect(s.output.count < total)
        #expect(s.output == Array(data.prefix(s.output.count)))  // what it got is a clean prefix
        try await h.stop()
        let logged = h.logText().contains("drop root (uid 0, pid \(getpid())): too slow: ")
        #expect(logged)
    }

    @Test("the log rotates by size and keeps the configured number of files")
    func logRotation() async throws {
        let h = try RelayHarness(logMaximumBytes: 4096, logKeptFiles: 2)
        try await h.start()
        var text: [UInt8] = []
        for i in 0..<500 { text += Array("line \(i) of the router console\r\n".utf8) }
        try h.routerWrite(text)
        try await waitFor("the relay to read it all") { h.relay.statistics.bytesFromDevice == UInt64(text.count) }
        try await h.stop()
        var st = stat()
        #expect(stat(h.logPath, &st) == 0 && st.st_size <= 4096)
        #expect(stat(h.logPath + ".1", &st) == 0 && st.st_size <= 4096 && st.st_size > 2048)
        #expect(stat(h.logPath + ".2", &st) == 0 && st.st_size <= 4096)
        #expect(stat(h.logPath + ".3", &st) != 0)
        let newest = readFile(h.logPath + ".1") + readFile(h.logPath)
        #expect(newest.contains("line 499 of the router console\r\n"))
        #expect(readFile(h.logPath).contains("relay stopped"))
    }

    @Test("the socket is mode 0660 with the configured group, and peers are named by SO_PEERCRED")
    func socketModeAndPeerIdentity() async throws {
        let h = try RelayHarness(socketGroup: "nogroup")
        try await h.start()
        var st = stat()
        #expect(lstat(h.socketPath, &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFSOCK)
        #expect(st.st_mode & 0o777 == 0o660)
        #expect(st.st_gid == 65534)
        let client = try h.attach(.writer)
        try await waitFor("the attach") { h.relay.statistics.attachedClients == 1 }
        #expect(h.relay.statistics.writer == ConsolePeer(uid: getuid(), pid: getpid(), userName: "root"))
        client.close()
        try await waitFor("the detach") { h.relay.statistics.attachedClients == 0 }
        try await h.stop()
        let log = h.logText()
        #expect(log.contains("attach writer root (uid 0, pid \(getpid())) --]"))
        #expect(log.contains("detach writer root (uid 0, pid \(getpid())) --]"))
        // Marks carry an ISO 8601 UTC timestamp.
        #expect(log.contains("[-- oob-agent 20") && log.contains("Z attach writer"))
    }

    @Test("stopping the relay tells clients, closes them and removes the socket; a second relay is refused")
    func stopAndAlreadyRunning() async throws {
        let h = try RelayHarness()
        try await h.start()
        let second = try ConsoleRelay(configuration: h.relay.configuration, logger: Logger(label: "second", factory: { _ in SwiftLogNoOpLogHandler() }))
        do {
            try await second.run()
            Issue.record("a second relay on the same socket ran")
        } catch let error as SerialConsoleError {
            #expect(error.code == .alreadyRunning)
            #expect(error.message.contains("already listens on \(h.socketPath)"))
        }
        let client = try h.attach(.writer)
        try await h.stop()
        var r = Received()
        collect(client, into: &r) { _ in false }
        #expect(r.closed)
        #expect(r.notices.last?.kind == .relayStopping)
        #expect(access(h.socketPath, F_OK) != 0)
        #expect(throws: SerialConsoleError.self) { _ = try h.attach(.writer) }
    }

    @Test(
        "the device is opened with the configured line settings",
        arguments: [
            SerialConfiguration(baudRate: 57600, dataBits: 7, parity: .even, stopBits: 2, flowControl: .xonxoff),
            SerialConfiguration(baudRate: 9600, dataBits: 8, parity: .odd, stopBits: 1, flowControl: .rtscts),
            SerialConfiguration(baudRate: 115200, dataBits: 8, parity: .none, stopBits: 1, flowControl: .none),
        ])
    func lineSettings(serial: SerialConfiguration) async throws {
        let h = try RelayHarness(serial: serial)
        try await h.start()
        // The relay's descriptor and this one share the tty, so its termios is the relay's.
        let fd = open(h.router.slavePath, O_RDWR | O_NOCTTY | O_NONBLOCK)
        defer { close(fd) }
        var t = termios()
        #expect(tcgetattr(fd, &t) == 0)
        let speeds: [Int: speed_t] = [57600: speed_t(B57600), 9600: speed_t(B9600), 115200: speed_t(B115200)]
        #expect(cfgetospeed(&t) == speeds[serial.baudRate])
        // Data bits and parity enable cannot be seen here: the pty driver forces CS8 and clears PARENB on every
        // tcsetattr (drivers/tty/pty.c, pty_set_termios). PARODD, stop bits and flow control stay as set.
        #expect((t.c_cflag & tcflag_t(PARODD) != 0) == (serial.parity == .odd))
        #expect((t.c_cflag & tcflag_t(CSTOPB) != 0) == (serial.stopBits == 2))
        #expect((t.c_cflag & tcflag_t(CRTSCTS) != 0) == (serial.flowControl == .rtscts))
        #expect((t.c_iflag & tcflag_t(IXON | IXOFF) != 0) == (serial.flowControl == .xonxoff))
        #expect(t.c_lflag & tcflag_t(ICANON | ECHO | ISIG) == 0)  // raw
        let client = try h.attach(.writer)
        try client.sendInput(Array("show clock\r".utf8))
        #expect(try h.routerRead(count: 11) == Array("show clock\r".utf8))
        try await h.stop()
    }

    @Test("a pty held by the program that made it (as socat does) is still opened, exclusively")
    func ptyHeldByItsCreator() async throws {
        let h = try RelayHarness()
        // Another process keeps the slave open, as socat and emulators do.
        let slave = open(h.router.slavePath, O_RDWR | O_NOCTTY)
        defer { close(slave) }
        guard let holder = Child.spawn(["/bin/sleep", "60"], stdin: slave, stdout: slave, stderr: slave) else {
            Issue.record("cannot start /bin/sleep")
            return
        }
        defer {
            kill(holder.pid, SIGKILL)
            _ = holder.wait()
        }
        #expect(!DeviceHolders.find(path: h.devicePath).isEmpty)
        try await h.start()
        #expect(h.relay.statistics.deviceOpen)
        // Exclusive all the same: a second relay on the same device (another socket) does not get it.
        let other = try ConsoleRelay(
            configuration: ConsoleRelayConfiguration(
                devicePath: h.devicePath, socketPath: h.directory.file("other.sock"), reopenMaximumDelayMilliseconds: 200),
            logger: Logger(label: "other", factory: { _ in SwiftLogNoOpLogHandler() }))
        let task = Task { try await other.run() }
        try await waitFor("the second relay to listen") { other.statistics.listening }
        try await Task.sleep(for: .milliseconds(300))
        #expect(!other.statistics.deviceOpen)
        task.cancel()
        try await task.value
        try await h.stop()
    }

    @Test("a graceful shutdown (as the daemon's ServiceGroup sends on SIGTERM) stops the relay cleanly")
    func gracefulShutdown() async throws {
        let h = try RelayHarness()
        let relay = h.relay
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await relay.run() }
                try await waitFor("the relay to listen") { relay.statistics.listening && relay.statistics.deviceOpen }
                let client = try h.attach(.writer)
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
                var r = Received()
                collect(client, into: &r) { _ in false }
                #expect(r.notices.last?.kind == .relayStopping)
            }
        }
        #expect(!relay.statistics.listening)
        #expect(access(h.socketPath, F_OK) != 0)
        #expect(h.logText().contains("relay stopped --]"))
    }

    @Test("a stale socket left by a crash is replaced; a regular file in its place is refused with a fix")
    func staleSocket() async throws {
        let h = try RelayHarness()
        mkdir(h.directory.file("run"), 0o755)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(h.socketPath.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(fd)
        try await h.start()
        let client = try h.attach(.writer)
        #expect(client.welcome.role == .writer)
        try await h.stop()

        let file = fopen(h.socketPath, "w")
        fclose(file)
        do {
            try await h.relay.run()
            Issue.record("the relay ran over a regular file")
        } catch let error as SerialConsoleError {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("exists and is not a socket; remove it"))
        }
    }

    @Test("a log that cannot be opened stops the relay at start with the path and the fix")
    func unwritableLog() async throws {
        let directory = TempDirectory()
        let blocker = fopen(directory.file("file"), "w")
        fclose(blocker)
        let relay = try ConsoleRelay(
            configuration: ConsoleRelayConfiguration(
                devicePath: "/dev/null", socketPath: directory.file("c.sock"),
                logPath: directory.file("file/console.log")),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        do {
            try await relay.run()
            Issue.record("the relay ran without its log")
        } catch let error as SerialConsoleError {
            #expect(error.code == .log)
            #expect(error.message.contains("cannot open the console log \(directory.file("file/console.log"))"))
            #expect(error.message.contains("change [console] log"))
        }
        #expect(access(directory.file("c.sock"), F_OK) != 0)
    }

    @Test("a full disk under the log does not stop the console")
    func fullDisk() async throws {
        let h = try RelayHarness()
        mkdir(h.directory.file("log"), 0o755)
        #expect(symlink("/dev/full", h.logPath) == 0)  // every write: ENOSPC
        try await h.start()
        let writer = try h.attach(.writer)
        let text = Array("kernel: EXT4-fs error: No space left on device\r\n".utf8)
        try h.routerWrite(text)
        var w = Received()
        collect(writer, into: &w) { $0.output.count >= text.count }
        #expect(w.output == text)
        try writer.sendInput(Array("df -h\r".utf8))
        #expect(try h.routerRead(count: 6) == Array("df -h\r".utf8))
        try await h.stop()
    }

    @Test("a client that connects but never says hello is dropped; the console goes on")
    func silentClientDropped() async throws {
        let h = try RelayHarness()
        try await h.start()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(h.socketPath.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(rc == 0)
        // Garbage instead of a hello: refused with a protocol-error notice and closed.
        var garbage: [UInt8] = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        #expect(write(fd, &garbage, garbage.count) == garbage.count)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        var decoder = ConsoleFrameDecoder()
        decoder.append(answer)
        guard case .notice(let notice)? = try decoder.next() else {
            Issue.record("no notice before the close")
            return
        }
        #expect(notice.kind == .protocolError)
        let writer = try h.attach(.writer)
        #expect(writer.welcome.role == .writer)
        try await h.stop()
    }
}
