import Testing

@testable import OOBAgent

@Suite("SMS command grammar")
struct SMSCommandTests {
    @Test(
        "commands parse case-insensitively with any whitespace",
        arguments: [
            ("UP 123456", SMSCommand.up(minutes: nil)),
            ("up 123456 90", .up(minutes: 90)),
            ("  Up\t123456   45  ", .up(minutes: 45)),
            ("DOWN 123456", .down),
            ("extend 123456 30", .extend(minutes: 30)),
            ("Status 123456", .status),
            ("POWER 123456 router CYCLE", .power(outlet: "router", action: .cycle)),
            ("power 123456 switch off", .power(outlet: "switch", action: .off)),
        ]
    )
    func parses(text: String, command: SMSCommand) throws {
        let words = try #require(SMSCommandWords(text))
        #expect(words.code == "123456")
        #expect(try words.command().get() == command)
    }

    @Test(
        "malformed commands give the usage line",
        arguments: [
            ("UP 123456 ninety", "usage: UP code [minutes]"),
            ("UP 123456 0", "usage: UP code [minutes]"),
            ("UP 123456 10 20", "usage: UP code [minutes]"),
            ("DOWN 123456 now", "usage: DOWN code"),
            ("EXTEND 123456", "usage: EXTEND code minutes"),
            ("POWER 123456 router", "usage: POWER code name cycle|on|off"),
            ("POWER 123456 router reboot", "usage: POWER code name cycle|on|off"),
            ("REBOOT 123456", "unknown command, use UP, DOWN, EXTEND, STATUS or POWER"),
        ]
    )
    func usage(text: String, expected: String) throws {
        let words = try #require(SMSCommandWords(text))
        #expect(throws: SMSUsageError(expected)) { try words.command().get() }
    }

    @Test("a message without a code is not a command", arguments: ["", "UP", "   up   "])
    func noCode(text: String) {
        #expect(SMSCommandWords(text) == nil)
    }

    @Test("replies are worded as the contract says")
    func replies() {
        // 2026-11-21 23:50:00 UTC, shown in the SMS's zone (+01:00).
        let t: Int64 = 1_795_305_000
        #expect(SMSReply.clock(t, utcOffsetMinutes: 60) == "00:50")
        #expect(SMSReply.clock(t, utcOffsetMinutes: 0) == "23:50")
        #expect(SMSReply.up(until: "14:30", sshPort: 31337, host: "jump.example.net") == "UP until 14:30, ssh -p 31337 jump.example.net")
        #expect(SMSReply.extended(until: "15:00") == "UP until 15:00")
        #expect(SMSReply.failed("tunnel: connection refused") == "FAILED: tunnel: connection refused")
        #expect(SMSReply.power("router", .cycle) == "POWER router cycled")
        #expect(SMSReply.fit(String(repeating: "x", count: 200)).count == 160)
    }
}
