// PDUAddress.swift: address fields (3GPP TS 23.040 §9.1.2.5) and the SMSC address (TS 24.011 §8.2.5.1,
// as used by TS 27.005 PDU mode).

/// Address fields of 3GPP TS 23.040 §9.1.2.5: TP-OA, TP-DA, TP-RA, and the SCA that modems print in front of the
/// TPDU.
///
/// Rendering (the corpus convention): type of number "international" (TON 001) gets a leading `+`; other numeric
/// addresses are the digits as coded, with the semi-octets 0xA...0xE read as `*`, `#`, `a`, `b`, `c`;
/// alphanumeric addresses (TON 101) are decoded from packed GSM 7-bit.
enum PDUAddress {
    // MARK: Type-of-address octet (TS 23.040 §9.1.2.5)

    /// Bits 6...4 of the type-of-address octet: type of number.
    static let typeOfNumberMask: UInt8 = 0x70
    /// TON 001: international number.
    static let typeOfNumberInternational: UInt8 = 0x10
    /// TON 101: alphanumeric (coded in GSM 7-bit default alphabet).
    static let typeOfNumberAlphanumeric: UInt8 = 0x50
    /// Type of address for an international ISDN/telephone number (TON 001, NPI 0001).
    static let internationalISDN: UInt8 = 0x91
    /// Type of address for an unknown-type ISDN/telephone number (TON 000, NPI 0001).
    static let unknownISDN: UInt8 = 0x81
    /// Type of address for an alphanumeric address (TON 101, NPI 0000).
    static let alphanumeric: UInt8 = 0xD0
    /// The filler semi-octet that pads an odd number of digits.
    static let filler: UInt8 = 0x0F
    /// TS 23.040 §9.1.2.5: an address field is at most 12 octets, so at most 20 semi-octets of digits.
    static let maximumSemiOctets = 20
    /// TS 24.011 §8.2.5.1: the RP address value is at most 11 octets including the type-of-address octet.
    static let maximumSCALength = 11
    /// Maximum characters of an alphanumeric address (20 semi-octets → 11 septets).
    static let maximumAlphanumericLength = 11

    /// Semi-octet digit values (TS 23.040 §9.1.2.3): 0-9, then `*`, `#`, `a`, `b`, `c`.
    static let digitCharacters: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "a", "b", "c"]

    // MARK: - Decoding

    /// Reads a TP address field (TP-OA, TP-DA, TP-RA): the address-length octet counts useful semi-octets.
    /// - Parameter field: the TP field name for errors, e.g. `TP-OA`.
    /// - Throws: ``PDUError`` when the field is truncated or its length is impossible.
    static func readTPAddress(_ reader: inout PDUReader, field: String) throws(PDUError) -> String {
        try readTPAddressAndType(&reader, field: field).address
    }

    /// Reads a TP address field like ``readTPAddress(_:field:)`` and also returns its type-of-address octet.
    static func readTPAddressAndType(
        _ reader: inout PDUReader, field: String
    ) throws(PDUError) -> (address: String, typeOfAddress: UInt8) {
        let lengthOffset = reader.offset
        let semiOctets = Int(try reader.readOctet("\(field) length"))
        guard semiOctets <= maximumSemiOctets else {
            throw .malformed(
                "\(field) length", offset: lengthOffset,
                "\(semiOctets) semi-octets exceed the maximum of \(maximumSemiOctets) (TS 23.040 §9.1.2.5)")
        }
        let typeOfAddress = try reader.readOctet("\(field) type-of-address")
        let value = try reader.readOctets((semiOctets + 1) / 2, field)
        return (render(typeOfAddress: typeOfAddress, value: value, semiOctets: semiOctets), typeOfAddress)
    }

    /// Reads the SCA field that starts a PDU as modems print it: the length octet counts octets (type-of-address
    /// included); `0` means no SMSC address. Returns `nil` for an empty address.
    /// - Throws: ``PDUError`` when the field is truncated or longer than 11 octets.
    static func readSCA(_ reader: inout PDUReader) throws(PDUError) -> String? {
        let lengthOffset = reader.offset
        let octets = Int(try reader.readOctet("SCA length"))
        if octets == 0 { return nil }
        guard octets <= maximumSCALength else {
            throw .malformed(
                "SCA length", offset: lengthOffset,
                "\(octets) octets exceed the maximum of \(maximumSCALength) (TS 24.011 §8.2.5.1); "
                    + "if this is a bare TPDU, decode it with hasSMSC: false")
        }
        let typeOfAddress = try reader.readOctet("SCA type-of-address")
        let value = try reader.readOctets(octets - 1, "SCA")
        let text = render(typeOfAddress: typeOfAddress, value: value, semiOctets: value.count * 2)
        return text.isEmpty || text == "+" ? nil : text
    }

    /// Renders an address value by its type of number.
    static func render(typeOfAddress: UInt8, value: [UInt8], semiOctets: Int) -> String {
        let typeOfNumber = typeOfAddress & typeOfNumberMask
        if typeOfNumber == typeOfNumberAlphanumeric {
            // TS 23.040 §9.1.2.5: alphanumeric addresses are packed GSM 7-bit; the length counts semi-octets.
            let septets = semiOctets * 4 / 7
            return GSM7.decode(septets: GSM7.unpack(value[...], fillBits: 0, count: min(septets, value.count * 8 / 7)))
        }
        var digits = typeOfNumber == typeOfNumberInternational ? "+" : ""
        for index in 0..<semiOctets {
            let octet = value[index / 2]
            let nibble = index % 2 == 0 ? octet & 0x0F : octet >> 4
            // A filler inside the announced length (seen in real PDUs) is skipped, not rendered.
            if nibble == filler { continue }
            digits.append(digitCharacters[Int(nibble)])
        }
        return digits
    }

    // MARK: - Encoding

    /// A parsed address ready to be written.
    struct Encoded {
        var typeOfAddress: UInt8
        /// Semi-octets for TP address length octets.
        var semiOctets: Int
        var value: [UInt8]
    }

    /// Parses a phone number (`+` and digits for international, or digits and `*#abc`) or, when `allowAlphanumeric`,
    /// an alphanumeric sender of up to 11 GSM 7-bit characters.
    /// - Throws: ``PDUError`` `.invalidInput` naming `field` for an unusable address.
    static func encode(_ address: String, field: String, allowAlphanumeric: Bool) throws(PDUError) -> Encoded {
        var body = Substring(address)
        let international = body.hasPrefix("+")
        if international { body = body.dropFirst() }
        var nibbles: [UInt8] = []
        var numeric = !body.isEmpty
        for character in body {
            if let index = digitCharacters.firstIndex(of: character) {
                nibbles.append(UInt8(index))
            } else {
                numeric = false
                break
            }
        }
        // International numbers are decimal; a sender that may be alphanumeric is numeric only when it holds
        // nothing but 0-9, * and # (so "abc" stays a name).
        let digitsOnly = nibbles.allSatisfy { $0 <= 9 }
        let dialable = nibbles.allSatisfy { $0 <= 11 }
        if numeric && (international ? digitsOnly : (allowAlphanumeric ? dialable : true)) {
            guard nibbles.count <= maximumSemiOctets else {
                throw .invalidInput(field, "'\(address)' has more than \(maximumSemiOctets) digits")
            }
            var value: [UInt8] = []
            var index = 0
            while index < nibbles.count {
                let low = nibbles[index]
                let high = index + 1 < nibbles.count ? nibbles[index + 1] : filler
                value.append(high << 4 | low)
                index += 2
            }
            return Encoded(
                typeOfAddress: international ? internationalISDN : unknownISDN, semiOctets: nibbles.count,
                value: value)
        }
        guard allowAlphanumeric, !international else {
            throw .invalidInput(
                field, "'\(address)' is not a phone number; use '+' and digits (E.164) or digits only")
        }
        guard let septets = GSM7.encode(address), !septets.isEmpty, septets.count <= maximumAlphanumericLength else {
            throw .invalidInput(
                field,
                "'\(address)' is not a usable alphanumeric sender; use 1 to \(maximumAlphanumericLength) "
                    + "GSM 7-bit characters")
        }
        let value = GSM7.pack(septets)
        // Useful semi-octets: the septet bits rounded up to whole semi-octets.
        return Encoded(typeOfAddress: alphanumeric, semiOctets: (septets.count * 7 + 3) / 4, value: value)
    }

    /// Writes a TP address field (length in semi-octets).
    static func writeTPAddress(_ address: Encoded, to writer: inout PDUWriter) {
        writer.writeOctet(UInt8(address.semiOctets))
        writer.writeOctet(address.typeOfAddress)
        writer.writeOctets(address.value)
    }

    /// Writes the SCA field (length in octets); `nil` writes `00`, "use the SMSC stored in the modem".
    static func writeSCA(_ address: Encoded?, to writer: inout PDUWriter) {
        guard let address else {
            writer.writeOctet(0)
            return
        }
        writer.writeOctet(UInt8(address.value.count + 1))
        writer.writeOctet(address.typeOfAddress)
        writer.writeOctets(address.value)
    }
}
