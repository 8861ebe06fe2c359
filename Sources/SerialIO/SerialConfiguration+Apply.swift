#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
public import SystemPackage

extension SerialConfiguration {
    /// Puts an open terminal in raw mode with these settings, **without** flushing what it has already received.
    ///
    /// `SerialPort` flushes at open (a modem's stale answers must go); a console relay must not: what the router
    /// printed before the relay opened its console (a pty's buffered boot log) is exactly what it keeps.
    /// - Parameters:
    ///   - descriptor: an open terminal.
    ///   - path: its path, for messages.
    /// - Throws: `SerialIOError` `.unsupportedSetting` naming the setting and the accepted values,
    ///   `.notATerminal`, or the error of `tcsetattr`.
    public func applyRaw(to descriptor: FileDescriptor, path: String) throws(SerialIOError) {
        var t: termios
        switch system_tcgetattr(descriptor.rawValue) {
        case .success(let value): t = value
        case .failure(let errno): throw SerialIOError.fromErrno(errno, operation: "tcgetattr", path: path)
        }
        do throws(SerialIOError) {
            try apply(to: &t)
        } catch {
            var e = error
            e.path = path
            e.message = "\(path): \(e.message)"
            throw e
        }
        if case .failure(let errno) = system_tcsetattr(descriptor.rawValue, t) {
            throw SerialIOError.fromErrno(errno, operation: "tcsetattr", path: path)
        }
    }
}
