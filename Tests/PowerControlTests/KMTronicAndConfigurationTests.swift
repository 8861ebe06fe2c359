import Testing

@testable import PowerControl

/// The relay protocol's bytes and the `[[power]]` entries (layer (a), pure).
@Suite("Power: relay protocol and configuration")
struct KMTronicAndConfigurationTests {
    @Test("KMTronic frames: FF nn 01 on, FF nn 00 off, FF nn 03 status, FF 09 00 board status")
    func frames() {
        #expect(KMTronicProtocol.command(channel: 1, on: true) == [0xFF, 0x01, 0x01])
        #expect(KMTronicProtocol.command(channel: 2, on: false) == [0xFF, 0x02, 0x00])
        #expect(KMTronicProtocol.relayStatusRequest(channel: 1) == [0xFF, 0x01, 0x03])
        #expect(KMTronicProtocol.boardStatusRequest == [0xFF, 0x09, 0x00])
    }

    @Test("Status replies: a relay's FF nn ss (after noise), a board's byte per relay, short replies")
    func replies() {
        #expect(KMTronicProtocol.parseRelayStatus([0xFF, 0x01, 0x01], channel: 1) == .on)
        #expect(KMTronicProtocol.parseRelayStatus([0x00, 0xFF, 0x02, 0x00], channel: 2) == .off)
        #expect(KMTronicProtocol.parseRelayStatus([0xFF, 0x02, 0x01], channel: 1) == nil)
        #expect(KMTronicProtocol.parseRelayStatus([0xFF, 0x01], channel: 1) == nil)
        #expect(KMTronicProtocol.parseBoardStatus([0, 1, 0, 0], channel: 2) == .on)
        #expect(KMTronicProtocol.parseBoardStatus([0, 1, 0, 0], channel: 3) == .off)
        #expect(KMTronicProtocol.parseBoardStatus([0, 1], channel: 3) == nil)
    }

    @Test("A complete serial-relay entry")
    func serialEntry() throws {
        let c = try PowerOutletConfiguration.parse(
            index: 1,
            table: [
                "name": .string("router"), "driver": .string("serial-relay"), "device": .string("/dev/ttyUSB4"),
                "channel": .int(1), "off_time": .string("10s"), "without_session": .bool(false),
            ])
        #expect(c.name == "router" && c.driver == .serialRelay && c.channel == 1 && c.offTime == .seconds(10))
        #expect(c.cycleMode == .offOn && c.statusQuery == .relay && c.baudRate == 9600 && !c.allowWithoutSession)
    }

    @Test("GPIO and command entries")
    func otherEntries() throws {
        let g = try PowerOutletConfiguration.parse(
            index: 2,
            table: [
                "name": .string("bms"), "driver": .string("gpio"), "device": .string("/dev/gpiochip0"),
                "channel": .int(17), "active_low": .bool(true), "cycle": .string("pulse"), "pulse": .string("300ms"),
            ])
        #expect(g.activeLow && g.cycleMode == .pulse && g.pulse == .milliseconds(300))
        let c = try PowerOutletConfiguration.parse(
            index: 3,
            table: [
                "name": .string("plug"), "driver": .string("command"), "command": .string("/usr/local/bin/plug"),
                "args": .strings(["--host", "plug1"]), "timeout": .string("5s"),
            ])
        #expect(c.command == "/usr/local/bin/plug" && c.arguments == ["--host", "plug1"] && c.timeout == .seconds(5))
    }

    @Test(
        "Bad entries are refused with the key named",
        arguments: [
            (["driver": PowerConfigValue.string("gpio")], "name is required"),
            (["name": .string("r"), "driver": .string("relay")], "driver \"relay\" is unknown"),
            (["name": .string("r"), "driver": .string("serial-relay"), "channel": .int(1)], "device is required"),
            (["name": .string("r"), "driver": .string("serial-relay"), "device": .string("/dev/ttyUSB0")],
             "channel is required"),
            (["name": .string("r"), "driver": .string("serial-relay"), "device": .string("/dev/x"), "channel": .int(255)],
             "channel is required"),
            (["name": .string("r"), "driver": .string("gpio"), "device": .string("/sys/class/gpio"), "channel": .int(1)],
             "GPIO chip"),
            (["name": .string("r"), "driver": .string("command"), "command": .string("plug")], "absolute path"),
            (["name": .string("r"), "driver": .string("command"), "command": .string("/bin/true"),
              "off_time": .string("10")], "is not a duration"),
            (["name": .string("r"), "driver": .string("command"), "command": .string("/bin/true"), "offtime": .string("1s")],
             "unknown key \"offtime\""),
            (["name": .string("my router"), "driver": .string("command"), "command": .string("/bin/true")],
             "letters, digits"),
            (["name": .string("r"), "driver": .string("serial-relay"), "device": .string("/dev/x"), "channel": .string("1")],
             "channel must be an integer"),
            (["name": .string("r"), "driver": .string("serial-relay"), "device": .string("auto"), "channel": .int(1)],
             "not allowed for a relay board"),
        ])
    func refused(table: [String: PowerConfigValue], expected: String) {
        do {
            _ = try PowerOutletConfiguration.parse(index: 4, table: table)
            Issue.record("accepted \(table)")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains("[[power]] #4"))
            #expect(error.message.contains(expected), "\(error.message)")
        }
    }

    @Test("Durations", arguments: [("500ms", 500), ("10s", 10_000), ("2m", 120_000), ("1h", 3_600_000)])
    func durations(text: String, ms: Int64) {
        #expect(PowerOutletConfiguration.parseDuration(text) == .milliseconds(ms))
    }

    @Test("Not durations", arguments: ["", "10", "s", "-1s", "1.5s", "10 s"])
    func notDurations(text: String) {
        #expect(PowerOutletConfiguration.parseDuration(text) == nil)
    }
}
