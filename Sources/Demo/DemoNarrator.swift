#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Prints the demo's story: each step with the seconds elapsed since the start, unbuffered (so `| tee` and a
/// test reading the pipe see each line as it happens).
public final class DemoNarrator {
    private let started = Clock.milliseconds()
    private let fd: CInt

    /// Creates a narrator writing to `fd` (default: standard output).
    public init(fd: CInt = 1) {
        self.fd = fd
    }

    /// Seconds since the start, e.g. ` 12.3`.
    public var elapsed: String {
        let ms = Clock.milliseconds() - started
        let tenths = ms / 100
        let text = "\(tenths / 10).\(tenths % 10)"
        return String(repeating: " ", count: max(0, 5 - text.count)) + text
    }

    /// A step: `[ 12.3 s] text`.
    public func step(_ text: String) {
        emit("[\(elapsed) s] \(text)")
    }

    /// A continuation line under the last step.
    public func detail(_ text: String) {
        emit("           \(text)")
    }

    /// A section heading.
    public func heading(_ text: String) {
        emit("\n\(text)")
    }

    /// A line as is.
    public func line(_ text: String) {
        emit(text)
    }

    private func emit(_ text: String) {
        var bytes = Array((text + "\n").utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
