// Sending SMS and decoding stored ones: the Modem's use of the PDU codec (Sources/ATModem/SMS).

extension Modem {
    /// Sends a text SMS: GSM 7-bit or UCS-2 chosen by content, split into concatenated parts when long
    /// (PDU mode; `AT+CMGS=<length>`, the `> ` prompt, the PDU and Ctrl-Z per part). In text mode (the fallback),
    /// only a single part of ASCII text (the IRA character set) can be sent.
    /// - Parameters:
    ///   - recipient: `+` and digits (E.164) or national digits.
    ///   - text: the message.
    /// - Returns: the message reference (`+CMGS: <mr>`) of each part.
    /// - Throws: `ATModemError` (`.invalidArgument` for a bad number or text; the modem's `+CMS ERROR` otherwise).
    @discardableResult
    public func sendSMS(to recipient: String, text: String) async throws -> [Int] {
        switch mode {
        case .pdu:
            let parts: [EncodedPDU]
            do {
                parts = try SMSEncoder.submit(to: recipient, text: text)
            } catch {
                throw ATModemError.invalidArgument("cannot encode the SMS: \(error.description)")
            }
            var references: [Int] = []
            for part in parts {
                let command = ATCommand(
                    "AT+CMGS=\(part.tpduLength)", payload: Array(part.hex.utf8) + [0x1A], timeout: options.sendTimeout)
                let r = try await engine.execute(command).checked()
                references.append(r.values("+CMGS:").first.flatMap { Int($0) } ?? -1)
            }
            return references
        case .text:
            let ira = text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F || $0 == "\n" }
            guard ira, GSM7.canEncode(text), text.count <= SMSEncoder.singleGSM7Septets else {
                throw ATModemError(
                    code: .unsupported,
                    message: "the modem only works in text mode, which sends a single part of plain ASCII: this "
                        + "text is too long or has other characters; shorten it or use a modem that accepts PDU mode")
            }
            guard recipient.first == "+" || recipient.first?.isNumber == true,
                  recipient.dropFirst().allSatisfy(\.isNumber)
            else {
                throw ATModemError.invalidArgument("\"\(recipient)\" is not a phone number; use +<country><number>")
            }
            let type = recipient.hasPrefix("+") ? 145 : 129
            let command = ATCommand(
                "AT+CMGS=\"\(recipient)\",\(type)", payload: Array(text.utf8) + [0x1A], timeout: options.sendTimeout)
            let r = try await engine.execute(command).checked()
            return [r.values("+CMGS:").first.flatMap { Int($0) } ?? -1]
        }
    }
}

extension StoredMessage {
    /// The decoded PDU (PDU mode), or the decoder's error.
    public func decoded() -> Result<DecodedPDU, PDUError>? {
        guard let pdu else { return nil }
        do {
            return .success(try PDUDecoder.decode(hex: pdu))
        } catch {
            return .failure(error)
        }
    }
}

/// Turns a storage listing into the messages a user sees (`modem sms list`): PDUs decoded, multipart messages
/// joined with `SMSReassembler`, undecodable PDUs kept as errors, text-mode entries as they are.
public enum SMSListing {
    /// One summary per message, ordered by first storage index (the JSON shape of contract.md).
    public static func summaries(_ stored: [StoredMessage]) -> [SMSSummary] {
        var pdus: [(index: Int, pdu: String)] = []
        var others: [SMSSummary] = []
        for m in stored {
            switch m.content {
            case .pdu(let hex):
                pdus.append((m.index, hex))
            case .text(let t):
                var s = SMSSummary(indexes: [m.index])
                s.sender = t.address
                s.text = t.text
                s.timestamp = t.timestamp?.iso8601
                s.parts = 1
                s.complete = true
                others.append(s)
            case .unparsed(let lines):
                var s = SMSSummary(indexes: [m.index])
                s.error = "the modem's listing of this entry is not understood"
                s.pdu = lines.joined(separator: "\n")
                others.append(s)
            }
        }
        let all = SMSSummary.list(pdus) + others
        return all.enumerated().sorted {
            ($0.element.indexes.min() ?? Int.max, $0.offset) < ($1.element.indexes.min() ?? Int.max, $1.offset)
        }.map(\.element)
    }

    /// One human-readable line: indexes, sender, time, parts, text.
    public static func line(_ s: SMSSummary) -> String {
        let indexes = "[" + s.indexes.map(String.init).joined(separator: ",") + "]"
        if let error = s.error { return "\(indexes) undecodable: \(error)" }
        var head = "\(indexes) \(s.sender ?? s.recipient.map { "to \($0)" } ?? "?")"
        if let t = s.timestamp { head += " \(t)" }
        if let parts = s.parts, parts > 1 { head += " (\(parts) parts\(s.complete == false ? ", incomplete" : ""))" }
        if let status = s.status { return head + " status report: \(status)" }
        return head + ": " + (s.text ?? s.data.map { "data \($0)" } ?? "")
    }
}
