/// The error of device discovery, matching and probing: what went wrong and how to fix it.
///
/// Discovery lives in ATModem (the only module allowed to import libudev); it has its own error type so that the
/// modem engine's `ATModemError` stays about AT commands. Same shape as the other module errors (style point 6).
public struct DiscoveryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case badMatch, noMatch, ambiguous, udevUnavailable, probeFailed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A configuration value is not a valid device match.
        public static let badMatch = Code(.badMatch)
        /// No present device satisfies the match.
        public static let noMatch = Code(.noMatch)
        /// More than one present device satisfies the match.
        public static let ambiguous = Code(.ambiguous)
        /// libudev could not be initialised or enumerated.
        public static let udevUnavailable = Code(.udevUnavailable)
        /// An AT probe could not be run.
        public static let probeFailed = Code(.probeFailed)
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence for a human: what happened and what to do about it.
    public var message: String
    /// The config value or device involved, when there is one.
    public var subject: String?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what happened and the fix.
    ///   - subject: the config value or device involved.
    public init(code: Code, message: String, subject: String? = nil) {
        self.code = code
        self.message = message
        self.subject = subject
    }

    public var description: String { message }
}
