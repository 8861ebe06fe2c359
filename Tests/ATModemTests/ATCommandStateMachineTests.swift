import ATModem
import Testing

@Suite("ATCommandStateMachine")
struct ATCommandStateMachineTests {
    func run(_ command: ATCommand, _ text: String) -> Played {
        play(Array(text.utf8), commands: [command])
    }

    @Test("every final result code of V.250, 27.007 and 27.005 ends the command",
          arguments: [
              ("OK", FinalResult.ok), ("ERROR", .error), ("+CME ERROR: 10", .cmeError(10, "")),
              ("+CMS ERROR: 322", .cmsError(322, "")), ("+CME ERROR: SIM not inserted", .cmeError(nil, "SIM not inserted")),
              ("NO CARRIER", .noCarrier), ("CONNECT", .connect(nil)), ("CONNECT 115200", .connect("115200")),
              ("BUSY", .busy), ("NO ANSWER", .noAnswer), ("NO DIALTONE", .noDialtone),
          ])
    func finalResults(_ line: String, _ expected: FinalResult) {
        let p = run(ATCommand("ATD*99#"), "\r\n\(line)\r\n")
        #expect(p.responses.map(\.result) == [expected])
    }

    @Test("echo on: the echoed command is dropped; echo off works the same")
    func echo() {
        let on = run(ATCommand("AT+CSQ"), "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
        let off = run(ATCommand("AT+CSQ"), "\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
        #expect(on.responses == off.responses)
        #expect(on.responses.first?.lines == ["+CSQ: 20,99"])
    }

    @Test("URCs in the middle of a response are routed aside, even inside a +CMGL listing")
    func urcInsideResponse() {
        let p = run(ATCommand("AT+CMGL=4"),
                    "\r\n+CMGL: 0,1,,22\r\n0791AB\r\n^RSSI:19\r\nCD\r\n+CMTI: \"SM\",4\r\nRING\r\n\r\nOK\r\n")
        #expect(p.responses.first?.lines == ["+CMGL: 0,1,,22", "0791AB", "CD"])
        #expect(p.unsolicited.map(\.line) == ["^RSSI:19", "+CMTI: \"SM\",4", "RING"])
    }

    @Test("+CREG: the reply to AT+CREG? is a reply, the unsolicited form is not")
    func cregReplyVersusURC() {
        let p = run(ATCommand("AT+CREG?"), "\r\n+CREG: 1\r\n+CREG: 0,1\r\n+CREG: 5,\"2AF5\",\"0B88E350\"\r\n\r\nOK\r\n")
        #expect(p.responses.first?.lines == ["+CREG: 0,1"])
        #expect(p.unsolicited.map(\.line) == ["+CREG: 1", "+CREG: 5,\"2AF5\",\"0B88E350\""])
        // Outside AT+CREG?, any +CREG line is unsolicited.
        let q = run(ATCommand("AT+CSQ"), "\r\n+CREG: 0,1\r\n+CSQ: 9,99\r\nOK\r\n")
        #expect(q.unsolicited.map(\.line) == ["+CREG: 0,1"])
        #expect(q.responses.first?.lines == ["+CSQ: 9,99"])
    }

    @Test("+CMT and +CDS take their PDU line with them, mid-response too")
    func urcWithBody() {
        let p = run(ATCommand("AT+CPMS?"),
                    "\r\n+CMT: ,30\r\n0791AABB\r\n+CPMS: \"SM\",1,25\r\n+CDS: 24\r\n0791CCDD\r\nOK\r\n")
        #expect(p.unsolicited == [UnsolicitedLine(line: "+CMT: ,30", body: "0791AABB"),
                                  UnsolicitedLine(line: "+CDS: 24", body: "0791CCDD")])
        #expect(p.responses.first?.lines == ["+CPMS: \"SM\",1,25"])
    }

    @Test("+CMGS: URCs before the prompt, the payload is written at the prompt, its echo dropped")
    func promptAndPayload() {
        let payload = Array("0011000B916407281553F80000AA0AE8329BFD4697D9EC37".utf8) + [0x1A]
        let cmd = ATCommand("AT+CMGS=23", payload: payload)
        let p = run(cmd, "AT+CMGS=23\r\r\n+ZPASR: \"UMTS\"\r\n> 0011000B916407281553F80000AA0AE8329BFD4697D9EC37\u{1A}\r\n+CMGS: 7\r\n\r\nOK\r\n")
        #expect(p.writes == [cmd.wireBytes, payload])
        #expect(p.responses.first?.lines == ["+CMGS: 7"])
        #expect(p.unsolicited.map(\.line) == ["+ZPASR: \"UMTS\""])
    }

    @Test("an error instead of the prompt ends the command")
    func errorInsteadOfPrompt() {
        let p = run(ATCommand("AT+CMGS=23", payload: [0x1A]), "\r\n+CMS ERROR: 304\r\n")
        #expect(p.responses.map(\.result) == [.cmsError(304, "")])
        #expect(p.writes.count == 1)
    }

    @Test("while idle, URCs are routed and stale replies are discarded")
    func idle() {
        var m = ATCommandStateMachine()
        #expect(m.receive(.line("OK")) == .discard("OK"))
        #expect(m.receive(.line("+CMTI: \"SM\",1")) == .unsolicited(UnsolicitedLine(line: "+CMTI: \"SM\",1")))
        #expect(m.receive(.line("^BOOT:1,0,0,0,77")) == .unsolicited(UnsolicitedLine(line: "^BOOT:1,0,0,0,77")))
        #expect(m.receive(.prompt) == .discard("> "))
    }

    @Test("a basic command keeps unknown +lines as information; an extended one routes them aside")
    func foreignPrefixes() {
        let ati = run(ATCommand("ATI"), "\r\nManufacturer: huawei\r\n+GCAP: +CGSM\r\n\r\nOK\r\n")
        #expect(ati.responses.first?.lines == ["Manufacturer: huawei", "+GCAP: +CGSM"])
        let cmgr = run(ATCommand("AT+CMGR=1"), "\r\n+ZDONR: \"X\"\r\n+CMGR: 1,,22\r\n0791\r\nOK\r\n")
        #expect(cmgr.responses.first?.lines == ["+CMGR: 1,,22", "0791"])
        #expect(cmgr.unsolicited.map(\.line) == ["+ZDONR: \"X\""])
    }

    @Test("unsolicited codes understood: new SMS, signal, registration, Huawei heartbeat versus a real start")
    func events() {
        func e(_ line: String, _ body: String? = nil) -> UnsolicitedEvent { UnsolicitedEvent(UnsolicitedLine(line: line, body: body)) }
        #expect(e("+CMTI: \"SM\",7") == .newMessage(storage: "SM", index: 7))
        #expect(e("+CDSI: \"SR\",1") == .newStatusReport(storage: "SR", index: 1))
        #expect(e("^RSSI:23") == .signal(SignalQuality(rssi: 23)))
        #expect(e("+CREG: 5,\"2AF5\",\"0B88E350\"") == .registration(Registration(status: .roaming, locationAreaCode: "2AF5", cellID: "0B88E350")))
        #expect(e("^BOOT:37478870,0,0,0,77") == .heartbeat)
        #expect(e("^SYSSTART") == .boot)
        #expect(e("^SMMEMFULL: \"SM\"") == .storageFull(storage: "SM"))
        #expect(e("+CMT: ,30", "0791AB") == .messageRouted(body: "0791AB"))
        #expect(e("RING") == .ring)
        #expect(e("+ZPASR: \"UMTS\"") == .other(UnsolicitedLine(line: "+ZPASR: \"UMTS\"")))
    }

    @Test("timeout returns what the command had and goes idle")
    func timeout() {
        var m = ATCommandStateMachine()
        _ = m.send(ATCommand("AT+CMGL=4"))
        _ = m.receive(.line("+CMGL: 0,1,,22"))
        let t = m.timeout()
        #expect(t?.lines == ["+CMGL: 0,1,,22"])
        #expect(m.isIdle)
        #expect(m.timeout() == nil)
    }

    @Test("an ATModemError names the command, the result and the meaning of the code")
    func errorMessages() throws {
        let r = ATResponse(command: "AT+CMGS=23", lines: [], result: .cmsError(330, ""))
        do {
            try r.checked()
            Issue.record("no error")
        } catch {
            #expect(error.command == "AT+CMGS=23")
            #expect(error.finalResult == "+CMS ERROR: 330")
            #expect(error.message.contains("SMSC address unknown"))
            #expect(error.message.contains("AT+CSCA"))
        }
        let pin = ATModemError.failed("AT+CPIN=\"1234\"", result: .cmeError(16, ""))
        #expect(pin.code == .wrongPIN)
        #expect(!pin.description.contains("1234"))
        #expect(ATModemError.failed("AT+CMGL=4", result: .cmeError(12, "")).code == .simPUKRequired)
        #expect(ATModemError.failed("AT+CMGW", result: .cmsError(322, "")).code == .storageFull)
    }
}
