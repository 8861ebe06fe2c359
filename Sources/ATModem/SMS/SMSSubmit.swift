// SMSSubmit.swift: SMS-SUBMIT (3GPP TS 23.040 §9.2.2.2) and TP-VP (§9.2.3.12).

/// TP-VP, the validity period of an SMS-SUBMIT (3GPP TS 23.040 §9.2.3.12).
public enum ValidityPeriod: Hashable, Sendable {
    /// Relative format (§9.2.3.12.1): one octet.
    case relative(UInt8)
    /// Enhanced format (§9.2.3.12.3): seven octets, kept raw.
    case enhanced([UInt8])
    /// Absolute format (§9.2.3.12.2): a time stamp.
    case absolute(SMSTimestamp)

    /// TP-VPF values (bits 4...3 of the first octet).
    static let formatNone: UInt8 = 0x00
    static let formatEnhanced: UInt8 = 0x08
    static let formatRelative: UInt8 = 0x10
    static let formatAbsolute: UInt8 = 0x18
    /// Octets of the enhanced format.
    static let enhancedOctetCount = 7

    /// The relative period in seconds (§9.2.3.12.1), `nil` for the other formats.
    public var relativeSeconds: Int? {
        guard case .relative(let value) = self else { return nil }
        return Self.seconds(relative: value)
    }

    /// §9.2.3.12.1: 0...143 → (v+1)·5 min; 144...167 → 12 h + (v−143)·30 min; 168...196 → (v−166) days;
    /// 197...255 → (v−192) weeks.
    public static func seconds(relative value: UInt8) -> Int {
        let v = Int(value)
        switch v {
        case 0...143: return (v + 1) * 5 * 60
        case 144...167: return 12 * 3600 + (v - 143) * 30 * 60
        case 168...196: return (v - 166) * 86_400
        default: return (v - 192) * 7 * 86_400
        }
    }

    /// The smallest relative value whose period is at least `seconds` (capped at 63 weeks).
    public static func relative(atLeastSeconds seconds: Int) -> ValidityPeriod {
        for value in 0...255 where Self.seconds(relative: UInt8(value)) >= seconds {
            return .relative(UInt8(value))
        }
        return .relative(255)
    }
}

/// A stored or outgoing short message: SMS-SUBMIT, 3GPP TS 23.040 §9.2.2.2.
public struct SMSSubmit: Hashable, Sendable {
    /// TP-MR (§9.2.3.6).
    public var messageReference: UInt8
    /// TP-DA: the recipient (§9.2.3.8).
    public var recipient: String
    /// TP-VP, `nil` when TP-VPF says "not present".
    public var validityPeriod: ValidityPeriod?
    /// TP-UD with its header, decoded per TP-DCS.
    public var userData: UserData
    /// TP-PID (§9.2.3.9).
    public var protocolIdentifier: UInt8
    /// TP-DCS (TS 23.038 §4).
    public var dataCodingScheme: DataCodingScheme
    /// TP-SRR: a status report is requested (§9.2.3.5).
    public var statusReportRequested: Bool
    /// TP-RD: the service centre should reject duplicates (§9.2.3.25).
    public var rejectDuplicates: Bool
    /// TP-RP (§9.2.3.17).
    public var replyPath: Bool

    /// Reads the TPDU, one section per field in the order of §9.2.2.2.
    static func read(_ reader: inout PDUReader) throws(PDUError) -> SMSSubmit {
        // TP-MTI, TP-RD, TP-VPF, TP-SRR, TP-UDHI, TP-RP
        let first = try reader.readOctet("first octet (TP-MTI)")
        // TP-MR (§9.2.3.6)
        let reference = try reader.readOctet("TP-MR")
        // TP-DA (§9.2.3.8)
        let recipient = try PDUAddress.readTPAddress(&reader, field: "TP-DA")
        // TP-PID (§9.2.3.9)
        let pid = try reader.readOctet("TP-PID")
        // TP-DCS (§9.2.3.10)
        let dcs = DataCodingScheme(try reader.readOctet("TP-DCS"))
        // TP-VP (§9.2.3.12), format from TP-VPF
        let validity: ValidityPeriod?
        switch first & FirstOctet.validityPeriodFormatMask {
        case ValidityPeriod.formatRelative:
            validity = .relative(try reader.readOctet("TP-VP"))
        case ValidityPeriod.formatEnhanced:
            validity = .enhanced(try reader.readOctets(ValidityPeriod.enhancedOctetCount, "TP-VP"))
        case ValidityPeriod.formatAbsolute:
            validity = .absolute(try SMSTimestamp.read(&reader, field: "TP-VP"))
        default:
            validity = nil
        }
        // TP-UDL, TP-UD (§9.2.3.16, §9.2.3.24)
        let userData = try UserData.read(
            &reader, dcs: dcs, hasHeader: first & FirstOctet.userDataHeaderIndicator != 0)
        return SMSSubmit(
            messageReference: reference, recipient: recipient, validityPeriod: validity, userData: userData,
            protocolIdentifier: pid, dataCodingScheme: dcs,
            statusReportRequested: first & FirstOctet.statusReport != 0,
            rejectDuplicates: first & FirstOctet.moreMessagesOrRejectDuplicates != 0,
            replyPath: first & FirstOctet.replyPath != 0)
    }
}
