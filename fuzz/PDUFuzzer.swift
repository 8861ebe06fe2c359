// PDUFuzzer.swift: libFuzzer entry point for the SMS PDU codec. Built by fuzz/run.sh together with the codec
// sources (Sources/ATModem/SMS/*.swift without the Foundation extension) into one module.
//
// The first input byte picks the mode; the rest is the payload:
//   0: the payload is hex text for PDUDecoder.decode(hex:hasSMSC: true)
//   1: the payload is PDU octets with an SCA field; 2: a bare TPDU
//   3: the payload is UTF-8 text: encode it as SUBMIT and DELIVER, decode every part, join, compare (differential)
// Every successful decode is also fed through the reassembler and the `sms list` summary.
// A trap or a sanitizer report is a finding; a thrown PDUError is the expected outcome for garbage.

@_cdecl("LLVMFuzzerTestOneInput")
public func pduFuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: start, count: count))
    let payload = Array(input.dropFirst())
    switch input[0] % 4 {
    case 0:
        let hex = String(decoding: payload, as: UTF8.self)
        exercise(try? PDUDecoder.decode(hex: hex, hasSMSC: true), hex: hex)
    case 1:
        let decoded = try? PDUDecoder.decode(bytes: payload, hasSMSC: true)
        // Differential: the hex path must agree with the octet path.
        precondition(decoded == (try? PDUDecoder.decode(hex: PDUHex.encode(payload))), "hex and octet paths differ")
        exercise(decoded, hex: PDUHex.encode(payload))
    case 2:
        exercise(try? PDUDecoder.decode(bytes: payload, hasSMSC: false), hex: PDUHex.encode(payload))
    default:
        roundTrip(String(decoding: payload, as: UTF8.self))
    }
    return 0
}

/// Runs the consumers of a decoded PDU; they must not trap either.
private func exercise(_ decoded: DecodedPDU?, hex: String) {
    guard let decoded else {
        _ = SMSSummary.list([(index: 0, pdu: hex)])
        return
    }
    if let fragment = SMSReassembler.Fragment(decoded, index: 0) {
        var reassembler = SMSReassembler(maximumPendingGroups: 2, maximumRemembered: 2)
        _ = reassembler.add(fragment, now: .zero)
        _ = reassembler.add(fragment, now: .seconds(1))
        _ = reassembler.expire(now: .seconds(10_000))
        _ = SMSReassembler.join([fragment, fragment])
        _ = fragment.userData.text?.unicodeScalars.count
    }
    _ = SMSSummary.list([(index: 1, pdu: hex), (index: 2, pdu: hex)])
    if case .deliver(let deliver) = decoded.pdu {
        _ = deliver.timestamp.iso8601
        _ = deliver.timestamp.secondsSince1970
        // Differential: re-encoding what was decoded gives the same sender, time stamp and text back (when the
        // encoder accepts the values; it refuses e.g. an empty sender or a zone beyond ±19:45).
        if let text = deliver.userData.text, deliver.userData.encoding != .eightBit,
            let pdus = try? SMSEncoder.deliver(
                from: deliver.sender, text: text, timestamp: deliver.timestamp, concatReference: 1)
        {
            var reassembler = SMSReassembler()
            var out: [SMSMessage] = []
            for (index, pdu) in pdus.enumerated() {
                guard let again = try? PDUDecoder.decode(hex: pdu.hex),
                    let fragment = SMSReassembler.Fragment(again, index: index)
                else { fatalError("the decoder rejects the encoder's PDU \(pdu.hex)") }
                out += reassembler.add(fragment, now: .zero)
            }
            precondition(out.count == 1, "re-encoded message did not join")
            precondition(out[0].text == text, "re-encoded text differs: \(text.debugDescription)")
            precondition(out[0].timestamp == deliver.timestamp, "re-encoded time stamp differs")
            precondition(out[0].sender == deliver.sender, "re-encoded sender differs: \(deliver.sender)")
        }
    }
}

/// Differential check: what the encoder writes, the decoder and the reassembler give back unchanged.
private func roundTrip(_ text: String) {
    guard text.utf16.count < 2000 else { return }
    guard let stamp = try? SMSTimestamp(
        year: 2026, month: 2, day: 28, hour: 23, minute: 59, second: 59, utcOffsetMinutes: -345)
    else { fatalError("valid time stamp rejected") }
    let encodings: [[EncodedPDU]] = [
        (try? SMSEncoder.submit(to: "+46701234567", text: text, concatReference: 77)) ?? [],
        (try? SMSEncoder.deliver(from: "Alpha", text: text, timestamp: stamp, concatReference: 78)) ?? [],
    ]
    for pdus in encodings where !pdus.isEmpty {
        var reassembler = SMSReassembler()
        var out: [SMSMessage] = []
        for (index, pdu) in pdus.enumerated().reversed() {
            guard let decoded = try? PDUDecoder.decode(hex: pdu.hex) else {
                fatalError("the decoder rejects the encoder's PDU \(pdu.hex)")
            }
            guard decoded.tpduLength == pdu.tpduLength, let fragment = SMSReassembler.Fragment(decoded, index: index)
            else { fatalError("TPDU length or type differs for \(pdu.hex)") }
            out += reassembler.add(fragment, now: .zero)
        }
        guard out.count == 1, out[0].text == text else {
            fatalError("round trip changed the text: \(Array(text.unicodeScalars)) → \(out.map(\.text))")
        }
    }
}
