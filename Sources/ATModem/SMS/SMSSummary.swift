// SMSSummary.swift: the JSON shape of `oob-agent modem sms list --json` (contract.md).

/// One element of `modem sms list --json` (the stable shape of contract.md):
/// `{"indexes": [3, 4], "sender": "+46701234567", "text": "…", "timestamp": "2026-11-21T23:50:00+01:00",
/// "encoding": "gsm7", "parts": 2, "complete": true}`; 8-bit data as hex in `"data"` instead of `"text"`; a PDU that
/// cannot be decoded as `{"indexes": [n], "error": "…", "pdu": "…"}`.
///
/// Absent values are left out of the JSON (synthesized `Codable` skips `nil`). Stored outgoing messages
/// (SMS-SUBMIT) carry the recipient in `"recipient"` instead of `"sender"`; status reports carry `"recipient"`,
/// `"status"` (TP-ST) and `"reference"` (TP-MR).
public struct SMSSummary: Codable, Hashable, Sendable {
    /// Storage indexes of the parts.
    public var indexes: [Int]
    /// The sender of a received message.
    public var sender: String?
    /// The recipient of a stored outgoing message or of the message a status report is about.
    public var recipient: String?
    /// The joined text.
    public var text: String?
    /// The joined 8-bit data, uppercase hex.
    public var data: String?
    /// TP-SCTS in ISO 8601 with its offset.
    public var timestamp: String?
    /// `gsm7`, `ucs2` or `8bit`.
    public var encoding: SMSEncoding?
    /// Number of parts the message announces.
    public var parts: Int?
    /// Whether every part is present.
    public var complete: Bool?
    /// Status report: TP-ST.
    public var status: Int?
    /// Status report: TP-MR of the reported message.
    public var reference: Int?
    /// Why the PDU could not be decoded.
    public var error: String?
    /// The undecodable PDU as listed.
    public var pdu: String?

    /// Creates a summary with only indexes set.
    public init(indexes: [Int]) {
        self.indexes = indexes
    }

    /// The summary of a (joined) message.
    public init(_ message: SMSMessage, isOutgoing: Bool = false) {
        self.init(indexes: message.indexes)
        if isOutgoing { recipient = message.sender } else { sender = message.sender }
        timestamp = message.timestamp?.iso8601
        encoding = message.encoding
        if message.encoding == .eightBit { data = PDUHex.encode(message.data) } else { text = message.text }
        parts = message.totalParts
        complete = message.isComplete
    }

    /// Decodes stored PDUs (`index`, hex) as listed by `AT+CMGL`, joins multipart messages and returns one summary per
    /// message (ordered by first index), undecodable PDUs included as errors.
    /// - Parameters:
    ///   - stored: storage index and PDU hex of every listed message.
    ///   - hasSMSC: whether the PDUs start with the SCA field (what modems print).
    public static func list(_ stored: [(index: Int, pdu: String)], hasSMSC: Bool = true) -> [SMSSummary] {
        var received: [SMSReassembler.Fragment] = []
        var outgoing: [SMSReassembler.Fragment] = []
        var others: [SMSSummary] = []
        for (index, hex) in stored {
            do {
                let decoded = try PDUDecoder.decode(hex: hex, hasSMSC: hasSMSC)
                switch decoded.pdu {
                case .deliver:
                    if let fragment = SMSReassembler.Fragment(decoded, index: index) { received.append(fragment) }
                case .submit:
                    if let fragment = SMSReassembler.Fragment(decoded, index: index) { outgoing.append(fragment) }
                case .statusReport(let report):
                    var summary = SMSSummary(indexes: [index])
                    summary.recipient = report.recipient
                    summary.timestamp = report.timestamp.iso8601
                    summary.status = Int(report.status)
                    summary.reference = Int(report.messageReference)
                    others.append(summary)
                }
            } catch {
                var summary = SMSSummary(indexes: [index])
                summary.error = error.description
                summary.pdu = hex
                others.append(summary)
            }
        }
        let all =
            SMSReassembler.join(received).map { SMSSummary($0) }
            + SMSReassembler.join(outgoing).map { SMSSummary($0, isOutgoing: true) } + others
        return all.enumerated().sorted {
            ($0.element.indexes.min() ?? Int.max, $0.offset) < ($1.element.indexes.min() ?? Int.max, $1.offset)
        }.map(\.element)
    }
}
