import ATModem
import Logging
import Testing

@testable import OOBAgent

/// The pieces behind the daemon's hostile-SMS behaviour, each on its own (the end-to-end suite is
/// `AgentHostileSMSTests`).
@Suite("Hostile input, unit by unit")
struct HostileInputTests {
    static let secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

    func authenticator() throws -> CommandAuthenticator {
        CommandAuthenticator(
            senders: [PhoneNumber("+4791234567")!], verifier: .totp(try TOTP(base32: Self.secret), window: 300),
            maxAge: .seconds(900))
    }

    @Test("an alphanumeric sender that spells an allowed number is ignored")
    func alphanumericSender() throws {
        var auth = try authenticator()
        let t: Int64 = 1_790_000_000
        let code = try TOTP(base32: Self.secret).code(at: t)
        let spoof = InboundSMS(sender: "+4791234567", text: "UP \(code)", timestamp: t, senderIsAlphanumeric: true)
        #expect(auth.evaluate(spoof, clock: .system(t)) == .ignore(.alphanumeric))
        let real = InboundSMS(sender: "+4791234567", text: "UP \(code)", timestamp: t)
        #expect(auth.evaluate(real, clock: .system(t)) == .obey(.up(minutes: nil), sender: PhoneNumber("+4791234567")!))
    }

    @Test("an SMS stamped more than max_age ahead of a trusted clock is ignored, even with its code")
    func futureTimestamp() throws {
        var auth = try authenticator()
        let now: Int64 = 1_790_000_000
        let future = now + 901
        let code = try TOTP(base32: Self.secret).code(at: future)
        let sms = InboundSMS(sender: "+4791234567", text: "STATUS \(code)", timestamp: future)
        #expect(auth.evaluate(sms, clock: .system(now)) == .ignore(.future))
        // Without a trustworthy clock there is nothing to compare with: judged by its code alone.
        var unclocked = try authenticator()
        #expect(unclocked.evaluate(sms, clock: .unknown) == .obey(.status, sender: PhoneNumber("+4791234567")!))
    }

    @Test("a flood of SMS under an allowed number does not push a used code out of the replay cache")
    func replayCacheFlood() throws {
        let owner = PhoneNumber("+4791234567")!
        let second = PhoneNumber("+46701234567")!
        var auth = CommandAuthenticator(
            senders: [owner, second], verifier: .totp(try TOTP(base32: Self.secret), window: 300), maxAge: .seconds(900))
        let t: Int64 = 1_790_000_000
        let code = try TOTP(base32: Self.secret).code(at: t)
        #expect(auth.evaluate(InboundSMS(sender: owner.e164, text: "UP \(code)", timestamp: t), clock: .system(t)) == .obey(.up(minutes: nil), sender: owner))
        // 1200 SMS with the other allowed number as the sender (anyone can set it through a gateway), each a new
        // text: that number is locked out, the owner's is not.
        for i in 0..<1200 {
            _ = auth.evaluate(InboundSMS(sender: second.e164, text: "flood \(i)", timestamp: t + 1), clock: .system(t + 1))
        }
        #expect(auth.replayCache.entries.count <= 1000)
        // The intercepted command sent again a minute later, restamped by the service centre: still a replay.
        let replay = InboundSMS(sender: owner.e164, text: "UP \(code)", timestamp: t + 60)
        #expect(auth.evaluate(replay, clock: .system(t + 60)) == .ignore(.replayed))
        // And the same after a restart (the cache as saved and loaded).
        var restarted = CommandAuthenticator(
            senders: [owner, second], verifier: .totp(try TOTP(base32: Self.secret), window: 300), maxAge: .seconds(900))
        restarted.replayCache = ReplayCache(serialized: auth.replayCache.serialized())
        let again = InboundSMS(sender: owner.e164, text: "up \(code)", timestamp: t + 90)
        #expect(restarted.evaluate(again, clock: .system(t + 90)) == .ignore(.replayed))
    }

    @Test("without a trusted clock, bad codes stamped years ahead do not lock the sender out for years")
    func lockoutFromTheFuture() throws {
        var auth = try authenticator()
        let owner = PhoneNumber("+4791234567")!
        let far: Int64 = 4_070_908_800  // 2099
        for i in 0..<CommandAuthenticator.maxBadCodes {
            _ = auth.evaluate(InboundSMS(sender: owner.e164, text: "UP 00000\(i)", timestamp: far + Int64(i)), clock: .unknown)
        }
        #expect(auth.isLockedOut(owner, now: far + 10))
        let t: Int64 = 1_790_000_000
        let code = try TOTP(base32: Self.secret).code(at: t)
        #expect(auth.evaluate(InboundSMS(sender: owner.e164, text: "UP \(code)", timestamp: t), clock: .unknown) == .obey(.up(minutes: nil), sender: owner))
    }

    @Test("without a trusted clock, an SMS stamped years ahead does not age a used code out of the replay cache")
    func replayCacheFromTheFuture() throws {
        var auth = try authenticator()
        let owner = PhoneNumber("+4791234567")!
        let t: Int64 = 1_790_000_000
        let code = try TOTP(base32: Self.secret).code(at: t)
        #expect(auth.evaluate(InboundSMS(sender: owner.e164, text: "UP \(code)", timestamp: t), clock: .unknown) == .obey(.up(minutes: nil), sender: owner))
        // A fake base station stamps an SMS under the owner's number in 2099 (its code is wrong, it only has to be seen).
        _ = auth.evaluate(InboundSMS(sender: owner.e164, text: "UP 000000", timestamp: 4_070_908_800), clock: .unknown)
        #expect(auth.replayCache.contains("totp:\(t / 30)"))
        // The intercepted command sent again, restamped a minute later: still a replay.
        let replay = InboundSMS(sender: owner.e164, text: "UP \(code)", timestamp: t + 60)
        #expect(auth.evaluate(replay, clock: .unknown) == .ignore(.replayed))
        // With a trusted clock the cache is pruned by age as before (two days).
        var cache = ReplayCache()
        cache.insert("totp:1", time: t)
        cache.insert("totp:2", time: t + 3 * 86400)
        #expect(!cache.contains("totp:1"))
    }

    @Test("the decoder reports an alphanumeric sender as such")
    func decoderSenderType() throws {
        // SCA 00, DELIVER, TP-OA: 14 semi-octets, type D0, "+4791234567" in packed GSM 7-bit; PID, DCS, SCTS, "A".
        let name = RawPDU.alphanumeric("+4791234567")
        let pdu = RawPDU.deliver(sender: name, dcs: 0, timestamp: RawPDU.timestamp(1_790_000_000), udl: 1, ud: [0x41])
        guard case .deliver(let d) = try PDUDecoder.decode(hex: pdu).pdu else { Issue.record("not a DELIVER"); return }
        #expect(d.sender == "+4791234567")
        #expect(d.senderIsAlphanumeric)
        #expect(d.senderTypeOfAddress == 0xD0)
        let number = RawPDU.deliver(
            sender: RawPDU.international("+4791234567"), dcs: 0, timestamp: RawPDU.timestamp(1_790_000_000), udl: 1, ud: [0x41])
        guard case .deliver(let n) = try PDUDecoder.decode(hex: number).pdu else { Issue.record("not a DELIVER"); return }
        #expect(!n.senderIsAlphanumeric && n.senderTypeOfAddress == 0x91)
    }

    @Test("a log value with CR LF, ESC, NUL or a bidi override cannot break or forge a log line")
    func logEscaping() {
        #expect(JournalLogHandler.quote("x\r\nFAKE ok") == #""x\r\nFAKE ok""#)
        #expect(JournalLogHandler.quote("\u{1B}[2J\u{7}UP") == #""\u{1B}[2J\u{7}UP""#)
        #expect(JournalLogHandler.quote("a\u{0}b\u{202E}c\u{85}") == #""a\u{0}b\u{202E}c\u{85}""#)
        #expect(JournalLogHandler.quote("+46701234567") == "+46701234567")
        let handler = JournalLogHandler(label: "t", journal: true)
        let line = handler.format(
            LogEvent(level: .info, message: "SMS ignored", metadata: ["sms.sender": "x\r\n<2>FAKE"], source: "t", file: "f", function: "g", line: 1))
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 })
    }

    @Test("text-mode headers with +CSDH=1 details: sender type and first octet; not taken for a status report")
    func textModeDetails() throws {
        let read = MessageListParser.parseRead(
            ["+CMGR: \"REC UNREAD\",\"+46701234567\",,\"26/11/22,04:00:00+04\",145,68,0,0,\"\",145,9", "UP 123456"], index: 3)
        guard case .text(let t) = read?.content else { Issue.record("not a text entry: \(String(describing: read))"); return }
        #expect(t.address == "+46701234567" && t.text == "UP 123456")
        #expect(t.typeOfAddress == 145 && t.firstOctet == 68)
        let list = MessageListParser.parseList(
            ["+CMGL: 1,\"REC UNREAD\",\"+4791234567\",,\"26/11/22,04:00:00+04\",208,9", "UP 123456"])
        guard case .text(let l) = list.first?.content else { Issue.record("not a text entry: \(list)"); return }
        #expect(l.typeOfAddress == 208 && l.firstOctet == nil)
        // Without +CSDH=1: no details.
        let plain = MessageListParser.parseRead(["+CMGR: \"REC READ\",\"+46701234567\",,\"26/11/22,04:00:00+04\"", "hi"], index: 1)
        guard case .text(let p) = plain?.content else { Issue.record("not a text entry"); return }
        #expect(p.typeOfAddress == nil && p.firstOctet == nil)
    }
}
