// PDUEncodeTests.swift: SMS-SUBMIT / SMS-DELIVER encoding, fixed examples (property-based round trips are in
// PDURoundTripTests.swift).

@testable import ATModem
import Testing

@Suite("SMS PDU encoding")
struct PDUEncodeTests {
    @Test("a short GSM 7-bit SUBMIT matches the well-known reference PDU")
    func referenceSubmit() throws {
        // The classic example: "hellohello" to +46708251358, validity AA (4 days).
        let parts = try SMSEncoder.submit(to: "+46708251358", text: "hellohello", validity: .relative(0xAA))
        #expect(parts.count == 1)
        #expect(parts[0].hex == "0011000B916407281553F80000AA0AE8329BFD4697D9EC37")
        #expect(parts[0].tpduLength == 23)
    }

    @Test("the alphabet is chosen by content")
    func alphabetChoice() throws {
        let gsm = try PDUDecoder.decode(hex: SMSEncoder.submitPDUs(to: "+1555", text: "Price: 5€ [ok]")[0])
        let ucs = try PDUDecoder.decode(hex: SMSEncoder.submitPDUs(to: "+1555", text: "Привет 👋")[0])
        guard case .submit(let g) = gsm.pdu, case .submit(let u) = ucs.pdu else {
            Issue.record("not submits")
            return
        }
        #expect(g.userData.encoding == .gsm7)
        #expect(g.userData.text == "Price: 5€ [ok]")
        #expect(u.userData.encoding == .ucs2)
        #expect(u.userData.text == "Привет 👋")
    }

    @Test("status report request and relative validity are written")
    func submitOptions() throws {
        let hex = try SMSEncoder.submitPDUs(
            to: "0701234567", text: "x", statusReportRequest: true, validity: .relative(167))[0]
        guard case .submit(let s) = try PDUDecoder.decode(hex: hex).pdu else {
            Issue.record("not a submit")
            return
        }
        #expect(s.statusReportRequested)
        #expect(s.validityPeriod == .relative(167))
        #expect(s.validityPeriod?.relativeSeconds == 86_400)
        #expect(s.recipient == "0701234567")
    }

    @Test("a DELIVER from an alphanumeric sender with a zone decodes back")
    func deliverAlphanumeric() throws {
        let stamp = try SMSTimestamp(
            year: 2026, month: 11, day: 21, hour: 23, minute: 50, second: 0, utcOffsetMinutes: 60)
        let pdus = try SMSEncoder.deliverPDUs(from: "InternetSMS", text: "Hi", timestamp: stamp, smsc: "+46707949000")
        let decoded = try PDUDecoder.decode(hex: pdus[0])
        #expect(decoded.smsc == "+46707949000")
        guard case .deliver(let d) = decoded.pdu else {
            Issue.record("not a deliver")
            return
        }
        #expect(d.sender == "InternetSMS")
        #expect(d.timestamp.iso8601 == "2026-11-21T23:50:00+01:00")
        #expect(d.userData.text == "Hi")
    }

    @Test("unusable arguments are errors that name the argument")
    func badArguments() {
        #expect(throws: PDUError.self) { try SMSEncoder.submit(to: "alice", text: "x") }
        #expect(throws: PDUError.self) { try SMSEncoder.submit(to: "+123456789012345678901", text: "x") }
        #expect(throws: PDUError.self) { try SMSEncoder.deliver(from: "TwelveChars!", text: "x", timestamp: .init(year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0, utcOffsetMinutes: 0)) }
        #expect(throws: PDUError.self) { try SMSEncoder.submit(to: "+1", text: String(repeating: "a", count: 153 * 255 + 1)) }
        #expect(throws: PDUError.self) {
            try SMSTimestamp(year: 2026, month: 2, day: 30, hour: 0, minute: 0, second: 0, utcOffsetMinutes: 0)
        }
        #expect(throws: PDUError.self) {
            try SMSTimestamp(year: 2026, month: 2, day: 3, hour: 0, minute: 0, second: 0, utcOffsetMinutes: 10)
        }
    }

    @Test("absolute and enhanced validity periods round-trip; an invalid time stamp is refused")
    func validityFormats() throws {
        let until = try SMSTimestamp(
            year: 2026, month: 12, day: 24, hour: 18, minute: 0, second: 0, utcOffsetMinutes: 345)
        let absolute = try SMSEncoder.submitPDUs(to: "+1555", text: "x", validity: .absolute(until))[0]
        guard case .submit(let a) = try PDUDecoder.decode(hex: absolute).pdu else {
            Issue.record("not a submit")
            return
        }
        #expect(a.validityPeriod == .absolute(until))
        #expect(until.iso8601 == "2026-12-24T18:00:00+05:45")
        let raw: [UInt8] = [0x01, 0x0A, 0, 0, 0, 0, 0]
        let enhanced = try SMSEncoder.submitPDUs(to: "+1555", text: "x", validity: .enhanced(raw))[0]
        guard case .submit(let e) = try PDUDecoder.decode(hex: enhanced).pdu else {
            Issue.record("not a submit")
            return
        }
        #expect(e.validityPeriod == .enhanced(raw))
        // A decoded zone octet 0xF7 (non-decimal semi-octet) reads as 85 quarter hours: decodable, not encodable.
        var reader = PDUReader([0x62, 0x21, 0x42, 0x81, 0x00, 0x00, 0xF7])
        let odd = try SMSTimestamp.read(&reader, field: "TP-SCTS")
        #expect(odd.utcOffsetMinutes == 85 * 15)
        #expect(throws: PDUError.self) { try SMSEncoder.submit(to: "+1555", text: "x", validity: .absolute(odd)) }
        #expect(throws: PDUError.self) { try SMSEncoder.deliver(from: "+1", text: "x", timestamp: odd) }
        #expect(throws: PDUError.self) { try SMSTimestamp(secondsSince1970: .max, utcOffsetMinutes: 0) }
        #expect(throws: PDUError.self) { try SMSTimestamp(secondsSince1970: 0, utcOffsetMinutes: .min) }
        #expect(ValidityPeriod.relative(atLeastSeconds: 86_400) == .relative(167))
        #expect(ValidityPeriod.seconds(relative: 0) == 300)
        #expect(ValidityPeriod.seconds(relative: 255) == 63 * 7 * 86_400)
    }
}
