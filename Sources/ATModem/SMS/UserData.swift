// UserData.swift: TP-UDL, TP-UDH and TP-UD (3GPP TS 23.040 §9.2.3.16, §9.2.3.24), decoded per TP-DCS.

/// The user data of a short message: its alphabet, the decoded text and the raw payload after the header.
public struct UserData: Hashable, Sendable {
    /// The alphabet TP-DCS selected.
    public var encoding: SMSEncoding
    /// The text, for GSM 7-bit and UCS-2; `nil` for 8-bit data.
    public var text: String?
    /// The payload after the user data header: septet values (one per element, 0...127) for GSM 7-bit,
    /// octets for UCS-2 (big-endian UTF-16 code units) and 8-bit data. Reassembly joins these.
    public var data: [UInt8]
    /// The user data header, when TP-UDHI was set.
    public var header: UserDataHeader?

    /// The concatenation element of the header, when present and valid.
    public var concat: ConcatenationInfo? { header?.concatenation }
    /// The application port addressing element of the header, when present.
    public var ports: ApplicationPorts? { header?.ports }

    /// Creates user data.
    public init(encoding: SMSEncoding, text: String?, data: [UInt8], header: UserDataHeader? = nil) {
        self.encoding = encoding
        self.text = text
        self.data = data
        self.header = header
    }

    // MARK: Limits (TS 23.040 §9.2.3.16)

    /// At most 140 octets of user data.
    static let maximumOctets = 140
    /// At most 160 septets of GSM 7-bit user data.
    static let maximumSeptets = 160

    // MARK: - Decoding

    /// Reads TP-UDL and TP-UD (with the TP-UDH when `hasHeader`).
    ///
    /// Octets after the user data (trailing garbage, FF padding of storage records) are left unread.
    /// - Throws: ``PDUError``: `.truncated` when TP-UD is shorter than TP-UDL announces; `.malformed` for a
    ///   TP-UDL above the TS 23.040 maximum, a header that does not fit, UCS-2 with an odd number of octets or, in a
    ///   message that is not part of a concatenated one, an unpaired UTF-16 surrogate.
    static func read(_ reader: inout PDUReader, dcs: DataCodingScheme, hasHeader: Bool) throws(PDUError)
        -> UserData
    {
        // TP-UDL (§9.2.3.16): septets for GSM 7-bit, octets otherwise.
        let lengthOffset = reader.offset
        let length = Int(try reader.readOctet("TP-UDL"))
        let octetCount: Int
        switch dcs.encoding {
        case .gsm7:
            guard length <= maximumSeptets else {
                throw .malformed(
                    "TP-UDL", offset: lengthOffset, "\(length) septets exceed the maximum of \(maximumSeptets)")
            }
            octetCount = (length * 7 + 7) / 8
        case .ucs2, .eightBit:
            guard length <= maximumOctets else {
                throw .malformed(
                    "TP-UDL", offset: lengthOffset, "\(length) octets exceed the maximum of \(maximumOctets)")
            }
            octetCount = length
        }

        // TP-UD (§9.2.3.24): the whole user data, header included.
        let dataOffset = reader.offset
        let userData = try reader.readOctets(octetCount, "TP-UD")

        // TP-UDHL and TP-UDH (§9.2.3.24).
        var header: UserDataHeader?
        var headerOctets = 0
        if hasHeader {
            guard let headerLength = userData.first.map(Int.init) else {
                throw .malformed("TP-UDHL", offset: dataOffset, "TP-UDHI is set but TP-UDL is 0 (no room for a header)")
            }
            guard headerLength + 1 <= octetCount else {
                throw .malformed(
                    "TP-UDHL", offset: dataOffset,
                    "header length \(headerLength) does not fit in the \(octetCount) octets of user data")
            }
            var headerReader = PDUReader(userData)
            _ = try headerReader.readOctet("TP-UDHL")
            header = UserDataHeader.parse(try headerReader.subReader(headerLength, "TP-UDH"))
            headerOctets = headerLength + 1
        }

        // The text or data after the header.
        switch dcs.encoding {
        case .gsm7:
            let headerBits = headerOctets * 8
            let fillBits = (7 - headerBits % 7) % 7
            let headerSeptets = (headerBits + fillBits) / 7
            guard length >= headerSeptets else {
                throw .malformed(
                    "TP-UDL", offset: lengthOffset,
                    "\(length) septets cannot hold the \(headerOctets)-octet header (\(headerSeptets) septets)")
            }
            let septets = GSM7.unpack(userData[...], fillBits: headerBits + fillBits, count: length - headerSeptets)
            return UserData(encoding: .gsm7, text: GSM7.decode(septets: septets), data: septets, header: header)
        case .ucs2:
            let payload = Array(userData[headerOctets...])
            guard payload.count % 2 == 0 else {
                throw .malformed(
                    "TP-UD", offset: dataOffset + headerOctets,
                    "UCS-2 text of \(payload.count) octets is not a whole number of 16-bit code units")
            }
            let lenient = header?.concatenation != nil
            guard let text = UCS2.decode(payload, allowUnpairedSurrogates: lenient) else {
                throw .malformed(
                    "TP-UD", offset: dataOffset + headerOctets,
                    "UCS-2 text holds an unpaired UTF-16 surrogate (half of a character)")
            }
            return UserData(encoding: .ucs2, text: text, data: payload, header: header)
        case .eightBit:
            return UserData(encoding: .eightBit, text: nil, data: Array(userData[headerOctets...]), header: header)
        }
    }

    // MARK: - Encoding

    /// Writes TP-UDL and TP-UD; the mirror of ``read(_:dcs:hasHeader:)``.
    /// - Parameter payload: septets for GSM 7-bit, octets otherwise.
    static func write(header: UserDataHeader?, encoding: SMSEncoding, payload: [UInt8], to writer: inout PDUWriter) {
        var headerBytes: [UInt8] = []
        if let header {
            let elements = header.encodedElements()
            headerBytes = [UInt8(elements.count)] + elements
        }
        switch encoding {
        case .gsm7:
            let headerBits = headerBytes.count * 8
            let fillBits = (7 - headerBits % 7) % 7
            let headerSeptets = (headerBits + fillBits) / 7
            writer.writeOctet(UInt8(headerSeptets + payload.count))
            writer.writeOctets(headerBytes)
            writer.writeOctets(GSM7.pack(payload, fillBits: fillBits))
        case .ucs2, .eightBit:
            writer.writeOctet(UInt8(headerBytes.count + payload.count))
            writer.writeOctets(headerBytes)
            writer.writeOctets(payload)
        }
    }
}

/// UCS-2 user data (3GPP TS 23.038 §6.2.3), read as big-endian UTF-16 so that surrogate pairs (emoji) work.
public enum UCS2 {
    /// Decodes big-endian UTF-16 (`octets.count` must be even). Returns `nil` for an unpaired surrogate unless
    /// `allowUnpairedSurrogates`, in which case it becomes U+FFFD (a part of a message whose sender split a pair).
    public static func decode(_ octets: [UInt8], allowUnpairedSurrogates: Bool) -> String? {
        var scalars = String.UnicodeScalarView()
        var index = 0
        let count = octets.count / 2
        func unit(_ i: Int) -> UInt16 { UInt16(octets[2 * i]) << 8 | UInt16(octets[2 * i + 1]) }
        while index < count {
            let u = unit(index)
            index += 1
            if UTF16.isLeadSurrogate(u), index < count, UTF16.isTrailSurrogate(unit(index)) {
                let value = 0x10000 + (UInt32(u - 0xD800) << 10 | UInt32(unit(index) - 0xDC00))
                index += 1
                if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
            } else if let scalar = Unicode.Scalar(u) {
                scalars.append(scalar)
            } else if allowUnpairedSurrogates {
                scalars.append("\u{FFFD}")
            } else {
                return nil
            }
        }
        return String(scalars)
    }

    /// Encodes text as big-endian UTF-16 octets.
    public static func encode(_ text: String) -> [UInt8] {
        encode(units: Array(text.utf16))
    }

    /// Encodes UTF-16 code units as big-endian octets.
    public static func encode(units: [UInt16]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(units.count * 2)
        for unit in units {
            out.append(UInt8(unit >> 8))
            out.append(UInt8(unit & 0xFF))
        }
        return out
    }
}
