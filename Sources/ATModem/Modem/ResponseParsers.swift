// Pure parsers of information lines (3GPP TS 27.007 and TS 27.005). No platform imports, no Foundation.

/// Splits AT parameter lists.
public enum ATParameters {
    /// Splits `a,"b,c",d` at the commas outside quotes; trims spaces and removes the quotes of each field.
    /// A missing closing quote ends the field at the end of the line (no trap on mismatched quotes).
    public static func split(_ s: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        for c in s {
            if c == "\"" {
                inQuotes.toggle()
            } else if c == "," && !inQuotes {
                fields.append(current.trimmingASCIIWhitespace())
                current = ""
            } else {
                current.append(c)
            }
        }
        fields.append(current.trimmingASCIIWhitespace())
        return fields
    }

    /// The parameters of an information line: `+CSQ: 20,99` → `["20", "99"]`; `nil` if the line lacks `prefix`.
    public static func of(_ line: String, prefix: String) -> [String]? {
        guard line.hasPrefix(prefix) else { return nil }
        var rest = Substring(line.dropFirst(prefix.count))
        if rest.first == ":" { rest = rest.dropFirst() }
        return split(String(rest))
    }
}

// MARK: - Signal

/// Received signal strength, from `+CSQ` (TS 27.007 §8.5) or Huawei's `^RSSI`.
public struct SignalQuality: Hashable, Sendable {
    /// The raw `<rssi>`: 0…31, or 99 when not known or not detectable.
    public var rssi: Int
    /// The raw `<ber>` (0…7), or 99 when not known.
    public var bitErrorRate: Int

    /// Makes one from the raw values.
    public init(rssi: Int, bitErrorRate: Int = 99) {
        self.rssi = rssi
        self.bitErrorRate = bitErrorRate
    }

    /// The strength in dBm: `-113 + 2 × rssi` (0 means -113 dBm or less, 31 means -51 dBm or more); `nil` for 99.
    public var dBm: Int? {
        guard (0...31).contains(rssi) else { return nil }
        return -113 + 2 * rssi
    }

    /// Parses `+CSQ: <rssi>,<ber>`.
    public static func parse(csq line: String) -> SignalQuality? {
        guard let f = ATParameters.of(line, prefix: "+CSQ"), let rssi = Int(f[0]) else { return nil }
        return SignalQuality(rssi: rssi, bitErrorRate: f.count > 1 ? Int(f[1]) ?? 99 : 99)
    }

    /// Parses Huawei's `^RSSI:<rssi>` (same scale as `+CSQ`).
    public static func parse(huaweiRSSI line: String) -> SignalQuality? {
        guard let f = ATParameters.of(line, prefix: "^RSSI"), let rssi = Int(f[0]) else { return nil }
        return SignalQuality(rssi: rssi)
    }
}

// MARK: - Registration

/// Network registration, from `+CREG?` (TS 27.007 §7.2) and `+COPS?` (§7.3).
public struct Registration: Hashable, Sendable {
    /// `<stat>` of `+CREG`.
    public enum Status: Hashable, Sendable, CustomStringConvertible {
        /// 0 not registered, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming.
        case notRegistered, home, searching, denied, unknown, roaming
        /// Another value (SMS-only, emergency-only, …).
        case other(Int)

        init(_ n: Int) {
            switch n {
            case 0: self = .notRegistered
            case 1: self = .home
            case 2: self = .searching
            case 3: self = .denied
            case 4: self = .unknown
            case 5: self = .roaming
            default: self = .other(n)
            }
        }

        /// Whether the modem can send and receive SMS (home or roaming, SMS-only included).
        public var isRegistered: Bool {
            switch self {
            case .home, .roaming: return true
            case .other(let n): return n == 6 || n == 7 || n == 9 || n == 10
            case .notRegistered, .searching, .denied, .unknown: return false
            }
        }

        public var description: String {
            switch self {
            case .notRegistered: return "not registered"
            case .home: return "registered (home)"
            case .searching: return "searching"
            case .denied: return "registration denied"
            case .unknown: return "unknown"
            case .roaming: return "registered (roaming)"
            case .other(let n): return "status \(n)"
            }
        }
    }

    /// The registration status.
    public var status: Status
    /// Location area code (hex), when the modem reports it.
    public var locationAreaCode: String?
    /// Cell id (hex), when the modem reports it.
    public var cellID: String?
    /// Access technology `<AcT>` (0 GSM, 2 UTRAN, 7 E-UTRAN, …), when reported.
    public var accessTechnology: Int?
    /// The operator's name from `+COPS?`, when known.
    public var operatorName: String?

    /// Makes one.
    public init(status: Status, locationAreaCode: String? = nil, cellID: String? = nil, accessTechnology: Int? = nil,
                operatorName: String? = nil) {
        self.status = status
        self.locationAreaCode = locationAreaCode
        self.cellID = cellID
        self.accessTechnology = accessTechnology
        self.operatorName = operatorName
    }

    /// Parses the reply `+CREG: <n>,<stat>[,<lac>,<ci>[,<AcT>]]`.
    public static func parse(cregReply line: String) -> Registration? {
        guard let f = ATParameters.of(line, prefix: "+CREG"), f.count >= 2, let stat = Int(f[1]) else { return nil }
        return Registration(
            status: Status(stat), locationAreaCode: f.count > 2 && !f[2].isEmpty ? f[2] : nil,
            cellID: f.count > 3 && !f[3].isEmpty ? f[3] : nil, accessTechnology: f.count > 4 ? Int(f[4]) : nil)
    }

    /// Parses the unsolicited `+CREG: <stat>[,<lac>,<ci>[,<AcT>]]`.
    public static func parse(cregUnsolicited line: String) -> Registration? {
        guard let f = ATParameters.of(line, prefix: "+CREG"), let stat = Int(f[0]) else { return nil }
        return Registration(
            status: Status(stat), locationAreaCode: f.count > 1 && !f[1].isEmpty ? f[1] : nil,
            cellID: f.count > 2 && !f[2].isEmpty ? f[2] : nil, accessTechnology: f.count > 3 ? Int(f[3]) : nil)
    }

    /// Parses `+COPS: <mode>[,<format>,<oper>[,<AcT>]]`: the operator name (nil when not registered) and AcT.
    public static func parse(cops line: String) -> (name: String?, accessTechnology: Int?)? {
        guard let f = ATParameters.of(line, prefix: "+COPS"), Int(f[0]) != nil else { return nil }
        let name = f.count > 2 && !f[2].isEmpty ? f[2] : nil
        return (name, f.count > 3 ? Int(f[3]) : nil)
    }
}

// MARK: - Storage

/// Usage of the SMS storages, from `+CPMS` (TS 27.005 §3.2.2).
public struct StorageStatus: Hashable, Sendable {
    /// One storage: its name (`SM`, `ME`, `MT`), messages in it and its capacity.
    public struct Memory: Hashable, Sendable {
        /// `SM` (SIM), `ME` (modem), `MT` (both), …; `nil` in the set command's reply, which gives only numbers.
        public var name: String?
        /// Messages stored.
        public var used: Int
        /// Capacity.
        public var total: Int
    }

    /// `<mem1>` (read/delete), `<mem2>` (write/send), `<mem3>` (where received messages go), as reported.
    public var memories: [Memory]

    /// The storage new messages are put in (`<mem3>`), or the first one reported.
    public var receiving: Memory? { memories.count >= 3 ? memories[2] : memories.first }
    /// Whether the receiving storage is full (new SMS would be lost).
    public var isFull: Bool { receiving.map { $0.total > 0 && $0.used >= $0.total } ?? false }

    /// Parses `+CPMS: <used1>,<total1>,…` (the set command's reply) or `+CPMS: "SM",<used1>,<total1>,…` (the read
    /// command's reply).
    public static func parse(_ line: String) -> StorageStatus? {
        guard let f = ATParameters.of(line, prefix: "+CPMS"), !f.isEmpty else { return nil }
        var memories: [Memory] = []
        var i = 0
        while i < f.count {
            var name: String?
            if Int(f[i]) == nil {
                guard !f[i].isEmpty, !f[i].hasPrefix("(") else { return nil }
                name = f[i]
                i += 1
            }
            guard i + 1 < f.count, let used = Int(f[i]), let total = Int(f[i + 1]) else { break }
            memories.append(Memory(name: name, used: used, total: total))
            i += 2
        }
        return memories.isEmpty ? nil : StorageStatus(memories: memories)
    }
}

// MARK: - Time

/// A clock reading with its time zone, from `+CCLK` (TS 27.007 §8.15: `"yy/MM/dd,hh:mm:ss±zz"`, zz in quarter
/// hours) or a text-mode SMS timestamp (TS 27.005 §3.3.1, same format).
public struct ModemClock: Hashable, Sendable, CustomStringConvertible {
    /// Four-digit year (two-digit years are 20yy).
    public var year: Int
    /// 1…12.
    public var month: Int
    /// 1…31.
    public var day: Int
    /// 0…23, local time of the zone below.
    public var hour: Int
    /// 0…59.
    public var minute: Int
    /// 0…60.
    public var second: Int
    /// Offset from UTC in minutes; `nil` when the modem gave no zone.
    public var utcOffsetMinutes: Int?

    /// Makes one.
    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, utcOffsetMinutes: Int?) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
        self.second = second
        self.utcOffsetMinutes = utcOffsetMinutes
    }

    /// Parses `yy/MM/dd,hh:mm:ss±zz` (also `yyyy/M/d,…` and without a zone); quotes around it are ignored.
    public static func parse(_ raw: String) -> ModemClock? {
        let s = raw.trimmingCharacters(in: "\" ")
        let parts = s.split(separator: ",", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "/")
        guard date.count == 3, var year = Int(date[0]), let month = Int(date[1]), let day = Int(date[2]) else {
            return nil
        }
        var timePart = Substring(parts[1])
        var offset: Int?
        if let signIndex = timePart.lastIndex(where: { $0 == "+" || $0 == "-" }) {
            let zone = timePart[timePart.index(after: signIndex)...]
            guard let q = Int(zone), q <= 96 else { return nil }
            offset = (timePart[signIndex] == "-" ? -q : q) * 15
            timePart = timePart[..<signIndex]
        }
        let time = timePart.split(separator: ":")
        guard time.count == 3, let h = Int(time[0]), let mi = Int(time[1]), let se = Int(time[2]) else { return nil }
        if year < 100 { year += 2000 }
        guard (1...12).contains(month), (1...31).contains(day), (0...23).contains(h), (0...59).contains(mi),
              (0...60).contains(se)
        else { return nil }
        return ModemClock(year: year, month: month, day: day, hour: h, minute: mi, second: se, utcOffsetMinutes: offset)
    }

    /// ISO 8601 with the offset (`2026-11-21T23:50:00+01:00`), or without one when the zone is unknown.
    public var iso8601: String {
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        var s = "\(year)-\(two(month))-\(two(day))T\(two(hour)):\(two(minute)):\(two(second))"
        if let o = utcOffsetMinutes {
            s += (o < 0 ? "-" : "+") + two(abs(o) / 60) + ":" + two(abs(o) % 60)
        }
        return s
    }

    public var description: String { iso8601 }

    /// Seconds since 1970-01-01T00:00:00Z, when the zone is known.
    public var unixTime: Int64? {
        guard let o = utcOffsetMinutes else { return nil }
        // Days from civil (Howard Hinnant's algorithm).
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return days * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(o * 60)
    }
}

// MARK: - Stored messages

/// `<stat>` of a stored message (TS 27.005 §3.1): numeric in PDU mode, text in text mode.
public enum MessageStatus: Hashable, Sendable, CustomStringConvertible {
    /// 0 / `REC UNREAD`, 1 / `REC READ`, 2 / `STO UNSENT`, 3 / `STO SENT`.
    case receivedUnread, receivedRead, storedUnsent, storedSent
    /// A value outside the table.
    case other(String)

    /// From `0`…`3` or `"REC UNREAD"`…`"STO SENT"`; `nil` for an empty field.
    public init?(_ field: String) {
        switch field.uppercased() {
        case "": return nil
        case "0", "REC UNREAD": self = .receivedUnread
        case "1", "REC READ": self = .receivedRead
        case "2", "STO UNSENT": self = .storedUnsent
        case "3", "STO SENT": self = .storedSent
        default: self = .other(field)
        }
    }

    public var description: String {
        switch self {
        case .receivedUnread: return "REC UNREAD"
        case .receivedRead: return "REC READ"
        case .storedUnsent: return "STO UNSENT"
        case .storedSent: return "STO SENT"
        case .other(let s): return s
        }
    }
}

/// A message as a text-mode modem (`AT+CMGF=1`) lists it.
public struct TextModeMessage: Hashable, Sendable {
    /// `<oa>`/`<da>`: the sender (or recipient of a stored outgoing message).
    public var address: String
    /// `<scts>`, when given.
    public var timestamp: ModemClock?
    /// The text; lines of a multi-line body joined with LF.
    public var text: String
    /// `<tooa>`/`<toda>` (given after `AT+CSDH=1`): 145 international, 129 unknown, 208 alphanumeric.
    public var typeOfAddress: Int? = nil
    /// `<fo>`, the TPDU's first octet (given by `+CMGR` after `AT+CSDH=1`); bit 6 (0x40) is TP-UDHI: the message
    /// carries a user data header, as every part of a multipart message does.
    public var firstOctet: Int? = nil
}

/// A message in the modem's storage, as listed by `+CMGL` or read by `+CMGR`.
public struct StoredMessage: Hashable, Sendable {
    /// What the modem gave for it.
    public enum Content: Hashable, Sendable {
        /// PDU mode: the PDU hex exactly as listed (SMSC field first), continuation lines joined.
        case pdu(String)
        /// Text mode.
        case text(TextModeMessage)
        /// A header the parser did not understand, with its raw lines.
        case unparsed([String])
    }

    /// The storage index (for `readMessage`/`deleteMessage`).
    public var index: Int
    /// The `<stat>`, when given.
    public var status: MessageStatus?
    /// The content.
    public var content: Content

    /// The PDU hex, in PDU mode.
    public var pdu: String? {
        if case .pdu(let p) = content { return p }
        return nil
    }
}

/// Parsers of `+CMGL` and `+CMGR` replies, PDU and text mode (TS 27.005 §3.4.2, §3.4.3, §4.1, §4.2).
public enum MessageListParser {
    /// Parses the information lines of `AT+CMGL` (either mode; the shape of each header decides).
    ///
    /// PDU lines that a modem broke with an unsolicited code in the middle (Huawei) arrive here as consecutive hex
    /// lines and are joined; a PDU after a space on the header line (seen on some modems) is accepted.
    public static func parseList(_ lines: [String], prefix: String = "+CMGL") -> [StoredMessage] {
        var out: [StoredMessage] = []
        var header: [String]?
        var inlinePDU: String?
        var body: [String] = []

        func flush() {
            guard let h = header else { return }
            out.append(entry(header: h, inlinePDU: inlinePDU, body: body, indexed: true))
            header = nil
            inlinePDU = nil
            body = []
        }

        for line in lines {
            if line.hasPrefix(prefix) {
                flush()
                let (fields, pdu) = headerFields(line, prefix: prefix)
                header = fields
                inlinePDU = pdu
            } else if header != nil {
                body.append(line)
            }
        }
        flush()
        return out
    }

    /// Parses the information lines of `AT+CMGR=<index>`; `nil` when the slot is empty (a plain `OK`).
    public static func parseRead(_ lines: [String], index: Int) -> StoredMessage? {
        guard let headerIndex = lines.firstIndex(where: { $0.hasPrefix("+CMGR") }) else { return nil }
        let (fields, pdu) = headerFields(lines[headerIndex], prefix: "+CMGR")
        var m = entry(header: fields, inlinePDU: pdu, body: Array(lines[(headerIndex + 1)...]), indexed: false)
        m.index = index
        return m
    }

    private static func headerFields(_ line: String, prefix: String) -> ([String], String?) {
        var rest = String(line.dropFirst(prefix.count))
        if rest.hasPrefix(":") { rest.removeFirst() }
        rest = rest.trimmingASCIIWhitespace()
        // "+CMGR: 1,,147 0791…": a PDU after a space on the header line.
        var inline: String?
        if let space = rest.lastIndex(of: " "), !rest.contains("\"") {
            let tail = String(rest[rest.index(after: space)...])
            if tail.count > 20, tail.allSatisfy(\.isHexDigit) {
                inline = tail
                rest = String(rest[..<space])
            }
        }
        return (ATParameters.split(rest), inline)
    }

    private static func entry(header f: [String], inlinePDU: String?, body: [String], indexed: Bool) -> StoredMessage {
        let raw = body
        // Text mode: a quoted status word ("REC READ") in the status position.
        let statusPosition = indexed ? 1 : 0
        let index = indexed ? Int(f[0]) ?? -1 : -1
        if f.count > statusPosition, MessageStatus(f[statusPosition]).map({ if case .other = $0 { return false }; return Int(f[statusPosition]) == nil }) == true {
            let status = MessageStatus(f[statusPosition])
            // (<fo> and <mr> are both numbers there; a delivery with +CSDH=1 details has as many fields, but its
            // second is the sender, "+46…", and its third the phonebook name, mostly empty.)
            if f.count >= statusPosition + 7, Int(f[statusPosition + 1]) != nil, !f[statusPosition + 1].hasPrefix("+"),
                Int(f[statusPosition + 2]) != nil
            {
                // A text-mode status report: <fo>,<mr>,<ra>,<tora>,<scts>,<dt>,<st>; not a message.
                return StoredMessage(index: index, status: status, content: .unparsed(raw))
            }
            let address = f.count > statusPosition + 1 ? f[statusPosition + 1] : ""
            // The timestamp is the first field after the address that parses as a clock (alpha may be empty).
            var timestamp: ModemClock?
            var timestampPosition: Int?
            for k in (statusPosition + 2)..<max(statusPosition + 2, f.count) {
                if let c = ModemClock.parse(f[k]) {
                    timestamp = c
                    timestampPosition = k
                    break
                }
            }
            var message = TextModeMessage(address: address, timestamp: timestamp, text: body.joined(separator: "\n"))
            // +CSDH=1 details after <scts>: +CMGL <tooa>,<length>; +CMGR <tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,<length>.
            if let k = timestampPosition {
                if k + 1 < f.count { message.typeOfAddress = Int(f[k + 1]) }
                if !indexed, k + 6 < f.count { message.firstOctet = Int(f[k + 2]) }
            }
            return StoredMessage(index: index, status: status, content: .text(message))
        }
        // PDU mode: [<index>,]<stat>,[<alpha>,]<length> then the PDU.
        guard let last = f.last, Int(last) != nil else {
            return StoredMessage(index: index, status: nil, content: .unparsed(raw))
        }
        let statusField: String? = f.count >= (indexed ? 3 : 2) ? f[statusPosition] : nil
        var hex = inlinePDU ?? ""
        for line in body {
            let cleaned = line.filter { $0 != "\"" && $0 != " " && $0 != "\u{1A}" }
            hex += cleaned
        }
        if hex.isEmpty {
            // A text-mode status report ("+CMGR: ,6,20,…") or a header without its PDU.
            return StoredMessage(index: index, status: statusField.flatMap { MessageStatus($0) }, content: .unparsed(raw))
        }
        return StoredMessage(index: index, status: statusField.flatMap { MessageStatus($0) }, content: .pdu(hex))
    }
}
