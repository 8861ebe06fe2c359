// A console relay on a real pty, for the layer (c) tests: the "router" is the pty master the test drives; the
// relay opens the slave through a symlink the test controls (so the device can vanish and come back).

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Logging
import SerialIO
import Testing

@testable import SerialConsole

/// A temp directory removed at the end.
final class TempDirectory {
    let path: String

    init() {
        var template = Array("/tmp/oob-console-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        remove(path)
    }

    private func remove(_ path: String) {
        guard let dir = opendir(path) else {
            unlink(path)
            return
        }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = "\(path)/\(name)"
            var st = stat()
            if lstat(child, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR {
                remove(child)
            } else {
                unlink(child)
            }
        }
        closedir(dir)
        rmdir(path)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }
}

/// Bytes and notices a client received.
struct Received {
    var output: [UInt8] = []
    var notices: [ConsoleNotice] = []
    var frames: [ConsoleFrame] = []
    var closed = false

    mutating func record(_ frame: ConsoleFrame) {
        frames.append(frame)
        switch frame {
        case .output(let bytes): output += bytes
        case .notice(let notice): notices.append(notice)
        default: break
        }
    }
}

/// A relay on a pty, started in a task, stopped by `stop()`.
final class RelayHarness {
    let directory = TempDirectory()
    var router: PseudoTerminal
    let devicePath: String
    let socketPath: String
    let logPath: String
    let relay: ConsoleRelay
    private var task: Task<Void, any Error>?

    init(
        scrollbackBytes: Int = 64 << 10, clientBufferBytes: Int = 1 << 20, logMaximumBytes: Int = 1 << 20,
        logKeptFiles: Int = 5, socketGroup: String? = nil, serial: SerialConfiguration = SerialConfiguration()
    ) throws {
        router = try PseudoTerminal()
        devicePath = directory.file("console")
        socketPath = directory.file("run/console.sock")
        logPath = directory.file("log/console.log")
        #expect(symlink(router.slavePath, devicePath) == 0)
        let configuration = ConsoleRelayConfiguration(
            devicePath: devicePath, serial: serial, socketPath: socketPath,
            socketGroup: socketGroup, logPath: logPath, logMaximumBytes: logMaximumBytes, logKeptFiles: logKeptFiles,
            scrollbackBytes: scrollbackBytes, clientBufferBytes: clientBufferBytes, reopenMaximumDelayMilliseconds: 400)
        var logger = Logger(label: "test.console", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        relay = try ConsoleRelay(configuration: configuration, logger: logger)
    }

    /// Starts the relay and waits until it listens with the device open.
    func start() async throws {
        let relay = self.relay
        task = Task { try await relay.run() }
        try await waitFor("the relay to listen with the device open") {
            relay.statistics.listening && relay.statistics.deviceOpen
        }
    }

    /// Cancels the relay and waits for `run()` to return.
    func stop() async throws {
        task?.cancel()
        try await task?.value
        task = nil
    }

    /// Replaces the router: the old pty closes (the device vanishes), the path then points to a new pty.
    func unplug() {
        router.close()
        unlink(devicePath)
    }

    func plugIn() throws {
        router = try PseudoTerminal()
        #expect(symlink(router.slavePath, devicePath) == 0)
    }

    /// Writes everything to the router side (the device's output), reading the master meanwhile is not needed
    /// for the amounts the tests write between reads.
    func routerWrite(_ bytes: [UInt8]) throws {
        var rest = bytes[...]
        let deadline = Monotonic.now() + 10_000_000_000
        while !rest.isEmpty {
            let n = try router.writeMaster(rest)
            rest = rest.dropFirst(n)
            if n == 0 {
                #expect(Monotonic.now() < deadline, "the pty did not take the router's output")
                if Monotonic.now() >= deadline { return }
                usleep(1000)
            }
        }
    }

    /// Reads from the router side until `count` bytes came or the timeout passed.
    func routerRead(count: Int, timeoutMilliseconds: Int = 10_000) throws -> [UInt8] {
        var got: [UInt8] = []
        let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
        while got.count < count, Monotonic.now() < deadline {
            if router.waitMasterReadable(timeoutMilliseconds: 50) {
                got += try router.readMaster(maxCount: 65536)
            }
        }
        return got
    }

    /// Attaches a client.
    func attach(_ mode: ConsoleAttachMode, scrollback: UInt32 = 0) throws -> ConsoleClient {
        try ConsoleClient(socketPath: socketPath, hello: ConsoleHello(mode: mode, scrollbackLimit: scrollback))
    }

    func logText() -> String { readFile(logPath) }
}

/// Everything in a file as text (bytes that are not UTF-8 replaced).
func readFile(_ path: String) -> String {
    guard let f = fopen(path, "r") else { return "" }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Receives frames until `until` holds for what came, or the timeout passes.
func collect(
    _ client: ConsoleClient, into received: inout Received, timeoutMilliseconds: Int = 10_000,
    until: (Received) -> Bool
) {
    let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
    while !until(received), Monotonic.now() < deadline, !received.closed {
        do {
            guard let frame = try client.receive(timeoutMilliseconds: 50) else { continue }
            received.record(frame)
        } catch {
            received.closed = true
        }
    }
}

/// Receives what has arrived, waiting up to `waitMilliseconds` for the first frame.
func drain(_ client: ConsoleClient, into received: inout Received, waitMilliseconds: Int) {
    var wait = waitMilliseconds
    while !received.closed {
        do {
            guard let frame = try client.receive(timeoutMilliseconds: wait) else { return }
            wait = 0
            received.record(frame)
        } catch {
            received.closed = true
        }
    }
}

/// Polls `condition` every 10 ms for up to 10 s; records an issue if it never holds.
func waitFor(
    _ what: String, timeoutMilliseconds: Int = 10_000, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () -> Bool
) async throws {
    let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
    while !condition() {
        if Monotonic.now() >= deadline {
            Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

extension Array where Element == UInt8 {
    /// Reproducible pseudo-random bytes covering every value.
    static func pattern(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
    }
}
