/// A small QR code encoder (ISO/IEC 18004:2015) for `oob-agent enroll`: byte mode, error
/// correction level M, versions 1 to 10 (up to 213 bytes, enough for an `otpauth://` URI), the
/// mask chosen by the standard's penalty rules (§7.8.3).
public struct QRCode: Sendable, Equatable {
    /// The version (1…10); the symbol is `17 + 4 × version` modules wide.
    public let version: Int
    /// The mask pattern applied (0…7).
    public let mask: Int
    /// `modules[row][column]`, true = dark.
    public let modules: [[Bool]]

    /// The width (and height) in modules.
    public var size: Int { modules.count }

    /// Encodes `bytes`.
    /// - Parameters:
    ///   - bytes: the payload (UTF-8 text for a URI).
    ///   - mask: force a mask pattern (tests); nil = lowest penalty.
    /// - Throws: ``AgentError`` (`.usage`) when the payload needs more than version 10.
    public init(bytes: [UInt8], mask forcedMask: Int? = nil) throws {
        guard let version = (1...10).first(where: { Self.dataCapacity($0) * 8 >= 4 + Self.countBits($0) + bytes.count * 8 })
        else {
            throw AgentError(.usage, "\(bytes.count) bytes do not fit a version 10 QR code (at most 213); fix: shorten the label")
        }
        self.version = version
        let codewords = Self.codewords(for: bytes, version: version)
        var builder = Builder(version: version)
        builder.drawFunctionPatterns()
        builder.drawCodewords(codewords)
        var best: (mask: Int, matrix: [[Bool]], penalty: Int)?
        for m in forcedMask.map({ [$0] }) ?? Array(0..<8) {
            var b = builder
            b.applyMask(m)
            b.drawFormatBits(mask: m)
            let p = Self.penalty(b.modules)
            if best == nil || p < best!.penalty { best = (m, b.modules, p) }
        }
        self.mask = best!.mask
        self.modules = best!.matrix
    }

    /// Encodes UTF-8 text.
    public init(text: String, mask: Int? = nil) throws { try self.init(bytes: Array(text.utf8), mask: mask) }

    // MARK: - Tables (ISO/IEC 18004 Table 9, level M)

    /// (error correction codewords per block, [data codewords of each block]).
    static let blocks: [(ec: Int, data: [Int])] = [
        (10, [16]), (16, [28]), (26, [44]), (18, [32, 32]), (24, [43, 43]),
        (16, [27, 27, 27, 27]), (18, [31, 31, 31, 31]), (22, [38, 38, 39, 39]),
        (22, [36, 36, 36, 37, 37]), (26, [43, 43, 43, 43, 44]),
    ]
    /// Alignment pattern centres (Annex E).
    static let alignment: [[Int]] = [
        [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50],
    ]

    static func dataCapacity(_ version: Int) -> Int { blocks[version - 1].data.reduce(0, +) }
    static func countBits(_ version: Int) -> Int { version < 10 ? 8 : 16 }

    // MARK: - Data codewords (§7.4) and error correction (§7.5)

    static func codewords(for bytes: [UInt8], version: Int) -> [UInt8] {
        var bits: [Bool] = []
        func append(_ value: Int, _ count: Int) {
            for i in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> i) & 1 == 1) }
        }
        append(0b0100, 4)  // byte mode
        append(bytes.count, countBits(version))
        for b in bytes { append(Int(b), 8) }
        let capacity = dataCapacity(version) * 8
        append(0, min(4, capacity - bits.count))  // terminator
        while bits.count % 8 != 0 { bits.append(false) }
        var data: [UInt8] = stride(from: 0, to: bits.count, by: 8).map { i in
            (0..<8).reduce(UInt8(0)) { $0 << 1 | (bits[i + $1] ? 1 : 0) }
        }
        var pad: UInt8 = 0xEC
        while data.count < dataCapacity(version) {
            data.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        // Split into blocks, add Reed-Solomon codewords, interleave (§7.6).
        let layout = blocks[version - 1]
        var dataBlocks: [[UInt8]] = []
        var offset = 0
        for n in layout.data {
            dataBlocks.append(Array(data[offset..<offset + n]))
            offset += n
        }
        let generator = ReedSolomon.generator(degree: layout.ec)
        let ecBlocks = dataBlocks.map { ReedSolomon.remainder($0, generator: generator) }
        var out: [UInt8] = []
        for i in 0..<(layout.data.max() ?? 0) {
            for block in dataBlocks where i < block.count { out.append(block[i]) }
        }
        for i in 0..<layout.ec {
            for block in ecBlocks { out.append(block[i]) }
        }
        return out
    }

    // MARK: - Mask penalty (§7.8.3)

    static func penalty(_ m: [[Bool]]) -> Int {
        let n = m.count
        var score = 0
        // N1: runs of five or more same-coloured modules in a row or column.
        for line in 0..<n {
            for horizontal in [true, false] {
                var run = 1
                for i in 1..<n {
                    let a = horizontal ? m[line][i] : m[i][line]
                    let b = horizontal ? m[line][i - 1] : m[i - 1][line]
                    if a == b {
                        run += 1
                    } else {
                        if run >= 5 { score += 3 + run - 5 }
                        run = 1
                    }
                }
                if run >= 5 { score += 3 + run - 5 }
            }
        }
        // N2: 2×2 blocks of one colour.
        for r in 0..<(n - 1) {
            for c in 0..<(n - 1) where m[r][c] == m[r][c + 1] && m[r][c] == m[r + 1][c] && m[r][c] == m[r + 1][c + 1] {
                score += 3
            }
        }
        // N3: 1:1:3:1:1 finder-like patterns with four light modules on one side.
        let p1: [Bool] = [true, false, true, true, true, false, true, false, false, false, false]
        let p2: [Bool] = [false, false, false, false, true, false, true, true, true, false, true]
        for line in 0..<n {
            for start in 0...(n - 11) {
                var h1 = true, h2 = true, v1 = true, v2 = true
                for k in 0..<11 {
                    let h = m[line][start + k]
                    let v = m[start + k][line]
                    if h != p1[k] { h1 = false }
                    if h != p2[k] { h2 = false }
                    if v != p1[k] { v1 = false }
                    if v != p2[k] { v2 = false }
                }
                score += 40 * ((h1 ? 1 : 0) + (h2 ? 1 : 0) + (v1 ? 1 : 0) + (v2 ? 1 : 0))
            }
        }
        // N4: proportion of dark modules, 10 points per 5 % away from half.
        let dark = m.reduce(0) { $0 + $1.filter { $0 }.count }
        let percent = dark * 100 / (n * n)
        score += 10 * (abs(percent - 50) / 5)
        return score
    }

    // MARK: - Terminal rendering

    /// The symbol as terminal lines, two module rows per line with half blocks, with a 4-module
    /// quiet zone. Light modules are drawn in the terminal's foreground colour, which gives the
    /// right polarity on the usual light-on-dark terminal; `invert` swaps that for dark-on-light.
    public func terminalLines(invert: Bool = false) -> [String] {
        let quiet = 4
        let n = size + 2 * quiet
        func drawn(_ r: Int, _ c: Int) -> Bool {
            let inside = r >= quiet && r < quiet + size && c >= quiet && c < quiet + size
            let dark = inside && modules[r - quiet][c - quiet]
            return invert ? dark : !dark
        }
        var lines: [String] = []
        for r in stride(from: 0, to: n, by: 2) {
            var line = ""
            for c in 0..<n {
                let top = drawn(r, c)
                let bottom = r + 1 < n ? drawn(r + 1, c) : false
                switch (top, bottom) {
                case (true, true): line += "█"
                case (true, false): line += "▀"
                case (false, true): line += "▄"
                case (false, false): line += " "
                }
            }
            lines.append(line)
        }
        return lines
    }
}

// MARK: - Module placement

extension QRCode {
    struct Builder {
        let version: Int
        let size: Int
        var modules: [[Bool]]
        var isFunction: [[Bool]]

        init(version: Int) {
            self.version = version
            size = 17 + 4 * version
            modules = Array(repeating: Array(repeating: false, count: size), count: size)
            isFunction = modules
        }

        mutating func set(row: Int, column: Int, _ dark: Bool) {
            modules[row][column] = dark
            isFunction[row][column] = true
        }

        mutating func drawFunctionPatterns() {
            // Timing patterns (§6.3.5).
            for i in 0..<size {
                set(row: 6, column: i, i % 2 == 0)
                set(row: i, column: 6, i % 2 == 0)
            }
            // Finder patterns with separators (§6.3.3).
            for (r0, c0) in [(3, 3), (3, size - 4), (size - 4, 3)] {
                for dr in -4...4 {
                    for dc in -4...4 {
                        let r = r0 + dr, c = c0 + dc
                        guard r >= 0, r < size, c >= 0, c < size else { continue }
                        let d = max(abs(dr), abs(dc))
                        set(row: r, column: c, d != 2 && d != 4)
                    }
                }
            }
            // Alignment patterns (§6.3.6), not over the finders.
            let centres = QRCode.alignment[version - 1]
            for (i, r) in centres.enumerated() {
                for (j, c) in centres.enumerated() {
                    let last = centres.count - 1
                    if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) { continue }
                    for dr in -2...2 {
                        for dc in -2...2 { set(row: r + dr, column: c + dc, max(abs(dr), abs(dc)) != 1) }
                    }
                }
            }
            // Reserve the format areas (drawn after masking) and the dark module.
            drawFormatBits(mask: 0)
            // Version information (§7.10), versions 7 and up.
            if version >= 7 {
                var rem = version
                for _ in 0..<12 { rem = (rem << 1) ^ ((rem >> 11) * 0x1F25) }
                let bits = version << 12 | rem
                for i in 0..<18 {
                    let bit = (bits >> i) & 1 == 1
                    let a = size - 11 + i % 3
                    let b = i / 3
                    set(row: b, column: a, bit)
                    set(row: a, column: b, bit)
                }
            }
        }

        /// Format information (§7.9): level M (00) and the mask, BCH(15,5), XOR 0x5412.
        mutating func drawFormatBits(mask: Int) {
            let data = (0b00 << 3) | mask
            var rem = data
            for _ in 0..<10 { rem = (rem << 1) ^ ((rem >> 9) * 0x537) }
            let bits = (data << 10 | rem) ^ 0x5412
            func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }
            for i in 0..<6 { set(row: i, column: 8, bit(i)) }
            set(row: 7, column: 8, bit(6))
            set(row: 8, column: 8, bit(7))
            set(row: 8, column: 7, bit(8))
            for i in 9..<15 { set(row: 8, column: 14 - i, bit(i)) }
            for i in 0..<8 { set(row: 8, column: size - 1 - i, bit(i)) }
            for i in 8..<15 { set(row: size - 15 + i, column: 8, bit(i)) }
            set(row: size - 8, column: 8, true)  // the dark module
        }

        /// Places the codewords in the two-column zigzag from the bottom right (§7.7.3).
        mutating func drawCodewords(_ data: [UInt8]) {
            var i = 0
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                for vert in 0..<size {
                    for j in 0..<2 {
                        let x = right - j
                        let upward = ((right + 1) & 2) == 0
                        let y = upward ? size - 1 - vert : vert
                        if !isFunction[y][x] && i < data.count * 8 {
                            modules[y][x] = (data[i >> 3] >> (7 - (i & 7))) & 1 == 1
                            i += 1
                        }
                    }
                }
                right -= 2
            }
        }

        /// XORs the data modules with mask pattern `mask` (§7.8.2, Table 10).
        mutating func applyMask(_ mask: Int) {
            for y in 0..<size {
                for x in 0..<size where !isFunction[y][x] {
                    let invert: Bool
                    switch mask {
                    case 0: invert = (x + y) % 2 == 0
                    case 1: invert = y % 2 == 0
                    case 2: invert = x % 3 == 0
                    case 3: invert = (x + y) % 3 == 0
                    case 4: invert = (x / 3 + y / 2) % 2 == 0
                    case 5: invert = x * y % 2 + x * y % 3 == 0
                    case 6: invert = (x * y % 2 + x * y % 3) % 2 == 0
                    default: invert = ((x + y) % 2 + x * y % 3) % 2 == 0
                    }
                    if invert { modules[y][x].toggle() }
                }
            }
        }
    }
}

/// Reed-Solomon over GF(2^8) with the QR polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D).
enum ReedSolomon {
    static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var x = Int(a), y = Int(b), z = 0
        for _ in 0..<8 {
            if y & 1 == 1 { z ^= x }
            y >>= 1
            x <<= 1
            if x & 0x100 != 0 { x ^= 0x11D }
        }
        return UInt8(z)
    }

    /// The generator polynomial of `degree` (coefficients, highest first, leading 1 omitted).
    static func generator(degree: Int) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: degree)
        result[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for j in 0..<degree {
                result[j] = multiply(result[j], root)
                if j + 1 < degree { result[j] ^= result[j + 1] }
            }
            root = multiply(root, 0x02)
        }
        return result
    }

    /// The error correction codewords of `data`.
    static func remainder(_ data: [UInt8], generator: [UInt8]) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: generator.count)
        for b in data {
            let factor = b ^ result[0]
            result.removeFirst()
            result.append(0)
            for i in 0..<result.count { result[i] ^= multiply(generator[i], factor) }
        }
        return result
    }
}
