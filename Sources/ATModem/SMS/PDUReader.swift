// PDUReader.swift: the bounds-checked cursor every decoder reads through (style point 8).

/// A cursor over the octets of a PDU. Every read names the field it wants, so a short PDU fails with
/// "truncated at TP-UDL (offset 23)" instead of trapping.
///
/// Offsets are absolute: counted from the first octet of the string handed to ``PDUDecoder`` (the SCA length
/// octet when the PDU starts with the SMSC field).
struct PDUReader {
    /// The whole PDU.
    private let bytes: [UInt8]
    /// Index of the next octet to read.
    private(set) var offset: Int
    /// One past the last octet this reader may read (a sub-reader can be narrower than `bytes`).
    private let end: Int

    /// Creates a reader over `bytes`, positioned at the first octet.
    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
    }

    private init(bytes: [UInt8], offset: Int, end: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = end
    }

    /// Octets left before the end of this reader.
    var remaining: Int { end - offset }

    /// True when every octet has been read.
    var isAtEnd: Bool { offset >= end }

    /// Reads one octet for `field`.
    /// - Throws: ``PDUError`` `.truncated` naming `field` when no octet is left.
    mutating func readOctet(_ field: String) throws(PDUError) -> UInt8 {
        guard offset < end else {
            throw .truncated(field, offset: offset, needed: 1, available: 0)
        }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads `count` octets for `field`.
    /// - Throws: ``PDUError`` `.truncated` naming `field` when fewer than `count` octets are left.
    mutating func readOctets(_ count: Int, _ field: String) throws(PDUError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw .truncated(field, offset: offset, needed: count, available: max(remaining, 0))
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Returns the next octet without consuming it, or `nil` at the end.
    func peekOctet() -> UInt8? {
        offset < end ? bytes[offset] : nil
    }

    /// Splits off a reader over the next `count` octets (for a length-prefixed structure such as the UDH) and
    /// moves this reader past them.
    /// - Throws: ``PDUError`` `.truncated` naming `field` when fewer than `count` octets are left.
    mutating func subReader(_ count: Int, _ field: String) throws(PDUError) -> PDUReader {
        guard count >= 0, count <= remaining else {
            throw .truncated(field, offset: offset, needed: count, available: max(remaining, 0))
        }
        defer { offset += count }
        return PDUReader(bytes: bytes, offset: offset, end: offset + count)
    }

    /// The octets not read yet (does not consume them).
    var rest: ArraySlice<UInt8> { bytes[offset..<end] }
}

/// Appends the fields of a PDU being encoded; the mirror of ``PDUReader``.
struct PDUWriter {
    /// The octets written so far.
    private(set) var bytes: [UInt8] = []

    /// Appends one octet.
    mutating func writeOctet(_ value: UInt8) { bytes.append(value) }

    /// Appends several octets.
    mutating func writeOctets(_ values: some Sequence<UInt8>) { bytes.append(contentsOf: values) }

    /// Number of octets written so far.
    var count: Int { bytes.count }
}

// MARK: - Hex

/// Hexadecimal text as modems print PDUs (`+CMGR`, `+CMGL`, `+CMT`, `+CDS`) and as `AT+CMGS` wants them.
enum PDUHex {
    /// Decodes hex text, case-insensitively; leading and trailing ASCII whitespace is ignored.
    /// - Throws: ``PDUError`` `.notHex` for a non-hex character or an odd number of digits.
    static func decode(_ text: String) throws(PDUError) -> [UInt8] {
        var utf8 = Array(text.utf8)[...]
        while let first = utf8.first, isSpace(first) { utf8 = utf8.dropFirst() }
        while let last = utf8.last, isSpace(last) { utf8 = utf8.dropLast() }
        guard !utf8.isEmpty else {
            throw PDUError(
                code: .truncated, field: "SCA", offset: 0,
                message: "the PDU is empty; pass the hex line that follows the +CMGR/+CMGL/+CMT header")
        }
        guard utf8.count % 2 == 0 else {
            throw PDUError(
                code: .notHex, field: nil, offset: utf8.count / 2,
                message: "odd number of hex digits (\(utf8.count)); the PDU line was cut or has a stray character")
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var index = utf8.startIndex
        while index < utf8.endIndex {
            let position = (index - utf8.startIndex) / 2
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else {
                throw PDUError(
                    code: .notHex, field: nil, offset: position,
                    message: "character at hex position \(index - utf8.startIndex) is not a hexadecimal digit; "
                        + "pass only the PDU line (0-9, A-F), not the +CMGR header or a text-mode reply")
            }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    /// Encodes octets as uppercase hex.
    static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private static func isSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A
    }
}
