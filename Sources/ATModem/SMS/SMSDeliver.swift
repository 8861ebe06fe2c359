// SMSDeliver.swift: SMS-DELIVER (3GPP TS 23.040 §9.2.2.1).

/// A received short message: SMS-DELIVER, 3GPP TS 23.040 §9.2.2.1.
public struct SMSDeliver: Hashable, Sendable {
    /// TP-OA: the sender (`+` and digits for international numbers, digits, or an alphanumeric name).
    public var sender: String
    /// TP-OA's type-of-address octet (§9.1.2.5): bits 6...4 are the type of number (`0x91` international,
    /// `0x81` unknown, `0xA1` national, `0xD0` alphanumeric).
    public var senderTypeOfAddress: UInt8
    /// The sender is an alphanumeric name (type of number 101), which anyone sending through a gateway can choose:
    /// it may spell a phone number but is none.
    public var senderIsAlphanumeric: Bool {
        senderTypeOfAddress & PDUAddress.typeOfNumberMask == PDUAddress.typeOfNumberAlphanumeric
    }
    /// TP-SCTS: when the service centre received the message, with its time zone.
    public var timestamp: SMSTimestamp
    /// TP-UD with its header, decoded per TP-DCS.
    public var userData: UserData
    /// TP-PID (§9.2.3.9).
    public var protocolIdentifier: UInt8
    /// TP-DCS (TS 23.038 §4).
    public var dataCodingScheme: DataCodingScheme
    /// TP-MMS inverted: `true` when the service centre has more messages waiting (§9.2.3.2).
    public var moreMessagesToSend: Bool
    /// TP-SRI: the sender asked for a status report (§9.2.3.4).
    public var statusReportIndication: Bool
    /// TP-RP: a reply path exists (§9.2.3.17).
    public var replyPath: Bool

    /// Reads the TPDU, one section per field in the order of §9.2.2.1.
    static func read(_ reader: inout PDUReader) throws(PDUError) -> SMSDeliver {
        // TP-MTI, TP-MMS, TP-LP, TP-SRI, TP-UDHI, TP-RP (§9.2.3.1 ff.)
        let first = try reader.readOctet("first octet (TP-MTI)")
        // TP-OA (§9.2.3.7)
        let (sender, senderType) = try PDUAddress.readTPAddressAndType(&reader, field: "TP-OA")
        // TP-PID (§9.2.3.9)
        let pid = try reader.readOctet("TP-PID")
        // TP-DCS (§9.2.3.10)
        let dcs = DataCodingScheme(try reader.readOctet("TP-DCS"))
        // TP-SCTS (§9.2.3.11)
        let timestamp = try SMSTimestamp.read(&reader, field: "TP-SCTS")
        // TP-UDL, TP-UD (§9.2.3.16, §9.2.3.24)
        let userData = try UserData.read(
            &reader, dcs: dcs, hasHeader: first & FirstOctet.userDataHeaderIndicator != 0)
        return SMSDeliver(
            sender: sender, senderTypeOfAddress: senderType, timestamp: timestamp, userData: userData,
            protocolIdentifier: pid, dataCodingScheme: dcs,
            moreMessagesToSend: first & FirstOctet.moreMessagesOrRejectDuplicates == 0,
            statusReportIndication: first & FirstOctet.statusReport != 0,
            replyPath: first & FirstOctet.replyPath != 0)
    }
}
