import SystemPackage

/// Codes already accepted and messages already seen, kept in `state.dir/replay-cache`
/// so that a restart does not reopen a replay window.
///
/// The file is a line per entry, `<unix time> <key>`, written atomically. It is bounded twice:
/// entries older than `retention` are pruned, and at most `capacity` entries are kept (the oldest
/// go first; by then their codes are long outside any code window).
public struct ReplayCache: Sendable, Equatable {
    /// One remembered key with the (SMS) time it was recorded for.
    public struct Entry: Sendable, Equatable {
        public var time: Int64
        public var key: String
    }

    /// The entries, oldest first.
    public private(set) var entries: [Entry] = []
    /// The longest an entry is kept, in seconds.
    public let retention: Int64
    /// The most entries kept.
    public let capacity: Int

    /// Creates an empty cache.
    public init(retention: Int64 = 2 * 86400, capacity: Int = 1000) {
        self.retention = retention
        self.capacity = capacity
    }

    /// Whether `key` was recorded.
    public func contains(_ key: String) -> Bool { entries.contains { $0.key == key } }

    /// Records `key` at `time`, pruning entries older than `retention` before `time` and above capacity.
    /// - Parameter trustedTime: false when `time` is only an SMS's own stamp (no synchronised system clock and no
    ///   network time): then nothing is pruned by age, only by capacity, so that a forged stamp years ahead
    ///   cannot age out the codes already used.
    public mutating func insert(_ key: String, time: Int64, trustedTime: Bool = true) {
        guard !contains(key) else { return }
        entries.append(Entry(time: time, key: key))
        if trustedTime {
            prune(now: time)
        } else {
            Self.trim(&entries, to: capacity)
        }
    }

    /// Drops entries older than `retention` relative to `now`, then the oldest above `capacity`.
    public mutating func prune(now: Int64) {
        entries.removeAll { now - $0.time > retention }
        Self.trim(&entries, to: capacity)
    }

    /// Drops entries over `capacity`, oldest first, but message digests (`msg:…`) before accepted codes: anyone who
    /// can send SMS with an allowed number as the sender can add a digest per SMS, and a flood of them must not push
    /// out the code that was just used (its replay would then be obeyed within the code window).
    static func trim(_ entries: inout [Entry], to capacity: Int) {
        var excess = entries.count - capacity
        guard excess > 0 else { return }
        entries.removeAll { entry in
            guard excess > 0, entry.key.hasPrefix("msg:") else { return false }
            excess -= 1
            return true
        }
        if excess > 0 { entries.removeFirst(excess) }
    }

    /// The file's text.
    public func serialized() -> String {
        entries.map { "\($0.time) \($0.key)\n" }.joined()
    }

    /// Parses the file's text; malformed lines are skipped.
    public init(serialized text: String, retention: Int64 = 2 * 86400, capacity: Int = 1000) {
        self.init(retention: retention, capacity: capacity)
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, let t = Int64(parts[0]) else { continue }
            let key = String(parts[1])
            if !contains(key) { entries.append(Entry(time: t, key: key)) }
        }
        Self.trim(&entries, to: capacity)
    }

    /// Loads `path`; a missing file is an empty cache.
    /// - Throws: ``AgentError`` (`.stateFile`) if the file exists but cannot be read.
    public static func load(path: String) throws -> ReplayCache {
        guard let bytes = try StateFile.read(path, what: "the replay cache") else { return ReplayCache() }
        return ReplayCache(serialized: String(decoding: bytes, as: UTF8.self))
    }

    /// Writes the cache to `path` atomically (mode 0600).
    /// - Throws: ``AgentError`` (`.stateFile`).
    public func save(path: String) throws {
        try StateFile.write(path, Array(serialized().utf8), what: "the replay cache")
    }
}
