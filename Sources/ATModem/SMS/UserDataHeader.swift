// UserDataHeader.swift: TP-UDH information elements (3GPP TS 23.040 §9.2.3.24).

/// Concatenated short message information (3GPP TS 23.040 §9.2.3.24.1 with 8-bit reference, §9.2.3.24.8 with
/// 16-bit reference).
public struct ConcatenationInfo: Hashable, Sendable {
    /// The concatenated short message reference number, identical in every part of one message.
    public var reference: Int
    /// Number of parts of the whole message (1...255).
    public var total: Int
    /// This part's sequence number (1...total).
    public var sequence: Int
    /// True for the 16-bit reference element (IEI 0x08), false for the 8-bit one (IEI 0x00).
    public var is16BitReference: Bool

    /// Creates concatenation information.
    public init(reference: Int, total: Int, sequence: Int, is16BitReference: Bool = false) {
        self.reference = reference
        self.total = total
        self.sequence = sequence
        self.is16BitReference = is16BitReference
    }
}

/// Application port addressing (3GPP TS 23.040 §9.2.3.24.3 8-bit, §9.2.3.24.4 16-bit).
public struct ApplicationPorts: Hashable, Sendable {
    /// Destination port.
    public var destination: Int
    /// Originator port.
    public var source: Int
}

/// One information element of a user data header, kept raw.
public struct InformationElement: Hashable, Sendable {
    /// Information element identifier (TS 23.040 §9.2.3.24, table of IEIs).
    public var identifier: UInt8
    /// The element's data octets.
    public var data: [UInt8]
}

/// A decoded TP-UDH (3GPP TS 23.040 §9.2.3.24).
public struct UserDataHeader: Hashable, Sendable {
    /// Every element, in order, including the ones this codec does not interpret.
    public var elements: [InformationElement]
    /// The concatenation element, when present and valid (see ``ConcatenationInfo``).
    public var concatenation: ConcatenationInfo?
    /// The application port addressing element, when present.
    public var ports: ApplicationPorts?

    // MARK: IEIs (TS 23.040 §9.2.3.24)

    static let concatenation8Bit: UInt8 = 0x00
    static let ports8Bit: UInt8 = 0x04
    static let ports16Bit: UInt8 = 0x05
    static let concatenation16Bit: UInt8 = 0x08

    /// Parses the elements of a header whose UDHL octet has already been read.
    ///
    /// TS 23.040 §9.2.3.24: "If the length of the User Data Header is such that there are too few or too many
    /// octets in the final Information Element then the whole User Data Header shall be ignored", and a repeated
    /// element is taken from its last occurrence. §9.2.3.24.1: a concatenation element whose maximum is 0, or
    /// whose sequence number is 0 or above the maximum, is ignored. An element with a wrong length for its type is
    /// ignored too.
    static func parse(_ reader: PDUReader) -> UserDataHeader {
        var reader = reader
        var header = UserDataHeader(elements: [], concatenation: nil, ports: nil)
        while !reader.isAtEnd {
            guard let identifier = try? reader.readOctet("TP-UDH IEI"),
                let length = try? reader.readOctet("TP-UDH IEDL"),
                let data = try? reader.readOctets(Int(length), "TP-UDH IED")
            else {
                return UserDataHeader(elements: [], concatenation: nil, ports: nil)
            }
            header.elements.append(InformationElement(identifier: identifier, data: data))
            switch identifier {
            case concatenation8Bit where data.count == 3:
                header.concatenation = validConcatenation(
                    reference: Int(data[0]), total: Int(data[1]), sequence: Int(data[2]), is16Bit: false)
            case concatenation16Bit where data.count == 4:
                header.concatenation = validConcatenation(
                    reference: Int(data[0]) << 8 | Int(data[1]), total: Int(data[2]), sequence: Int(data[3]),
                    is16Bit: true)
            case ports8Bit where data.count == 2:
                header.ports = ApplicationPorts(destination: Int(data[0]), source: Int(data[1]))
            case ports16Bit where data.count == 4:
                header.ports = ApplicationPorts(
                    destination: Int(data[0]) << 8 | Int(data[1]), source: Int(data[2]) << 8 | Int(data[3]))
            default:
                break  // Every other element is kept raw and otherwise skipped.
            }
        }
        return header
    }

    private static func validConcatenation(reference: Int, total: Int, sequence: Int, is16Bit: Bool)
        -> ConcatenationInfo?
    {
        guard total >= 1, sequence >= 1, sequence <= total else { return nil }
        return ConcatenationInfo(reference: reference, total: total, sequence: sequence, is16BitReference: is16Bit)
    }

    /// Encodes a header (without the UDHL octet); the mirror of ``parse(_:)``.
    func encodedElements() -> [UInt8] {
        var out: [UInt8] = []
        for element in elements {
            out.append(element.identifier)
            out.append(UInt8(element.data.count))
            out.append(contentsOf: element.data)
        }
        return out
    }

    /// A header holding one concatenation element (8-bit reference unless `reference` exceeds 255).
    static func concatenating(reference: Int, total: Int, sequence: Int) -> UserDataHeader {
        let element =
            reference > 0xFF
            ? InformationElement(
                identifier: concatenation16Bit,
                data: [UInt8(reference >> 8 & 0xFF), UInt8(reference & 0xFF), UInt8(total), UInt8(sequence)])
            : InformationElement(
                identifier: concatenation8Bit, data: [UInt8(reference), UInt8(total), UInt8(sequence)])
        return UserDataHeader(
            elements: [element],
            concatenation: ConcatenationInfo(
                reference: reference, total: total, sequence: sequence, is16BitReference: reference > 0xFF),
            ports: nil)
    }
}
