/// Finds the console client's escapes in what the user types, the way ssh does: a `~` is an escape character
/// only as the first character of a line (at the start, or right after CR or LF).
///
/// `~.` detaches, `~B` sends a break, `~?` shows the help, `~~` sends one `~`. A `~` followed by anything else
/// sends both characters. Pure: no I/O.
public struct ConsoleEscapeParser: Sendable {
    /// What the client must do with a piece of input.
    public enum Action: Hashable, Sendable {
        /// Send these bytes to the console.
        case send([UInt8])
        /// `~.`: detach.
        case detach
        /// `~B`: send a break.
        case sendBreak
        /// `~?`: show the escapes.
        case help
    }

    private static let tilde = UInt8(ascii: "~")

    /// At the start of a line: a `~` here may begin an escape.
    private var atLineStart = true
    /// A line-start `~` was seen and is held back until the next byte says what it is.
    private var pendingTilde = false

    /// Creates a parser at the start of a line.
    public init() {}

    /// Whether a `~` is held back waiting for its second character.
    public var isHoldingTilde: Bool { pendingTilde }

    /// Feeds typed bytes; returns the actions in order (consecutive bytes to send are joined).
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Action] {
        var actions: [Action] = []
        var run: [UInt8] = []
        func flushRun() {
            if !run.isEmpty {
                actions.append(.send(run))
                run = []
            }
        }
        for byte in bytes {
            if pendingTilde {
                pendingTilde = false
                switch byte {
                case UInt8(ascii: "."):
                    flushRun()
                    actions.append(.detach)
                    return actions  // nothing after a detach is sent
                case UInt8(ascii: "B"):
                    flushRun()
                    actions.append(.sendBreak)
                    atLineStart = true
                case UInt8(ascii: "?"):
                    flushRun()
                    actions.append(.help)
                    atLineStart = true
                case Self.tilde:
                    run.append(Self.tilde)
                    atLineStart = false
                default:
                    run.append(Self.tilde)
                    run.append(byte)
                    atLineStart = byte == 0x0D || byte == 0x0A
                }
                continue
            }
            if atLineStart && byte == Self.tilde {
                pendingTilde = true
                continue
            }
            run.append(byte)
            atLineStart = byte == 0x0D || byte == 0x0A
        }
        flushRun()
        return actions
    }

    /// The help shown for `~?`.
    public static let helpText = """
        Supported escape sequences (type them at the start of a line):
          ~.  detach from the console
          ~B  send a break to the router (tcsendbreak on the console line)
          ~?  this help
          ~~  send a literal ~
        """
}
