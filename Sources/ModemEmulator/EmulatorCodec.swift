public import ATModem
import Foundation
import Synchronization

/// The emulator's use of the project's PDU codec: decoding what is sent, rendering stored PDUs in text mode, and
/// encoding deliveries.
enum EmulatorCodec {
    /// The recipient and text of an SMS-SUBMIT PDU (hex, SCA field first).
    static func decodeSubmit(_ hex: String) -> (recipient: String, text: String?)? {
        guard let decoded = try? PDUDecoder.decode(hex: hex), case .submit(let submit) = decoded.pdu else { return nil }
        return (submit.recipient, submit.userData.text)
    }

    /// A stored message as a text-mode modem shows it.
    struct TextView {
        var address: String
        /// `yy/MM/dd,hh:mm:ss±zz` (deliveries only).
        var timestamp: String?
        /// The text of this part, without its user data header (as Huawei sticks show it).
        var text: String
        /// `<tooa>` (deliveries only).
        var typeOfAddress: Int?
        /// `<fo>`: the TPDU's first octet (TP-UDHI is bit 6).
        var firstOctet: Int
        /// `<dcs>`.
        var dataCoding: Int
    }

    /// A stored SMS-DELIVER as a text-mode modem shows it: sender, `yy/MM/dd,hh:mm:ss±zz`, text (and the details
    /// of `+CSDH=1`).
    static func textModeView(_ hex: String) -> TextView? {
        guard let decoded = try? PDUDecoder.decode(hex: hex) else { return nil }
        // The first octet follows the SCA field (its length octet counts the octets after it).
        let scaOctets = Int(hex.prefix(2), radix: 16) ?? 0
        let foStart = hex.index(hex.startIndex, offsetBy: min(hex.count, 2 + 2 * scaOctets))
        let firstOctet = Int(hex[foStart...].prefix(2), radix: 16) ?? 0
        switch decoded.pdu {
        case .deliver(let d):
            let t = d.timestamp
            let clock = ModemClock(year: t.year, month: t.month, day: t.day, hour: t.hour, minute: t.minute,
                                   second: t.second, utcOffsetMinutes: t.utcOffsetMinutes)
            return TextView(
                address: d.sender, timestamp: EmulatorState.clockString(clock), text: d.userData.text ?? "",
                typeOfAddress: Int(d.senderTypeOfAddress), firstOctet: firstOctet,
                dataCoding: Int(d.dataCodingScheme.rawValue))
        case .submit(let s):
            return TextView(
                address: s.recipient, timestamp: nil, text: s.userData.text ?? "", typeOfAddress: nil,
                firstOctet: firstOctet, dataCoding: Int(s.dataCodingScheme.rawValue))
        case .statusReport:
            return nil
        }
    }
}

extension ModemEmulator {
    /// Delivers a text SMS from the network, encoded with the project's encoder (GSM 7-bit or UCS-2 by content,
    /// concatenated parts when long).
    /// - Parameters:
    ///   - sender: `+` and digits, digits, or an alphanumeric name.
    ///   - text: the message.
    ///   - timestamp: the service-centre time stamp.
    ///   - concatReference: the reference of a multipart message (`nil`: random).
    /// - Returns: the storage index of each part, `nil` for a part lost because the storage was full.
    /// - Throws: `PDUError` for an unusable sender or text.
    @discardableResult
    public func deliver(from sender: String, text: String, timestamp: SMSTimestamp,
                        concatReference: UInt8? = nil) throws -> [Int?] {
        let smsc = state.withLock { $0.configuration.smsc }
        let pdus = try SMSEncoder.deliverPDUs(from: sender, text: text, timestamp: timestamp, smsc: smsc,
                                              concatReference: concatReference)
        return pdus.map { deliver(pdu: $0) }
    }
}
