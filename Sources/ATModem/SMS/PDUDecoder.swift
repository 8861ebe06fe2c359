// PDUDecoder.swift: the entry point that reads the SCA field and dispatches on TP-MTI (3GPP TS 23.040 §9.2.3.1,
// 3GPP TS 27.005 §3.1 "<pdu>").

/// A decoded TPDU of one of the three types a modem lists (3GPP TS 23.040 §9.2.2).
public enum SMSPDU: Hashable, Sendable {
    /// A received short message (TP-MTI 0).
    case deliver(SMSDeliver)
    /// A stored outgoing short message (TP-MTI 1).
    case submit(SMSSubmit)
    /// A delivery report (TP-MTI 2).
    case statusReport(SMSStatusReport)
}

/// A PDU as a modem prints it: the SMSC address and the TPDU.
public struct DecodedPDU: Hashable, Sendable {
    /// The service centre address from the SCA field (`+` prefix when international); `nil` when the field is empty
    /// or absent.
    public var smsc: String?
    /// The TPDU.
    public var pdu: SMSPDU
    /// Octets of the TPDU as decoded (what `AT+CMGS=<length>` counts), excluding trailing octets the decoder
    /// ignored (padding or garbage after the user data).
    public var tpduLength: Int

    /// Creates a decoded PDU.
    public init(smsc: String?, pdu: SMSPDU, tpduLength: Int) {
        self.smsc = smsc
        self.pdu = pdu
        self.tpduLength = tpduLength
    }
}

/// Decodes SMS PDUs (3GPP TS 23.040 §9.2) as modems print them in PDU mode (`AT+CMGF=0`).
///
/// Policy for real-world quirks (see docs/sms-codec.md): octets after the user data (trailing garbage, 0xFF
/// padding of a storage record) are ignored; reserved DCS bits are ignored; a non-decimal time-zone semi-octet is
/// read by its value; a filler semi-octet inside an address is skipped. A TP-UDL that runs past the end of the PDU,
/// an impossible length, a date that does not exist or an unpaired surrogate in a single-part UCS-2 message is an
/// error.
public enum PDUDecoder {
    /// TP-MTI, bits 1...0 of the first octet (TS 23.040 §9.2.3.1).
    static let messageTypeMask: UInt8 = 0x03
    static let messageTypeDeliver: UInt8 = 0x00
    static let messageTypeSubmit: UInt8 = 0x01
    static let messageTypeStatusReport: UInt8 = 0x02

    /// Decodes a PDU given as hex text (case-insensitive; surrounding whitespace ignored).
    /// - Parameters:
    ///   - hex: the PDU line from `+CMGR`, `+CMGL`, `+CMT` or `+CDS`.
    ///   - hasSMSC: `true` (the default, what modems print) when the hex starts with the SCA length octet; `false`
    ///     for a bare TPDU.
    /// - Returns: the SMSC address and the decoded TPDU.
    /// - Throws: ``PDUError`` naming the field and offset that failed.
    public static func decode(hex: String, hasSMSC: Bool = true) throws(PDUError) -> DecodedPDU {
        try decode(bytes: PDUHex.decode(hex), hasSMSC: hasSMSC)
    }

    /// Decodes a PDU given as octets.
    /// - Parameters:
    ///   - bytes: the PDU.
    ///   - hasSMSC: whether the octets start with the SCA field.
    /// - Throws: ``PDUError`` naming the field and offset that failed.
    public static func decode(bytes: [UInt8], hasSMSC: Bool = true) throws(PDUError) -> DecodedPDU {
        var reader = PDUReader(bytes)
        // SCA (TS 27.005 §3.1, TS 24.011 §8.2.5.1)
        let smsc = hasSMSC ? try PDUAddress.readSCA(&reader) : nil
        let tpduStart = reader.offset
        // TP-MTI (TS 23.040 §9.2.3.1): peeked here, read again by the type's decoder as part of the first octet.
        guard let firstOctet = reader.peekOctet() else {
            throw .truncated("first octet (TP-MTI)", offset: reader.offset, needed: 1, available: 0)
        }
        let pdu: SMSPDU
        switch firstOctet & messageTypeMask {
        case messageTypeDeliver:
            pdu = .deliver(try SMSDeliver.read(&reader))
        case messageTypeSubmit:
            pdu = .submit(try SMSSubmit.read(&reader))
        case messageTypeStatusReport:
            pdu = .statusReport(try SMSStatusReport.read(&reader))
        default:
            throw .malformed(
                "TP-MTI", offset: tpduStart,
                "message type 3 is reserved (first octet 0x\(PDUHex.encode([firstOctet]))); "
                    + "this is not an SMS PDU, or the SCA field is missing/extra (check hasSMSC)")
        }
        return DecodedPDU(smsc: smsc, pdu: pdu, tpduLength: reader.offset - tpduStart)
    }
}

// MARK: - First octet flags (TS 23.040 §9.2.3)

/// Bits of the first octet shared by the TPDU types.
enum FirstOctet {
    /// TP-MMS (deliver, status report) / TP-RD (submit): bit 2.
    static let moreMessagesOrRejectDuplicates: UInt8 = 0x04
    /// TP-LP (deliver, status report): bit 3.
    static let loopPrevention: UInt8 = 0x08
    /// TP-VPF (submit): bits 4...3.
    static let validityPeriodFormatMask: UInt8 = 0x18
    /// TP-SRI (deliver) / TP-SRR (submit) / TP-SRQ (status report): bit 5.
    static let statusReport: UInt8 = 0x20
    /// TP-UDHI: bit 6.
    static let userDataHeaderIndicator: UInt8 = 0x40
    /// TP-RP (deliver, submit): bit 7.
    static let replyPath: UInt8 = 0x80
}
