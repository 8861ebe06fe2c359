import ATModem
import Testing

/// The AT transcripts of `Fixtures/corpus/at-transcripts` (see CORPUS.md there) through the framer, the state
/// machine and the parsers.
@Suite("AT transcript corpus")
struct TranscriptCorpusTests {
    /// The commands each transcript answers, in order (echoed ones taken from the transcript itself).
    static func commands(for name: String, payload: [UInt8]) -> [ATCommand] {
        let table: [String: [String]] = [
            "gammu-scripted-cmt-multipart-then-cmgl-cms-error-300.txt":
                ["AT+CPMS?", "AT+CPMS=\"SM\",\"SM\",\"SM\"", "AT+CMGL=4", "AT+CMGR=1", "AT+CMGD=1", "AT+CMGR=2", "AT+CMGD=2"],
            "gammu-scripted-cpms-cmgd-cmgr-cms-error-321.txt":
                ["AT+CPMS=\"SM\"", "AT+CMGD=?", "AT+CMGR=1", "AT+CMGR=2", "AT+CMGR=3", "AT+CPMS=\"SM\"", "AT+CMGR=4"],
            "gammu-scripted-text-mode-reply-while-in-pdu-mode.txt":
                ["AT+CPMS=?", "AT+CPMS=\"SM\",\"SM\",\"SM\"", "AT+CMGR=1", "AT+CMGR=2"],
            "gammu-scripted-cdsi-then-text-mode-status-report.txt": ["AT+CPMS=?", "AT+CMGR=1"],
            "garronej-cmgl-urcs-inside-pdu-synthetic.txt": ["AT+CMGL=?", "AT+CMGL=4", "AT+CMGL=4"],
            "garronej-cms-cme-error-numeric-and-verbose.txt": ["AT+CMGS=1", "AT+CPIN?", "AT+CMGS=1", "AT+CPIN?"],
            "garronej-cpms-query-and-set-responses.txt": ["AT+CPMS=\"SM\",\"ME\",\"BM\"", "AT+CPMS?"],
            "garronej-cssu-urc-double-crlf-and-echo.txt": ["AT"],
            "garronej-huawei-cmgl-pdu-boot-urc-inside-pdu.txt": ["AT+CMGL=4"],
            "garronej-huawei-cmgl-pdu-ucs2-multipart-rssi-urc-inside-pdu.txt": ["AT+CMGL=4"],
            "garronej-huawei-mixed-urcs-cnum-cmgr-parser-stress.txt": ["AT", "AT+CNUM=3,\"SM\""],
            "mm-cmgl-pantech-stored-submit-truncated.txt": ["AT+CMGL=4"],
            "mm-cmgl-pdu-three-entries.txt": ["AT+CMGL=4"],
            "mm-cmgr-pdu-after-space.txt": ["AT+CMGR=1"],
            "mm-cmgr-telit-he910.txt": ["AT+CMGR=0"],
            "mm-ok-followed-by-cmti-urc.txt": ["AT+CMGD=1"],
            "pygsmmodem-cmgl-pdu-mode-list.txt": ["AT+CMGL=4"],
            "pygsmmodem-cmgl-text-mode-list.txt": ["AT+CMGL=\"ALL\""],
            "pygsmmodem-cmgr-text-mode-status-report.txt": ["AT+CMGR=57"],
            "pygsmmodem-cms-error-replies.txt": ["AT+CSCA?", "AT+CMGF=0", "AT+CUSD=1", "AT+CPMS=?"],
            "pygsmmodem-huawei-k3715-identification.txt": ["AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CPMS=?", "AT+CLAC"],
            "pygsmmodem-zte-cdsi-then-broken-status-report.txt": ["AT+CMGR=1"],
        ]
        if name == "pygsmmodem-zte-cmgs-with-zdonr-zpasr-urcs.txt" {
            return [ATCommand("AT+CMGS=23", payload: Array("00AA".utf8) + [0x1A])]
        }
        if let t = table[name] { return t.map { ATCommand($0) } }
        // gammu dumps start with the echoed command.
        let firstLine = String(decoding: payload.prefix(while: { $0 != 0x0A && $0 != 0x0D }), as: UTF8.self)
        if firstLine.hasPrefix("AT") { return [ATCommand(firstLine)] }
        return []
    }

    @Test("every transcript plays without a trap, the same in one read and byte by byte",
          arguments: Transcripts.all)
    func chunkingInvariance(_ name: String) throws {
        let payload = try Transcripts.payload(name)
        let commands = Self.commands(for: name, payload: payload)
        let whole = play(payload, commands: commands)
        for chunk in [1, 3, 17] {
            let pieces = play(payload, commands: commands, chunk: chunk)
            #expect(pieces.responses == whole.responses, "chunk \(chunk)")
            #expect(pieces.unsolicited == whole.unsolicited, "chunk \(chunk)")
        }
        // Every URC is a known one or a +/^ prefixed line: never a reply taken for a URC the other way round.
        for u in whole.unsolicited {
            #expect(u.line.hasPrefix("+") || u.line.hasPrefix("^") || u.line == "RING", "\(u.line)")
        }
    }

    @Test("Huawei +CMGL with ^RSSI inside PDU lines: 28 entries, PDUs rejoined, URCs aside")
    func huaweiRSSIInsidePDU() throws {
        let p = play(try Transcripts.payload("garronej-huawei-cmgl-pdu-ucs2-multipart-rssi-urc-inside-pdu.txt"),
                     commands: [ATCommand("AT+CMGL=4")])
        let r = try #require(p.responses.first)
        #expect(r.result == .ok)
        let messages = MessageListParser.parseList(r.lines)
        #expect(messages.map(\.index) == Array(0...27))
        for m in messages {
            let pdu = try #require(m.pdu)
            let sca = Int(pdu.prefix(2), radix: 16)!
            let header = r.lines.first { $0.hasPrefix("+CMGL: \(m.index),") }!
            let length = Int(header.split(separator: ",").last!)!
            #expect(pdu.count == (length + sca + 1) * 2, "entry \(m.index)")
        }
        #expect(p.unsolicited.filter { $0.line == "^RSSI:19" }.count == 2)
        #expect(p.unsolicited.filter { $0.name == "+CMTI" }.count == 8)
        #expect(UnsolicitedEvent(p.unsolicited.last!) == .newMessage(storage: "SM", index: 35))
    }

    @Test("Huawei +CMGL without a space and ^BOOT inside a PDU: 22 entries rejoined")
    func huaweiBootInsidePDU() throws {
        let p = play(try Transcripts.payload("garronej-huawei-cmgl-pdu-boot-urc-inside-pdu.txt"),
                     commands: [ATCommand("AT+CMGL=4")])
        let messages = MessageListParser.parseList(try #require(p.responses.first).lines)
        #expect(messages.count == 22)
        #expect(messages[1].pdu == "07913306091040F0040B913336766883F500007120528150104017CFF7FB0D0A83C2207618E42697E5F772580E229701")
        #expect(messages.allSatisfy { $0.status == .receivedRead })
        #expect(p.unsolicited.map(\.line) == ["^BOOT:37478870,0,0,0,77"])
    }

    @Test("synthetic listing: +CMTI and ^BOOT interrupt PDU lines")
    func syntheticInterruptions() throws {
        let p = play(try Transcripts.payload("garronej-cmgl-urcs-inside-pdu-synthetic.txt"),
                     commands: [ATCommand("AT+CMGL=?"), ATCommand("AT+CMGL=4"), ATCommand("AT+CMGL=4")])
        #expect(p.responses.count == 3)
        #expect(p.responses[0].lines == ["+CMGL: (0-4)"])
        #expect(MessageListParser.parseList(p.responses[1].lines).first?.pdu == "AAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        let third = MessageListParser.parseList(p.responses[2].lines)
        #expect(third.map(\.pdu) == ["07913306007110811094904003CF7A1A", "07976499200007110815063404005CF7AFAFD06"])
        #expect(p.unsolicited.map(\.name) == ["+CMTI", "^BOOT"])
    }

    @Test("scripted gammu session: +CMT URCs with their PDUs, listing, reads, +CMS ERROR: 300")
    func gammuScriptedSession() throws {
        let p = play(try Transcripts.payload("gammu-scripted-cmt-multipart-then-cmgl-cms-error-300.txt"),
                     commands: Self.commands(for: "gammu-scripted-cmt-multipart-then-cmgl-cms-error-300.txt", payload: []))
        #expect(p.unsolicited.count == 2)
        #expect(p.unsolicited.allSatisfy { $0.name == "+CMT" && $0.body?.hasPrefix("07918497483252F0") == true })
        #expect(p.responses.map(\.result) == [.ok, .ok, .ok, .ok, .ok, .ok, .cmsError(300, "")])
        #expect(StorageStatus.parse(p.responses[0].lines[0])?.memories.map(\.used) == [2, 2])
        #expect(MessageListParser.parseList(p.responses[2].lines).map(\.index) == [1, 2])
        #expect(MessageListParser.parseRead(p.responses[3].lines, index: 1)?.status == .receivedUnread)
    }

    @Test("ZTE +CMGS: URCs before the prompt and after the payload, then +CMGS: 142")
    func zteSend() throws {
        let p = play(try Transcripts.payload("pygsmmodem-zte-cmgs-with-zdonr-zpasr-urcs.txt"),
                     commands: Self.commands(for: "pygsmmodem-zte-cmgs-with-zdonr-zpasr-urcs.txt", payload: []))
        #expect(p.writes.count == 2)
        #expect(p.unsolicited.count == 6)
        #expect(p.responses.first?.lines == ["+CMGS: 142"])
    }

    @Test("numeric and verbose +CME/+CMS errors")
    func errors() throws {
        let p = play(try Transcripts.payload("garronej-cms-cme-error-numeric-and-verbose.txt"),
                     commands: Self.commands(for: "garronej-cms-cme-error-numeric-and-verbose.txt", payload: []))
        #expect(p.responses.map(\.result) == [
            .cmsError(301, ""), .cmeError(3, ""), .cmsError(nil, "SMS service of ME reserved"),
            .cmeError(nil, "operation not allowed"),
        ])
        let q = play(try Transcripts.payload("pygsmmodem-cms-error-replies.txt"),
                     commands: Self.commands(for: "pygsmmodem-cms-error-replies.txt", payload: []))
        let errors = q.responses.map { ATModemError.failed($0.command, result: $0.result) }
        #expect(errors.map(\.finalResult) == ["+CMS ERROR: 330", "+CMS ERROR: 310", "+CMS ERROR: 500", "+CMS ERROR: 302"])
        #expect(errors[0].message.contains("SMSC address unknown"))
        #expect(errors[1].code == .simNotInserted)
    }

    @Test("OK then +CMTI in the same read: success, and the URC after it")
    func okThenCMTI() throws {
        let p = play(try Transcripts.payload("mm-ok-followed-by-cmti-urc.txt"), commands: [ATCommand("AT+CMGD=1")])
        #expect(p.responses.map(\.result) == [.ok])
        #expect(p.unsolicited.map { UnsolicitedEvent($0) } == [.newMessage(storage: "ME", index: 1)])
    }

    @Test("+CREG? replies of Huawei, Sierra and a broken one")
    func creg() throws {
        func reg(_ name: String) throws -> Registration? {
            let p = play(try Transcripts.payload(name), commands: [ATCommand("AT+CREG?")])
            #expect(p.unsolicited.isEmpty, "\(name)")
            return p.responses.first?.lines.lazy.compactMap(Registration.parse(cregReply:)).first
        }
        let huawei = try #require(try reg("gammu-creg-huawei-unquoted.txt"))
        #expect(huawei.status == .home)
        #expect(huawei.locationAreaCode == "4CA")
        let sierra = try #require(try reg("gammu-creg-sierra-312u.txt"))
        #expect(sierra.status == .roaming)
        #expect(sierra.accessTechnology == 2)
        #expect(try reg("gammu-creg-mismatched-quotes.txt")?.status == .home)
    }

    @Test("text-mode +CMGR and +CMGL replies")
    func textMode() throws {
        func read(_ name: String) throws -> StoredMessage? {
            let payload = try Transcripts.payload(name)
            let p = play(payload, commands: Self.commands(for: name, payload: payload))
            return MessageListParser.parseRead(try #require(p.responses.first).lines, index: 1)
        }
        guard case .text(let tz) = try read("gammu-cmgr-text-mode-timezone.txt")?.content else {
            Issue.record("not text")
            return
        }
        #expect(tz.address == "+31625044454")
        #expect(tz.timestamp?.iso8601 == "2007-07-05T09:56:03+02:00")
        #expect(tz.text == "Test message 2")
        guard case .text(let moto) = try read("gammu-cmgr-text-mode-motorola-multiline.txt")?.content else {
            Issue.record("not text")
            return
        }
        #expect(moto.text.split(separator: "\n").count == 4)
        #expect(moto.timestamp?.iso8601 == "2009-08-18T19:11:45")

        let p = play(try Transcripts.payload("pygsmmodem-cmgl-text-mode-list.txt"), commands: [ATCommand("AT+CMGL=\"ALL\"")])
        let list = MessageListParser.parseList(try #require(p.responses.first).lines)
        #expect(list.count == 3)
        #expect(list.map(\.status) == [.receivedUnread, .receivedRead, .receivedRead])
        if case .text(let first) = list[0].content {
            #expect(first.text == "Hello raspberry pi")
            #expect(first.address == "+27748577604")
        } else {
            Issue.record("not text")
        }
        // A status report in text mode is not taken for a message.
        let sr = play(try Transcripts.payload("pygsmmodem-cmgr-text-mode-status-report.txt"), commands: [ATCommand("AT+CMGR=57")])
        let srMessage = MessageListParser.parseRead(try #require(sr.responses.first).lines, index: 57)
        if case .text = srMessage?.content { Issue.record("a status report parsed as a text message") }
    }

    @Test("PDU-mode +CMGR shapes: two fields, only the length, PDU after a space, empty alpha")
    func cmgrShapes() throws {
        func pdu(_ name: String) throws -> StoredMessage? {
            // Some test strings stop without a line ending: the framer rightly waits for one, so give it.
            let payload = try Transcripts.payload(name) + Array("\r\n".utf8)
            let p = play(payload, commands: Self.commands(for: name, payload: payload))
            let lines = p.responses.first?.lines ?? p.unfinished ?? []
            return MessageListParser.parseRead(lines, index: 0)
        }
        #expect(try pdu("gammu-cmgr-pdu-two-fields.txt")?.pdu == "0791534850020200040C9153486507895500006090608164138004D4F29C0E")
        #expect(try pdu("gammu-cmgr-pdu-two-fields.txt")?.status == .receivedUnread)
        #expect(try pdu("gammu-cmgr-pdu-status-report-no-stat.txt")?.pdu?.hasPrefix("0791246020099990") == true)
        #expect(try pdu("mm-cmgr-pdu-after-space.txt")?.pdu?.hasPrefix("07914306073011F0") == true)
        #expect(try pdu("mm-cmgr-telit-he910.txt")?.pdu?.hasPrefix("07916163838428F9") == true)
        #expect(try pdu("gammu-cmgr-pdu-stray-quote.txt")?.pdu?.hasSuffix("\"") == false)
    }

    @Test("+CPMS replies: set form, read form, and a test form that is no status")
    func cpms() {
        #expect(StorageStatus.parse("+CPMS: 65,100,12,250,0,30")?.memories.map(\.total) == [100, 250, 30])
        let read = StorageStatus.parse("+CPMS: \"SM\",65,100,\"ME\",12,250,\"BM\",0,30")
        #expect(read?.memories.map(\.name) == ["SM", "ME", "BM"])
        #expect(read?.receiving?.used == 0)
        #expect(StorageStatus.parse("+CPMS: (\"SM\",\"ME\"),(\"SM\",\"ME\")") == nil)
        #expect(StorageStatus.parse("+CPMS: 25,25,25,25,25,25")?.isFull == true)
    }

    @Test("signal and clock conversions")
    func signalAndClock() {
        #expect(SignalQuality.parse(csq: "+CSQ: 20,99")?.dBm == -73)
        #expect(SignalQuality.parse(csq: "+CSQ: 0,99")?.dBm == -113)
        #expect(SignalQuality.parse(csq: "+CSQ: 31,0")?.dBm == -51)
        #expect(SignalQuality.parse(csq: "+CSQ: 99,99")?.dBm == nil)
        #expect(SignalQuality.parse(huaweiRSSI: "^RSSI: 23")?.dBm == -67)
        let c = ModemClock.parse("\"26/11/21,23:50:00+04\"")
        #expect(c?.iso8601 == "2026-11-21T23:50:00+01:00")
        #expect(c?.unixTime == 1_795_301_400)
        #expect(ModemClock.parse("\"26/11/21,23:50:00-22\"")?.utcOffsetMinutes == -330)
        #expect(ModemClock.parse("garbage") == nil)
        #expect(ModemClock.parse("\"26/13/21,23:50:00+04\"") == nil)
    }
}
