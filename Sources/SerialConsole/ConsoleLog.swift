#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Logging
import SystemPackage

/// The console's log file: every byte the device printed, with marks for attach, detach, force-takeover, break
/// and device events, rotated by size (`console.log` → `console.log.1` → … → `console.log.N`, the oldest
/// dropped).
///
/// A mark is a line of its own: `[-- oob-agent 2026-11-22T00:40:00.123Z attach writer alice (uid 1000, pid 42) --]`,
/// preceded by CR LF when the console's last byte was not a line end. A failing disk never stops the relay: the
/// first write error is logged, and writing is tried again at the next rotation.
final class ConsoleLog {
    let path: String
    let maximumBytes: Int
    let keptFiles: Int
    private var fd: CInt = -1
    private var size = 0
    private var lastByte: UInt8 = 0x0A
    private var failing = false
    private let logger: Logger

    /// Opens (appending) or creates the log.
    /// - Throws: `.log` when the file cannot be opened; the message names the path and the fix.
    init(path: String, maximumBytes: Int, keptFiles: Int, logger: Logger) throws(SerialConsoleError) {
        self.path = path
        self.maximumBytes = maximumBytes
        self.keptFiles = keptFiles
        self.logger = logger
        try open()
    }

    deinit {
        if fd >= 0 { system_close(fd) }
    }

    private func open() throws(SerialConsoleError) {
        var result = system_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        if case .failure(.noSuchFileOrDirectory) = result {
            // The log's directory (e.g. /var/log/oob-agent) is created once, like the socket's.
            let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            if !parent.isEmpty, case .success = system_mkdir(parent, 0o750) {
                result = system_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            }
        }
        switch result {
        case .success(let value):
            fd = value
            if case .success(let st) = system_fstat(fd) { size = Int(st.st_size) } else { size = 0 }
            lastByte = 0x0A
            failing = false
        case .failure(let errno):
            throw SerialConsoleError(
                code: .log,
                message: "cannot open the console log \(path); create its directory or make it writable by the "
                    + "daemon's user, or change [console] log",
                underlying: errno)
        }
    }

    /// Appends console bytes, rotating first when they would push the file past its limit.
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        rotateIfNeeded(adding: bytes.count)
        write(bytes)
        lastByte = bytes[bytes.count - 1]
    }

    /// Appends a timestamped mark line.
    func mark(_ text: String) {
        var line: [UInt8] = []
        if lastByte != 0x0A { line += [0x0D, 0x0A] }
        line += Array("[-- oob-agent \(ConsoleLog.timestamp()) \(text) --]\r\n".utf8)
        rotateIfNeeded(adding: line.count)
        line.withUnsafeBytes { write($0) }
        lastByte = 0x0A
    }

    private func write(_ bytes: UnsafeRawBufferPointer) {
        guard fd >= 0 else { return }
        var rest = bytes
        while rest.count > 0 {
            switch system_write(fd, rest) {
            case .success(let n):
                size += n
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            case .failure(let errno):
                if !failing {
                    failing = true
                    logger.info(
                        "Cannot write the console log; console bytes are still relayed",
                        metadata: ["console.log": "\(path)", "error": "\(errno)"])
                }
                return
            }
        }
    }

    private func rotateIfNeeded(adding count: Int) {
        guard maximumBytes > 0, size > 0, size + count > maximumBytes else { return }
        rotate()
    }

    /// Shifts `path.(i)` to `path.(i+1)` for the kept files, `path` to `path.1`, and starts a new `path`.
    func rotate() {
        if fd >= 0 { system_close(fd) }
        fd = -1
        if keptFiles > 0 {
            for i in stride(from: keptFiles - 1, through: 1, by: -1) {
                _ = system_rename("\(path).\(i)", "\(path).\(i + 1)")
            }
            _ = system_rename(path, "\(path).1")
        } else {
            _ = system_unlink(path)
        }
        do {
            try open()
        } catch {
            logger.info(
                "Cannot reopen the console log after rotation", metadata: ["console.log": "\(path)", "error": "\(error)"])
        }
    }

    /// UTC ISO 8601 with milliseconds: `2026-11-22T00:40:00.123Z`.
    static func timestamp() -> String {
        let now = system_wallClock()
        let f = system_utcFields(now.seconds)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(f.year, 4))-\(pad(f.month, 2))-\(pad(f.day, 2))T\(pad(f.hour, 2)):\(pad(f.minute, 2)):"
            + "\(pad(f.second, 2)).\(pad(now.nanoseconds / 1_000_000, 3))Z"
    }
}

@available(*, unavailable)
extension ConsoleLog: Sendable {}
