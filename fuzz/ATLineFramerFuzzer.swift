// ATLineFramerFuzzer.swift: libFuzzer entry point for ATLineFramer (Sources/ATModem/Commands/ATLineFramer.swift).
// Built by fuzz/run.sh when that file exists.
//
// Input: byte 0 = flags (bit 0: recognise the `> ` prompt), byte 1 = chunk size seed; the rest is modem output.
// Checks: nothing traps; no line holds CR or LF or is longer than the maximum; feeding the bytes in chunks gives
// the same tokens as feeding them at once.

@_cdecl("LLVMFuzzerTestOneInput")
public func framerFuzzerTestOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: start, count: count))
    let prompt = input[0] & 1 != 0
    let chunk = Int(input[1] % 17) + 1
    let bytes = Array(input.dropFirst(2))

    var whole = ATLineFramer(maximumLineLength: 64)
    whole.recognisesPrompt = prompt
    whole.append(bytes)
    let all = whole.drain()

    var pieces = ATLineFramer(maximumLineLength: 64)
    pieces.recognisesPrompt = prompt
    var chunked: [ATLineFramer.Token] = []
    var index = 0
    while index < bytes.count {
        let end = min(index + chunk, bytes.count)
        pieces.append(bytes[index..<end])
        chunked += pieces.drain()
        index = end
    }
    for token in all {
        if case .line(let line) = token {
            precondition(!line.utf8.contains(0x0D) && !line.utf8.contains(0x0A), "a line holds a line end")
            precondition(line.utf8.count <= 64 * 3, "a line is longer than the maximum")
        }
    }
    precondition(all == chunked, "chunked input framed differently: \(all) vs \(chunked)")
    return 0
}
