public import SystemPackage

/// The one error type of SerialConsole: what went wrong with the console relay or a console client, and what to
/// do about it.
///
/// `message` is written for the person at the terminal or reading the journal: it names the problem and the fix.
public struct SerialConsoleError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is; extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidConfiguration, device, socket, alreadyRunning, notRunning, permissionDenied, protocolViolation
            case relayGone, log, terminal
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A setting is out of range or inconsistent (baud rate, sizes, paths).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The console device could not be opened or configured for a reason retrying will not cure.
        public static let device = Code(.device)
        /// The relay's Unix socket could not be created, bound or connected.
        public static let socket = Code(.socket)
        /// Another relay already listens on the socket path.
        public static let alreadyRunning = Code(.alreadyRunning)
        /// No relay listens on the socket path (missing socket or connection refused).
        public static let notRunning = Code(.notRunning)
        /// The process may not use the socket, the device or the log.
        public static let permissionDenied = Code(.permissionDenied)
        /// The peer sent something the framed console protocol does not allow.
        public static let protocolViolation = Code(.protocolViolation)
        /// The relay closed the connection.
        public static let relayGone = Code(.relayGone)
        /// The console log file could not be written or rotated.
        public static let log = Code(.log)
        /// The local terminal could not be put in raw mode or restored.
        public static let terminal = Code(.terminal)
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence for a human: what happened and what to do about it.
    public var message: String
    /// The errno behind it, if any.
    public var underlying: Errno?
    /// Where the error was raised, for the journal.
    public var file: String
    /// Where the error was raised, for the journal.
    public var line: Int

    /// Creates an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what happened and how to fix it.
    ///   - underlying: the errno behind it, if any.
    public init(
        code: Code, message: String, underlying: Errno? = nil, file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String {
        var s = message
        if let underlying { s += " (\(underlying))" }
        return s
    }

    public static func == (lhs: SerialConsoleError, rhs: SerialConsoleError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.underlying == rhs.underlying
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(underlying)
    }
}

// MARK: - Factories

extension SerialConsoleError {
    static func invalid(_ message: String, file: String = #fileID, line: Int = #line) -> SerialConsoleError {
        SerialConsoleError(code: .invalidConfiguration, message: message, file: file, line: line)
    }

    static func protocolViolation(_ message: String, file: String = #fileID, line: Int = #line) -> SerialConsoleError {
        SerialConsoleError(code: .protocolViolation, message: message, file: file, line: line)
    }

    /// Maps a failure to connect to the relay socket to a message that says how to start the daemon.
    static func connect(path: String, errno: Errno, file: String = #fileID, line: Int = #line) -> SerialConsoleError {
        switch errno {
        case .noSuchFileOrDirectory, .connectionRefused:
            let why = errno == .noSuchFileOrDirectory ? "the socket \(path) does not exist" : "nothing listens on \(path)"
            return SerialConsoleError(
                code: .notRunning,
                message: "no console relay is running (\(why)); start the daemon with `systemctl start oob-agent` "
                    + "(or `oob-agent run`), check that [console] device is set in the config, or pass --socket PATH",
                underlying: errno, file: file, line: line)
        case .permissionDenied, .notPermitted:
            return SerialConsoleError(
                code: .permissionDenied,
                message: "permission denied on the console socket \(path); run as root or join the socket's group "
                    + "(see [console] socket_group in the config)",
                underlying: errno, file: file, line: line)
        default:
            return SerialConsoleError(
                code: .socket, message: "cannot connect to the console socket \(path)", underlying: errno, file: file,
                line: line)
        }
    }

    /// Maps a failure to create the relay's socket.
    static func listen(path: String, operation: String, errno: Errno, file: String = #fileID, line: Int = #line)
        -> SerialConsoleError
    {
        switch errno {
        case .permissionDenied, .notPermitted, .readOnlyFileSystem:
            return SerialConsoleError(
                code: .permissionDenied,
                message: "\(operation) \(path): permission denied; run the relay as root or choose a socket path in a "
                    + "directory it may write (e.g. /run/oob-agent/)",
                underlying: errno, file: file, line: line)
        case .fileNameTooLong:
            return SerialConsoleError(
                code: .invalidConfiguration,
                message: "the socket path \(path) is too long for a Unix socket (max 107 bytes); choose a shorter path",
                underlying: errno, file: file, line: line)
        default:
            return SerialConsoleError(
                code: .socket, message: "\(operation) \(path) failed; check the path of [console] socket",
                underlying: errno, file: file, line: line)
        }
    }
}
