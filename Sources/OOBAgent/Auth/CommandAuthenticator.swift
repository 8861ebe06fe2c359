import Crypto

/// Decides whether an SMS is obeyed, exactly as contract.md says: allow-listed sender, a code
/// valid for the SMS's service-centre timestamp, never accepted before, not older than `max_age`.
///
/// A value type without I/O: the service loads and saves ``replayCache`` around it. Every refusal
/// is silent (no reply: nothing revealed, no SMS cost) except a correct code with wrong words,
/// which gets `FAILED: usage…` since the sender proved who they are.
public struct CommandAuthenticator: Sendable {
    /// How codes are checked.
    public enum Verifier: Sendable {
        /// RFC 6238 TOTP with a window of seconds either side of the SMS time.
        case totp(TOTP, window: Int64)
        /// A static passphrase (constant-time compare; replayable by whoever saw it).
        case passphrase([UInt8])
    }

    /// The outcome for one SMS.
    public enum Decision: Sendable, Equatable {
        /// Authenticated: do it, and reply to `sender`.
        case obey(SMSCommand, sender: PhoneNumber)
        /// Authenticated but malformed: reply `FAILED: <usage>` to `sender`, change nothing.
        case usage(SMSUsageError, sender: PhoneNumber)
        /// Not obeyed and no reply at all.
        case ignore(Refusal)
    }

    /// Why an SMS was ignored (for the log line; never sent to anyone).
    public enum Refusal: String, Sendable, Equatable {
        case multipart = "multipart message (commands are single-part)"
        case noText = "no text (8-bit data)"
        case stranger = "sender not in auth.senders"
        case alphanumeric = "alphanumeric sender name (a name is not a number, whatever it spells)"
        case duplicate = "duplicate delivery of a message already handled"
        case stale = "older than auth.max_age"
        case future = "timestamp ahead of the clock by more than auth.max_age"
        case lockedOut = "sender locked out after repeated bad codes"
        case malformed = "not COMMAND CODE [ARG]"
        case badCode = "wrong code for the SMS timestamp"
        case replayed = "code already used"
    }

    /// Bad codes from one sender before it is locked out.
    public static let maxBadCodes = 5
    /// The period in which `maxBadCodes` must occur, and the length of the lockout (seconds).
    public static let lockoutPeriod: Int64 = 15 * 60

    let senders: Set<PhoneNumber>
    let verifier: Verifier
    let maxAge: Int64
    /// Codes and messages seen; persisted by the service.
    public var replayCache: ReplayCache
    /// Bad codes and lockouts per sender (by the best clock or the SMS time); persisted by the service.
    public var lockout: LockoutLedger

    /// Creates an authenticator.
    /// - Parameters:
    ///   - senders: `auth.senders`.
    ///   - verifier: the TOTP generator or passphrase.
    ///   - maxAge: `auth.max_age`.
    ///   - replayCache: the cache loaded from `state.dir`.
    ///   - lockout: the bad codes and lockouts loaded from `state.dir`.
    public init(
        senders: [PhoneNumber], verifier: Verifier, maxAge: Duration, replayCache: ReplayCache = ReplayCache(),
        lockout: LockoutLedger = LockoutLedger()
    ) {
        self.senders = Set(senders)
        self.verifier = verifier
        self.maxAge = maxAge.components.seconds
        self.replayCache = replayCache
        self.lockout = lockout
    }

    /// Whether `sender` is locked out at `now` (for `status`).
    public func isLockedOut(_ sender: PhoneNumber, now: Int64) -> Bool {
        lockout.isLockedOut(sender, now: now)
    }

    /// When the lockout of `sender` ends (Unix time), if it has one.
    public func lockoutEnd(_ sender: PhoneNumber) -> Int64? { lockout.lockedUntil[sender] }

    /// Judges one SMS.
    /// - Parameters:
    ///   - sms: the message.
    ///   - clock: the best clock there is (for `max_age` and the lockout).
    /// - Returns: the decision; ``replayCache`` changed if the message was remembered (save it).
    public mutating func evaluate(_ sms: InboundSMS, clock: ClockReading) -> Decision {
        if sms.isMultipart { return .ignore(.multipart) }
        if sms.senderIsAlphanumeric { return .ignore(.alphanumeric) }
        guard let sender = PhoneNumber(sms.sender, assumeInternational: sms.senderIsInternational),
            senders.contains(sender)
        else { return .ignore(.stranger) }
        guard let text = sms.text else { return .ignore(.noText) }

        let messageKey = "msg:" + Self.digest("\(sender.e164)|\(sms.timestamp)|\(text)")
        if replayCache.contains(messageKey) { return .ignore(.duplicate) }
        let now = clock.unixTime ?? sms.timestamp
        let trusted = clock.unixTime != nil
        replayCache.insert(messageKey, time: now, trustedTime: trusted)

        if let t = clock.unixTime, t - sms.timestamp > maxAge { return .ignore(.stale) }
        // The service centre stamps the time, not the sender: a stamp far ahead of a trusted clock is a broken or
        // forged PDU, and a code that matches it is one the owner's authenticator has not shown yet.
        if let t = clock.unixTime, sms.timestamp - t > maxAge { return .ignore(.future) }
        lockout.prune(now: now, period: Self.lockoutPeriod)
        if lockout.isLockedOut(sender, now: now) { return .ignore(.lockedOut) }

        guard let words = SMSCommandWords(text) else {
            recordBadCode(sender, now: now)
            return .ignore(.malformed)
        }
        let codeKey: String
        switch verifier {
        case .totp(let totp, let window):
            guard let counter = totp.match(words.code, at: sms.timestamp, window: window) else {
                recordBadCode(sender, now: now)
                return .ignore(.badCode)
            }
            codeKey = "totp:\(counter)"
        case .passphrase(let secret):
            guard ConstantTime.equal(Array(words.code.utf8), secret) else {
                recordBadCode(sender, now: now)
                return .ignore(.badCode)
            }
            // A passphrase is the same every time: only the exact message can be refused again.
            codeKey = "pass:" + Self.digest("\(sender.e164)|\(sms.timestamp)")
        }
        if replayCache.contains(codeKey) { return .ignore(.replayed) }
        replayCache.insert(codeKey, time: now, trustedTime: trusted)
        lockout.clearBadCodes(sender)
        switch words.command() {
        case .success(let command): return .obey(command, sender: sender)
        case .failure(let usage): return .usage(usage, sender: sender)
        }
    }

    /// True if the last bad code put `sender` into lockout (the service logs it loudly).
    public func lockoutStarted(_ sender: PhoneNumber, now: Int64) -> Bool {
        guard let until = lockout.lockedUntil[sender] else { return false }
        return until == now + Self.lockoutPeriod
    }

    mutating func recordBadCode(_ sender: PhoneNumber, now: Int64) {
        lockout.recordBadCode(sender, now: now, limit: Self.maxBadCodes, period: Self.lockoutPeriod)
    }

    static func digest(_ text: String) -> String {
        let hash = SHA256.hash(data: Array(text.utf8))
        let hex = Array("0123456789abcdef")
        var out = ""
        for b in hash.prefix(16) {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
        return out
    }
}
