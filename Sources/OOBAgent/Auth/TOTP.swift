import Crypto

/// RFC 6238 time-based one-time passwords: HMAC-SHA1, 30-second steps, 6 digits (what every
/// authenticator app does by default).
public struct TOTP: Sendable {
    /// The shared secret (decoded from base32).
    let key: [UInt8]
    /// The step length in seconds (RFC 6238 X), 30.
    public let step: Int64
    /// The number of digits, 6 (or 8 for the RFC's test vectors).
    public let digits: Int

    /// Creates a generator for a raw secret.
    /// - Throws: ``AgentError`` (`.authentication`) if the secret is shorter than 10 bytes.
    public init(secret: [UInt8], step: Int64 = 30, digits: Int = 6) throws {
        guard secret.count >= 10 else {
            throw AgentError(
                .authentication,
                "the TOTP secret has \(secret.count) bytes, fewer than the 10 (80 bits) RFC 4226 requires; fix: run `oob-agent enroll --force` to make a new one"
            )
        }
        precondition((6...8).contains(digits) && step > 0)
        self.key = secret
        self.step = step
        self.digits = digits
    }

    /// Creates a generator for a base32 secret as an authenticator app shows it.
    /// - Throws: ``AgentError`` (`.authentication`) if it is not base32 or too short.
    public init(base32 text: String) throws {
        guard let bytes = Base32.decode(text) else {
            throw AgentError(
                .authentication,
                "the TOTP secret is not base32 (letters A-Z and digits 2-7); fix: run `oob-agent enroll --force` to make a new one"
            )
        }
        try self.init(secret: bytes)
    }

    /// The RFC 4226 HOTP value for counter `counter`, zero-padded to `digits`.
    public func code(counter: UInt64) -> String {
        var message = [UInt8](repeating: 0, count: 8)
        for i in 0..<8 { message[i] = UInt8((counter >> UInt64(56 - 8 * i)) & 0xFF) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: key)))
        // RFC 4226 §5.3 dynamic truncation.
        let offset = Int(mac[mac.count - 1] & 0x0F)
        let binary =
            (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        let value = String(binary % modulus)
        return String(repeating: "0", count: digits - value.count) + value
    }

    /// The code valid at `unixTime` (seconds since the epoch).
    public func code(at unixTime: Int64) -> String {
        code(counter: UInt64(max(0, unixTime) / step))
    }

    /// Finds the time step at which `code` is valid, searching `window` seconds either side of
    /// `unixTime`; nil if none. The comparison is constant-time per candidate.
    /// - Returns: the matching counter (used as the replay-cache key).
    public func match(_ code: String, at unixTime: Int64, window: Int64) -> UInt64? {
        guard code.utf8.count == digits else { return nil }
        let first = max(0, unixTime - window) / step
        let last = max(0, unixTime + window) / step
        var found: UInt64?
        // Closest steps first, so that of two matches the nearer one wins.
        let center = max(0, unixTime) / step
        let candidates = (first...last).sorted { abs($0 - center) < abs($1 - center) }
        for counter in candidates where found == nil {
            if ConstantTime.equal(Array(self.code(counter: UInt64(counter)).utf8), Array(code.utf8)) {
                found = UInt64(counter)
            }
        }
        return found
    }
}

/// Comparisons whose time does not depend on where the inputs differ.
public enum ConstantTime {
    /// True when `a == b`; the time depends only on the lengths.
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff: UInt8 = a.count == b.count ? 0 : 1
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0
    }
}
