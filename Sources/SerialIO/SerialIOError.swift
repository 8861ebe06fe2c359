public import SystemPackage

/// The one error type of SerialIO: what was attempted, on which device, and why it failed.
public struct SerialIOError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case notFound, permissionDenied, busy, notATerminal, unsupportedSetting, vanished, io, timedOut
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The device path does not exist.
        public static let notFound = Code(.notFound)
        /// The process may not open the device.
        public static let permissionDenied = Code(.permissionDenied)
        /// Another process holds the device.
        public static let busy = Code(.busy)
        /// The path is not a terminal device.
        public static let notATerminal = Code(.notATerminal)
        /// The terminal refused a setting (baud rate, flow control).
        public static let unsupportedSetting = Code(.unsupportedSetting)
        /// The device went away (USB unplugged or reset).
        public static let vanished = Code(.vanished)
        /// Any other I/O failure.
        public static let io = Code(.io)
        /// A deadline passed.
        public static let timedOut = Code(.timedOut)
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// The device path, when one is involved.
    public var path: String?
    /// A sentence for a human: what happened and what to do about it.
    public var message: String
    /// The errno behind it, if any.
    public var underlying: Errno?

    public init(code: Code, path: String?, message: String, underlying: Errno? = nil) {
        self.code = code
        self.path = path
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        var s = message
        if let underlying { s += " (\(underlying))" }
        return s
    }

    /// Maps an errno from an operation on `path` to an error with a useful message.
    static func fromErrno(_ errno: Errno, operation: String, path: String?) -> SerialIOError {
        let where_ = path.map { " \($0)" } ?? ""
        switch errno {
        case .noSuchFileOrDirectory:
            return SerialIOError(
                code: .notFound, path: path,
                message: "\(operation)\(where_): no such device; check the path or that the USB device is plugged in",
                underlying: errno)
        case .permissionDenied, .notPermitted:
            return SerialIOError(
                code: .permissionDenied, path: path,
                message: "\(operation)\(where_): permission denied; run as root or add the user to group dialout",
                underlying: errno)
        case .resourceBusy:
            return SerialIOError(
                code: .busy, path: path, message: "\(operation)\(where_): the device is busy (held by another process)",
                underlying: errno)
        case .noSuchAddressOrDevice, .ioError, .operationNotSupportedByDevice:
            return SerialIOError(
                code: .vanished, path: path, message: "\(operation)\(where_): the device went away",
                underlying: errno)
        case .inappropriateIOCTLForDevice:
            return SerialIOError(
                code: .notATerminal, path: path, message: "\(operation)\(where_): not a terminal device",
                underlying: errno)
        default:
            return SerialIOError(code: .io, path: path, message: "\(operation)\(where_) failed", underlying: errno)
        }
    }
}
