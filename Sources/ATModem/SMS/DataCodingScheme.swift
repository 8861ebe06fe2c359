// DataCodingScheme.swift: TP-DCS (3GPP TS 23.038 §4, referenced by TS 23.040 §9.2.3.10).

/// The alphabet of the user data.
public enum SMSEncoding: String, Hashable, Sendable, Codable {
    /// GSM 7-bit default alphabet with the default extension table (TS 23.038 §6.2.1).
    case gsm7
    /// UCS-2, read as UTF-16 so surrogate pairs work (TS 23.038 §6.2.3).
    case ucs2
    /// 8-bit data (TS 23.038 §4: "8 bit data").
    case eightBit = "8bit"
}

/// TP-DCS, decoded per 3GPP TS 23.038 §4 ("SMS Data Coding Scheme").
public struct DataCodingScheme: Hashable, Sendable {
    /// The raw octet.
    public var rawValue: UInt8
    /// The alphabet the octet selects. Reserved bits and reserved codings read as GSM 7-bit, as TS 23.038 §4
    /// requires ("any reserved codings shall be assumed to be the GSM 7 bit default alphabet").
    public var encoding: SMSEncoding
    /// Message class 0...3 when the octet states one.
    public var messageClass: Int?
    /// True for compressed text (general data coding group, bit 5); this codec hands such user data on as 8-bit
    /// data because TS 23.042 compression is not implemented.
    public var isCompressed: Bool
    /// Message waiting indication groups (1100, 1101, 1110): whether the indication is set (`true`) or cleared.
    public var messageWaitingActive: Bool?

    // MARK: Masks (TS 23.038 §4)

    /// Bits 7...6 = 00 (general data coding) or 01 (automatic deletion group): bits 5...0 have the same meaning.
    static let generalGroupMask: UInt8 = 0x80
    static let compressedBit: UInt8 = 0x20
    static let classMeaningfulBit: UInt8 = 0x10
    static let alphabetMask: UInt8 = 0x0C
    static let classMask: UInt8 = 0x03
    static let alphabetGSM7: UInt8 = 0x00
    static let alphabet8Bit: UInt8 = 0x04
    static let alphabetUCS2: UInt8 = 0x08
    /// Coding group bits 7...4.
    static let groupMask: UInt8 = 0xF0
    static let groupMWIDiscard: UInt8 = 0xC0
    static let groupMWIStoreGSM7: UInt8 = 0xD0
    static let groupMWIStoreUCS2: UInt8 = 0xE0
    static let groupDataCodingClass: UInt8 = 0xF0
    /// Group 1111, bit 2: 0 = GSM 7-bit, 1 = 8-bit data.
    static let dataCodingClass8BitBit: UInt8 = 0x04
    /// Message waiting groups, bit 3: indication active.
    static let mwiSenseBit: UInt8 = 0x08

    /// DCS for GSM 7-bit text without a class (what the encoder writes).
    static let gsm7: UInt8 = 0x00
    /// DCS for UCS-2 text without a class (what the encoder writes).
    static let ucs2: UInt8 = 0x08

    /// Decodes a TP-DCS octet. Never fails: every value has a meaning for a receiver.
    public init(_ rawValue: UInt8) {
        self.rawValue = rawValue
        self.messageClass = nil
        self.isCompressed = false
        self.messageWaitingActive = nil
        if rawValue & Self.generalGroupMask == 0 {
            // 00xx xxxx general data coding, 01xx xxxx automatic deletion group.
            isCompressed = rawValue & Self.compressedBit != 0
            if rawValue & Self.classMeaningfulBit != 0 { messageClass = Int(rawValue & Self.classMask) }
            switch rawValue & Self.alphabetMask {
            case Self.alphabet8Bit: encoding = .eightBit
            case Self.alphabetUCS2: encoding = .ucs2
            default: encoding = .gsm7  // 00 = GSM 7-bit; 11 = reserved, read as GSM 7-bit.
            }
            if isCompressed { encoding = .eightBit }
            return
        }
        switch rawValue & Self.groupMask {
        case Self.groupMWIDiscard, Self.groupMWIStoreGSM7:
            encoding = .gsm7
            messageWaitingActive = rawValue & Self.mwiSenseBit != 0
        case Self.groupMWIStoreUCS2:
            encoding = .ucs2
            messageWaitingActive = rawValue & Self.mwiSenseBit != 0
        case Self.groupDataCodingClass:
            // Bit 3 is reserved (ignored); bit 2 picks the alphabet; bits 1...0 the class.
            encoding = rawValue & Self.dataCodingClass8BitBit != 0 ? .eightBit : .gsm7
            messageClass = Int(rawValue & Self.classMask)
        default:
            // 1000...1011: reserved coding groups, read as GSM 7-bit.
            encoding = .gsm7
        }
    }
}
