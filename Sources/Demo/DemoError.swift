/// The one error type of the `Demo` module: what went wrong, and how to fix it (house style).
public struct DemoError: Error, CustomStringConvertible, Sendable {
    /// What kind of problem.
    public enum Code: Sendable, Hashable {
        /// A program the demo needs (sshd, ssh, ssh-keygen) is not installed.
        case missingTool
        /// A child process could not be started.
        case spawn
        /// A file or pty could not be set up.
        case io
        /// A step of the story did not happen in time.
        case timeout
        /// A step happened, but not as it should.
        case unexpected
        /// Ctrl-C (or SIGTERM) ended the demo.
        case interrupted
    }

    /// What kind of problem.
    public var code: Code
    /// A human sentence naming the problem and its fix.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
