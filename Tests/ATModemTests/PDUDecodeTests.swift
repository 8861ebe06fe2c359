// PDUDecodeTests.swift: every corpus vector decodes to what it states (CORPUS.md "How a test should use it").

@testable import ATModem
import Foundation
import Testing

@Suite("SMS PDU decoding against the corpus")
struct PDUDecodeTests {
    @Test("the corpus loads with its documented size")
    func corpusLoads() {
        #expect(SMSCorpus.all.count == 221)
        #expect(SMSCorpus.wellFormed.count == 185)
        #expect(SMSCorpus.mustFail.count == 31)
    }

    @Test("well-formed vector decodes as stated", arguments: SMSCorpus.wellFormed)
    func wellFormed(_ vector: PDUVector) throws {
        let decoded = try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
        let problems = Self.mismatches(decoded, vector.expect)
        #expect(problems.isEmpty, "\(vector.id): \(problems.joined(separator: "; "))")
    }

    @Test("malformed vector is rejected with an error naming a field", arguments: SMSCorpus.mustFail)
    func mustFail(_ vector: PDUVector) throws {
        if vector.id == "warthog618-modem-malformed-concat-inconsistent" {
            // The source rejects "part 6 of 2" at reassembly; TS 23.040 §9.2.3.24.1 (which this codec follows, as
            // do the corpus' crafted-concat-* vectors) says such an element is ignored. Checked here: the element
            // is ignored, so the message can never be joined with a wrong part.
            let decoded = try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
            guard case .deliver(let deliver) = decoded.pdu else {
                Issue.record("expected a deliver")
                return
            }
            #expect(deliver.userData.concat == nil)
            #expect(deliver.userData.header?.elements.first?.identifier == 0x00)
            return
        }
        #expect(throws: PDUError.self, "\(vector.id) must not decode") {
            try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
        }
        do {
            _ = try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
        } catch {
            #expect(!error.message.isEmpty)
            #expect(error.field != nil || error.code == .notHex)
        }
    }

    @Test("lenient vector decodes as its source states or is rejected as documented", arguments: SMSCorpus.lenient)
    func lenient(_ vector: PDUVector) throws {
        do {
            let decoded = try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
            var expect = vector.expect
            expect["error"] = nil
            let problems = Self.mismatches(decoded, expect)
            #expect(problems.isEmpty, "\(vector.id): \(problems.joined(separator: "; "))")
        } catch {
            // Only vectors marked strict_may_reject may be refused, and then for a documented reason.
            #expect(vector.strictMayReject == true, "\(vector.id) rejected: \(error)")
        }
    }

    @Test("every quirk vector decodes (lenient policy of docs/sms-codec.md)")
    func quirks() throws {
        let quirks = SMSCorpus.wellFormed.filter { $0.quirk == true }
        #expect(quirks.count >= 10)
        for vector in quirks {
            #expect(throws: Never.self, "\(vector.id)") {
                try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
            }
        }
    }

    // MARK: - Comparison of the keys present in `expect`

    static func mismatches(_ decoded: DecodedPDU, _ expect: [String: JSONValue]) -> [String] {
        var problems: [String] = []
        func check<T: Equatable>(_ key: String, _ actual: T?, _ wanted: T?) {
            if actual != wanted { problems.append("\(key): got \(String(describing: actual)), want \(String(describing: wanted))") }
        }
        var userData: UserData?
        var type = ""
        var sender: String?
        var recipient: String?
        var timestamp: SMSTimestamp?
        var discharge: SMSTimestamp?
        var reference: Int?
        var status: Int?
        var validity: ValidityPeriod?
        switch decoded.pdu {
        case .deliver(let m):
            type = "deliver"
            sender = m.sender
            timestamp = m.timestamp
            userData = m.userData
        case .submit(let m):
            type = "submit"
            recipient = m.recipient
            reference = Int(m.messageReference)
            userData = m.userData
            validity = m.validityPeriod
        case .statusReport(let m):
            type = "status-report"
            recipient = m.recipient
            reference = Int(m.messageReference)
            timestamp = m.timestamp
            discharge = m.dischargeTime
            status = Int(m.status)
            userData = m.userData
        }
        for (key, value) in expect.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "type": check(key, type, value.string)
            case "smsc": check(key, decoded.smsc, value.string)
            case "sender": check(key, sender, value.string)
            case "recipient": check(key, recipient, value.string)
            case "timestamp": check(key, timestamp?.iso8601, value.string)
            case "discharge_time": check(key, discharge?.iso8601, value.string)
            case "reference": check(key, reference, value.int)
            case "status": check(key, status, value.int)
            case "text": check(key, userData?.text, value.string)
            case "encoding": check(key, userData?.encoding.rawValue, value.string)
            case "data_hex": check(key, userData.map { PDUHex.encode($0.data) }, value.string)
            case "concat":
                let concat = userData?.concat
                if let object = value.object {
                    check("concat.ref", concat?.reference, object["ref"]?.int)
                    check("concat.total", concat?.total, object["total"]?.int)
                    check("concat.seq", concat?.sequence, object["seq"]?.int)
                    check("concat.iei", concat.map { $0.is16BitReference ? 8 : 0 }, object["iei"]?.int)
                } else {
                    check(key, concat, nil)
                }
            case "ports":
                check("ports.dst", userData?.ports?.destination, value.object?["dst"]?.int)
                check("ports.src", userData?.ports?.source, value.object?["src"]?.int)
            case "validity":
                let object = value.object ?? [:]
                switch validity {
                case .relative(let raw):
                    check("validity.relative_raw", Int(raw), object["relative_raw"]?.int)
                    if let seconds = object["relative_seconds"]?.int {
                        check("validity.relative_seconds", validity?.relativeSeconds, seconds)
                    }
                case .absolute(let stamp): check("validity.absolute", stamp.iso8601, object["absolute"]?.string)
                case .enhanced(let raw): check("validity.enhanced_raw", PDUHex.encode(raw), object["enhanced_raw"]?.string)
                case nil: problems.append("validity: none decoded, want \(object)")
                }
            default:
                problems.append("unknown expect key \(key)")
            }
        }
        return problems
    }
}

@Suite("SMS PDU decoding: details")
struct PDUDecodeDetailTests {
    @Test("the corpus comparison reports a wrong value (the table tests can fail)")
    func comparisonCanFail() throws {
        let vector = try #require(SMSCorpus.wellFormed.first { $0.expect["text"] != nil })
        let decoded = try PDUDecoder.decode(hex: vector.pdu, hasSMSC: vector.hasSMSC)
        var expect = vector.expect
        #expect(PDUDecodeTests.mismatches(decoded, expect).isEmpty)
        expect["text"] = .string("something else")
        expect["timestamp"] = .string("1999-01-01T00:00:00+00:00")
        #expect(PDUDecodeTests.mismatches(decoded, expect).count == 2)
    }

    @Test("errors name the field and the offset")
    func errorsNameFieldAndOffset() {
        // crafted-udl-overrun: TP-UD announced 25 octets, 11 present.
        do {
            _ = try PDUDecoder.decode(
                hex: "07911326040000F0040B911346610089F60000208062917314481CC8F71D14969741F977FD07")
            Issue.record("decoded a truncated PDU")
        } catch {
            #expect(error.code == .truncated)
            #expect(error.field == "TP-UD")
            #expect(error.offset == 27)
            #expect(error.description.contains("truncated at TP-UD (offset 27)"))
        }
        // Truncated right before TP-UDL.
        do {
            _ = try PDUDecoder.decode(hex: "07911326040000F0040B911346610089F6000020806291731448")
            Issue.record("decoded a truncated PDU")
        } catch {
            #expect(error.field == "TP-UDL")
            #expect(error.offset == 26)
        }
        // Reserved TP-MTI.
        #expect(throws: PDUError.self) { try PDUDecoder.decode(hex: "0003") }
    }

    @Test("hex is case-insensitive and surrounding whitespace is ignored")
    func hexCase() throws {
        let hex = "07911326040000F0040B911346610089F60000208062917314480CC8F71D14969741F977FD07"
        let upper = try PDUDecoder.decode(hex: hex)
        let lower = try PDUDecoder.decode(hex: " " + hex.lowercased() + "\r\n")
        #expect(upper == lower)
        guard case .deliver(let deliver) = upper.pdu else {
            Issue.record("not a deliver")
            return
        }
        #expect(deliver.sender == "+31641600986")
        #expect(deliver.userData.text == "How are you?")
        #expect(deliver.timestamp.iso8601 == "2002-08-26T19:37:41-01:00")  // zone octet 0x48
        #expect(deliver.timestamp.secondsSince1970 == 1_030_394_261)  // 20:37:41Z
        #expect(deliver.timestamp.date == Date(timeIntervalSince1970: 1_030_394_261))
    }

    @Test("a bare TPDU decodes with hasSMSC: false")
    func bareTPDU() throws {
        let decoded = try PDUDecoder.decode(
            hex: "040B911346610089F60000208062917314480CC8F71D14969741F977FD07", hasSMSC: false)
        #expect(decoded.smsc == nil)
        #expect(decoded.tpduLength == 30)
    }

    @Test("time zones: quarter hours, sign bit, negative zero")
    func timeZones() throws {
        var reader = PDUReader([0x11, 0x20, 0x82, 0x11, 0x05, 0x05, 0x0A])  // 2011-02-28 11:50:50, 0x0A → -20 quarters
        let west = try SMSTimestamp.read(&reader, field: "TP-SCTS")
        #expect(west.iso8601 == "2011-02-28T11:50:50-05:00")
        reader = PDUReader([0x11, 0x20, 0x82, 0x11, 0x05, 0x05, 0x08])  // negative zero
        #expect(try SMSTimestamp.read(&reader, field: "TP-SCTS").iso8601 == "2011-02-28T11:50:50+00:00")
        reader = PDUReader([0x11, 0x20, 0x82, 0x11, 0x05, 0x05, 0x22])  // 22 quarters = +05:30
        #expect(try SMSTimestamp.read(&reader, field: "TP-SCTS").iso8601 == "2011-02-28T11:50:50+05:30")
        reader = PDUReader([0x11, 0x20, 0x92, 0x11, 0x05, 0x05, 0x22])  // 29 February 2011 does not exist
        #expect(throws: PDUError.self) { try SMSTimestamp.read(&reader, field: "TP-SCTS") }
    }

    @Test("DCS groups per TS 23.038 §4")
    func dataCodingSchemes() {
        #expect(DataCodingScheme(0x00).encoding == .gsm7)
        #expect(DataCodingScheme(0x08).encoding == .ucs2)
        #expect(DataCodingScheme(0x04).encoding == .eightBit)
        #expect(DataCodingScheme(0x0C).encoding == .gsm7)  // reserved alphabet → GSM 7-bit
        #expect(DataCodingScheme(0x19).encoding == .ucs2)
        #expect(DataCodingScheme(0x19).messageClass == 1)
        #expect(DataCodingScheme(0x53).encoding == .gsm7)  // automatic deletion group
        #expect(DataCodingScheme(0xC8).messageWaitingActive == true)
        #expect(DataCodingScheme(0xE0).encoding == .ucs2)
        #expect(DataCodingScheme(0xF5).encoding == .eightBit)
        #expect(DataCodingScheme(0xFB).encoding == .gsm7)  // reserved bit 3 ignored
        #expect(DataCodingScheme(0x85).encoding == .gsm7)  // reserved group
    }

    @Test("addresses: semi-octets A-E, alphanumeric")
    func addresses() throws {
        // TP-DA "*#abc#*51" with TON unknown.
        var reader = PDUReader([0x09, 0x81, 0xBA, 0xDC, 0xBE, 0x5A, 0xF1])
        #expect(try PDUAddress.readTPAddress(&reader, field: "TP-DA") == "*#abc#*51")
        let alpha = try PDUAddress.encode("sipgate", field: "sender", allowAlphanumeric: true)
        var writer = PDUWriter()
        PDUAddress.writeTPAddress(alpha, to: &writer)
        reader = PDUReader(writer.bytes)
        #expect(try PDUAddress.readTPAddress(&reader, field: "TP-OA") == "sipgate")
        #expect(throws: PDUError.self) { try PDUAddress.encode("+12ab", field: "recipient", allowAlphanumeric: false) }
        #expect(throws: PDUError.self) { try PDUAddress.encode("hello", field: "recipient", allowAlphanumeric: false) }
    }

    @Test("GSM 7-bit extension table and escape handling")
    func gsm7Extension() {
        let text = "[]{}~^\\|€\u{0C}"
        let septets = GSM7.encode(text)
        #expect(septets?.count == 20)
        #expect(GSM7.decode(septets: septets ?? []) == text)
        #expect(GSM7.decode(septets: [0x1B, 0x41]) == "A")  // unknown extension → default character
        #expect(GSM7.decode(septets: [0x41, 0x1B]) == "A ")  // dangling escape → space
        #expect(GSM7.encode("привет") == nil)
    }
}
