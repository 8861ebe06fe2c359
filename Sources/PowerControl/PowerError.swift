/// The one error type of PowerControl: which outlet, what failed, and how to fix it (style point 6).
public struct PowerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case configuration, unknownOutlet, notFound, busy, unreachable, noConfirmation, commandFailed, timedOut
            case notAllowed, io, unsupported
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A `[[power]]` entry is invalid.
        public static let configuration = Code(.configuration)
        /// No outlet has that name.
        public static let unknownOutlet = Code(.unknownOutlet)
        /// The device (serial port, GPIO chip, program) does not exist.
        public static let notFound = Code(.notFound)
        /// Another process holds the device or the outlet's lock.
        public static let busy = Code(.busy)
        /// The device exists but does not answer (no status reply, not a GPIO chip).
        public static let unreachable = Code(.unreachable)
        /// The relay board did not confirm the new state.
        public static let noConfirmation = Code(.noConfirmation)
        /// The command driver's program failed.
        public static let commandFailed = Code(.commandFailed)
        /// The action did not finish before its deadline.
        public static let timedOut = Code(.timedOut)
        /// The action is not allowed for this requester (e.g. no session).
        public static let notAllowed = Code(.notAllowed)
        /// Any other I/O failure.
        public static let io = Code(.io)
        /// The path exists but cannot do this (e.g. the daemon must do it).
        public static let unsupported = Code(.unsupported)
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// The outlet's name, when one is involved.
    public var outlet: String?
    /// A sentence for a human (and for the SMS reply): what happened and what to do.
    public var message: String
    /// The errno or program output behind it, if any.
    public var underlying: String?

    /// Creates an error.
    public init(code: Code, outlet: String?, message: String, underlying: String? = nil) {
        self.code = code
        self.outlet = outlet
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        underlying.map { "\(message) (\($0))" } ?? message
    }
}
