import Foundation
import OOBTestSupport
import Testing

/// `oob-agent power` as a user runs it: the built binary against a relay board emulated on a pty.
@Suite("Power: the power command line", .serialized, .timeLimit(.minutes(2)))
struct PowerCLITests {
    @Test("power list / NAME cycle / unknown outlet / daemon running, with exit codes")
    func commandLine() async throws {
        guard BuiltExecutable.oobAgent != nil else {
            try Test.cancel("oob-agent is not built next to the tests (run swift build --build-tests)")
        }
        let board = try RelayBoardEmulator(relayCount: 2, keepSlaveOpen: false)
        defer { board.stop() }
        let dir = NSTemporaryDirectory() + "oob-power-cli-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/agent.toml"
        try """
            [[power]]
            name = "router"
            driver = "serial-relay"
            device = "\(board.devicePath)"
            channel = 2
            off_time = "300ms"

            [state]
            dir = "\(dir)/state"
            control_socket = "\(dir)/agent.sock"
            """.write(toFile: config, atomically: true, encoding: .utf8)

        let cycle = try await BuiltExecutable.run(["power", "router", "cycle", "--config", config])
        #expect(cycle.status == 0, "\(cycle.stderr)")
        #expect(cycle.stdout == "POWER router cycled\n")
        #expect(board.received.filter { $0[2] != 3 } == [[0xFF, 2, 0], [0xFF, 2, 1]])
        #expect(board.relay(2))

        let list = try await BuiltExecutable.run(["power", "list", "--json", "--config", config])
        #expect(list.status == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.first?["name"] as? String == "router")
        #expect(rows?.first?["state"] as? String == "on")
        #expect((rows?.first?["changed_by"] as? String)?.hasPrefix("cli:") == true)

        let unknown = try await BuiltExecutable.run(["power", "switch", "off", "--config", config])
        #expect(unknown.status == 2)
        #expect(unknown.stdout.contains("FAILED: no outlet \"switch\"; configured: router"))

        let usage = try await BuiltExecutable.run(["power", "router", "--config", config])
        #expect(usage.status == 2)

        // A socket file nobody listens on (a daemon that died) is not a daemon: the command acts locally.
        let stale = try UnixListener(path: "\(dir)/agent.sock", listen: false)
        let local = try await BuiltExecutable.run(["power", "router", "on", "--config", config])
        #expect(local.status == 0 && local.stdout == "POWER router on\n")
        stale.close()

        // A running daemon owns the outlets: the request goes over its control socket, nothing is switched here.
        for (answer, status, printed) in [
            ("{\"ok\":true,\"message\":\"POWER router off\"}", Int32(0), "POWER router off\n"),
            ("{\"ok\":false,\"error\":\"the relay board does not answer\"}", Int32(1),
             "FAILED: the relay board does not answer\n"),
        ] {
            let framesBefore = board.received.count
            let daemon = try UnixListener(path: "\(dir)/agent.sock", listen: true)
            daemon.answerOnce(answer)
            let run = try await BuiltExecutable.run(["power", "router", "off", "--config", config])
            #expect(run.status == status, "\(run.stderr)")
            #expect(run.stdout == printed)
            // The request names the outlet, the action and who asked (the daemon logs it with the action).
            let requests = try await offPool { daemon.requests() }
            #expect(requests.count == 1)
            #expect(requests.first?.hasPrefix("{\"command\":\"power\",\"outlet\":\"router\",\"action\":\"off\",\"by\":\"") == true, "\(requests)")
            #expect(board.received.count == framesBefore, "nothing was switched by the command itself")
            daemon.close()
        }
        #expect(board.relay(2))
    }

    @Test("A broken [[power]] entry is a configuration error (exit 2) naming the key")
    func badConfig() async throws {
        guard BuiltExecutable.oobAgent != nil else {
            try Test.cancel("oob-agent is not built next to the tests")
        }
        let dir = NSTemporaryDirectory() + "oob-power-cli-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/agent.toml"
        try "[[power]]\nname = \"router\"\ndriver = \"serial-relay\"\ndevice = \"/dev/ttyUSB4\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let run = try await BuiltExecutable.run(["power", "list", "--config", config])
        #expect(run.status == 2)
        #expect(run.stderr.contains("[[power]] #1 \"router\": channel is required"))
    }
}

/// A Unix stream socket in the test: either only bound (a stale socket file) or a one-shot stand-in for the
/// daemon's control socket that records the request line and sends a scripted answer line.
final class UnixListener: @unchecked Sendable {
    // Sound: `received` is written by the server thread before `done` is signalled and read after the wait.
    let path: String
    private let fd: Int32
    private var received: [String] = []
    private let done = DispatchSemaphore(value: 0)
    private var serving = false

    init(path: String, listen: Bool) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw NSError(domain: "UnixListener", code: Int(errno)) }
        if listen { Glibc.listen(fd, 4) }
    }

    /// Serves one connection on a thread: reads one line, answers `answer` and a newline.
    func answerOnce(_ answer: String) {
        serving = true
        let fd = self.fd
        Thread {
            let client = accept(fd, nil, nil)
            if client >= 0 {
                var line: [UInt8] = []
                var byte: UInt8 = 0
                while read(client, &byte, 1) == 1, byte != 0x0A { line.append(byte) }
                self.received.append(String(decoding: line, as: UTF8.self))
                let reply = Array((answer + "\n").utf8)
                _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc.close(client)
            }
            self.done.signal()
        }.start()
    }

    /// The request lines received (waits for the one connection when serving).
    func requests() -> [String] {
        if serving {
            done.wait()
            serving = false
        }
        return received
    }

    func close() {
        Glibc.close(fd)
        unlink(path)
    }
}
