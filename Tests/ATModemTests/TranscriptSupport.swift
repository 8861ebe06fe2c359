import ATModem
import Foundation

/// The AT transcripts of the shared corpus, and a driver that plays one through the framer and the state machine.
enum Transcripts {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/corpus/at-transcripts")

    static var all: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".txt") }
            .sorted()
    }

    /// The payload bytes of a transcript (everything after the `# ---` line).
    static func payload(_ name: String) throws -> [UInt8] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        let bytes = [UInt8](data)
        let marker = Array("# ---\n".utf8)
        var i = 0
        while i + marker.count <= bytes.count {
            if Array(bytes[i..<(i + marker.count)]) == marker && (i == 0 || bytes[i - 1] == 0x0A) {
                return Array(bytes[(i + marker.count)...])
            }
            i += 1
        }
        return bytes
    }
}

/// What playing a transcript produced.
struct Played {
    var responses: [ATResponse] = []
    /// Lines of a command that never got a final result (transcripts cut before `OK`).
    var unfinished: [String]?
    var unsolicited: [UnsolicitedLine] = []
    var discarded: [String] = []
    var writes: [[UInt8]] = []
}

/// Sends `commands` one after the other, feeding `bytes` in chunks of `chunk` bytes (0: all at once).
func play(_ bytes: [UInt8], commands: [ATCommand], chunk: Int = 0) -> Played {
    var framer = ATLineFramer()
    var machine = ATCommandStateMachine()
    var out = Played()
    var queue = commands[...]

    func perform(_ action: ATCommandStateMachine.Action) {
        switch action {
        case .none: break
        case .write(let b): out.writes.append(b)
        case .unsolicited(let u): out.unsolicited.append(u)
        case .complete(let r): out.responses.append(r)
        case .discard(let l): out.discarded.append(l)
        }
    }
    func startNext() {
        if machine.isIdle, let next = queue.popFirst() {
            perform(machine.send(next))
        }
    }
    startNext()
    let pieces: [ArraySlice<UInt8>] = chunk <= 0
        ? [bytes[...]]
        : stride(from: 0, to: bytes.count, by: chunk).map { bytes[$0..<min(bytes.count, $0 + chunk)] }
    for piece in pieces {
        framer.append(piece)
        framer.recognisesPrompt = machine.isAwaitingPrompt
        while let token = framer.next() {
            perform(machine.receive(token))
            framer.recognisesPrompt = machine.isAwaitingPrompt
            startNext()
        }
    }
    if let t = machine.timeout() { out.unfinished = t.lines }
    return out
}
