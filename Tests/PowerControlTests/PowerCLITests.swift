import Foundation
import OOBTestSupport
import Testing

/// `oob-agent power` as a user runs it: the built binary against a relay board emulated on a pty.
@Suite("Power: the power command line", .serialized, .timeLimit(.minutes(2)))
struct PowerCLITests {
    @Test("power list / NAME cycle / unknown outlet / daemon running, with exit codes")
    func commandLine() throws {
        guard BuiltExecutable.oobAgent != nil else {
            print("skipped: oob-agent is not built next to the tests (run swift build --build-tests)")
            return
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

        let cycle = try BuiltExecutable.run(["power", "router", "cycle", "--config", config])
        #expect(cycle.status == 0, "\(cycle.stderr)")
        #expect(cycle.stdout == "POWER router cycled\n")
        #expect(board.received.filter { $0[2] != 3 } == [[0xFF, 2, 0], [0xFF, 2, 1]])
        #expect(board.relay(2))

        let list = try BuiltExecutable.run(["power", "list", "--json", "--config", config])
        #expect(list.status == 0)
        let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.first?["name"] as? String == "router")
        #expect(rows?.first?["state"] as? String == "on")
        #expect((rows?.first?["changed_by"] as? String)?.hasPrefix("cli:") == true)

        let unknown = try BuiltExecutable.run(["power", "switch", "off", "--config", config])
        #expect(unknown.status == 2)
        #expect(unknown.stdout.contains("FAILED: no outlet \"switch\"; configured: router"))

        let usage = try BuiltExecutable.run(["power", "router", "--config", config])
        #expect(usage.status == 2)

        // A running daemon (its control socket exists) owns the outlets: the command refuses and says why.
        let socket = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array("\(dir)/agent.sock".utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, c) in path.enumerated() where i < raw.count { raw[i] = UInt8(bitPattern: c) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let refused = try BuiltExecutable.run(["power", "router", "off", "--config", config])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("control socket") && refused.stdout.contains("not implemented yet"))
        #expect(board.relay(2), "nothing was switched")
    }

    @Test("A broken [[power]] entry is a configuration error (exit 2) naming the key")
    func badConfig() throws {
        guard BuiltExecutable.oobAgent != nil else {
            print("skipped: oob-agent is not built next to the tests")
            return
        }
        let dir = NSTemporaryDirectory() + "oob-power-cli-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = dir + "/agent.toml"
        try "[[power]]\nname = \"router\"\ndriver = \"serial-relay\"\ndevice = \"/dev/ttyUSB4\"\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let run = try BuiltExecutable.run(["power", "list", "--config", config])
        #expect(run.status == 2)
        #expect(run.stderr.contains("[[power]] #1 \"router\": channel is required"))
    }
}
