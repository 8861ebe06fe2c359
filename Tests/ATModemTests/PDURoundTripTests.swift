// PDURoundTripTests.swift: property-based encode → decode round trips (x-sheep/swift-property-based), including the
// 160/70 single-message limits, part boundaries, extension characters and surrogate pairs at a part boundary.

@testable import ATModem
import PropertyBased
import Testing

@Suite("SMS PDU round trips (property-based)")
struct PDURoundTripTests {
    /// Every character of the GSM 7-bit default alphabet and extension table, in a stable order.
    static let gsmPool: [String] =
        (GSM7.defaultReverse.keys.sorted { $0.value < $1.value } + GSM7.extensionReverse.keys.sorted { $0.value < $1.value })
        .map { String($0) }
    /// GSM characters plus BMP characters outside GSM and characters that need surrogate pairs.
    static let ucsPool: [String] = gsmPool + ["Ж", "中", "ق", "ő", "€", "😀", "👍", "𝄞", "\u{10FFFD}", "ç"]

    static func text(_ pool: [String], length: ClosedRange<Int>)
        -> Generator<String, Generator<Int, Shrink.Integer<Int>>.ArrayShrink>
    {
        Gen.int(in: 0...(pool.count - 1)).array(of: length).map { indexes in indexes.map { pool[$0] }.joined() }
    }

    static let stamp = try! SMSTimestamp(
        year: 2026, month: 11, day: 21, hour: 23, minute: 50, second: 0, utcOffsetMinutes: 60)

    /// Decodes every part, checks the per-part limits and joins them (in reverse order) with the reassembler.
    static func decodeAndJoin(_ pdus: [EncodedPDU], expectPeer peer: String) throws -> SMSMessage? {
        var reassembler = SMSReassembler()
        var out: [SMSMessage] = []
        for (position, pdu) in pdus.enumerated().reversed() {
            let decoded = try PDUDecoder.decode(hex: pdu.hex)
            #expect(decoded.tpduLength == pdu.tpduLength)
            #expect(pdu.hex.count / 2 - 1 == pdu.tpduLength)  // SCA "00" + TPDU
            let fragment = try #require(SMSReassembler.Fragment(decoded, index: position))
            #expect(fragment.peer == peer)
            let data = fragment.userData
            switch data.encoding {
            case .gsm7:
                #expect(data.data.count <= (pdus.count == 1 ? 160 : 153))
                if position < pdus.count - 1 {
                    #expect(data.data.last != GSM7.escape, "a part ends inside an escape pair")
                    #expect(data.data.count >= 152)
                }
            case .ucs2:
                #expect(data.data.count <= (pdus.count == 1 ? 140 : 134))
                #expect(data.text?.unicodeScalars.contains("\u{FFFD}") == false, "a part splits a surrogate pair")
                if position < pdus.count - 1 { #expect(data.data.count >= 132) }
            case .eightBit:
                Issue.record("the encoder never writes 8-bit data")
            }
            if pdus.count > 1 {
                #expect(data.concat?.total == pdus.count)
                #expect(data.concat?.sequence == position + 1)
            } else {
                #expect(data.concat == nil)
            }
            out += reassembler.add(fragment, now: .zero)
        }
        #expect(out.count == 1)
        return out.first
    }

    @Test("GSM 7-bit SUBMIT round trip (default + extension characters, 0...400 characters)")
    func gsm7Submit() async {
        await propertyCheck(count: 150, input: Self.text(Self.gsmPool, length: 0...400)) { text in
            let pdus = try SMSEncoder.submit(to: "+46701234567", text: text, concatReference: 42)
            let septets = GSM7.encode(text)!.count
            if septets <= 160 { #expect(pdus.count == 1) } else { #expect(pdus.count >= 2) }
            let message = try Self.decodeAndJoin(pdus, expectPeer: "+46701234567")
            #expect(message?.encoding == .gsm7)
            #expect(message?.text == text)
        }
    }

    @Test("UCS-2 SUBMIT round trip (BMP and surrogate pairs, 1...200 characters)")
    func ucs2Submit() async {
        await propertyCheck(count: 150, input: Self.text(Self.ucsPool, length: 0...200)) { tail in
            let text = "Ж" + tail  // at least one character outside GSM 7-bit
            let pdus = try SMSEncoder.submit(to: "0701234567", text: text, statusReportRequest: true, concatReference: 7)
            if text.utf16.count <= 70 { #expect(pdus.count == 1) } else { #expect(pdus.count >= 2) }
            let message = try Self.decodeAndJoin(pdus, expectPeer: "0701234567")
            #expect(message?.encoding == .ucs2)
            #expect(message?.text == text)
        }
    }

    @Test("160 septets / 70 units fit one message; one more needs two parts")
    func singleMessageLimits() async {
        await propertyCheck(input: Gen.int(in: 140...180), Gen.int(in: 60...80)) { septets, units in
            let gsm = try SMSEncoder.submit(to: "+1555", text: String(repeating: "a", count: septets))
            #expect(gsm.count == (septets <= 160 ? 1 : 2))
            // An extension character counts two septets.
            let euros = try SMSEncoder.submit(to: "+1555", text: String(repeating: "€", count: septets / 2))
            #expect(euros.count == ((septets / 2) * 2 <= 160 ? 1 : 2))
            let ucs = try SMSEncoder.submit(to: "+1555", text: String(repeating: "Ж", count: units))
            #expect(ucs.count == (units <= 70 ? 1 : 2))
            let emoji = try SMSEncoder.submit(to: "+1555", text: String(repeating: "😀", count: units / 2))
            #expect(emoji.count == ((units / 2) * 2 <= 70 ? 1 : 2))
        }
    }

    @Test("an escape pair or a surrogate pair at a part boundary moves whole to the next part")
    func pairsAtPartBoundaries() async {
        await propertyCheck(input: Gen.int(in: 145...160), Gen.int(in: 60...72), Gen.int(in: 1...200)) {
            prefix, unitPrefix, tail in
            let gsmText = String(repeating: "a", count: prefix) + "€" + String(repeating: "b", count: tail)
            let gsm = try SMSEncoder.submit(to: "+1555", text: gsmText, concatReference: 1)
            #expect(try Self.decodeAndJoin(gsm, expectPeer: "+1555")?.text == gsmText)
            let ucsText = String(repeating: "Ж", count: unitPrefix) + "😀" + String(repeating: "ő", count: tail)
            let ucs = try SMSEncoder.submit(to: "+1555", text: ucsText, concatReference: 2)
            #expect(try Self.decodeAndJoin(ucs, expectPeer: "+1555")?.text == ucsText)
        }
    }

    @Test("DELIVER round trip: sender kinds, time stamps with zones, text")
    func deliverRoundTrip() async {
        let international = Gen.number.string(of: 1...15).map { "+" + $0 }
        let national = Gen.number.string(of: 1...20)
        let alphanumeric = Gen.letterOrNumber.string(of: 1...11).filter { $0.contains { $0.isLetter } }
        let sender = Gen.oneOf(international.eraseToAny(), national.eraseToAny(), alphanumeric.eraseToAny())
        // 2000-01-02 ... 2099-12-30, zones −19:45 ... +19:45.
        let seconds = Gen.int64(in: 946_771_200...4_102_272_000)
        let quarters = Gen.int(in: -79...79)
        await propertyCheck(
            count: 150, input: sender, seconds, quarters, Self.text(Self.ucsPool, length: 0...300)
        ) { sender, seconds, quarters, text in
            let stamp = try SMSTimestamp(secondsSince1970: seconds, utcOffsetMinutes: quarters * 15)
            #expect(stamp.secondsSince1970 == seconds)
            let pdus = try SMSEncoder.deliver(from: sender, text: text, timestamp: stamp, concatReference: 200)
            let message = try Self.decodeAndJoin(pdus, expectPeer: sender)
            #expect(message?.text == text)
            #expect(message?.timestamp == stamp)
        }
    }
}
