/// The one error type of the OOBAgent module (style point 6).
///
/// Every error names the problem and how to fix it, so that a line in the journal or on the
/// terminal is enough to act on. `code` is stable and meant for programs; `message` is for people.
public struct AgentError: Error, CustomStringConvertible, Sendable {
    /// A stable, extensible classification of agent errors.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case configuration, permissions, authentication, stateFile, controlSocket, io, session, usage
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The configuration file is missing, unreadable or has a wrong, missing or unknown key.
        public static let configuration = Code(.configuration)
        /// A secret or key file can be read by group or others (refused as OpenSSH does).
        public static let permissions = Code(.permissions)
        /// Secret material (TOTP secret, passphrase) is malformed.
        public static let authentication = Code(.authentication)
        /// A file in `state.dir` could not be read or written.
        public static let stateFile = Code(.stateFile)
        /// The control socket could not be reached, bound or understood.
        public static let controlSocket = Code(.controlSocket)
        /// An operating system call failed.
        public static let io = Code(.io)
        /// A session could not be brought up or torn down.
        public static let session = Code(.session)
        /// The command line or a request was malformed.
        public static let usage = Code(.usage)

        public var description: String { value.rawValue }
    }

    /// What kind of error this is.
    public let code: Code
    /// A human sentence (or several lines) naming the problem and the fix.
    public let message: String
    /// The error that caused this one, if any (an `Errno`, a TOML parse error, ...).
    public let underlying: (any Error & Sendable)?
    /// Where the error was raised (for bug reports).
    public let file: String
    /// The line where the error was raised.
    public let line: UInt

    /// Creates an error; prefer the static factories that carry context.
    public init(
        _ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil,
        file: String = #fileID, line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.file = file
        self.line = line
    }

    public var description: String {
        if let underlying { return "\(message) (\(underlying))" }
        return message
    }

    /// True when the error is the user's to fix in the configuration (exit code 2).
    public var isConfigurationError: Bool {
        code == .configuration || code == .permissions || code == .usage
    }
}
