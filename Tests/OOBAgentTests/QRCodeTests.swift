import Testing

@testable import OOBAgent

@Suite("QR code encoder")
struct QRCodeTests {
    @Test("module matrices equal an independent encoder's (python-qrcode) for every mask and versions 1 to 10", arguments: qrReferenceVectors.indices)
    func matchesReference(index: Int) throws {
        let v = qrReferenceVectors[index]
        let qr = try QRCode(bytes: Array(v.text.utf8), mask: v.mask)
        #expect(qr.version == v.version)
        #expect(qr.mask == v.mask)
        let rows = qr.modules.map { row in String(row.map { $0 ? "1" : "0" }) }
        #expect(rows == v.rows)
    }

    @Test("the format information decodes to level M and the mask (BCH, both copies)")
    func formatInformation() throws {
        let qr = try QRCode(text: "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP")
        let m = qr.modules
        var first = 0
        let positions: [(Int, Int)] =
            (0..<6).map { ($0, 8) } + [(7, 8), (8, 8), (8, 7)] + (9..<15).map { (8, 14 - $0) }
        for (i, (r, c)) in positions.enumerated() where m[r][c] { first |= 1 << i }
        var second = 0
        let n = qr.size
        let positions2: [(Int, Int)] = (0..<8).map { (8, n - 1 - $0) } + (8..<15).map { (n - 15 + $0, 8) }
        for (i, (r, c)) in positions2.enumerated() where m[r][c] { second |= 1 << i }
        #expect(first == second)
        let data = (first ^ 0x5412) >> 10
        #expect(data >> 3 == 0b00)  // level M
        #expect(data & 7 == qr.mask)
        #expect(m[n - 8][8])  // the dark module
    }

    @Test("mask penalty rules N1 to N4 on matrices computed by hand")
    func penalty() {
        // All dark, 21 × 21: N1 = 2 × 21 × (3 + 16), N2 = 20 × 20 × 3, N3 = 0, N4 = 10 × 10.
        let dark = Array(repeating: Array(repeating: true, count: 21), count: 21)
        #expect(QRCode.penalty(dark) == 798 + 1200 + 100)
        // A checkerboard: no runs, no blocks, no finder-like pattern, exactly half dark.
        let checker = (0..<21).map { r in (0..<21).map { c in (r + c) % 2 == 0 } }
        #expect(QRCode.penalty(checker) == 0)
        // The automatic choice is the mask of lowest penalty among the eight.
        let auto = try! QRCode(text: "otpauth://totp/oob-agent:x?secret=JBSWY3DPEHPK3PXP")
        let scores = (0..<8).map { QRCode.penalty(try! QRCode(text: "otpauth://totp/oob-agent:x?secret=JBSWY3DPEHPK3PXP", mask: $0).modules) }
        #expect(scores[auto.mask] == scores.min())
    }

    @Test("payloads beyond version 10 are refused with a clear error")
    func tooLong() {
        #expect(throws: AgentError.self) { try QRCode(bytes: [UInt8](repeating: 65, count: 214)) }
        #expect((try? QRCode(bytes: [UInt8](repeating: 65, count: 213)))?.version == 10)
    }

    @Test("terminal rendering has the quiet zone and two module rows per line")
    func terminal() throws {
        let qr = try QRCode(text: "HELLO")
        let lines = qr.terminalLines()
        #expect(lines.count == (21 + 8 + 1) / 2)
        #expect(lines.allSatisfy { $0.count == 29 })
        #expect(lines[0] == String(repeating: "█", count: 29))
    }
}
