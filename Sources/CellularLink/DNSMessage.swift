/// A minimal DNS message codec for one question of type A or AAAA (RFC 1035 §4, RFC 3596), pure: no I/O.
///
/// Only what resolving the jump host needs: build a recursive query, and take the addresses out of the
/// answer section of the matching response (CNAME chains are followed implicitly: every A/AAAA record in
/// the answer section counts). Name compression (§4.1.4) is decoded with a bound on pointer hops.
public enum DNSMessage {
    /// Record types this codec asks for.
    public enum RecordType: UInt16, Sendable {
        /// IPv4 address (RFC 1035 §3.4.1).
        case a = 1
        /// IPv6 address (RFC 3596 §2.1).
        case aaaa = 28
    }

    /// Why a response was not usable.
    public enum ParseError: Error, Hashable, Sendable {
        /// Shorter than its header or a record claims.
        case truncated(field: String)
        /// Not the response to our query (ID or question differs).
        case mismatch
        /// The server answered with RCODE n (3 = the name does not exist).
        case serverError(rcode: Int)
        /// A compression pointer loop or a label too long.
        case malformedName
    }

    /// Encodes a recursive query (RD set) for `name` and `type`.
    /// - Parameters:
    ///   - id: the 16-bit query ID, echoed by the server.
    ///   - name: a host name such as "jump.example.net" (a trailing dot is allowed).
    ///   - type: A or AAAA.
    /// - Returns: the message bytes, or nil if a label is empty or longer than 63 bytes.
    public static func query(id: UInt16, name: String, type: RecordType) -> [UInt8]? {
        var out: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard !trimmed.isEmpty, trimmed.utf8.count <= 253 else { return nil }
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard (1...63).contains(bytes.count) else { return nil }
            out.append(UInt8(bytes.count))
            out += bytes
        }
        out.append(0)
        out += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, 1]
        return out
    }

    /// Decodes the response to a query built by ``query(id:name:type:)``.
    /// - Parameters:
    ///   - response: the UDP payload.
    ///   - id: the ID of our query.
    ///   - type: the type we asked for.
    /// - Returns: raw address bytes (4 for A, 16 for AAAA), possibly empty (the name has no such record).
    /// - Throws: ``ParseError``.
    public static func addresses(in response: [UInt8], id: UInt16, type: RecordType) throws -> [[UInt8]] {
        var r = Reader(bytes: response)
        let rid = try r.u16("ID")
        let flags = try r.u16("flags")
        guard rid == id, flags & 0x8000 != 0 else { throw ParseError.mismatch }
        let rcode = Int(flags & 0x000f)
        guard rcode == 0 else { throw ParseError.serverError(rcode: rcode) }
        let qd = try r.u16("QDCOUNT")
        let an = try r.u16("ANCOUNT")
        _ = try r.u16("NSCOUNT")
        _ = try r.u16("ARCOUNT")
        for _ in 0..<qd {
            try r.skipName()
            _ = try r.u16("QTYPE")
            _ = try r.u16("QCLASS")
        }
        var result: [[UInt8]] = []
        for _ in 0..<an {
            try r.skipName()
            let rtype = try r.u16("TYPE")
            let rclass = try r.u16("CLASS")
            _ = try r.u16("TTL")
            _ = try r.u16("TTL")
            let length = Int(try r.u16("RDLENGTH"))
            let data = try r.bytes(length, "RDATA")
            if rtype == type.rawValue, rclass == 1, data.count == (type == .a ? 4 : 16) { result.append(data) }
        }
        return result
    }

    /// A bounds-checked cursor; every read names the field it wanted.
    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u16(_ field: String) throws -> UInt16 {
            guard offset + 2 <= bytes.count else { throw ParseError.truncated(field: field) }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func bytes(_ n: Int, _ field: String) throws -> [UInt8] {
            guard n >= 0, offset + n <= bytes.count else { throw ParseError.truncated(field: field) }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }

        /// Skips a (possibly compressed) name; a pointer ends it (RFC 1035 §4.1.4).
        mutating func skipName() throws {
            var hops = 0
            while true {
                guard offset < bytes.count else { throw ParseError.truncated(field: "NAME") }
                let len = bytes[offset]
                if len == 0 {
                    offset += 1
                    return
                }
                if len & 0xc0 == 0xc0 {
                    guard offset + 2 <= bytes.count else { throw ParseError.truncated(field: "NAME pointer") }
                    offset += 2
                    return
                }
                guard len & 0xc0 == 0 else { throw ParseError.malformedName }
                offset += 1 + Int(len)
                hops += 1
                guard hops <= 128 else { throw ParseError.malformedName }
            }
        }
    }
}
