// GSM7.swift: the GSM 7-bit default alphabet, its extension table and septet packing (3GPP TS 23.038 §6.1.2,
// §6.2.1).

/// The GSM 7-bit default alphabet and default extension table (3GPP TS 23.038 §6.2.1 and §6.2.1.1), and the
/// packing of septets into octets (TS 23.038 §6.1.2.1.1).
public enum GSM7 {
    /// The escape septet that announces a character of the extension table (TS 23.038 §6.2.1.1).
    static let escape: UInt8 = 0x1B

    /// TS 23.038 §6.2.1: the default alphabet, indexed by septet value. 0x1B (escape) maps to a space, the
    /// rendering TS 23.038 asks for when an escape is not followed by a known extension character.
    static let defaultAlphabet: [Unicode.Scalar] = Array(
        ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
            + "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
            .unicodeScalars)

    /// TS 23.038 §6.2.1.1: the default extension table (septet after the escape → character).
    static let extensionTable: [UInt8: Unicode.Scalar] = [
        0x0A: "\u{0C}", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|",
        0x65: "€",
    ]

    /// Reverse of ``defaultAlphabet`` (without the escape slot).
    static let defaultReverse: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (index, scalar) in defaultAlphabet.enumerated() where index != Int(escape) {
            map[scalar] = UInt8(index)
        }
        return map
    }()

    /// Reverse of ``extensionTable``.
    static let extensionReverse: [Unicode.Scalar: UInt8] = {
        var map: [Unicode.Scalar: UInt8] = [:]
        for (code, scalar) in extensionTable { map[scalar] = code }
        return map
    }()

    // MARK: - Characters ↔ septets

    /// Decodes septets (one per element, values 0...127) into text.
    ///
    /// TS 23.038 §6.2.1.1: an escape followed by a code that is not in the extension table shows the default
    /// alphabet character of that code; an escape at the very end, or two escapes, show a space.
    public static func decode(septets: some Collection<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        var escaped = false
        for raw in septets {
            let septet = raw & 0x7F
            if escaped {
                escaped = false
                if let scalar = extensionTable[septet] {
                    scalars.append(scalar)
                } else if septet == escape {
                    scalars.append(" ")
                } else {
                    scalars.append(defaultAlphabet[Int(septet)])
                }
            } else if septet == escape {
                escaped = true
            } else {
                scalars.append(defaultAlphabet[Int(septet)])
            }
        }
        if escaped { scalars.append(" ") }
        return String(scalars)
    }

    /// Encodes text as septets, using escape pairs for extension characters; `nil` when a character is in neither
    /// the default alphabet nor the extension table.
    public static func encode(_ text: String) -> [UInt8]? {
        var septets: [UInt8] = []
        septets.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            if let code = defaultReverse[scalar] {
                septets.append(code)
            } else if let code = extensionReverse[scalar] {
                septets.append(escape)
                septets.append(code)
            } else {
                return nil
            }
        }
        return septets
    }

    /// True when every character of `text` can be sent in GSM 7-bit (default alphabet plus extension table).
    public static func canEncode(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { defaultReverse[$0] != nil || extensionReverse[$0] != nil }
    }

    // MARK: - Packing (TS 23.038 §6.1.2.1.1)

    /// Packs septets into octets, least significant bit first, after `fillBits` zero bits (the fill bits that
    /// align the text to a septet boundary after a user data header, TS 23.040 §9.2.3.24).
    static func pack(_ septets: [UInt8], fillBits: Int = 0) -> [UInt8] {
        let totalBits = fillBits + septets.count * 7
        var out = [UInt8](repeating: 0, count: (totalBits + 7) / 8)
        var bit = fillBits
        for septet in septets {
            let value = UInt16(septet & 0x7F) << UInt16(bit % 8)
            out[bit / 8] |= UInt8(truncatingIfNeeded: value)
            if bit / 8 + 1 < out.count {
                out[bit / 8 + 1] |= UInt8(truncatingIfNeeded: value >> 8)
            }
            bit += 7
        }
        return out
    }

    /// Unpacks `count` septets from `octets`, skipping `fillBits` leading bits. The caller guarantees that
    /// `octets` holds at least `fillBits + 7 * count` bits.
    static func unpack(_ octets: ArraySlice<UInt8>, fillBits: Int, count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        let base = octets.startIndex
        var bit = fillBits
        for _ in 0..<count {
            let index = base + bit / 8
            var value = UInt16(octets[index])
            if index + 1 < octets.endIndex { value |= UInt16(octets[index + 1]) << 8 }
            out.append(UInt8(truncatingIfNeeded: value >> UInt16(bit % 8)) & 0x7F)
            bit += 7
        }
        return out
    }
}
