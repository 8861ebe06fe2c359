import ATModem

extension Modem {
    /// Sends a reply SMS in PDU mode (`AT+CMGS=<length>`, the PDU, Ctrl-Z), one command per part.
    ///
    /// The agent's replies always fit one part; the modem layer's own `sendSMS` (text-mode
    /// fallback included) replaces this once it is on the branch the agent builds on.
    /// - Throws: `ATModemError`.
    func agentSendSMS(to recipient: String, text: String) async throws {
        let parts: [EncodedPDU]
        do {
            parts = try SMSEncoder.submit(to: recipient, text: text)
        } catch {
            throw ATModemError(code: .invalidArgument, message: "cannot encode the SMS to \(recipient): \(error)")
        }
        for part in parts {
            let command = ATCommand("AT+CMGS=\(part.tpduLength)", payload: Array(part.hex.utf8) + [0x1A], timeout: .seconds(60))
            _ = try await engine.execute(command).checked()
        }
    }
}
