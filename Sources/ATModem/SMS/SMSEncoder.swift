// SMSEncoder.swift: SMS-SUBMIT and SMS-DELIVER encoding, with concatenation (3GPP TS 23.040 §9.2.2.1, §9.2.2.2,
// §9.2.3.24.1). The mirror of the decoders.

/// One encoded PDU: the hex to send after `AT+CMGS=<tpduLength>` (or to print in `+CMGR`).
public struct EncodedPDU: Hashable, Sendable {
    /// The whole PDU as uppercase hex, starting with the SCA field (`00` = "use the modem's SMSC").
    public var hex: String
    /// Octets of the TPDU (the PDU without the SCA field): the `<length>` of `AT+CMGS`.
    public var tpduLength: Int
}

/// Encodes SMS-SUBMIT (to send) and SMS-DELIVER (for the emulator and tests) PDUs.
///
/// The alphabet is chosen by content: GSM 7-bit when every character is in the default alphabet or its extension
/// table (TS 23.038 §6.2.1), UCS-2 otherwise. Text longer than one message (160 septets / 70 UTF-16 units) is split
/// into concatenated parts of at most 153 septets / 67 units with an 8-bit reference (TS 23.040 §9.2.3.24.1);
/// a split never separates an escape pair or a surrogate pair.
public enum SMSEncoder {
    /// Septets of a single GSM 7-bit message (TS 23.040 §9.2.3.16).
    public static let singleGSM7Septets = 160
    /// Septets per part of a concatenated GSM 7-bit message (160 minus the 6-octet header, 7 septets).
    public static let partGSM7Septets = 153
    /// UTF-16 units of a single UCS-2 message (140 octets).
    public static let singleUCS2Units = 70
    /// UTF-16 units per part of a concatenated UCS-2 message (134 octets after the 6-octet header).
    public static let partUCS2Units = 67
    /// Most parts a concatenation element can number.
    public static let maximumParts = 255

    /// The first octet of an SMS-SUBMIT without options: TP-MTI 01.
    static let submitFirstOctet: UInt8 = 0x01
    /// The first octet of an SMS-DELIVER: TP-MTI 00, TP-MMS set ("no more messages are waiting").
    static let deliverFirstOctet: UInt8 = 0x04
    /// TP-PID 0x00: plain short message (TS 23.040 §9.2.3.9).
    static let plainProtocolIdentifier: UInt8 = 0x00

    // MARK: - SMS-SUBMIT

    /// Encodes text as one or more SMS-SUBMIT PDUs.
    /// - Parameters:
    ///   - recipient: `+` and digits (international) or digits.
    ///   - text: any text; the alphabet is chosen by content.
    ///   - statusReportRequest: sets TP-SRR so the network sends a status report.
    ///   - validity: TP-VP (any format), or `nil` for none.
    ///   - smsc: the SMSC to write in the SCA field, or `nil` for `00` (the modem's own).
    ///   - concatReference: the 8-bit reference shared by the parts of a long message; vary it between messages
    ///     (`nil` picks one at random).
    ///   - messageReference: TP-MR (modems overwrite it).
    /// - Returns: one PDU per part, in sequence order.
    /// - Throws: ``PDUError`` `.invalidInput` for an unusable recipient or text needing more than 255 parts.
    public static func submit(
        to recipient: String, text: String, statusReportRequest: Bool = false, validity: ValidityPeriod? = nil,
        smsc: String? = nil, concatReference: UInt8? = nil, messageReference: UInt8 = 0
    ) throws(PDUError) -> [EncodedPDU] {
        let destination = try PDUAddress.encode(recipient, field: "recipient", allowAlphanumeric: false)
        let scaAddress = try smsc.map { (s: String) throws(PDUError) in
            try PDUAddress.encode(s, field: "smsc", allowAlphanumeric: false)
        }
        if case .absolute(let stamp) = validity { try stamp.validateForEncoding() }
        let (encoding, payloads) = try split(text)
        let reference = Int(concatReference ?? UInt8.random(in: 0...255))
        var result: [EncodedPDU] = []
        for (index, payload) in payloads.enumerated() {
            let header =
                payloads.count > 1
                ? UserDataHeader.concatenating(reference: reference, total: payloads.count, sequence: index + 1) : nil
            var writer = PDUWriter()
            // SCA
            PDUAddress.writeSCA(scaAddress, to: &writer)
            let tpduStart = writer.count
            // TP-MTI, TP-RD, TP-VPF, TP-SRR, TP-UDHI, TP-RP
            var first = submitFirstOctet
            switch validity {
            case .relative: first |= ValidityPeriod.formatRelative
            case .enhanced: first |= ValidityPeriod.formatEnhanced
            case .absolute: first |= ValidityPeriod.formatAbsolute
            case nil: break
            }
            if statusReportRequest { first |= FirstOctet.statusReport }
            if header != nil { first |= FirstOctet.userDataHeaderIndicator }
            writer.writeOctet(first)
            // TP-MR
            writer.writeOctet(messageReference)
            // TP-DA
            PDUAddress.writeTPAddress(destination, to: &writer)
            // TP-PID
            writer.writeOctet(plainProtocolIdentifier)
            // TP-DCS
            writer.writeOctet(encoding == .gsm7 ? DataCodingScheme.gsm7 : DataCodingScheme.ucs2)
            // TP-VP
            switch validity {
            case .relative(let value): writer.writeOctet(value)
            case .enhanced(let octets):
                writer.writeOctets((octets + [UInt8](repeating: 0, count: 7)).prefix(ValidityPeriod.enhancedOctetCount))
            case .absolute(let stamp): stamp.write(to: &writer)
            case nil: break
            }
            // TP-UDL, TP-UD
            UserData.write(header: header, encoding: encoding, payload: payload, to: &writer)
            result.append(EncodedPDU(hex: PDUHex.encode(writer.bytes), tpduLength: writer.count - tpduStart))
        }
        return result
    }

    /// Encodes text as SMS-SUBMIT PDUs and returns only the hex strings (see
    /// ``submit(to:text:statusReportRequest:validity:smsc:concatReference:messageReference:)``).
    /// - Throws: ``PDUError`` `.invalidInput` for an unusable recipient or text needing more than 255 parts.
    public static func submitPDUs(
        to recipient: String, text: String, statusReportRequest: Bool = false, validity: ValidityPeriod? = nil,
        concatReference: UInt8? = nil
    ) throws(PDUError) -> [String] {
        try submit(
            to: recipient, text: text, statusReportRequest: statusReportRequest, validity: validity,
            concatReference: concatReference
        ).map(\.hex)
    }

    // MARK: - SMS-DELIVER

    /// Encodes text as one or more SMS-DELIVER PDUs, as a modem would print them (for the emulator and tests).
    /// - Parameters:
    ///   - sender: `+` and digits, digits, or an alphanumeric name of up to 11 GSM 7-bit characters.
    ///   - text: any text; the alphabet is chosen by content.
    ///   - timestamp: TP-SCTS, with its time zone.
    ///   - smsc: the SMSC address for the SCA field, or `nil` for an empty field (`00`).
    ///   - concatReference: the 8-bit reference shared by the parts (`nil` picks one at random).
    /// - Returns: one PDU per part, in sequence order.
    /// - Throws: ``PDUError`` `.invalidInput` for an unusable sender or time stamp, or text needing more than 255
    ///   parts.
    public static func deliver(
        from sender: String, text: String, timestamp: SMSTimestamp, smsc: String? = nil,
        concatReference: UInt8? = nil
    ) throws(PDUError) -> [EncodedPDU] {
        let originator = try PDUAddress.encode(sender, field: "sender", allowAlphanumeric: true)
        let scaAddress = try smsc.map { (s: String) throws(PDUError) in
            try PDUAddress.encode(s, field: "smsc", allowAlphanumeric: false)
        }
        try timestamp.validateForEncoding()
        let (encoding, payloads) = try split(text)
        let reference = Int(concatReference ?? UInt8.random(in: 0...255))
        var result: [EncodedPDU] = []
        for (index, payload) in payloads.enumerated() {
            let header =
                payloads.count > 1
                ? UserDataHeader.concatenating(reference: reference, total: payloads.count, sequence: index + 1) : nil
            var writer = PDUWriter()
            // SCA
            PDUAddress.writeSCA(scaAddress, to: &writer)
            let tpduStart = writer.count
            // TP-MTI, TP-MMS, TP-LP, TP-SRI, TP-UDHI, TP-RP
            writer.writeOctet(deliverFirstOctet | (header != nil ? FirstOctet.userDataHeaderIndicator : 0))
            // TP-OA
            PDUAddress.writeTPAddress(originator, to: &writer)
            // TP-PID
            writer.writeOctet(plainProtocolIdentifier)
            // TP-DCS
            writer.writeOctet(encoding == .gsm7 ? DataCodingScheme.gsm7 : DataCodingScheme.ucs2)
            // TP-SCTS
            timestamp.write(to: &writer)
            // TP-UDL, TP-UD
            UserData.write(header: header, encoding: encoding, payload: payload, to: &writer)
            result.append(EncodedPDU(hex: PDUHex.encode(writer.bytes), tpduLength: writer.count - tpduStart))
        }
        return result
    }

    /// Encodes text as SMS-DELIVER PDUs and returns only the hex strings (see
    /// ``deliver(from:text:timestamp:smsc:concatReference:)``).
    /// - Throws: ``PDUError`` `.invalidInput` for an unusable sender or text needing more than 255 parts.
    public static func deliverPDUs(
        from sender: String, text: String, timestamp: SMSTimestamp, smsc: String? = nil,
        concatReference: UInt8? = nil
    ) throws(PDUError) -> [String] {
        try deliver(from: sender, text: text, timestamp: timestamp, smsc: smsc, concatReference: concatReference)
            .map(\.hex)
    }

    // MARK: - Splitting

    /// Chooses the alphabet for `text` and splits it into part payloads (septets for GSM 7-bit, octets for UCS-2).
    /// - Throws: ``PDUError`` `.invalidInput` when more than 255 parts would be needed.
    public static func split(_ text: String) throws(PDUError) -> (encoding: SMSEncoding, parts: [[UInt8]]) {
        if let septets = GSM7.encode(text) {
            let parts = chunks(septets, single: singleGSM7Septets, part: partGSM7Septets) { chunk in
                // Never end a part on the escape septet of an escape pair.
                chunk.last == GSM7.escape
            }
            return (.gsm7, try checked(parts))
        }
        let units = Array(text.utf16)
        let parts = chunks(units, single: singleUCS2Units, part: partUCS2Units) { chunk in
            // Never end a part on the first half of a surrogate pair.
            chunk.last.map(UTF16.isLeadSurrogate) ?? false
        }
        return (.ucs2, try checked(parts).map(UCS2.encode(units:)))
    }

    private static func checked<T>(_ parts: [T]) throws(PDUError) -> [T] {
        guard parts.count <= maximumParts else {
            throw .invalidInput("text", "needs \(parts.count) parts; at most \(maximumParts) can be concatenated")
        }
        return parts
    }

    private static func chunks<T>(_ items: [T], single: Int, part: Int, endsBadly: ([T]) -> Bool) -> [[T]] {
        guard items.count > single else { return [items] }
        var result: [[T]] = []
        var start = 0
        while start < items.count {
            var end = min(start + part, items.count)
            if end < items.count, endsBadly(Array(items[start..<end])) { end -= 1 }
            result.append(Array(items[start..<end]))
            start = end
        }
        return result
    }
}
