import SerialIO

/// What an AT probe of a port found.
public enum ProbeOutcome: Hashable, Sendable, CustomStringConvertible {
    /// The port answered `OK` (or `ERROR`, which is still an AT interpreter): it is an AT port.
    case answered
    /// Nothing came back before the deadline: a data-only, diagnostics or GPS port, or a busy modem.
    case silent
    /// Another process holds the port; it was not touched.
    case busy(String)
    /// The port could not be opened or used.
    case failed(String)

    public var description: String {
        switch self {
        case .answered: return "answers AT"
        case .silent: return "no answer to AT"
        case .busy(let who): return "busy: \(who)"
        case .failed(let why): return "probe failed: \(why)"
        }
    }

    /// Stable JSON word.
    public var jsonValue: String {
        switch self {
        case .answered: return "ok"
        case .silent: return "silent"
        case .busy: return "busy"
        case .failed: return "error"
        }
    }
}

/// Sends `AT` to a candidate port and waits briefly for `OK`.
///
/// Never touches a port another process holds (the daemon, ModemManager, a terminal): `SerialPort`'s exclusive open
/// checks /proc for holders and takes `flock` + `TIOCEXCL` first, and a held port is reported as `.busy` unopened.
public enum ATPortProbe {
    /// Probes one port.
    /// - Parameters:
    ///   - path: the tty, e.g. `/dev/ttyUSB2`.
    ///   - baudRate: line speed (USB modems ignore it).
    ///   - timeoutMilliseconds: how long to wait for an answer in total.
    /// - Returns: the outcome; never throws.
    public static func probe(path: String, baudRate: Int = 115200, timeoutMilliseconds: Int = 1500) -> ProbeOutcome {
        let port: SerialPort
        do throws(SerialIOError) {
            port = try SerialPort(path: path, configuration: SerialConfiguration(baudRate: baudRate), exclusive: true)
        } catch {
            if error.code == .busy { return .busy(error.message) }
            return .failed(error.description)
        }
        defer { port.close() }
        let deadline = Monotonic.now() + Int64(timeoutMilliseconds) * 1_000_000
        var received: [UInt8] = []
        var sends = 0
        var nextSend = Monotonic.now()
        do throws(SerialIOError) {
            while true {
                let now = Monotonic.now()
                if now >= deadline { return .silent }
                // Send `AT` up to twice: some ports drop the first command after open.
                if sends < 2 && now >= nextSend {
                    try port.writeAll(Array("AT\r".utf8), timeoutMilliseconds: 500)
                    sends += 1
                    nextSend = now + Int64(timeoutMilliseconds / 2) * 1_000_000
                }
                let wait = Int(min(deadline, sends < 2 ? nextSend : deadline) - now) / 1_000_000
                if try port.waitReadable(timeoutMilliseconds: max(1, wait)) {
                    received += try port.read()
                    if received.count > 4096 { received.removeFirst(received.count - 4096) }
                    if answered(received) { return .answered }
                }
            }
        } catch {
            return .failed(error.description)
        }
    }

    /// Whether the bytes contain a final result line `OK` or `ERROR` (pure).
    public static func answered(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(whereSeparator: \.isNewline) {
            let t = String(line).trimmingWhitespace()
            if t == "OK" || t == "ERROR" || t == "0" { return true }
        }
        return false
    }
}
