import Foundation
import ModemEmulator
import Testing

@testable import OOBAgent

/// A synchronised clock `offset` seconds from real time (the lockout's end is reached by moving it).
struct ShiftedSynchronizedClock: AgentClock {
    let offset: Int64
    func now() -> Int64 { Int64(Date().timeIntervalSince1970) + offset }
    func isSynchronized() -> Bool { true }
}

@Suite("Lockout ledger")
struct LockoutLedgerTests {
    let owner = PhoneNumber("+46701234567")!
    let other = PhoneNumber("+46709999999")!

    @Test("the file round-trips; expired entries are pruned; malformed lines skipped")
    func roundTrip() {
        var ledger = LockoutLedger()
        for i in 0..<5 { ledger.recordBadCode(owner, now: 1000 + Int64(i), limit: 5, period: 900) }
        ledger.recordBadCode(other, now: 1002, limit: 5, period: 900)
        #expect(ledger.isLockedOut(owner, now: 1004) && !ledger.isLockedOut(other, now: 1004))
        let text = ledger.serialized()
        #expect(text == "bad 1002 +46709999999\nlocked 1904 +46701234567\n")
        let loaded = LockoutLedger(serialized: text + "garbage line\nlocked x +4670\nbad 5\n")
        #expect(loaded == ledger)
        var pruned = loaded
        pruned.prune(now: 1904, period: 900)
        #expect(pruned.serialized().isEmpty)
        var partly = loaded
        partly.prune(now: 1500, period: 900)
        #expect(partly == loaded)
    }

    @Test("saved atomically with mode 0600 and loaded back; a missing file is an empty ledger")
    func file() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        #expect(try LockoutLedger.load(path: dir.file("lockout")) == LockoutLedger())
        var ledger = LockoutLedger()
        for i in 0..<5 { ledger.recordBadCode(owner, now: 2000 + Int64(i), limit: 5, period: 900) }
        try ledger.save(path: dir.file("lockout"))
        #expect((try FileSystem.status(dir.file("lockout"))).permissions == 0o600)
        #expect(try LockoutLedger.load(path: dir.file("lockout")) == ledger)
        // An authenticator built from the loaded ledger still refuses the right code.
        let totp = try TOTP(base32: rfcSecretBase32)
        var auth = CommandAuthenticator(
            senders: [owner], verifier: .totp(totp, window: 300), maxAge: .seconds(900),
            lockout: try LockoutLedger.load(path: dir.file("lockout")))
        let good = InboundSMS(sender: owner.e164, text: "UP \(totp.code(at: 2010))", timestamp: 2010)
        #expect(auth.evaluate(good, clock: .system(2010)) == .ignore(.lockedOut))
        let later = InboundSMS(sender: owner.e164, text: "UP \(totp.code(at: 2904))", timestamp: 2904)
        #expect(auth.evaluate(later, clock: .system(2904)) == .obey(.up(minutes: nil), sender: owner))
        #expect(auth.lockout.serialized().isEmpty)
    }
}

extension AgentIntegrationSuites {
    @Suite("Lockout across restarts", .serialized, .timeLimit(.minutes(3)))
    struct LockoutRestartTests {
        static let sshdAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        @Test("bad codes until lockout, restart: the right code is still refused (loudly), and accepted after the lockout", .enabled(if: sshdAvailable, "needs OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func lockoutSurvivesRestart() async throws {
            let h = try AgentHarness()
            defer { h.stop() }
            let t = Int64(Date().timeIntervalSince1970)
            // A code valid for no time near t.
            let nearby = Set((-20...40).map { h.code(at: t + Int64($0) * 30) })
            let wrong = (0..<1_000_000).lazy.map { String(format: "%06d", $0) }.first { !nearby.contains($0) }!

            let log1 = RecordedLog()
            let (_, first) = h.startAgent(clock: SynchronizedClock(), logger: log1.logger)
            for i in 0..<CommandAuthenticator.maxBadCodes {
                try h.deliver("STATUS \(wrong)", timestamp: t + Int64(i))
            }
            #expect(await eventually { log1.contains("critical", "too many bad codes") }, "\(log1.all)")
            #expect(await eventually { h.emulator.storedMessages.isEmpty })
            let file = try String(contentsOfFile: h.dir.file("state/lockout"), encoding: .utf8)
            #expect(file.hasPrefix("locked ") && file.contains(AgentHarness.owner), "\(file)")
            first.cancel()
            _ = try? await first.value

            // The restarted daemon still refuses the owner, whatever the code, and says so loudly.
            let log2 = RecordedLog()
            let (_, second) = h.startAgent(clock: SynchronizedClock(), logger: log2.logger)
            #expect(await eventually { log2.contains("critical", "still locked out", AgentHarness.owner) }, "\(log2.all)")
            try h.deliver("STATUS \(h.code(at: t + 10))", timestamp: t + 10)
            #expect(await eventually { log2.contains("critical", "locked out", "sms.reason=sender locked out") }, "\(log2.all)")
            #expect(await eventually { h.emulator.storedMessages.isEmpty })
            try await Task.sleep(for: .seconds(1))
            #expect(h.sent.isEmpty, "\(h.sent)")
            second.cancel()
            _ = try? await second.value

            // After the lockout period (the clock moved on by 16 minutes) the right code works again.
            let later = t + CommandAuthenticator.lockoutPeriod + 60
            let log3 = RecordedLog()
            let (_, third) = h.startAgent(clock: ShiftedSynchronizedClock(offset: later - t), logger: log3.logger)
            defer { third.cancel() }
            try h.deliver("STATUS \(h.code(at: later))", timestamp: later)
            #expect(await eventually { h.sentTexts().contains { $0.hasPrefix("STATUS idle") } }, "\(h.sent) \(log3.all)")
            #expect(await eventually { ((try? String(contentsOfFile: h.dir.file("state/lockout"), encoding: .utf8)) ?? "x").isEmpty })
        }
    }
}
