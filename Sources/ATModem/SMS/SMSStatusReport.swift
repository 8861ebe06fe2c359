// SMSStatusReport.swift: SMS-STATUS-REPORT (3GPP TS 23.040 §9.2.2.3).

/// A delivery report: SMS-STATUS-REPORT, 3GPP TS 23.040 §9.2.2.3.
public struct SMSStatusReport: Hashable, Sendable {
    /// TP-MR of the SMS-SUBMIT this report is about (§9.2.3.6).
    public var messageReference: UInt8
    /// TP-RA: the recipient of that message (§9.2.3.14).
    public var recipient: String
    /// TP-SCTS of the original message (§9.2.3.11).
    public var timestamp: SMSTimestamp
    /// TP-DT: when the status was reached (§9.2.3.13).
    public var dischargeTime: SMSTimestamp
    /// TP-ST (§9.2.3.15): 0x00...0x1F completed (0 = delivered), 0x20... temporary, 0x40... / 0x60... failed.
    public var status: UInt8
    /// TP-SRQ: the report is the result of an SMS-COMMAND (§9.2.3.26).
    public var isCommandResult: Bool
    /// TP-PID, when TP-PI announces it.
    public var protocolIdentifier: UInt8?
    /// TP-DCS, when TP-PI announces it.
    public var dataCodingScheme: DataCodingScheme?
    /// TP-UD, when TP-PI announces it.
    public var userData: UserData?

    /// True when TP-ST says the message was delivered (0x00...0x1F: "transaction completed").
    public var isDelivered: Bool { status < 0x20 }

    // MARK: TP-PI (§9.2.3.27)

    static let parameterPID: UInt8 = 0x01
    static let parameterDCS: UInt8 = 0x02
    static let parameterUDL: UInt8 = 0x04
    static let parameterExtension: UInt8 = 0x80
    /// Storage records are padded with 0xFF; an all-0xFF tail after TP-ST is padding, not a TP-PI.
    static let padding: UInt8 = 0xFF

    /// Reads the TPDU, one section per field in the order of §9.2.2.3.
    static func read(_ reader: inout PDUReader) throws(PDUError) -> SMSStatusReport {
        // TP-MTI, TP-MMS, TP-LP, TP-SRQ, TP-UDHI
        let first = try reader.readOctet("first octet (TP-MTI)")
        // TP-MR (§9.2.3.6)
        let reference = try reader.readOctet("TP-MR")
        // TP-RA (§9.2.3.14)
        let recipient = try PDUAddress.readTPAddress(&reader, field: "TP-RA")
        // TP-SCTS (§9.2.3.11)
        let timestamp = try SMSTimestamp.read(&reader, field: "TP-SCTS")
        // TP-DT (§9.2.3.13)
        let dischargeTime = try SMSTimestamp.read(&reader, field: "TP-DT")
        // TP-ST (§9.2.3.15)
        let status = try reader.readOctet("TP-ST")
        var report = SMSStatusReport(
            messageReference: reference, recipient: recipient, timestamp: timestamp, dischargeTime: dischargeTime,
            status: status, isCommandResult: first & FirstOctet.statusReport != 0, protocolIdentifier: nil,
            dataCodingScheme: nil, userData: nil)
        // TP-PI (§9.2.3.27), optional; a tail of 0xFF is storage padding.
        if reader.rest.allSatisfy({ $0 == padding }) { return report }
        var indicator = try reader.readOctet("TP-PI")
        var extensionIndicator = indicator
        while extensionIndicator & parameterExtension != 0 {
            extensionIndicator = try reader.readOctet("TP-PI extension")
        }
        // Bits 3...6 are reserved; a receiver ignores them.
        indicator &= parameterPID | parameterDCS | parameterUDL
        // TP-PID (§9.2.3.9)
        if indicator & parameterPID != 0 {
            report.protocolIdentifier = try reader.readOctet("TP-PID")
        }
        // TP-DCS (§9.2.3.10)
        var dcs = DataCodingScheme(0)
        if indicator & parameterDCS != 0 {
            dcs = DataCodingScheme(try reader.readOctet("TP-DCS"))
            report.dataCodingScheme = dcs
        }
        // TP-UDL, TP-UD (§9.2.3.16, §9.2.3.24)
        if indicator & parameterUDL != 0 {
            report.userData = try UserData.read(
                &reader, dcs: dcs, hasHeader: first & FirstOctet.userDataHeaderIndicator != 0)
        }
        return report
    }
}
