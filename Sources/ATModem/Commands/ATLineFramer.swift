// Pure: no platform imports (fuzzed, and built on a developer Mac).

/// Cuts the byte stream from a modem into lines and `> ` prompts.
///
/// Real modems end lines with CR LF (V.250 §5.7.1, S3 S4), but captures also show bare CR (gammu's helper, echoed
/// commands), bare LF, and CR CR LF (an echoed command followed by the modem's own CR LF). The framer treats any run
/// of CR and LF as one line end and drops empty lines, so every one of those comes out the same.
///
/// The `> ` prompt of `+CMGS`/`+CMGW` (TS 27.005 §3.5.1) has no line ending; it is recognised at the start of a
/// line while `recognisesPrompt` is set (the state machine sets it only while it waits for a prompt, so a text-mode
/// SMS body line that starts with `>` stays a line).
///
/// `next()` returns `nil` for "need more bytes" and then keeps the partial line. Nothing traps: arbitrary bytes
/// come out as lines (invalid UTF-8 replaced by U+FFFD), and a line longer than `maximumLineLength` is cut there.
public struct ATLineFramer: Sendable {
    /// One unit of modem output.
    public enum Token: Hashable, Sendable {
        /// A non-empty line without its line ending.
        case line(String)
        /// The `> ` prompt after which the modem reads an SMS PDU or text.
        case prompt
    }

    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for a line end continues (bytes before it are known not to end a line).
    private var scanned = 0
    /// The longest line handed out whole; longer ones are cut (and counted in `cutLines`).
    public let maximumLineLength: Int
    /// Whether a `>` at the start of a line is taken for the `> ` prompt.
    public var recognisesPrompt = false
    /// How many over-long lines were cut.
    public private(set) var cutLines = 0

    /// Makes an empty framer.
    /// - Parameter maximumLineLength: longer lines are cut into pieces of this size (default 8192 bytes).
    public init(maximumLineLength: Int = 8192) {
        self.maximumLineLength = max(16, maximumLineLength)
    }

    /// Bytes received but not yet handed out as tokens.
    public var bufferedCount: Int { buffer.count - start }

    /// Adds bytes read from the modem.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 4096 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Drops everything buffered (after a resynchronisation).
    public mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        start = 0
        scanned = 0
    }

    /// The next line or prompt, or `nil` when more bytes are needed.
    public mutating func next() -> Token? {
        // Skip line ends left over from the previous line (CR LF, CR CR LF, blank lines) and stray NULs.
        while start < buffer.count, buffer[start] == 0x0D || buffer[start] == 0x0A || buffer[start] == 0x00 {
            start += 1
        }
        if scanned < start { scanned = start }
        guard start < buffer.count else { return nil }

        if recognisesPrompt && buffer[start] == UInt8(ascii: ">") {
            // "> " or ">" followed by a line end: the prompt. A lone ">" may still become "> ".
            if start + 1 >= buffer.count { return nil }
            let following = buffer[start + 1]
            if following == 0x20 || following == 0x0D || following == 0x0A {
                start += following == 0x20 ? 2 : 1
                scanned = start
                return .prompt
            }
        }

        var i = scanned
        while i < buffer.count {
            let b = buffer[i]
            if b == 0x0D || b == 0x0A { break }
            i += 1
            if i - start >= maximumLineLength { break }
        }
        if i < buffer.count && (buffer[i] == 0x0D || buffer[i] == 0x0A) {
            let line = String(decoding: buffer[start..<i], as: UTF8.self)
            start = i + 1
            scanned = start
            return .line(line)
        }
        if i - start >= maximumLineLength {
            let line = String(decoding: buffer[start..<i], as: UTF8.self)
            start = i
            scanned = start
            cutLines += 1
            return .line(line)
        }
        scanned = i
        return nil
    }

    /// Takes a lone `>` that ends the buffered bytes as the prompt (for modems that send `>` without the space).
    ///
    /// `next()` waits for the byte after a `>` (it may be the prompt's space); a caller that has read everything
    /// the modem sent for now calls this to stop waiting. Returns whether it took a prompt.
    public mutating func takeBarePrompt() -> Bool {
        var i = start
        while i < buffer.count, buffer[i] == 0x0D || buffer[i] == 0x0A || buffer[i] == 0x00 { i += 1 }
        guard recognisesPrompt, i == buffer.count - 1, buffer[i] == UInt8(ascii: ">") else { return false }
        start = buffer.count
        scanned = start
        return true
    }

    /// Every complete token in what is buffered now.
    public mutating func drain() -> [Token] {
        var out: [Token] = []
        while let t = next() { out.append(t) }
        return out
    }
}
