// Pure: no platform imports.

/// An unsolicited result code as received: its line, and the line after it for the codes that carry one
/// (`+CMT` and `+CDS` in PDU mode carry the PDU on the next line, TS 27.005 §3.4.1).
public struct UnsolicitedLine: Hashable, Sendable, CustomStringConvertible {
    /// The result code line, e.g. `+CMTI: "SM",3` or `^RSSI:17`.
    public var line: String
    /// The line that belongs to it (a PDU or an SMS text), if the code carries one.
    public var body: String?

    /// Makes one.
    public init(line: String, body: String? = nil) {
        self.line = line
        self.body = body
    }

    /// The code's name with its prefix: `+CMTI`, `^RSSI`, `RING`.
    public var name: String { UnsolicitedCodes.name(of: line) ?? line.trimmingASCIIWhitespace() }

    /// The text after the colon, trimmed (`"SM",3` for `+CMTI: "SM",3`); empty when there is none.
    public var parameters: String {
        guard let colon = line.firstIndex(of: ":") else { return "" }
        return String(line[line.index(after: colon)...]).trimmingASCIIWhitespace()
    }

    public var description: String { body.map { "\(line) | \($0)" } ?? line }
}

/// The catalogue of unsolicited result codes (3GPP TS 27.007, TS 27.005, and the vendor codes seen on Huawei and
/// ZTE sticks) and the rules that tell them from replies.
public enum UnsolicitedCodes {
    /// Codes with a colon and parameters.
    static let prefixed: Set<String> = [
        // TS 27.005 §3.4.1 / §3.4.3: new message indications
        "+CMTI", "+CMT", "+CDSI", "+CDS", "+CBM", "+CBMI",
        // TS 27.007: registration, calls, supplementary services, indicators, time zone
        "+CREG", "+CGREG", "+CEREG", "+C5GREG", "+CRING", "+CLIP", "+CCWA", "+CUSD", "+CSSI", "+CSSU", "+CIEV",
        "+CGEV", "+CTZV", "+CTZE", "+CTZU", "+CMER", "+CPIN", "+STIN", "+NITZ", "+QIND", "+PACSP",
        // Huawei
        "^RSSI", "^HCSQ", "^BOOT", "^MODE", "^SIMST", "^SRVST", "^DSFLOWRPT", "^SYSSTART", "^NDISSTAT", "^NDISEND",
        "^ORIG", "^CONF", "^CONN", "^CEND", "^SMMEMFULL", "^STIN", "^NWTIME", "^TIME", "^RFSWITCH", "^ACTIVEBAND",
        "^EONS", "^LTERSRP", "^CSNR", "^CRSSI", "^ECCLIST", "^CPBREADY", "^SYSINFOEX", "^HCMT",
        // ZTE
        "+ZDONR", "+ZPASR", "+ZUSIMR", "+ZEND",
    ]
    /// Codes that are a bare word.
    static let bare: Set<String> = ["RING", "^SYSSTART", "+PACSP0", "+PACSP1", "^CPBREADY", "+PBREADY"]
    /// Registration codes whose solicited and unsolicited forms share a prefix.
    static let registration: Set<String> = ["+CREG", "+CGREG", "+CEREG", "+C5GREG"]

    /// The `+NAME` / `^NAME` at the start of a line, up to (not including) the colon; `nil` if there is none.
    public static func name(of line: String) -> String? {
        var it = line.unicodeScalars.makeIterator()
        guard let first = it.next(), first == "+" || first == "^" else { return nil }
        var name = String(first)
        var sawLetter = false
        while let c = it.next() {
            if c == ":" || c == " " { break }
            let isUpper = c >= "A" && c <= "Z"
            let isDigit = c >= "0" && c <= "9"
            guard isUpper || c == "_" || (isDigit && sawLetter) || (c >= "a" && c <= "z" && sawLetter) else {
                return nil
            }
            if isUpper { sawLetter = true }
            name.unicodeScalars.append(c)
        }
        return sawLetter ? name : nil
    }

    /// Whether `line` is a known unsolicited result code.
    public static func isKnown(_ line: String) -> Bool {
        let trimmed = line.trimmingASCIIWhitespace()
        if bare.contains(trimmed) { return true }
        guard let name = name(of: trimmed) else { return false }
        return prefixed.contains(name)
    }

    /// Whether the code announces a following line that belongs to it: `+CMT` (PDU or text), `+CBM`, and `+CDS`
    /// in PDU mode (`+CDS: <length>`).
    public static func carriesBody(_ line: String) -> Bool {
        guard let name = name(of: line) else { return false }
        switch name {
        case "+CMT", "+CBM", "^HCMT": return true
        case "+CDS":
            let params = UnsolicitedLine(line: line).parameters
            return !params.isEmpty && params.allSatisfy { $0.isNumber }
        default: return false
        }
    }

    /// Whether a `+CREG:`-style line is the reply to the read command (`+CREG: <n>,<stat>[,…]`) rather than the
    /// unsolicited form (`+CREG: <stat>[,<lac>,<ci>[,<AcT>]]`), TS 27.007 §7.2.
    ///
    /// The reply always has a small `<n>` and then a small `<stat>`; the unsolicited form has one field, or a
    /// location area code (quoted or hexadecimal) as its second field.
    public static func isRegistrationReply(_ line: String) -> Bool {
        let fields = UnsolicitedLine(line: line).parameters.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: " \"") }
        guard fields.count >= 2, let n = Int(fields[0]), (0...3).contains(n) else { return false }
        guard fields[1].count <= 2, let stat = Int(fields[1]), (0...11).contains(stat) else { return false }
        return true
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
