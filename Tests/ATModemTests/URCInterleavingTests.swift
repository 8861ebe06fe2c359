import ATModem
import Testing

/// A URC may arrive between any two lines of a reply, and Huawei sticks even put one in the middle of a PDU line:
/// the reply and the parsed messages must not change, and every URC must reach the unsolicited side.
@Suite("URCs interleaved anywhere")
struct URCInterleavingTests {
    static let urcs = [
        "^RSSI:19", "^BOOT:37478870,0,0,0,77", "+CMTI: \"SM\",7", "RING", "+CREG: 1", "^MODE:5,4", "^SIMST:1",
        "+CDSI: \"SR\",2", "+CUSD: 0,\"Saldo 10\",15", "^SRVST:2", "+CGREG: 1",
    ]

    static let listing: [String] = [
        "+CMGL: 0,1,,23",
        "07916407058099F9040B916407214365F7000062111232050040" + "05C8329BFD06",
        "+CMGL: 1,0,,29",
        "07913306092011F0040B913336766883F5000061216212807140074A351A8D56AB01",
        "+CMGL: 5,1,,39",
        "07913306091040F0040B913336766883F50000712052815030401646B319140691CBA0F9BB3E2FCCE9E97619442E03",
    ]

    @Test("a +CMGL reply with URCs inserted at random places, PDU lines split included, parses the same")
    func randomInterleaving() {
        let expected = MessageListParser.parseList(Self.listing)
        var rng = SplitMix(seed: 7)
        for _ in 0..<300 {
            var lines: [String] = []
            var inserted: [String] = []
            for line in Self.listing {
                if rng.next() % 3 == 0 {
                    let u = Self.urcs[Int(rng.next() % UInt64(Self.urcs.count))]
                    lines.append(u)
                    inserted.append(u)
                }
                if line.count > 20, rng.next() % 3 == 0 {
                    let cut = Int(rng.next() % UInt64(line.count - 2)) + 1
                    let u = Self.urcs[Int(rng.next() % UInt64(Self.urcs.count))]
                    lines.append(String(line.prefix(cut)))
                    lines.append(u)
                    lines.append(String(line.dropFirst(cut)))
                    inserted.append(u)
                } else {
                    lines.append(line)
                }
            }
            let text = "AT+CMGL=4\r\r\n" + lines.map { "\($0)\r\n" }.joined() + "\r\nOK\r\n"
            let chunk = Int(rng.next() % 9)
            let p = play(Array(text.utf8), commands: [ATCommand("AT+CMGL=4")], chunk: chunk)
            #expect(p.responses.count == 1)
            #expect(p.unsolicited.map(\.line) == inserted)
            #expect(MessageListParser.parseList(p.responses.first?.lines ?? []) == expected)
        }
    }

    @Test("a URC is never taken for the reply of the command it interrupts", arguments: urcs)
    func neverAReply(_ urc: String) {
        for command in ["AT+CSQ", "AT+CPMS?", "AT+CMGR=1", "AT+CREG?", "AT+CGMI", "ATI"] {
            let p = play(Array("\r\n\(urc)\r\n\r\nOK\r\n".utf8), commands: [ATCommand(command)])
            #expect(p.responses.first?.lines == [], "\(urc) during \(command)")
            #expect(p.unsolicited.map(\.line) == [urc], "\(urc) during \(command)")
        }
    }
}
