// Layer (a): the pure parts — frame codec, escape parser, scrollback ring, writer-seat state machine.

import SerialIO
import Testing

@testable import SerialConsole

@Suite("Console protocol frames")
struct ConsoleProtocolTests {
    static let frames: [ConsoleFrame] = [
        .hello(ConsoleHello(mode: .readOnly, scrollbackLimit: 0)),
        .hello(ConsoleHello(mode: .writer, scrollbackLimit: 16384)),
        .hello(ConsoleHello(mode: .force, scrollbackLimit: .max)),
        .input(Array(0...255)),
        .input([]),
        .sendBreak,
        .welcome(ConsoleWelcome(role: .writer, device: "/dev/ttyUSB3")),
        .welcome(ConsoleWelcome(role: .spectator, device: "/dev/serial/by-id/usb-FTDI-if00")),
        .output(Array(repeating: 0xFF, count: 300)),
        .notice(ConsoleNotice(.writerSeatTaken, "alice (uid 1000, pid 42) took the writer's seat")),
        .notice(ConsoleNotice(.init(rawValue: 200), "a kind from a newer relay")),
        .scrollbackBegin(byteCount: 65536),
        .scrollbackEnd,
    ]

    @Test("every frame decodes to itself, even fed one byte at a time", arguments: frames)
    func roundTrip(frame: ConsoleFrame) throws {
        var decoder = ConsoleFrameDecoder()
        let wire = frame.encoded
        var decoded: [ConsoleFrame] = []
        for byte in wire {
            decoder.append([byte])
            while let f = try decoder.next() { decoded.append(f) }
        }
        #expect(decoded == [frame])
        #expect(decoder.bufferedCount == 0)
    }

    @Test("data larger than one frame is split and arrives whole and in order")
    func largeDataSplits() throws {
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var wire: [UInt8] = []
        ConsoleFrame.appendData(ConsoleFrame.FrameType.output, big, into: &wire)
        var decoder = ConsoleFrameDecoder()
        decoder.append(wire)
        var joined: [UInt8] = []
        var count = 0
        while let frame = try decoder.next() {
            guard case .output(let bytes) = frame else { Issue.record("unexpected \(frame)"); return }
            joined += bytes
            count += 1
        }
        #expect(joined == big)
        #expect(count == 4)
    }

    @Test("console bytes that look like frame headers stay console bytes")
    func controlBytesInData() throws {
        // Bytes equal to every frame type, and a fake "notice" header, inside one data frame.
        let tricky: [UInt8] = [0x83, 0x00, 0x05, 0x01, 0x02, 0x03, 0x81, 0x84, 0x85, 0x00]
        var decoder = ConsoleFrameDecoder()
        decoder.append(ConsoleFrame.output(tricky).encoded + ConsoleFrame.scrollbackEnd.encoded)
        #expect(try decoder.next() == .output(tricky))
        #expect(try decoder.next() == .scrollbackEnd)
        #expect(try decoder.next() == nil)
    }

    @Test("an incomplete frame is 'need more bytes', not an error")
    func incomplete() throws {
        var decoder = ConsoleFrameDecoder()
        let wire = ConsoleFrame.input(Array("show version\r".utf8)).encoded
        decoder.append(wire.dropLast())
        #expect(try decoder.next() == nil)
        decoder.append([wire.last!])
        #expect(try decoder.next() == .input(Array("show version\r".utf8)))
    }

    @Test("malformed frames are refused with a message naming what is wrong")
    func malformed() {
        func error(_ bytes: [UInt8]) -> SerialConsoleError? {
            var decoder = ConsoleFrameDecoder()
            decoder.append(bytes)
            do {
                _ = try decoder.next()
                return nil
            } catch {
                return error
            }
        }
        let unknown = error([0x42, 0x00, 0x00])
        #expect(unknown?.code == .protocolViolation)
        #expect(unknown?.message.contains("unknown console frame type 0x42") == true)
        // The type is checked before the payload is complete.
        #expect(error([0x42, 0x10, 0x00])?.code == .protocolViolation)
        let version = error([0x01, 0x00, 0x06, 9, 1, 0, 0, 0, 0])
        #expect(version?.message.contains("version 9") == true)
        #expect(error([0x01, 0x00, 0x06, 1, 7, 0, 0, 0, 0])?.message.contains("attach mode 7") == true)
        #expect(error([0x01, 0x00, 0x02, 1, 1])?.message.contains("truncated") == true)
    }
}

@Suite("Escape sequences of the console client")
struct ConsoleEscapeParserTests {
    typealias A = ConsoleEscapeParser.Action

    static let cases: [(input: String, expected: [A])] = [
        ("~.", [.detach]),
        ("ls\r~.", [.send(Array("ls\r".utf8)), .detach]),
        ("ls\n~.", [.send(Array("ls\n".utf8)), .detach]),
        ("a~.", [.send(Array("a~.".utf8))]),  // not at the start of a line
        ("~~", [.send(Array("~".utf8))]),
        ("~~.", [.send(Array("~.".utf8))]),  // the literal tilde is not at line start for the '.'
        ("~B", [.sendBreak]),
        ("~?", [.help]),
        ("~x", [.send(Array("~x".utf8))]),
        ("\r~B\r~.", [.send([0x0D]), .sendBreak, .send([0x0D]), .detach]),
        ("~.after", [.detach]),  // nothing after a detach is sent
        ("~B~.", [.sendBreak, .detach]),
    ]

    @Test("escapes are recognised only at the start of a line", arguments: cases)
    func table(input: String, expected: [A]) {
        var parser = ConsoleEscapeParser()
        #expect(parser.feed(Array(input.utf8)) == expected)
    }

    @Test("a tilde split across reads is held until the next byte")
    func splitTilde() {
        var parser = ConsoleEscapeParser()
        #expect(parser.feed(Array("x\r~".utf8)) == [.send(Array("x\r".utf8))])
        #expect(parser.isHoldingTilde)
        #expect(parser.feed(Array(".".utf8)) == [.detach])
    }

    @Test("all 256 byte values pass through when no escape is typed")
    func eightBitClean() {
        var parser = ConsoleEscapeParser()
        let bytes = (0...255).map { UInt8($0) }.filter { $0 != UInt8(ascii: "~") }
        #expect(parser.feed([0x41] + bytes) == [.send([0x41] + bytes)])
    }
}

@Suite("Scrollback ring")
struct ScrollbackTests {
    @Test("keeps the newest bytes in order across wrap-arounds")
    func wraps() {
        var ring = Scrollback(capacity: 10)
        var all: [UInt8] = []
        for chunk in [3, 4, 5, 1, 9, 10, 23, 2] {
            let bytes = (0..<chunk).map { _ in UInt8.random(in: 0...255) }
            ring.append(bytes)
            all += bytes
            #expect(ring.suffix(100) == Array(all.suffix(10)))
            #expect(ring.suffix(4) == Array(all.suffix(4)))
        }
        #expect(ring.count == 10)
    }

    @Test("a zero-capacity ring keeps nothing")
    func empty() {
        var ring = Scrollback(capacity: 0)
        ring.append([1, 2, 3])
        #expect(ring.suffix(10) == [])
    }
}

@Suite("Writer seat and attach/detach")
struct ConsoleRelayStateMachineTests {
    let alice = ConsolePeer(uid: 1000, pid: 11, userName: "alice")
    let bob = ConsolePeer(uid: 1001, pid: 22, userName: "bob")
    let carol = ConsolePeer(uid: 0, pid: 33, userName: "root")
    let a = ConsoleClientID(1)
    let b = ConsoleClientID(2)
    let c = ConsoleClientID(3)

    func machine() -> ConsoleRelayStateMachine {
        var m = ConsoleRelayStateMachine()
        _ = m.deviceOpened(firstTime: true)
        m.connected(a, peer: alice)
        m.connected(b, peer: bob)
        m.connected(c, peer: carol)
        return m
    }

    @Test("the first writer gets the seat; a second writer attaches read-only and is told who holds it")
    func oneWriter() throws {
        var m = machine()
        let first = try m.hello(a, mode: .writer)
        #expect(first.contains(.welcome(a, role: .writer)))
        #expect(first.contains(.record(.attached(alice, .writer))))
        let second = try m.hello(b, mode: .writer)
        #expect(second.contains(.welcome(b, role: .spectator)))
        #expect(second.contains { if case .notify(b, let n) = $0 { n.text.contains("alice") } else { false } })
        #expect(m.writer == a)
        #expect(try m.input(from: a) == .forwardInput)
        guard case .refuseInput(b, let notice) = try m.input(from: b) else {
            Issue.record("spectator input was not refused")
            return
        }
        #expect(notice.kind == .inputRefused)
        #expect(try m.breakRequest(from: b).allSatisfy { if case .refuseInput = $0 { true } else { false } })
    }

    @Test("--force takes the seat and tells the previous writer who took it")
    func force() throws {
        var m = machine()
        _ = try m.hello(a, mode: .writer)
        let actions = try m.hello(c, mode: .force)
        #expect(actions.contains(.welcome(c, role: .writer)))
        #expect(actions.contains(.record(.forceTakeover(by: carol, from: alice))))
        #expect(
            actions.contains {
                if case .notify(a, let n) = $0 { n.kind == .writerSeatTaken && n.text.contains("pid 33") } else { false }
            })
        #expect(m.role(of: a) == .spectator)
        #expect(m.writer == c)
        #expect(try m.input(from: c) == .forwardInput)
        #expect(try m.input(from: a) != .forwardInput)
    }

    @Test("the writer leaving frees the seat, spectators are told, and nobody is promoted silently")
    func writerLeaves() throws {
        var m = machine()
        _ = try m.hello(a, mode: .writer)
        _ = try m.hello(b, mode: .readOnly)
        let actions = m.disconnected(a)
        #expect(actions.contains(.record(.detached(alice, .writer))))
        #expect(actions.contains { if case .notify(b, let n) = $0 { n.text.contains("free") } else { false } })
        #expect(m.writer == nil)
        #expect(m.role(of: b) == .spectator)
        #expect(try m.hello(c, mode: .writer).contains(.welcome(c, role: .writer)))
    }

    @Test("protocol misuse throws and leaves the state as it was")
    func misuse() throws {
        var m = machine()
        #expect(throws: SerialConsoleError.self) { _ = try m.input(from: a) }
        _ = try m.hello(a, mode: .writer)
        #expect(throws: SerialConsoleError.self) { _ = try m.hello(a, mode: .force) }
        #expect(m.writer == a)
        #expect(m.role(of: a) == .writer)
    }

    @Test("while the device is gone, input and breaks are refused and everyone hears of the loss and the return")
    func deviceGone() throws {
        var m = machine()
        _ = try m.hello(a, mode: .writer)
        _ = try m.hello(b, mode: .readOnly)
        let lost = m.deviceLost(reason: "the device hung up")
        #expect(lost.contains(.record(.deviceLost(reason: "the device hung up"))))
        #expect(lost.filter { if case .notify(_, let n) = $0 { n.kind == .deviceLost } else { false } }.count == 2)
        #expect(try m.input(from: a) != .forwardInput)
        #expect(try !m.breakRequest(from: a).contains(.sendBreak))
        let back = m.deviceOpened(firstTime: false)
        #expect(back.contains(.record(.deviceBack)))
        #expect(try m.input(from: a) == .forwardInput)
        #expect(try m.breakRequest(from: a).contains(.sendBreak))
    }
}

@Suite("Relay configuration checks")
struct ConsoleRelayConfigurationTests {
    static let bad: [(ConsoleRelayConfiguration, String)] = [
        (ConsoleRelayConfiguration(devicePath: "ttyUSB3", socketPath: "/run/c.sock"), "not an absolute path"),
        (ConsoleRelayConfiguration(devicePath: "/dev/ttyUSB3", socketPath: "c.sock"), "[console] socket"),
        (
            ConsoleRelayConfiguration(
                devicePath: "/dev/ttyUSB3", socketPath: "/run/" + String(repeating: "s", count: 120)),
            "longer than a Unix socket path"
        ),
        (
            ConsoleRelayConfiguration(
                devicePath: "/dev/ttyUSB3", serial: SerialConfiguration(baudRate: 12345), socketPath: "/run/c.sock"),
            "baud 12345 is not supported; use one of"
        ),
        (
            ConsoleRelayConfiguration(
                devicePath: "/dev/ttyUSB3", serial: SerialConfiguration(dataBits: 9), socketPath: "/run/c.sock"),
            "data_bits 9"
        ),
        (
            ConsoleRelayConfiguration(devicePath: "/dev/ttyUSB3", socketPath: "/run/c.sock", logPath: "console.log"),
            "[console] log"
        ),
        (
            ConsoleRelayConfiguration(devicePath: "/dev/ttyUSB3", socketPath: "/run/c.sock", clientBufferBytes: 10),
            "client_buffer 10 is too small"
        ),
    ]

    @Test("bad settings are refused with a message naming the key and the fix", arguments: bad)
    func refused(configuration: ConsoleRelayConfiguration, expected: String) {
        #expect {
            try configuration.validate()
        } throws: { error in
            guard let error = error as? SerialConsoleError else { return false }
            return error.code == .invalidConfiguration && error.message.contains(expected)
        }
    }

    @Test("line settings are parsed from the words of the configuration file")
    func serialSettings() throws {
        let s = try ConsoleRelayConfiguration.serialSettings(
            baud: 57600, dataBits: 7, parity: "Even", stopBits: 2, flow: "xonxoff")
        #expect(s == SerialConfiguration(baudRate: 57600, dataBits: 7, parity: .even, stopBits: 2, flowControl: .xonxoff))
        #expect(throws: SerialConsoleError.self) { try ConsoleRelayConfiguration.serialSettings(baud: 9600, parity: "mark") }
        #expect(throws: SerialConsoleError.self) { try ConsoleRelayConfiguration.serialSettings(baud: 9600, flow: "dtr") }
    }
}
