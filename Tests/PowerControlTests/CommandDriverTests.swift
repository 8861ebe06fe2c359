import Foundation
import Testing

@testable import PowerControl

/// The command driver with real scripts (layer (c)).
@Suite("Power: command driver", .serialized, .timeLimit(.minutes(2)))
struct CommandDriverTests {
    /// A temp directory with a script that appends its arguments and environment to a file.
    final class Scripts {
        let dir: String
        let calls: String
        init() throws {
            dir = NSTemporaryDirectory() + "oob-power-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            calls = dir + "/calls"
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }

        func script(_ name: String, _ body: String) throws -> String {
            let path = dir + "/" + name
            try "#!/bin/sh\n\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
            return path
        }

        var recorded: [String] {
            ((try? String(contentsOfFile: calls, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    @Test("on, off and cycle run the program with the verb and the outlet's environment")
    func verbs() async throws {
        let s = try Scripts()
        let plug = try s.script(
            "plug", "echo \"$* outlet=$OOB_POWER_OUTLET channel=$OOB_POWER_CHANNEL off=$OOB_POWER_OFF_TIME\" >> \(s.calls)")
        let driver = CommandDriver(outlet: "router", program: plug, arguments: ["--host", "p1"], channel: 2)
        try await driver.on()
        try await driver.off()
        try await driver.cycle(offTime: .seconds(7))
        #expect(
            s.recorded == [
                "--host p1 on outlet=router channel=2 off=", "--host p1 off outlet=router channel=2 off=",
                "--host p1 cycle outlet=router channel=2 off=7",
            ])
    }

    @Test("A failing program is an error carrying its exit status and output")
    func failure() async throws {
        let s = try Scripts()
        let plug = try s.script("plug", "echo 'plug unreachable: timeout' >&2; exit 3")
        let driver = CommandDriver(outlet: "router", program: plug)
        await #expect {
            try await driver.on()
        } throws: { error in
            guard let e = error as? PowerError else { return false }
            return e.code == .commandFailed && e.message.contains("exited with status 3")
                && e.underlying?.contains("plug unreachable") == true
        }
    }

    @Test("A program that hangs is stopped at its timeout")
    func timeout() async throws {
        let s = try Scripts()
        let plug = try s.script("plug", "echo started; exec sleep 30")
        let driver = CommandDriver(outlet: "router", program: plug, timeout: .milliseconds(300))
        await #expect {
            try await driver.off()
        } throws: { error in
            guard let e = error as? PowerError else { return false }
            return e.code == .timedOut && e.underlying?.contains("started") == true
        }
    }

    @Test("probe checks the program exists and is executable, without running it")
    func probe() async throws {
        let s = try Scripts()
        let plug = try s.script("plug", "echo ran >> \(s.calls)")
        #expect(try await CommandDriver(outlet: "r", program: plug).probe().detail.contains("executable"))
        #expect(s.recorded.isEmpty)
        await #expect {
            _ = try await CommandDriver(outlet: "r", program: s.dir + "/missing").probe()
        } throws: { ($0 as? PowerError)?.code == .notFound }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: plug)
        await #expect {
            _ = try await CommandDriver(outlet: "r", program: plug).probe()
        } throws: { ($0 as? PowerError)?.message.contains("not executable") == true }
    }
}
