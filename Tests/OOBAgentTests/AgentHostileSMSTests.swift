import ATModem
import Foundation
import ModemEmulator
import Testing

@testable import OOBAgent

// Hostile and odd SMS against the built daemon (`oob-agent run` as a subprocess): raw PDUs stored in the modem
// emulator and announced with +CMTI, a real OpenSSH sshd on loopback as the jump host. For every kind: the daemon
// stays up, the entry is logged naming the problem and deleted, nothing goes to a stranger, and the next valid
// command still works (its reply arrives and the forward listens on the jump host).

/// Builds SMS PDUs octet by octet (3GPP TS 23.040 §9.2.2), so that a test can write what no encoder would.
enum RawPDU {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02X", $0) }.joined() }

    /// A numeric address field: length in semi-octets, type of address, swapped digits with an F filler.
    static func address(_ digits: String, typeOfAddress: UInt8) -> [UInt8] {
        let nibbles = digits.compactMap { $0.wholeNumberValue }.map(UInt8.init)
        var value: [UInt8] = []
        var i = 0
        while i < nibbles.count {
            value.append((i + 1 < nibbles.count ? nibbles[i + 1] : 0x0F) << 4 | nibbles[i])
            i += 2
        }
        return [UInt8(nibbles.count), typeOfAddress] + value
    }

    /// An international number (`+` dropped, type 0x91).
    static func international(_ e164: String) -> [UInt8] { address(String(e164.dropFirst()), typeOfAddress: 0x91) }

    /// An alphanumeric sender (type 0xD0): packed GSM 7-bit; `name` must be ASCII letters, digits, space, `+`,
    /// CR or LF (their GSM 7-bit codes are the ASCII ones).
    static func alphanumeric(_ name: String) -> [UInt8] {
        let septets = name.unicodeScalars.map { UInt8($0.value) }
        let packed = pack(septets)
        return [UInt8((septets.count * 7 + 3) / 4), 0xD0] + packed
    }

    /// Packs septets (TS 23.038 §6.1.2.1.1).
    static func pack(_ septets: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var acc: UInt32 = 0
        var bits = 0
        for s in septets {
            acc |= UInt32(s & 0x7F) << bits
            bits += 7
            while bits >= 8 {
                out.append(UInt8(acc & 0xFF))
                acc >>= 8
                bits -= 8
            }
        }
        if bits > 0 { out.append(UInt8(acc & 0xFF)) }
        return out
    }

    /// TP-SCTS for Unix time `t` in a zone `quarters` quarter-hours east of UTC; `zoneOctet` overrides the zone
    /// octet as sent (for non-decimal values).
    static func timestamp(_ t: Int64, quarters: Int = 4, zoneOctet: UInt8? = nil) -> [UInt8] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0)!
        let local = Date(timeIntervalSince1970: TimeInterval(t + Int64(quarters) * 15 * 60))
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: local)
        func swapped(_ n: Int) -> UInt8 { UInt8(n % 10) << 4 | UInt8(n / 10) }
        var out = [c.year! % 100, c.month!, c.day!, c.hour!, c.minute!, c.second!].map(swapped)
        var zone = swapped(abs(quarters))
        if quarters < 0 { zone |= 0x08 }
        out.append(zoneOctet ?? zone)
        return out
    }

    /// ASCII text as GSM 7-bit user data (UDL in septets).
    static func gsm7(_ text: String) -> (udl: UInt8, data: [UInt8]) {
        let septets = text.unicodeScalars.map { UInt8($0.value) }
        return (UInt8(septets.count), pack(septets))
    }

    /// An SMS-DELIVER: empty SCA, then the TPDU.
    static func deliver(
        first: UInt8 = 0x04, sender: [UInt8], pid: UInt8 = 0, dcs: UInt8, timestamp: [UInt8], udl: UInt8, ud: [UInt8]
    ) -> String {
        hex([0x00, first] + sender + [pid, dcs] + timestamp + [udl] + ud)
    }

    /// A GSM 7-bit text SMS-DELIVER.
    static func text(_ text: String, sender: [UInt8], at t: Int64, dcs: UInt8 = 0x00, quarters: Int = 4) -> String {
        let (udl, data) = gsm7(text)
        return deliver(sender: sender, dcs: dcs, timestamp: timestamp(t, quarters: quarters), udl: udl, ud: data)
    }

    /// A UCS-2 text SMS-DELIVER (UDL in octets).
    static func ucs2(_ text: String, sender: [UInt8], at t: Int64) -> String {
        var data: [UInt8] = []
        for unit in text.utf16 { data += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        return deliver(sender: sender, dcs: 0x08, timestamp: timestamp(t), udl: UInt8(data.count), ud: data)
    }

    /// One part of a concatenated GSM 7-bit message (8-bit reference IE, fill bits after the 6-octet header).
    static func part(_ text: String, sequence: Int, total: Int, reference: UInt8, sender: [UInt8], at t: Int64) -> String {
        let header: [UInt8] = [0x05, 0x00, 0x03, reference, UInt8(total), UInt8(sequence)]
        // 6 header octets = 48 bits: one fill bit brings the text to a septet boundary (7 septets).
        let septets = text.unicodeScalars.map { UInt8($0.value) }
        var bits: [UInt8] = Array(repeating: 0, count: 1)  // 1 fill bit
        for s in septets { for b in 0..<7 { bits.append((s >> UInt8(b)) & 1) } }
        var body: [UInt8] = []
        var i = 0
        while i < bits.count {
            var octet: UInt8 = 0
            for b in 0..<8 where i + b < bits.count { octet |= bits[i + b] << UInt8(b) }
            body.append(octet)
            i += 8
        }
        return deliver(
            first: 0x44, sender: sender, dcs: 0x00, timestamp: timestamp(t), udl: UInt8(7 + septets.count), ud: header + body)
    }
}

/// The built daemon with the harness around it: a second allowed sender with a short (10-digit) number, so that an
/// alphanumeric sender can spell it.
final class HostileWorld: @unchecked Sendable {
    static let shortOwner = "+4791234567"
    let h: AgentHarness
    let daemon: DaemonProcess
    let logPath: String
    let t0: Int64

    /// - Parameter textMode: the modem refuses PDU mode (`AT+CMGF=0`), so the daemon falls back to text mode.
    init(textMode: Bool = false) async throws {
        h = try AgentHarness(bridged: true)
        if textMode { h.emulator.reconfigure { $0.textModeOnly = true } }
        let text = try String(contentsOfFile: h.configPath, encoding: .utf8).replacingOccurrences(
            of: "senders = [\"\(AgentHarness.owner)\"]",
            with: "senders = [\"\(AgentHarness.owner)\", \"\(Self.shortOwner)\"]")
        try text.write(toFile: h.configPath, atomically: true, encoding: .utf8)
        logPath = h.dir.file("daemon.log")
        daemon = try Binary.startDaemon(config: h.configPath, logPath: logPath)
        // Start on a fresh 30-second step, so that t0, t0+30, … are distinct codes all in the near past/future.
        t0 = Int64(Date().timeIntervalSince1970) / 30 * 30
        let ready = await eventually { self.log.contains("modem ready") }
        if !ready { throw HarnessError.failed("the daemon never opened the modem: \(log)") }
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var lines: [Substring] { log.split(separator: "\n") }

    /// A log line holding every one of `parts`.
    func logLine(_ parts: String...) -> Bool { lines.contains { line in parts.allSatisfy { line.contains($0) } } }

    /// A log line about storage slot `slot` holding every one of `parts`.
    func logLine(slot: Int, _ parts: String...) -> Bool {
        lines.contains { line in
            (line.hasSuffix(" sms.index=\(slot)") || line.contains(" sms.index=\(slot) "))
                && parts.allSatisfy { line.contains($0) }
        }
    }

    /// Stores `pdu` and announces it with +CMTI; the slot.
    @discardableResult
    func deliver(_ pdu: String) throws -> Int {
        guard let slot = h.emulator.deliver(pdu: pdu) else { throw HarnessError.failed("emulator storage full") }
        return slot
    }

    /// The code for the `k`-th 30-second step after t0.
    func code(_ k: Int) -> String { h.code(at: t0 + Int64(30 * k)) }
    func at(_ k: Int) -> Int64 { t0 + Int64(30 * k) }

    var ownerSender: [UInt8] { RawPDU.international(AgentHarness.owner) }

    /// The daemon runs and `oob-agent status` answers.
    func alive() throws -> Bool {
        guard daemon.isRunning else { return false }
        return try Binary.run(["status", "--config", h.configPath]).status == 0
    }

    /// Everything sent went to an allowed number.
    var sentOnlyToOwners: Bool {
        h.sent.allSatisfy { $0.to == AgentHarness.owner || $0.to == Self.shortOwner }
    }

    /// The final check of every test: the daemon is up, the storage drained, nobody else got an SMS, and a valid
    /// UP (code step `k`) is obeyed: reply and forward listening.
    func finalUP(step k: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(try alive(), "daemon not alive: \(log)", sourceLocation: sourceLocation)
        try deliver(RawPDU.text("UP \(code(k))", sender: ownerSender, at: at(k)))
        #expect(await eventually { isListening(self.h.forwardPort) }, "forward never listened: \(log)", sourceLocation: sourceLocation)
        #expect(
            await eventually { self.h.sentTexts().contains { $0.hasPrefix("UP until ") } }, "no UP reply: \(h.sent)",
            sourceLocation: sourceLocation)
        #expect(await eventually { self.h.emulator.storedMessages.isEmpty }, "storage not drained: \(h.emulator.storedMessages)", sourceLocation: sourceLocation)
        #expect(sentOnlyToOwners, "sent to a stranger: \(h.sent)", sourceLocation: sourceLocation)
        #expect(try alive(), sourceLocation: sourceLocation)
    }

    func stop() {
        daemon.signal(SIGTERM)
        for _ in 0..<100 where daemon.isRunning { usleep(50_000) }
        daemon.kill9()
        h.stop()
    }
}

extension AgentIntegrationSuites {
    @Suite("Hostile SMS against the daemon binary", .serialized, .timeLimit(.minutes(10)))
    struct AgentHostileSMSTests {
        static let ready = Binary.exists && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")

        @Test("PDUs that do not decode are logged naming the problem and deleted", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func undecodable() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let good = RawPDU.text("UP \(w.code(0))", sender: w.ownerSender, at: w.at(0))
            let cases: [(pdu: String, problem: String)] = [
                ("1F" + good.dropFirst(2), "SCA length"),  // SCA length 31 > 11
                (String(good.dropLast(4)), "TP-UD"),  // user data cut short of its TP-UDL
                (String(good.dropLast(1)), "odd number of hex digits"),
                ("00" + "04" + "0B91" + "ZZ" + good.dropFirst(10), "not a hexadecimal digit"),
                ("0007" + good.dropFirst(4), "TP-MTI"),  // message type 3, reserved
                (String(good.prefix(24)), "truncated"),  // ends inside TP-OA
                (RawPDU.deliver(sender: w.ownerSender, dcs: 0x00, timestamp: [0x62, 0x31, 0x13, 0x00, 0x00, 0x00, 0x00], udl: 1, ud: [0x31]), "month"),
            ]
            var slots: [Int: String] = [:]
            for c in cases { slots[try w.deliver(c.pdu)] = c.problem }
            for (slot, problem) in slots.sorted(by: { $0.key < $1.key }) {
                #expect(
                    await eventually { w.logLine(slot: slot, "malformed SMS deleted", problem) },
                    "slot \(slot): no log line naming \(problem): \(w.log)")
            }
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            #expect(w.h.sent.isEmpty, "a reply to undecodable SMS: \(w.h.sent)")
            try await w.finalUP(step: 1)
        }

        @Test("a status report and a SUBMIT in the inbox are deleted, never obeyed", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func nonDeliver() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let submit = try #require(try SMSEncoder.submitPDUs(to: AgentHarness.owner, text: "UP \(w.code(0))").first)
            let report = RawPDU.hex(
                [0x00, 0x06, 0x2A] + w.ownerSender + RawPDU.timestamp(w.at(0)) + RawPDU.timestamp(w.at(0)) + [0x00])
            let s1 = try w.deliver(submit)
            let s2 = try w.deliver(report)
            #expect(await eventually { w.logLine(slot: s1, "non-DELIVER PDU deleted") })
            #expect(await eventually { w.logLine(slot: s2, "non-DELIVER PDU deleted") })
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            #expect(!isListening(w.h.forwardPort))
            #expect(w.h.sent.isEmpty)
            try await w.finalUP(step: 1)
        }

        @Test("8-bit data is never a command; class-0 (flash) and UCS-2 text are read as text", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func encodings() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let bytes = Array("UP \(w.code(0))".utf8)
            try w.deliver(RawPDU.deliver(sender: w.ownerSender, dcs: 0x04, timestamp: RawPDU.timestamp(w.at(0)), udl: UInt8(bytes.count), ud: bytes))
            #expect(await eventually { w.logLine("SMS ignored", "no text") }, "\(w.log)")
            #expect(!isListening(w.h.forwardPort))
            // Class 0 (flash): shown at once on a phone; for the agent an ordinary single-part text.
            try w.deliver(RawPDU.text("STATUS \(w.code(1))", sender: w.ownerSender, at: w.at(1), dcs: 0x10))
            #expect(await eventually { w.h.sentTexts().filter { $0.hasPrefix("STATUS ") }.count == 1 }, "\(w.log)")
            // UCS-2, lower case: the language is case-insensitive text, whatever alphabet carried it.
            try w.deliver(RawPDU.ucs2("status \(w.code(2))", sender: w.ownerSender, at: w.at(2)))
            #expect(await eventually { w.h.sentTexts().filter { $0.hasPrefix("STATUS ") }.count == 2 }, "\(w.log)")
            try await w.finalUP(step: 3)
            #expect(w.h.sentTexts().count == 3, "\(w.h.sent)")
        }

        @Test("look-alike digits, NUL and control characters are refused; Unicode spaces separate words", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func unicodeTricks() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            func mapped(_ code: String, zero: UInt32) -> String {
                String(String.UnicodeScalarView(code.unicodeScalars.map { Unicode.Scalar(zero + $0.value - 0x30)! }))
            }
            let refused = [
                "UP " + mapped(w.code(0), zero: 0xFF10),  // fullwidth digits
                "UP " + mapped(w.code(0), zero: 0x0660),  // Arabic-Indic digits
                "UP\u{0}" + w.code(0),  // NUL instead of a space
                "\u{1B}[2J\u{7}UP " + (w.code(0) == "000000" ? "111111" : "000000"),  // escape + BEL glued to the verb
            ]
            for text in refused { try w.deliver(RawPDU.ucs2(text, sender: w.ownerSender, at: w.at(0))) }
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            #expect(await eventually { w.lines.filter { $0.contains("SMS refused") || $0.contains("SMS ignored") }.count >= 4 }, "\(w.log)")
            #expect(!isListening(w.h.forwardPort))
            #expect(w.h.sent.isEmpty, "\(w.h.sent)")
            // The log stays one event per line and holds no raw control characters.
            #expect(!w.log.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F })
            // Ideographic space, no-break space: whitespace, so the words are STATUS and the code.
            try w.deliver(RawPDU.ucs2("STATUS\u{3000}\(w.code(1))\u{A0}", sender: w.ownerSender, at: w.at(1)))
            #expect(await eventually { w.h.sentTexts().contains { $0.hasPrefix("STATUS ") } }, "\(w.log)")
            try await w.finalUP(step: 2)
        }

        @Test("160 characters of garbage, 1000 characters in 7 parts, a multipart whose first part is a valid UP", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func garbageAndMultipart() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            // Two words, so that the first is taken for a verb (and logged, cut short).
            let garbage = String((0..<153).map { i in Character(Unicode.Scalar(UInt8(0x41 + i % 26))) }) + " 123456"
            try w.deliver(RawPDU.text(garbage, sender: w.ownerSender, at: w.at(0)))
            #expect(await eventually { w.logLine("SMS refused", "wrong code", "sms.verb=ABCDEFGHIJKL…") }, "\(w.log)")
            // The logged verb is cut short: a log line is not the place for 160 characters of someone's text.
            #expect(!w.log.contains(String(garbage.prefix(40))))
            let long = String((0..<1000).map { i in Character(Unicode.Scalar(UInt8(0x61 + i % 26))) })
            for pdu in try SMSEncoder.deliverPDUs(
                from: AgentHarness.owner, text: long, timestamp: SMSTimestamp(secondsSince1970: w.at(0), utcOffsetMinutes: 60))
            {
                try w.deliver(pdu)
            }
            #expect(await eventually { w.lines.filter { $0.contains("multipart") }.count >= 7 }, "\(w.log)")
            // Part 1 of 2 reads exactly "UP <valid code>": never obeyed (a command is a single-part SMS).
            try w.deliver(RawPDU.part("UP \(w.code(1))", sequence: 1, total: 2, reference: 0x42, sender: w.ownerSender, at: w.at(1)))
            #expect(await eventually { w.lines.filter { $0.contains("multipart") }.count >= 8 }, "\(w.log)")
            try w.deliver(RawPDU.part(" please", sequence: 2, total: 2, reference: 0x42, sender: w.ownerSender, at: w.at(1)))
            #expect(await eventually { w.lines.filter { $0.contains("multipart") }.count >= 9 }, "\(w.log)")
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            try await Task.sleep(for: .seconds(1))
            #expect(!isListening(w.h.forwardPort))
            #expect(w.h.sent.isEmpty, "\(w.h.sent)")
            try await w.finalUP(step: 2)
        }

        @Test("senders: alphanumeric look-alike, national format, no type, 00 prefix, spoofed with a wrong code", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func senders() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            // An alphanumeric sender is a name anyone can pick: "+4791234567" spelled as letters is not that number.
            try w.deliver(RawPDU.text("STATUS \(w.code(0))", sender: RawPDU.alphanumeric(HostileWorld.shortOwner), at: w.at(0)))
            // A name with CR LF in it: the log must not grow a forged line.
            try w.deliver(RawPDU.text("STATUS \(w.code(0))", sender: RawPDU.alphanumeric("x\r\nFAKE ok"), at: w.at(0)))
            // National format (type 0xA1): without the country it cannot be compared in E.164.
            try w.deliver(RawPDU.text("STATUS \(w.code(1))", sender: RawPDU.address("0701234567", typeOfAddress: 0xA1), at: w.at(1)))
            // Type "unknown" with bare digits: national or international cannot be told apart.
            try w.deliver(RawPDU.text("STATUS \(w.code(2))", sender: RawPDU.address("46701234567", typeOfAddress: 0x81), at: w.at(2)))
            // The owner's number with a wrong code (a spoofed sender): no reply.
            let wrong = w.code(3) == "000000" ? "111111" : "000000"
            try w.deliver(RawPDU.text("STATUS \(wrong)", sender: w.ownerSender, at: w.at(3)))
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            #expect(await eventually { w.logLine("SMS ignored", "alphanumeric sender name", "sms.sender=+4791234567") }, "\(w.log)")
            #expect(await eventually { w.lines.filter { $0.contains("sender not in auth.senders") }.count >= 2 }, "\(w.log)")
            #expect(await eventually { w.logLine("SMS refused", "wrong code") }, "\(w.log)")
            #expect(await eventually { w.logLine("SMS ignored", "sms.sender=\"x\\r\\nFAKE ok\"") }, "\(w.log)")
            #expect(!w.lines.contains { $0.hasPrefix("FAKE") }, "\(w.log)")
            try await Task.sleep(for: .seconds(1))
            #expect(w.h.sent.isEmpty, "\(w.h.sent)")
            // Type "unknown" with the international prefix 00: unambiguous, the owner.
            try w.deliver(RawPDU.text("STATUS \(w.code(4))", sender: RawPDU.address("0046701234567", typeOfAddress: 0x81), at: w.at(4)))
            #expect(await eventually { w.h.sentTexts().contains { $0.hasPrefix("STATUS ") } }, "\(w.h.sent) \(w.log)")
            try await w.finalUP(step: 5)
        }

        @Test("timestamps: far future, far past, odd zones, a right code older than max_age", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func timestamps() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let future = w.t0 + 6 * 3600
            try w.deliver(RawPDU.text("STATUS \(w.h.code(at: future))", sender: w.ownerSender, at: future))
            #expect(await eventually { w.logLine("SMS ignored", "ahead of the clock") }, "\(w.log)")
            let past: Int64 = 946_684_800 + 3600  // 2000-01-01
            try w.deliver(RawPDU.text("STATUS \(w.h.code(at: past))", sender: w.ownerSender, at: past))
            let stale = w.t0 - 20 * 60
            try w.deliver(RawPDU.text("STATUS \(w.h.code(at: stale))", sender: w.ownerSender, at: stale))
            #expect(await eventually { w.lines.filter { $0.contains("older than auth.max_age") }.count == 2 }, "\(w.log)")
            // A zone octet whose semi-octets are not decimal, and the widest zone there is (+19:45): decoded, judged.
            try w.deliver(
                RawPDU.deliver(
                    sender: w.ownerSender, dcs: 0, timestamp: RawPDU.timestamp(w.at(0), quarters: 0, zoneOctet: 0xFF),
                    udl: RawPDU.gsm7("STATUS 000000").udl, ud: RawPDU.gsm7("STATUS 000000").data))
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            #expect(w.h.sent.isEmpty, "\(w.h.sent)")
            try w.deliver(RawPDU.text("STATUS \(w.code(1))", sender: w.ownerSender, at: w.at(1), quarters: 79))
            #expect(await eventually { w.h.sentTexts().contains { $0.hasPrefix("STATUS ") } }, "\(w.log)")
            try await w.finalUP(step: 2)
        }

        @Test("the same SMS at two indexes is obeyed once; +CMTI for empty, out-of-range, ME and SR indexes", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func duplicatesAndBogusNotifications() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let status = RawPDU.text("STATUS \(w.code(0))", sender: w.ownerSender, at: w.at(0))
            try w.deliver(status)
            try w.deliver(status)
            #expect(await eventually { w.logLine("SMS ignored", "duplicate delivery") }, "\(w.log)")
            #expect(await eventually { w.h.sentTexts().count == 1 })
            for line in ["+CMTI: \"SM\",0", "+CMTI: \"SM\",9999", "+CMTI: \"ME\",3", "+CMTI: \"SR\",1", "+CDSI: \"SR\",2", "+CMTI: \"\",-1", "+CMTI: garbage"] {
                w.h.emulator.emitUnsolicited(line)
            }
            try await Task.sleep(for: .seconds(2))
            #expect(w.h.sentTexts().count == 1, "\(w.h.sent)")
            try await w.finalUP(step: 1)
        }

        @Test("a burst mixing every kind, one valid UP at the end", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func burst() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let o = w.ownerSender
            let good = RawPDU.text("UP \(w.code(0))", sender: o, at: w.at(0))
            var burst: [String] = [
                String(good.dropLast(1)), "1F" + good.dropFirst(2), String(good.dropLast(4)),
                try #require(try SMSEncoder.submitPDUs(to: AgentHarness.owner, text: "UP \(w.code(0))").first),
                RawPDU.hex([0x00, 0x06, 0x2A] + o + RawPDU.timestamp(w.at(0)) + RawPDU.timestamp(w.at(0)) + [0x00]),
                RawPDU.deliver(sender: o, dcs: 0x04, timestamp: RawPDU.timestamp(w.at(0)), udl: 3, ud: [0x55, 0x50, 0x20]),
                RawPDU.text("STATUS \(w.code(0))", sender: RawPDU.alphanumeric(HostileWorld.shortOwner), at: w.at(0)),
                RawPDU.text("STATUS \(w.code(0))", sender: RawPDU.address("0701234567", typeOfAddress: 0xA1), at: w.at(0)),
                RawPDU.text("UP \(w.code(0))", sender: RawPDU.international(AgentHarness.stranger), at: w.at(0)),
                RawPDU.part("UP \(w.code(0))", sequence: 1, total: 2, reference: 7, sender: o, at: w.at(0)),
                RawPDU.text("UP \(w.h.code(at: w.t0 - 1800))", sender: o, at: w.t0 - 1800),
                RawPDU.ucs2("UP " + String(String.UnicodeScalarView(w.code(0).unicodeScalars.map { Unicode.Scalar(0xFF10 + $0.value - 0x30)! })), sender: o, at: w.at(0)),
                RawPDU.text(String(repeating: "Z", count: 160), sender: o, at: w.at(0)),
            ]
            for pdu in try SMSEncoder.deliverPDUs(
                from: AgentHarness.stranger, text: String(repeating: "x", count: 1000),
                timestamp: SMSTimestamp(secondsSince1970: w.at(0), utcOffsetMinutes: 60))
            {
                burst.append(pdu)
            }
            for pdu in burst { try w.deliver(pdu) }
            w.h.emulator.emitUnsolicited("+CMTI: \"SM\",9999")
            w.h.emulator.emitUnsolicited("+CMTI: \"ME\",1")
            // The valid one comes last and twice: obeyed once.
            try await w.finalUP(step: 1)
            try w.deliver(RawPDU.text("UP \(w.code(1))", sender: o, at: w.at(1)))
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            try await Task.sleep(for: .seconds(1))
            #expect(w.h.sentTexts().count == 1, "\(w.h.sent)")
            #expect(w.sentOnlyToOwners)
        }

        @Test("text-mode fallback: a multipart part and an alphanumeric sender are never obeyed", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func textMode() async throws {
            let w = try await HostileWorld(textMode: true)
            defer { w.stop() }
            try w.deliver(RawPDU.part("UP \(w.code(0))", sequence: 1, total: 2, reference: 9, sender: w.ownerSender, at: w.at(0)))
            try w.deliver(RawPDU.text("STATUS \(w.code(1))", sender: RawPDU.alphanumeric(HostileWorld.shortOwner), at: w.at(1)))
            #expect(await eventually { w.h.emulator.storedMessages.isEmpty })
            #expect(await eventually { w.logLine("SMS ignored", "multipart") }, "\(w.log)")
            #expect(await eventually { w.logLine("SMS ignored", "alphanumeric sender name") }, "\(w.log)")
            try await Task.sleep(for: .seconds(1))
            #expect(!isListening(w.h.forwardPort))
            #expect(w.h.sent.isEmpty, "\(w.h.sent)")
            try await w.finalUP(step: 2)
        }

        @Test("an entry the modem refuses to delete does not hold up the SMS after it", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func undeletable() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            w.h.emulator.reconfigure { $0.undeletableIndexes = [0] }
            let good = RawPDU.text("UP \(w.code(0))", sender: w.ownerSender, at: w.at(0))
            #expect(try w.deliver(String(good.dropLast(4))) == 0)
            #expect(await eventually { w.logLine(slot: 0, "SMS not deleted") }, "\(w.log)")
            #expect(try w.alive())
            try w.deliver(RawPDU.text("UP \(w.code(1))", sender: w.ownerSender, at: w.at(1)))
            #expect(await eventually { isListening(w.h.forwardPort) }, "\(w.log)")
            #expect(await eventually { w.h.sentTexts().contains { $0.hasPrefix("UP until ") } }, "\(w.h.sent)")
            #expect(await eventually { w.h.emulator.storedMessages.keys.sorted() == [0] })
            // Judged once, not again at every drain: one "malformed" line for slot 0.
            try await Task.sleep(for: .seconds(3))
            #expect(w.lines.filter { $0.contains("malformed SMS deleted") }.count == 1, "\(w.log)")
            #expect(w.sentOnlyToOwners)
            #expect(try w.alive())
        }

        @Test("an SMS the modem routes straight to the port (+CMT, as many do with class 0) is judged like a stored one", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func routedMessage() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            let pdu = RawPDU.text("STATUS \(w.code(0))", sender: w.ownerSender, at: w.at(0), dcs: 0x10)
            w.h.emulator.emitUnsolicited("+CMT: ,\(pdu.count / 2 - 1)\r\n\(pdu)")
            #expect(await eventually { w.h.sentTexts().contains { $0.hasPrefix("STATUS ") } }, "\(w.log)")
            // The network repeats it (or the modem routes it again): no second reply.
            w.h.emulator.emitUnsolicited("+CMT: ,\(pdu.count / 2 - 1)\r\n\(pdu)")
            // A routed PDU that does not decode, and one from a stranger: logged, no reply.
            w.h.emulator.emitUnsolicited("+CMT: ,20\r\n0004ZZ")
            let stranger = RawPDU.text("STATUS \(w.code(1))", sender: RawPDU.international(AgentHarness.stranger), at: w.at(1))
            w.h.emulator.emitUnsolicited("+CMT: ,\(stranger.count / 2 - 1)\r\n\(stranger)")
            #expect(await eventually { w.logLine("malformed SMS deleted", "sms.index=routed") }, "\(w.log)")
            #expect(await eventually { w.logLine("SMS ignored", "duplicate delivery") }, "\(w.log)")
            #expect(await eventually { w.logLine("SMS ignored", "sender not in auth.senders") }, "\(w.log)")
            #expect(w.h.sentTexts().count == 1, "\(w.h.sent)")
            try await w.finalUP(step: 2)
        }

        @Test("a hostile modem: a huge line without newline and binary garbage between replies", .enabled(if: ready, "needs the oob-agent binary built next to the tests (swift build --build-tests) and OpenSSH's sshd at /usr/sbin/sshd (scripts/install-deps.sh installs openssh-server)"))
        func hostileModem() async throws {
            let w = try await HostileWorld()
            defer { w.stop() }
            w.h.emulator.emitRaw(Array(repeating: UInt8(ascii: "A"), count: 20_000))
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<5 {
                w.h.emulator.emitRaw((0..<512).map { _ in UInt8.random(in: 0...255, using: &generator) })
                try await Task.sleep(for: .milliseconds(300))
            }
            w.h.emulator.emitRaw(Array("\r\n".utf8))
            try w.deliver(RawPDU.text("STATUS \(w.code(0))", sender: w.ownerSender, at: w.at(0)))
            #expect(await eventually(.seconds(30)) { w.h.sentTexts().contains { $0.hasPrefix("STATUS ") } }, "\(w.log)")
            try await w.finalUP(step: 1)
            #expect(!w.log.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F })
        }
    }
}
