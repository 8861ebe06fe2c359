/// A phone number normalised to E.164 (`+` and digits), so that `+46 70-123 45 67`,
/// `0046701234567` and `+46701234567` are the same sender.
///
/// National numbers (`070…`) cannot be normalised without knowing the country, so they are
/// refused in `auth.senders`; the network delivers international senders in E.164 anyway.
/// Alphanumeric senders (`"MyBank"`) never normalise and so can never be allowed.
public struct PhoneNumber: Hashable, Sendable, CustomStringConvertible {
    /// The number as `+` followed by 1 to 15 digits.
    public let e164: String

    /// Normalises `text`; nil when it is not an international number.
    ///
    /// Accepts `+`, `00` or (from the network, type-of-number international) bare digits prefixes,
    /// with spaces, dashes, dots and parentheses ignored.
    /// - Parameters:
    ///   - text: the number as written.
    ///   - assumeInternational: treat a bare digit string as international (the modem reports an
    ///     international sender's number without `+` on some firmware). Never used for config.
    public init?(_ text: String, assumeInternational: Bool = false) {
        var digits = ""
        var plus = false
        for (i, ch) in text.trimmingWhitespace().enumerated() {
            if ch == "+" && i == 0 { plus = true; continue }
            if ch == " " || ch == "-" || ch == "." || ch == "(" || ch == ")" { continue }
            guard ch.isASCII, ch.isNumber else { return nil }
            digits.append(ch)
        }
        if !plus {
            if digits.hasPrefix("00") {
                digits.removeFirst(2)
            } else if !assumeInternational {
                return nil
            }
        }
        guard (4...15).contains(digits.count), digits.first != "0" else { return nil }
        e164 = "+" + digits
    }

    public var description: String { e164 }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
