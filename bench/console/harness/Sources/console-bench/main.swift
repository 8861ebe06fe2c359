// Measures what the console relay adds: keystroke echo latency (p50, p99) against the pty alone, and unthrottled
// throughput, device → client. The "router" is a thread on the pty master; the relay runs in-process as the
// daemon embeds it, on its own poll thread; the client is `ConsoleClient`, as `oob-agent console` uses it.

import Foundation
import Logging
import SerialConsole
import SerialIO
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

var runs = 5
var keystrokes = 2000
var megabytes = 32
var arguments = CommandLine.arguments.dropFirst()
while let option = arguments.popFirst() {
    switch option {
    case "--runs": runs = Int(arguments.popFirst() ?? "") ?? runs
    case "--keystrokes": keystrokes = Int(arguments.popFirst() ?? "") ?? keystrokes
    case "--megabytes": megabytes = Int(arguments.popFirst() ?? "") ?? megabytes
    default:
        print("usage: console-bench [--runs N] [--keystrokes N] [--megabytes N]")
        exit(2)
    }
}

// MARK: - Helpers

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Holds a non-Sendable value for a trip to another thread that alone uses it from then on.
struct Handoff<T>: @unchecked Sendable { let value: T }

/// The router that echoes every keystroke, on the pty master, until stopped.
func startEcho(_ pty: PseudoTerminal, stop: Flag) -> Flag {
    let done = Flag()
    let box = Handoff(value: pty)
    Thread.detachNewThread {
        let pty = box.value
        while !stop.isSet {
            guard pty.waitMasterReadable(timeoutMilliseconds: 50) else { continue }
            guard let bytes = try? pty.readMaster(maxCount: 4096), !bytes.isEmpty else { continue }
            var rest = bytes[...]
            while !rest.isEmpty, let n = try? pty.writeMaster(rest) { rest = rest.dropFirst(n) }
        }
        done.set()
    }
    return done
}

/// The router that prints `total` bytes as fast as the pty takes them.
func startFlood(_ pty: PseudoTerminal, total: Int) -> Flag {
    let done = Flag()
    let box = Handoff(value: pty)
    Thread.detachNewThread {
        let pty = box.value
        let block = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var sent = 0
        var fds = [pollfd(fd: pty.master.rawValue, events: Int16(POLLOUT), revents: 0)]
        while sent < total {
            let n = (try? pty.writeMaster(block[0..<min(block.count, total - sent)])) ?? 0
            sent += n
            if n == 0 { _ = poll(&fds, 1, 100) }
        }
        done.set()
    }
    return done
}

func makeRelay(device: String, directory: String) throws -> ConsoleRelay {
    let configuration = ConsoleRelayConfiguration(
        devicePath: device, serial: SerialConfiguration(baudRate: 115200), socketPath: "\(directory)/console.sock",
        logPath: "\(directory)/console.log", logMaximumBytes: 16 << 20, logKeptFiles: 1, scrollbackBytes: 64 << 10,
        clientBufferBytes: 4 << 20)
    return try ConsoleRelay(configuration: configuration, logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
}

@MainActor func withRelay<T>(device: String, _ body: (String) throws -> T) async throws -> T {
    let directory = NSTemporaryDirectory() + "console-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let relay = try makeRelay(device: device, directory: directory)
    let task = Task { try await relay.run() }
    while !(relay.statistics.listening && relay.statistics.deviceOpen) { try await Task.sleep(for: .milliseconds(5)) }
    let result = try body("\(directory)/console.sock")
    task.cancel()
    try await task.value
    return result
}

// MARK: - Latency

/// Echo round trips of single keystrokes, side by side: typed straight into one pty's slave (as
/// `screen /dev/ttyUSB0` would), and through the relay to another pty (input frame → relay → pty → echo →
/// relay → output frame). The two alternate keystroke by keystroke, so both see the same machine load.
@MainActor func latency() async throws -> (direct: [Double], relayed: [Double]) {
    let directPTY = try PseudoTerminal()
    let relayPTY = try PseudoTerminal()
    let stop = Flag()
    let done = [startEcho(directPTY, stop: stop), startEcho(relayPTY, stop: stop)]
    defer {
        stop.set()
        while !done.allSatisfy({ $0.isSet }) { usleep(1000) }
    }
    let port = try SerialPort(path: directPTY.slavePath, exclusive: false)
    return try await withRelay(device: relayPTY.slavePath) { socket in
        let client = try ConsoleClient(socketPath: socket, hello: ConsoleHello(mode: .writer, scrollbackLimit: 0))
        while try client.receive(timeoutMilliseconds: 100) != nil {}
        var direct: [Double] = []
        var relayed: [Double] = []
        for i in 0..<(keystrokes + 100) {
            let key = UInt8(ascii: "a") + UInt8(i % 26)
            var t0 = Monotonic.now()
            _ = try port.write([key])
            var got = false
            while !got {
                _ = try port.waitReadable(timeoutMilliseconds: 1000)
                got = try port.read(maxCount: 16).contains(key)
            }
            if i >= 100 { direct.append(Double(Monotonic.now() - t0) / 1000) }
            t0 = Monotonic.now()
            try client.sendInput([key])
            got = false
            while !got {
                if case .output(let bytes)? = try client.receive(timeoutMilliseconds: 1000) { got = bytes.contains(key) }
            }
            if i >= 100 { relayed.append(Double(Monotonic.now() - t0) / 1000) }
        }
        client.close()
        return (direct.sorted(), relayed.sorted())
    }
}

// MARK: - Throughput

/// MB/s read straight from the pty slave.
@MainActor func throughputDirect() throws -> Double {
    let pty = try PseudoTerminal()
    let port = try SerialPort(path: pty.slavePath, exclusive: false)
    let total = megabytes << 20
    let t0 = Monotonic.now()
    let done = startFlood(pty, total: total)
    var got = 0
    while got < total {
        _ = try port.waitReadable(timeoutMilliseconds: 1000)
        got += try port.read(maxCount: 65536).count
    }
    let seconds = Double(Monotonic.now() - t0) / 1e9
    while !done.isSet { usleep(1000) }
    return Double(total) / seconds / 1e6
}

/// MB/s at the slowest of `clients` clients attached to the relay (the first one the writer).
@MainActor func throughputRelay(clients: Int) async throws -> Double {
    let pty = try PseudoTerminal()
    let total = megabytes << 20
    return try await withRelay(device: pty.slavePath) { socket in
        let connected = (0..<clients).map { i in
            try! ConsoleClient(
                socketPath: socket, hello: ConsoleHello(mode: i == 0 ? .writer : .readOnly, scrollbackLimit: 0))
        }
        for client in connected { while try client.receive(timeoutMilliseconds: 50) != nil {} }
        let finished = Mutex<[Int64]>([])
        let t0 = Monotonic.now()
        for client in connected.dropFirst() {
            let box = Handoff(value: client)
            Thread.detachNewThread {
                var got = 0
                while got < total, let frame = try? box.value.receive(timeoutMilliseconds: 5000) {
                    if case .output(let bytes) = frame { got += bytes.count }
                }
                finished.withLock { $0.append(Monotonic.now()) }
            }
        }
        let done = startFlood(pty, total: total)
        var got = 0
        while got < total, let frame = try connected[0].receive(timeoutMilliseconds: 5000) {
            if case .output(let bytes) = frame { got += bytes.count }
        }
        finished.withLock { $0.append(Monotonic.now()) }
        while finished.withLock({ $0.count }) < clients { usleep(1000) }
        let last = finished.withLock { $0.max()! }
        while !done.isSet { usleep(1000) }
        connected.forEach { $0.close() }
        return Double(total) / (Double(last - t0) / 1e9) / 1e6
    }
}

// MARK: - Main

print("console-bench: \(runs) runs, \(keystrokes) keystrokes per latency run, \(megabytes) MiB per throughput run")
var p50Direct: [Double] = [], p99Direct: [Double] = [], p50Relay: [Double] = [], p99Relay: [Double] = []
var addedP50: [Double] = [], addedP99: [Double] = []
var tputDirect: [Double] = [], tputRelay1: [Double] = [], tputRelay3: [Double] = []
for run in 1...runs {
    let (direct, relayed) = try await latency()
    let d50 = percentile(direct, 0.50), d99 = percentile(direct, 0.99)
    let r50 = percentile(relayed, 0.50), r99 = percentile(relayed, 0.99)
    p50Direct.append(d50); p99Direct.append(d99); p50Relay.append(r50); p99Relay.append(r99)
    addedP50.append(r50 - d50); addedP99.append(r99 - d99)
    let td = try throughputDirect()
    let t1 = try await throughputRelay(clients: 1)
    let t3 = try await throughputRelay(clients: 3)
    tputDirect.append(td); tputRelay1.append(t1); tputRelay3.append(t3)
    print(String(format: "run %d: echo µs p50/p99 pty %.1f/%.1f relay %.1f/%.1f added %.1f/%.1f | MB/s pty %.1f relay(1 client) %.1f relay(3 clients) %.1f",
                 run, d50, d99, r50, r99, r50 - d50, r99 - d99, td, t1, t3))
}
print("")
print("median over \(runs) runs:")
print(String(format: "  keystroke echo, pty alone:      p50 %.1f µs   p99 %.1f µs", median(p50Direct), median(p99Direct)))
print(String(format: "  keystroke echo, through relay:  p50 %.1f µs   p99 %.1f µs", median(p50Relay), median(p99Relay)))
print(String(format: "  added by the relay:             p50 %.1f µs   p99 %.1f µs   (target p99 < 1000 µs)", median(addedP50), median(addedP99)))
print(String(format: "  throughput, pty alone:          %.1f MB/s", median(tputDirect)))
print(String(format: "  throughput, relay → 1 client:   %.1f MB/s  (%.0f× a 115200-baud line; target ≥ 100×)", median(tputRelay1), median(tputRelay1) * 1e6 / 11520))
print(String(format: "  throughput, relay → 3 clients:  %.1f MB/s  (%.0f× a 115200-baud line)", median(tputRelay3), median(tputRelay3) * 1e6 / 11520))
