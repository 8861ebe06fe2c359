import ATModem
import Foundation
import ModemEmulator
import OOBTestSupport
import Spawn
import Testing

/// `oob-agent modem …` run as the built binary against the emulator on a real pty.
@Suite("oob-agent modem CLI", .serialized, .timeLimit(.minutes(3)),
       .enabled(if: OOBAgentBinary.path() != nil, "the oob-agent binary is not built (swift build)"))
struct ModemCLITests {
    static let stamp = try! SMSTimestamp(year: 2026, month: 11, day: 21, hour: 23, minute: 50, second: 0,
                                         utcOffsetMinutes: 60)

    func emulator(_ configuration: ModemEmulator.Configuration = .init()) throws -> ModemEmulator {
        var c = configuration
        c.keepsDeviceOpen = false
        return try ModemEmulator(configuration: c)
    }

    @Test("modem info prints identity, signal, registration, time and storage")
    func info() throws {
        let e = try emulator(.init(noise: .betweenReplies))
        defer { e.stop() }
        let r = try OOBAgentBinary.run(["modem", "info", "--port", e.devicePath!])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("E1752"))
        #expect(r.stdout.contains("-73"))
        #expect(r.stdout.contains("Telia"))
        #expect(r.stdout.contains("2026-11-21T23:50:00+01:00"))
        let j = try OOBAgentBinary.run(["modem", "info", "--json", "--port", e.devicePath!])
        let object = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any]
        #expect(object?["signal_dbm"] as? Int == -73)
        #expect(object?["imei"] as? String == "353143038123456")
        #expect(object?["storage_total"] as? Int == 25)
    }

    @Test("modem sms list --json: the contract's shape, multipart joined, undecodable kept with its hex")
    func listJSON() throws {
        let e = try emulator(.init(noise: .insideResponses))
        defer { e.stop() }
        let long = String(repeating: "Cześć z Łodzi – ", count: 5)  // 80 UTF-16 units: two UCS-2 parts
        try e.deliver(from: "+46701234567", text: long, timestamp: Self.stamp)
        try e.deliver(from: "+46709876543", text: "UP 123456", timestamp: Self.stamp)
        e.deliver(pdu: "0791FFFF")
        let r = try OOBAgentBinary.run(["modem", "sms", "list", "--json", "--port", e.devicePath!])
        #expect(r.status == 0, "\(r.stderr)")
        let array = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 3)
        #expect(array[0]["indexes"] as? [Int] == [0, 1])
        #expect(array[0]["sender"] as? String == "+46701234567")
        #expect(array[0]["text"] as? String == long)
        #expect(array[0]["encoding"] as? String == "ucs2")
        #expect(array[0]["parts"] as? Int == 2)
        #expect(array[0]["complete"] as? Bool == true)
        #expect(array[0]["timestamp"] as? String == "2026-11-21T23:50:00+01:00")
        #expect(array[1]["text"] as? String == "UP 123456")
        #expect(array[1]["encoding"] as? String == "gsm7")
        #expect(array[2]["indexes"] as? [Int] == [3])
        #expect(array[2]["pdu"] as? String == "0791FFFF")
        #expect((array[2]["error"] as? String)?.isEmpty == false)
        // Listing deletes nothing.
        #expect(e.storedMessages.count == 4)
        let human = try OOBAgentBinary.run(["modem", "sms", "list", "--port", e.devicePath!])
        #expect(human.stdout.contains("UP 123456"))
    }

    @Test("modem sms send: the emulator receives the parts")
    func send() throws {
        let e = try emulator()
        defer { e.stop() }
        let text = String(repeating: "x", count: 200)
        let r = try OOBAgentBinary.run(["modem", "sms", "send", "+46701234567", text, "--port", e.devicePath!])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("2 parts"))
        let joined = SMSSummary.list(e.outbox.enumerated().map { ($0.offset, $0.element.pdu ?? "") })
        #expect(joined.first?.text == text)
        let bad = try OOBAgentBinary.run(["modem", "sms", "send", "not-a-number", "hi", "--port", e.devicePath!])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("not a phone number"))
    }

    @Test("modem at: prints the answer; an error result exits 1 with its meaning")
    func at() throws {
        let e = try emulator()
        defer { e.stop() }
        let r = try OOBAgentBinary.run(["modem", "at", "AT+CSQ", "--port", e.devicePath!])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "+CSQ: 20,99\nOK\n")
        _ = try OOBAgentBinary.run(["modem", "at", "AT+CMEE=1", "--port", e.devicePath!])
        let bad = try OOBAgentBinary.run(["modem", "at", "AT+CMGR=99", "--port", e.devicePath!])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("invalid memory index"))
        let usage = try OOBAgentBinary.run(["modem", "at", "CSQ", "--port", e.devicePath!])
        #expect(usage.status == 2)
    }

    @Test("the port comes from [modem] of --config; a missing port or bad baud is a usage error (exit 2)")
    func config() throws {
        let e = try emulator(.init(pin: "2468"))
        defer { e.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oob-modem-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("agent.toml")
        try """
            # test config
            [modem]
            port = "\(e.devicePath!)"   # the emulator
            baud = 115200
            pin = "2468"

            [auth]
            senders = ["+46701234567"]
            """.write(to: file, atomically: true, encoding: .utf8)
        let r = try OOBAgentBinary.run(["modem", "at", "AT+CGMM", "--config", file.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("E1752"))
        let info = try OOBAgentBinary.run(["modem", "info", "--config", file.path])
        #expect(info.status == 0, "\(info.stderr)")
        let noPin = try OOBAgentBinary.run(["modem", "info", "--port", e.devicePath!, "--config", "/nonexistent.toml"])
        // The PIN was entered by the previous run; the emulator's SIM stays unlocked until it reboots.
        #expect(noPin.status == 0, "\(noPin.stderr)")
        let missing = try OOBAgentBinary.run(["modem", "info", "--config", dir.appendingPathComponent("none.toml").path])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("--port"))
        let baud = try OOBAgentBinary.run(["modem", "info", "--port", e.devicePath!, "--baud", "12345"])
        #expect(baud.status == 2)
    }

    @Test("a port held by another process is refused, naming that process")
    func busyNamesHolder() throws {
        let e = try emulator()
        defer { e.stop() }
        // Only the child holds the device (its stdin): we open nothing ourselves.
        let holder = try SpawnedProcess("/bin/sleep", ["30"], options: SpawnOptions(stdin: .file(e.devicePath!)))
        defer { holder.terminate(grace: .zero) }
        let r = try OOBAgentBinary.run(["modem", "info", "--port", e.devicePath!])
        #expect(r.status == 1)
        #expect(r.stderr.contains("busy"))
        #expect(r.stderr.contains("sleep (pid \(holder.pid))"))
    }

    @Test("a SIM PIN that is needed but not given: exit 1 naming the fix")
    func pinMissing() throws {
        let e = try emulator(.init(pin: "2468"))
        defer { e.stop() }
        let r = try OOBAgentBinary.run(["modem", "info", "--port", e.devicePath!, "--config", "/nonexistent.toml"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("[modem] pin"))
    }
}
