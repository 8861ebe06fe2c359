import ATModem
import Testing

@Suite("ATLineFramer")
struct ATLineFramerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var input: String
        var prompt = false
        var tokens: [ATLineFramer.Token]
        var leftover = 0
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "CR LF", input: "\r\nOK\r\n", tokens: [.line("OK")]),
        Case(name: "bare LF", input: "+CSQ: 20,99\nOK\n", tokens: [.line("+CSQ: 20,99"), .line("OK")]),
        Case(name: "bare CR (gammu's helper)", input: "+CPMS: 2,3\rOK\r", tokens: [.line("+CPMS: 2,3"), .line("OK")]),
        Case(name: "CR CR LF after an echo", input: "AT\r\r\nOK\r\n", tokens: [.line("AT"), .line("OK")]),
        Case(name: "blank lines dropped", input: "\r\n\r\n\r\n+CSSU: 2\r\n\r\n", tokens: [.line("+CSSU: 2")]),
        Case(name: "partial line waits", input: "\r\n+CMTI: \"SM\",3", tokens: [], leftover: 13),
        Case(name: "prompt after echo", input: "AT+CMGS=23\r\r\n> ", prompt: true, tokens: [.line("AT+CMGS=23"), .prompt]),
        Case(name: "prompt followed by CR LF (ZTE)", input: "\r\n> \r\n+ZPASR: \"UMTS\"\r\n", prompt: true,
             tokens: [.prompt, .line("+ZPASR: \"UMTS\"")]),
        Case(name: "lone > waits for its space", input: "\r\n>", prompt: true, tokens: [], leftover: 1),
        Case(name: "> is a line when no prompt is expected", input: "> quoted\r\n", tokens: [.line("> quoted")]),
        Case(name: "non-UTF-8 garbage becomes a line", input: "+WTF:i\u{00C3}\r\n", tokens: [.line("+WTF:i\u{00C3}")]),
        Case(name: "OK glued after a URC in one read", input: "\r\nOK\r\n\r\n+CMTI: \"ME\",1\r\n",
             tokens: [.line("OK"), .line("+CMTI: \"ME\",1")]),
    ]

    @Test("frames the line endings real modems send", arguments: cases)
    func frames(_ c: Case) {
        var framer = ATLineFramer()
        framer.recognisesPrompt = c.prompt
        framer.append(Array(c.input.utf8))
        #expect(framer.drain() == c.tokens)
        #expect(framer.bufferedCount == c.leftover)
    }

    @Test("byte-by-byte feeding gives the same tokens as one read")
    func byteByByte() {
        for c in Self.cases {
            var framer = ATLineFramer()
            framer.recognisesPrompt = c.prompt
            var tokens: [ATLineFramer.Token] = []
            for b in c.input.utf8 {
                framer.append([b])
                tokens += framer.drain()
            }
            // A line ended by a bare CR comes out at the CR, so both feeds agree.
            #expect(tokens == c.tokens, "\(c.name)")
        }
    }

    @Test("nil means need more: the partial line is kept and completed later")
    func needMoreKeepsBytes() {
        var framer = ATLineFramer()
        framer.append(Array("+CMGL: 0,1,,22\r\n0791".utf8))
        #expect(framer.next() == .line("+CMGL: 0,1,,22"))
        #expect(framer.next() == nil)
        #expect(framer.next() == nil)
        framer.append(Array("AB\r\n".utf8))
        #expect(framer.next() == .line("0791AB"))
    }

    @Test("a lone > at the end of what was read can be taken as the prompt; not when prompts are off")
    func barePrompt() {
        var framer = ATLineFramer()
        framer.append(Array("AT+CMGS=23\r\r\n>".utf8))
        #expect(framer.next() == .line("AT+CMGS=23"))
        let off = framer.takeBarePrompt()
        #expect(off == false)
        framer.recognisesPrompt = true
        #expect(framer.next() == nil)
        let took = framer.takeBarePrompt()
        #expect(took)
        #expect(framer.bufferedCount == 0)
        framer.append(Array(">x".utf8))
        let notAlone = framer.takeBarePrompt()
        #expect(notAlone == false)
    }

    @Test("an endless line is cut, never grows without bound, never traps")
    func overlongLine() {
        var framer = ATLineFramer(maximumLineLength: 64)
        framer.append([UInt8](repeating: 0x41, count: 200))
        let tokens = framer.drain()
        #expect(tokens.count == 3)
        #expect(framer.cutLines == 3)
        #expect(framer.bufferedCount == 8)
    }

    @Test("random bytes never trap and every byte is accounted for")
    func randomBytes() {
        var rng = SplitMix(seed: 42)
        for _ in 0..<200 {
            var framer = ATLineFramer(maximumLineLength: 128)
            framer.recognisesPrompt = rng.next() % 2 == 0
            let count = Int(rng.next() % 600)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var lineBytes = 0
            var offset = 0
            while offset < bytes.count {
                let n = min(bytes.count - offset, Int(rng.next() % 40) + 1)
                framer.append(bytes[offset..<(offset + n)])
                offset += n
                for t in framer.drain() {
                    if case .line(let l) = t { #expect(!l.isEmpty); lineBytes += 1 }
                }
            }
            #expect(framer.bufferedCount <= 128)
        }
    }
}

/// A small deterministic generator for tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
