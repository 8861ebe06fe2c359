import Testing

@testable import OOBAgent

@Suite("Authentication")
struct AuthTests {
    // MARK: TOTP

    @Test(
        "RFC 6238 appendix B test vectors (SHA1, 8 digits)",
        arguments: [
            (Int64(59), "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ]
    )
    func rfc6238(time: Int64, code: String) throws {
        let totp = try TOTP(secret: Array("12345678901234567890".utf8), digits: 8)
        #expect(totp.code(at: time) == code)
    }

    @Test("six-digit codes are the last six digits of the RFC vectors")
    func sixDigits() throws {
        let totp = try TOTP(base32: rfcSecretBase32)
        #expect(totp.code(at: 59) == "287082")
        #expect(totp.code(at: 1_111_111_109) == "081804")
    }

    @Test("a code matches within the window and not outside it")
    func window() throws {
        let totp = try TOTP(base32: rfcSecretBase32)
        let code = totp.code(at: 1_000_000_000)
        #expect(totp.match(code, at: 1_000_000_000 + 290, window: 300) != nil)
        #expect(totp.match(code, at: 1_000_000_000 - 290, window: 300) != nil)
        #expect(totp.match(code, at: 1_000_000_000 + 400, window: 300) == nil)
        #expect(totp.match("12345", at: 1_000_000_000, window: 300) == nil)
    }

    @Test("secrets: base32 round trip, too short or not base32 is refused")
    func secrets() {
        let bytes: [UInt8] = Array(0..<20)
        #expect(Base32.decode(Base32.encode(bytes)) == bytes)
        #expect(Base32.decode("jbsw y3dp-ehpk3pxp") == Base32.decode("JBSWY3DPEHPK3PXP"))
        #expect(Base32.decode("JBSW1") == nil)
        #expect(throws: AgentError.self) { try TOTP(base32: "JBSWY3DP") }
        #expect(throws: AgentError.self) { try TOTP(base32: "not base 32 !!") }
        #expect(Enrollment.newSecret().count == 32)
        #expect(Enrollment.newSecret() != Enrollment.newSecret())
    }

    @Test("constant-time comparison")
    func constantTime() {
        #expect(ConstantTime.equal(Array("abc".utf8), Array("abc".utf8)))
        #expect(!ConstantTime.equal(Array("abc".utf8), Array("abd".utf8)))
        #expect(!ConstantTime.equal(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!ConstantTime.equal([], Array("a".utf8)))
    }

    // MARK: Phone numbers

    @Test(
        "numbers are compared in normalised E.164",
        arguments: ["+46 70-123 45 67", "0046701234567", "+46701234567", "+46 (70) 123.45.67", " +46701234567 "]
    )
    func normalisation(text: String) {
        #expect(PhoneNumber(text)?.e164 == "+46701234567")
    }

    @Test("national and alphanumeric numbers do not normalise", arguments: ["0701234567", "MyBank", "+46abc", "+", "", "+0123456"])
    func notNumbers(text: String) {
        #expect(PhoneNumber(text) == nil)
    }

    // MARK: The authenticator

    let t0: Int64 = 1_795_000_000  // an SMS timestamp
    let owner = "+46701234567"

    func authenticator(window: Int64 = 300, cache: ReplayCache = ReplayCache()) throws -> CommandAuthenticator {
        CommandAuthenticator(
            senders: [PhoneNumber("+46 70 123 45 67")!],
            verifier: .totp(try TOTP(base32: rfcSecretBase32), window: window), maxAge: .seconds(900), replayCache: cache
        )
    }

    func code(at t: Int64) throws -> String { try TOTP(base32: rfcSecretBase32).code(at: t) }

    @Test("an allowed sender with the right code is obeyed")
    func obeyed() throws {
        var auth = try authenticator()
        let sms = InboundSMS(sender: "0046701234567", text: "  up   \(try code(at: t0))   90 ", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .system(t0 + 5)) == .obey(.up(minutes: 90), sender: PhoneNumber(owner)!))
    }

    @Test("a stranger is ignored, even with the right code")
    func stranger() throws {
        var auth = try authenticator()
        let sms = InboundSMS(sender: "+46709999999", text: "UP \(try code(at: t0))", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .system(t0)) == .ignore(.stranger))
        let alpha = InboundSMS(sender: "MyBank", text: "UP \(try code(at: t0))", timestamp: t0)
        #expect(auth.evaluate(alpha, clock: .system(t0)) == .ignore(.stranger))
    }

    @Test("a replayed code is refused; a duplicate delivery is recognised as such")
    func replay() throws {
        var auth = try authenticator()
        let c = try code(at: t0)
        let sms = InboundSMS(sender: owner, text: "STATUS \(c)", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .system(t0)) == .obey(.status, sender: PhoneNumber(owner)!))
        #expect(auth.evaluate(sms, clock: .system(t0 + 1)) == .ignore(.duplicate))
        let again = InboundSMS(sender: owner, text: "UP \(c)", timestamp: t0 + 10)
        #expect(auth.evaluate(again, clock: .system(t0 + 10)) == .ignore(.replayed))
    }

    @Test("the replay cache survives a restart (saved and loaded from state.dir)")
    func replayAcrossRestart() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = dir.file("replay-cache")
        var auth = try authenticator()
        let c = try code(at: t0)
        #expect(auth.evaluate(InboundSMS(sender: owner, text: "UP \(c)", timestamp: t0), clock: .system(t0)) != .ignore(.badCode))
        try auth.replayCache.save(path: path)
        var restarted = try authenticator(cache: try ReplayCache.load(path: path))
        #expect(
            restarted.evaluate(InboundSMS(sender: owner, text: "UP \(c)", timestamp: t0 + 20), clock: .system(t0 + 20))
                == .ignore(.replayed)
        )
        #expect(
            restarted.evaluate(InboundSMS(sender: owner, text: "UP \(c)", timestamp: t0), clock: .system(t0 + 20))
                == .ignore(.duplicate)
        )
    }

    @Test("a stale SMS is ignored by the synchronised clock and by the network clock")
    func stale() throws {
        var auth = try authenticator()
        let sms = InboundSMS(sender: owner, text: "UP \(try code(at: t0))", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .system(t0 + 901)) == .ignore(.stale))
        var auth2 = try authenticator()
        #expect(auth2.evaluate(sms, clock: .network(t0 + 3600)) == .ignore(.stale))
    }

    @Test("a code valid only for the SMS timestamp is accepted while the system clock is hours off")
    func clockOff() throws {
        // The box booted without RTC and NTP: its clock says 1970 + a few hours; the code is
        // checked against the service-centre timestamp, and max_age is skipped (no good clock).
        var auth = try authenticator()
        let sms = InboundSMS(sender: owner, text: "UP \(try code(at: t0))", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .unknown) == .obey(.up(minutes: nil), sender: PhoneNumber(owner)!))
        // The network's time (modem) is the best clock and agrees with the SMS.
        var auth2 = try authenticator()
        let sms2 = InboundSMS(sender: owner, text: "UP \(try code(at: t0 + 60))", timestamp: t0 + 60)
        #expect(auth2.evaluate(sms2, clock: .network(t0 + 70)) == .obey(.up(minutes: nil), sender: PhoneNumber(owner)!))
        // But a code for "now" by a wrong clock is not valid for the SMS timestamp.
        var auth3 = try authenticator()
        let wrong = InboundSMS(sender: owner, text: "UP \(try code(at: t0 - 4 * 3600))", timestamp: t0)
        #expect(auth3.evaluate(wrong, clock: .unknown) == .ignore(.badCode))
    }

    @Test("repeated bad codes lock the sender out for a while, then a good code works again")
    func lockout() throws {
        var auth = try authenticator()
        let sender = PhoneNumber(owner)!
        for i in 0..<CommandAuthenticator.maxBadCodes {
            let sms = InboundSMS(sender: owner, text: "UP 00000\(i)", timestamp: t0 + Int64(i))
            #expect(auth.evaluate(sms, clock: .system(t0 + Int64(i))) == .ignore(.badCode))
        }
        let now = t0 + Int64(CommandAuthenticator.maxBadCodes)
        #expect(auth.isLockedOut(sender, now: now))
        let good = InboundSMS(sender: owner, text: "UP \(try code(at: now))", timestamp: now)
        #expect(auth.evaluate(good, clock: .system(now)) == .ignore(.lockedOut))
        let later = now + CommandAuthenticator.lockoutPeriod + 1
        let good2 = InboundSMS(sender: owner, text: "UP \(try code(at: later))", timestamp: later)
        #expect(auth.evaluate(good2, clock: .system(later)) == .obey(.up(minutes: nil), sender: sender))
    }

    @Test("a multipart message is never obeyed; 8-bit data neither")
    func multipart() throws {
        var auth = try authenticator()
        let sms = InboundSMS(sender: owner, text: "UP \(try code(at: t0))", timestamp: t0, isMultipart: true)
        #expect(auth.evaluate(sms, clock: .system(t0)) == .ignore(.multipart))
        let data = InboundSMS(sender: owner, text: nil, timestamp: t0)
        #expect(auth.evaluate(data, clock: .system(t0)) == .ignore(.noText))
    }

    @Test("a right code with wrong words gets a usage reply and changes nothing")
    func usage() throws {
        var auth = try authenticator()
        let sms = InboundSMS(sender: owner, text: "EXTEND \(try code(at: t0)) soon", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .system(t0)) == .usage(SMSUsageError("usage: EXTEND code minutes"), sender: PhoneNumber(owner)!))
    }

    @Test("passphrase mode: constant-time compare; the same message twice is refused")
    func passphrase() {
        var auth = CommandAuthenticator(
            senders: [PhoneNumber(owner)!], verifier: .passphrase(Array("correct-horse".utf8)), maxAge: .seconds(900)
        )
        let sms = InboundSMS(sender: owner, text: "UP correct-horse", timestamp: t0)
        #expect(auth.evaluate(sms, clock: .system(t0)) == .obey(.up(minutes: nil), sender: PhoneNumber(owner)!))
        #expect(auth.evaluate(sms, clock: .system(t0)) == .ignore(.duplicate))
        let wrong = InboundSMS(sender: owner, text: "UP correct-hors", timestamp: t0 + 1)
        #expect(auth.evaluate(wrong, clock: .system(t0 + 1)) == .ignore(.badCode))
    }

    @Test("the replay cache is bounded in size and age")
    func bounded() {
        var cache = ReplayCache(retention: 100, capacity: 10)
        for i in 0..<25 { cache.insert("k\(i)", time: Int64(i)) }
        #expect(cache.entries.count == 10)
        #expect(cache.contains("k24") && !cache.contains("k0"))
        cache.insert("late", time: 1000)
        #expect(cache.entries.map(\.key) == ["late"])
        let text = cache.serialized()
        #expect(ReplayCache(serialized: text + "garbage\n\n12 \n").entries.map(\.key) == ["late"])
    }
}
