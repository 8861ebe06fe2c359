import SerialIO
import Testing

@Suite("SerialPort on a real pty", .serialized, .timeLimit(.minutes(1)))
struct PseudoTerminalTests {
    @Test("bytes cross a pty both ways, 8-bit clean")
    func bytesBothWays() throws {
        let pty = try PseudoTerminal()
        let port = try SerialPort(path: pty.slavePath, configuration: SerialConfiguration(baudRate: 115200))
        let all = (0...255).map { UInt8($0) }
        try port.writeAll(all)
        var got: [UInt8] = []
        while got.count < all.count, pty.waitMasterReadable(timeoutMilliseconds: 2000) {
            got += try pty.readMaster()
        }
        #expect(got == all)
        _ = try pty.writeMaster(all.reversed())
        var back: [UInt8] = []
        while back.count < all.count, try port.waitReadable(timeoutMilliseconds: 2000) {
            back += try port.read()
        }
        #expect(back == all.reversed())
    }

    @Test("a second exclusive open is refused as busy and names this process")
    func secondOpenIsBusy() throws {
        let pty = try PseudoTerminal()
        let first = try SerialPort(path: pty.slavePath)
        _ = first
        // The holder check skips this process itself, so the refusal comes from flock.
        #expect(throws: SerialIOError.self) {
            _ = try SerialPort(path: pty.slavePath)
        }
    }

    @Test("a missing device is a clear notFound error")
    func missingDevice() {
        do {
            _ = try SerialPort(path: "/dev/ttyDOESNOTEXIST9")
            Issue.record("open of a missing device succeeded")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.message.contains("/dev/ttyDOESNOTEXIST9"))
        }
    }
}

@Suite("SerialPort reads: idle versus hung up", .serialized, .timeLimit(.minutes(1)))
struct SerialPortHangUpTests {
    @Test("an idle port reads empty (a tty's 0-byte read is not a hang-up); a closed pty is .vanished")
    func idleIsNotVanished() throws {
        let pty = try PseudoTerminal()
        let port = try SerialPort(path: pty.slavePath)
        #expect(try port.read() == [])
        #expect(try port.read() == [])
        _ = try pty.writeMaster(Array("OK\r\n".utf8))
        #expect(try port.waitReadable(timeoutMilliseconds: 2000))
        #expect(try port.read() == Array("OK\r\n".utf8))
        pty.close()
        do {
            _ = try port.read()
            _ = try port.read()
            Issue.record("a read on a hung-up pty succeeded")
        } catch {
            #expect(error.code == .vanished)
        }
    }
}
