/// The one error type of the Tunnel module: what went wrong, in a sentence that names the fix.
///
/// `message` is meant for a journal line or an SMS `FAILED:` reply; `code` is for programs.
public struct TunnelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidConfiguration, unsupportedKey, hostKeyUnknown, hostKeyMismatch, unsupportedHostKey
            case authenticationFailed, connectFailed, timedOut, forwardRefused, connectionLost
            case peerUnresponsive, protocolError, stopped
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A configuration value makes no sense (port 0, unparsable forward, key file readable by others…).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The client key cannot work with libssh2 1.10 against OpenSSH ≥ 8.8 (RSA, DSA, PKCS#8).
        public static let unsupportedKey = Code(.unsupportedKey)
        /// The jump host presented a key that known_hosts does not pin.
        public static let hostKeyUnknown = Code(.hostKeyUnknown)
        /// The jump host presented a key different from the pinned one.
        public static let hostKeyMismatch = Code(.hostKeyMismatch)
        /// The jump host offers no host key type libssh2 1.10 can verify (typically RSA only).
        public static let unsupportedHostKey = Code(.unsupportedHostKey)
        /// The jump host did not accept the client key.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// The jump host could not be resolved or reached over TCP.
        public static let connectFailed = Code(.connectFailed)
        /// A step did not finish within its deadline.
        public static let timedOut = Code(.timedOut)
        /// The jump host refused a remote forward (usually: a stale session still holds the port).
        public static let forwardRefused = Code(.forwardRefused)
        /// The SSH connection broke.
        public static let connectionLost = Code(.connectionLost)
        /// Nothing arrived from the jump host for about three keepalive intervals.
        public static let peerUnresponsive = Code(.peerUnresponsive)
        /// libssh2 reported an error not covered above.
        public static let protocolError = Code(.protocolError)
        /// The tunnel was stopped before it could forward.
        public static let stopped = Code(.stopped)

        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence for a human: what happened and what to do about it.
    public var message: String
    /// The configuration key involved, for configuration errors (e.g. `tunnel.forwards`).
    public var key: String?
    /// The lower-level cause: an errno name or a libssh2 code with its `last_error` text.
    public var underlying: String?
    /// Where the error was built (for a developer reading a log).
    public var location: String

    /// Creates an error; prefer the static factories of this module.
    public init(
        code: Code, message: String, key: String? = nil, underlying: String? = nil,
        fileID: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.key = key
        self.underlying = underlying
        self.location = "\(fileID):\(line)"
    }

    public var description: String {
        var s = message
        if let underlying { s += " (\(underlying))" }
        return s
    }

    /// True for failures that retrying cannot fix (wrong key, unpinned host): the tunnel stops trying.
    public var isPermanent: Bool {
        switch code {
        case .invalidConfiguration, .unsupportedKey, .hostKeyUnknown, .hostKeyMismatch, .unsupportedHostKey,
            .authenticationFailed:
            return true
        default:
            return false
        }
    }

    static func config(_ key: String, _ message: String, fileID: String = #fileID, line: Int = #line) -> TunnelError {
        TunnelError(code: .invalidConfiguration, message: "\(key): \(message)", key: key, fileID: fileID, line: line)
    }
}
