import SystemPackage

/// The bad-code counts and lockouts of ``CommandAuthenticator``, kept in `state.dir/lockout` so that
/// restarting the daemon (or making it crash) does not lift a lockout or reset the count of bad codes.
///
/// The file is a line per entry, written atomically (mode 0600):
///
/// ```
/// bad <unix time> <sender E.164>       one bad code (or malformed command) from an allowed sender
/// locked <unix time> <sender E.164>    that sender's lockout ends at this time
/// ```
///
/// Entries that have expired (bad codes older than the period, lockouts that ended) are pruned at
/// every judgement and before every save; malformed lines are skipped.
public struct LockoutLedger: Sendable, Equatable {
    /// Bad-code times per sender (by the best clock, or the SMS time when there is none).
    public private(set) var badCodes: [PhoneNumber: [Int64]] = [:]
    /// Lockout end per sender.
    public private(set) var lockedUntil: [PhoneNumber: Int64] = [:]

    /// An empty ledger.
    public init() {}

    /// Whether `sender` is locked out at `now`.
    public func isLockedOut(_ sender: PhoneNumber, now: Int64) -> Bool { (lockedUntil[sender] ?? .min) > now }

    /// Records a bad code from `sender` at `now`; locks it out for `period` when `limit` bad codes fell within
    /// `period`.
    /// - Returns: true if this bad code started a lockout.
    @discardableResult
    public mutating func recordBadCode(_ sender: PhoneNumber, now: Int64, limit: Int, period: Int64) -> Bool {
        var times = (badCodes[sender] ?? []).filter { now - $0 < period && $0 <= now }
        times.append(now)
        var started = false
        if times.count >= limit {
            lockedUntil[sender] = now + period
            times = []
            started = true
        }
        badCodes[sender] = times.isEmpty ? nil : times
        return started
    }

    /// Forgets the bad codes of `sender` (after a good one).
    public mutating func clearBadCodes(_ sender: PhoneNumber) { badCodes[sender] = nil }

    /// Drops bad codes older than `period` and lockouts that ended, relative to `now`.
    public mutating func prune(now: Int64, period: Int64) {
        for (sender, times) in badCodes {
            let kept = times.filter { now - $0 < period }
            badCodes[sender] = kept.isEmpty ? nil : kept
        }
        // A lockout ending more than `period` after `now` cannot have been set by this clock: it was set by an SMS
        // time far ahead (no trusted clock, a broken or forged service-centre stamp). Kept, it would lock the
        // sender out for years, across restarts.
        for (sender, until) in lockedUntil where until <= now || until - now > period { lockedUntil[sender] = nil }
    }

    /// The file's text (sorted, so an unchanged ledger writes the same bytes).
    public func serialized() -> String {
        var lines: [String] = []
        for (sender, until) in lockedUntil { lines.append("locked \(until) \(sender.e164)") }
        for (sender, times) in badCodes { for t in times { lines.append("bad \(t) \(sender.e164)") } }
        return lines.sorted().map { $0 + "\n" }.joined()
    }

    /// Parses the file's text; malformed lines are skipped.
    public init(serialized text: String) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let t = Int64(fields[1]), let sender = PhoneNumber(String(fields[2])) else { continue }
            switch fields[0] {
            case "bad": badCodes[sender, default: []].append(t)
            case "locked": lockedUntil[sender] = max(lockedUntil[sender] ?? .min, t)
            default: continue
            }
        }
        for (sender, times) in badCodes { badCodes[sender] = times.sorted() }
    }

    /// Loads `path`; a missing file is an empty ledger.
    /// - Throws: ``AgentError`` (`.stateFile`) if the file exists but cannot be read.
    public static func load(path: String) throws -> LockoutLedger {
        guard let bytes = try StateFile.read(path, what: "the bad-code lockout file") else { return LockoutLedger() }
        return LockoutLedger(serialized: String(decoding: bytes, as: UTF8.self))
    }

    /// Writes the ledger to `path` atomically (mode 0600).
    /// - Throws: ``AgentError`` (`.stateFile`).
    public func save(path: String) throws {
        try StateFile.write(path, Array(serialized().utf8), what: "the bad-code lockout file")
    }
}
