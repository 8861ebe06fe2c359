// Placeholder until the codec branch is merged (replaced by the real file).
enum EmulatorCodec {
    static func decodeSubmit(_ hex: String) -> (recipient: String, text: String?)? { nil }
    static func textModeView(_ hex: String) -> (address: String, timestamp: String?, text: String)? { nil }
}
