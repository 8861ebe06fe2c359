public import SystemPackage

/// The one error type of CellularLink: what failed on the cellular link, and what to do about it.
public struct CellularLinkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case configuration, commandFailed, linkFailed, timedOut, interfaceMissing, routeMismatch,
                resolveFailed, connectFailed, journal, busy
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A `[link]` key is missing or invalid.
        public static let configuration = Code(.configuration)
        /// A helper program (`ip`, `udhcpc`) failed.
        public static let commandFailed = Code(.commandFailed)
        /// The link program (pppd, the DHCP client) failed or died.
        public static let linkFailed = Code(.linkFailed)
        /// `link.up_timeout` (or another deadline) passed.
        public static let timedOut = Code(.timedOut)
        /// The cellular interface does not exist or has no address.
        public static let interfaceMissing = Code(.interfaceMissing)
        /// A packet to the jump host would not leave through the cellular interface.
        public static let routeMismatch = Code(.routeMismatch)
        /// The jump host's name could not be resolved through the link, and no earlier address is known.
        public static let resolveFailed = Code(.resolveFailed)
        /// A TCP connection through the cellular interface failed.
        public static let connectFailed = Code(.connectFailed)
        /// The state journal could not be read or written.
        public static let journal = Code(.journal)
        /// A routing table or rule priority the link wants is already used by someone else.
        public static let busy = Code(.busy)
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence for a human: what happened and what to do about it.
    public var message: String
    /// The errno behind it, if any.
    public var underlying: Errno?
    /// Where the error was raised (`file:line`).
    public var location: String

    /// Creates an error; the module uses static factories that fill in the context.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what happened and the fix.
    ///   - underlying: the errno, if any.
    public init(
        code: Code, message: String, underlying: Errno? = nil, file: StaticString = #fileID, line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.location = "\(file):\(line)"
    }

    public var description: String {
        var s = message
        if let underlying { s += " (\(underlying))" }
        return s
    }

    static func configuration(
        _ key: String, _ problem: String, fix: String, file: StaticString = #fileID, line: UInt = #line
    ) -> CellularLinkError {
        CellularLinkError(code: .configuration, message: "link.\(key): \(problem); \(fix)", file: file, line: line)
    }
}
