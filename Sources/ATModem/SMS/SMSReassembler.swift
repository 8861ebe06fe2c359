// SMSReassembler.swift: joins the parts of concatenated short messages (3GPP TS 23.040 §9.2.3.24.1, §9.2.3.24.8).

/// A short message ready to be handed on: a single-part message, the joined parts of a concatenated one, or the
/// parts of an incomplete one whose wait ran out.
public struct SMSMessage: Hashable, Sendable {
    /// Caller tags (storage indexes) of every part present, in sequence order.
    public var indexes: [Int]
    /// The sender (TP-OA) of a received message; the recipient (TP-DA) of a stored outgoing one.
    public var sender: String
    /// TP-SCTS of the first part present, when the parts carry one.
    public var timestamp: SMSTimestamp?
    /// The alphabet of the parts (of the first part when they differ).
    public var encoding: SMSEncoding
    /// The joined text; `nil` for 8-bit data.
    public var text: String?
    /// The joined payload (see ``UserData/data``).
    public var data: [UInt8]
    /// Number of parts the message announces (1 for a single-part message).
    public var totalParts: Int
    /// Number of distinct parts present.
    public var partsPresent: Int
    /// The application ports of the first part, when present.
    public var ports: ApplicationPorts?

    /// True when every part 1...total is present.
    public var isComplete: Bool { partsPresent == totalParts }
}

/// Joins multipart messages that arrive in any order, with a bounded wait for missing parts, and never hands the
/// same message on twice (3GPP TS 23.040 §9.2.3.24.1).
///
/// Parts belong together when sender, reference and total agree. A pure value type: the caller supplies the time
/// (`now`, any monotonic clock reading as a `Duration` since a fixed origin) and performs the I/O.
///
/// Duplicates: a part whose sequence number is already present in its group is dropped. After a message has been
/// handed on, its key and the fingerprint of each part are remembered for ``rememberFor`` (at most
/// ``maximumRemembered`` entries); a part seen again with the same fingerprint is dropped, while a part with the
/// same key but different content (the sender's 8-bit reference wrapped around) starts a new message. Single-part
/// messages are remembered by sender, time stamp and content, so a re-delivered duplicate is dropped too.
public struct SMSReassembler: Sendable {
    /// A part as the reassembler takes it.
    public struct Fragment: Hashable, Sendable {
        /// The caller's tag for the part (the storage index), reported back in ``SMSMessage/indexes``.
        public var index: Int?
        /// The sender (or the recipient, for stored outgoing messages).
        public var peer: String
        /// TP-SCTS, when the PDU type has one.
        public var timestamp: SMSTimestamp?
        /// The decoded user data, with its concatenation element.
        public var userData: UserData

        /// Creates a fragment.
        public init(index: Int?, peer: String, timestamp: SMSTimestamp?, userData: UserData) {
            self.index = index
            self.peer = peer
            self.timestamp = timestamp
            self.userData = userData
        }

        /// The fragment of a decoded SMS-DELIVER or SMS-SUBMIT; `nil` for a status report.
        public init?(_ decoded: DecodedPDU, index: Int?) {
            switch decoded.pdu {
            case .deliver(let m): self.init(index: index, peer: m.sender, timestamp: m.timestamp, userData: m.userData)
            case .submit(let m): self.init(index: index, peer: m.recipient, timestamp: nil, userData: m.userData)
            case .statusReport: return nil
            }
        }

        var fingerprint: UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            func mix(_ byte: UInt8) {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            for byte in userData.encoding.rawValue.utf8 { mix(byte) }
            for byte in userData.data { mix(byte) }
            return hash
        }
    }

    /// How long a group waits for missing parts before it is handed on as partial.
    public var timeout: Duration
    /// How long handed-on messages are remembered for duplicate detection.
    public var rememberFor: Duration
    /// Most groups waiting at once; the oldest is handed on as partial when one more arrives.
    public var maximumPendingGroups: Int
    /// Most handed-on messages remembered; the oldest is forgotten first.
    public var maximumRemembered: Int

    private enum Key: Hashable, Sendable {
        /// A concatenated message: sender, reference (8- or 16-bit) and total.
        case concatenated(peer: String, reference: Int, is16Bit: Bool, total: Int)
        /// A single-part message: sender, time stamp and content.
        case single(peer: String, timestamp: String, fingerprint: UInt64)
    }

    private struct Group: Sendable {
        var firstSeen: Duration
        var total: Int
        var parts: [Int: Fragment] = [:]
        var extraIndexes: [Int] = []
    }

    private struct Remembered: Sendable {
        var at: Duration
        var fingerprints: [Int: UInt64]
    }

    private var pending: [Key: Group] = [:]
    private var pendingOrder: [Key] = []
    private var remembered: [Key: Remembered] = [:]
    private var rememberedOrder: [Key] = []

    /// Creates a reassembler.
    /// - Parameters:
    ///   - timeout: wait for missing parts (default 10 minutes).
    ///   - rememberFor: duplicate-detection memory (default 24 hours).
    ///   - maximumPendingGroups: bound on groups waiting at once.
    ///   - maximumRemembered: bound on remembered handed-on messages.
    public init(
        timeout: Duration = .seconds(600), rememberFor: Duration = .seconds(86_400), maximumPendingGroups: Int = 64,
        maximumRemembered: Int = 1024
    ) {
        self.timeout = timeout
        self.rememberFor = rememberFor
        self.maximumPendingGroups = max(1, maximumPendingGroups)
        self.maximumRemembered = max(1, maximumRemembered)
    }

    /// Number of incomplete groups waiting for parts.
    public var pendingGroupCount: Int { pending.count }

    /// Adds a part. Returns the messages that are ready: this one when it is single-part, its group when this part
    /// completed it, and the oldest waiting group (partial) when the bound on waiting groups was exceeded.
    /// Duplicates return nothing.
    public mutating func add(_ fragment: Fragment, now: Duration) -> [SMSMessage] {
        forget(before: now)
        guard let concat = fragment.userData.concat, concat.total > 1 else {
            let key = Key.single(
                peer: fragment.peer, timestamp: fragment.timestamp?.iso8601 ?? "", fingerprint: fragment.fingerprint)
            if remembered[key] != nil { return [] }
            remember(key, fingerprints: [1: fragment.fingerprint], now: now)
            return [Self.message(from: [1: fragment], total: 1, extraIndexes: [])]
        }
        let key = Key.concatenated(
            peer: fragment.peer, reference: concat.reference, is16Bit: concat.is16BitReference, total: concat.total)
        if let memory = remembered[key] {
            if memory.fingerprints[concat.sequence] == fragment.fingerprint { return [] }
            // Same key, new content: the sender reused the reference for a new message.
            remembered[key] = nil
            rememberedOrder.removeAll { $0 == key }
        }
        var ready: [SMSMessage] = []
        if pending[key] == nil {
            pending[key] = Group(firstSeen: now, total: concat.total)
            pendingOrder.append(key)
        }
        if pending[key]?.parts[concat.sequence] == nil {
            pending[key]?.parts[concat.sequence] = fragment
        } else if let index = fragment.index {
            pending[key]?.extraIndexes.append(index)
        }
        if let group = pending[key], group.parts.count == group.total {
            ready.append(finish(key, now: now))
        }
        while pending.count > maximumPendingGroups, let oldest = pendingOrder.first {
            ready.append(finish(oldest, now: now))
        }
        return ready
    }

    /// Hands on, as partial messages, the groups that have waited longer than ``timeout``.
    public mutating func expire(now: Duration) -> [SMSMessage] {
        forget(before: now)
        var ready: [SMSMessage] = []
        for key in pendingOrder {
            if let group = pending[key], now - group.firstSeen >= timeout {
                ready.append(finish(key, now: now))
            }
        }
        return ready
    }

    /// The groups still waiting, as partial messages (they stay pending).
    public func pendingMessages() -> [SMSMessage] {
        pendingOrder.compactMap { key in
            pending[key].map { Self.message(from: $0.parts, total: $0.total, extraIndexes: $0.extraIndexes) }
        }
    }

    /// Joins a snapshot of stored parts (e.g. everything `AT+CMGL` listed) without waiting and without duplicate
    /// memory: complete groups are joined, incomplete ones are returned partial, every single-part message is
    /// returned. Ordered by the first index (or input order).
    public static func join(_ fragments: [Fragment]) -> [SMSMessage] {
        var reassembler = SMSReassembler(
            timeout: .seconds(1), rememberFor: .zero, maximumPendingGroups: Int.max, maximumRemembered: 1)
        var out: [(Int, SMSMessage)] = []
        for (position, fragment) in fragments.enumerated() {
            reassembler.remembered.removeAll()
            reassembler.rememberedOrder.removeAll()
            for message in reassembler.add(fragment, now: .zero) {
                out.append((message.indexes.min() ?? position, message))
            }
        }
        for message in reassembler.pendingMessages() {
            out.append((message.indexes.min() ?? Int.max, message))
        }
        return out.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.1)
    }

    // MARK: - Internals

    private mutating func finish(_ key: Key, now: Duration) -> SMSMessage {
        let group = pending.removeValue(forKey: key)!  // callers pass a pending key
        pendingOrder.removeAll { $0 == key }
        remember(key, fingerprints: group.parts.mapValues(\.fingerprint), now: now)
        return Self.message(from: group.parts, total: group.total, extraIndexes: group.extraIndexes)
    }

    private mutating func remember(_ key: Key, fingerprints: [Int: UInt64], now: Duration) {
        if remembered[key] == nil { rememberedOrder.append(key) }
        remembered[key] = Remembered(at: now, fingerprints: fingerprints)
        while rememberedOrder.count > maximumRemembered {
            remembered[rememberedOrder.removeFirst()] = nil
        }
    }

    private mutating func forget(before now: Duration) {
        while let oldest = rememberedOrder.first, let entry = remembered[oldest], now - entry.at > rememberFor {
            remembered[oldest] = nil
            rememberedOrder.removeFirst()
        }
    }

    private static func message(from parts: [Int: Fragment], total: Int, extraIndexes: [Int]) -> SMSMessage {
        let ordered = parts.keys.sorted().compactMap { parts[$0] }
        let first = ordered[0]
        let encoding = first.userData.encoding
        var data: [UInt8] = []
        for part in ordered { data += part.userData.data }
        var text: String?
        if ordered.allSatisfy({ $0.userData.encoding == encoding }) {
            switch encoding {
            case .gsm7: text = GSM7.decode(septets: data)
            case .ucs2: text = UCS2.decode(data, allowUnpairedSurrogates: true)
            case .eightBit: text = nil
            }
        } else {
            text = ordered.map { $0.userData.text ?? "" }.joined()
        }
        return SMSMessage(
            indexes: ordered.compactMap(\.index) + extraIndexes, sender: first.peer, timestamp: first.timestamp,
            encoding: encoding, text: text, data: data, totalParts: total, partsPresent: ordered.count,
            ports: first.userData.ports)
    }
}
