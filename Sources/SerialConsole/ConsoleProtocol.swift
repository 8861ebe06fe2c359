// The framed protocol spoken on the console relay's Unix socket (docs/console.md, "Protocol").
// Pure: no I/O, nothing platform-specific.

/// How a client asks to attach.
public enum ConsoleAttachMode: UInt8, Hashable, Sendable, CaseIterable {
    /// A spectator: sees everything, types nothing.
    case readOnly = 0
    /// Takes the writer's seat if it is free; otherwise attaches read-only and is told who holds it.
    case writer = 1
    /// Takes the writer's seat even if someone holds it; the previous writer becomes a spectator and is told who.
    case force = 2
}

/// What a client is once attached.
public enum ConsoleRole: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// Read-only: input is refused.
    case spectator = 0
    /// Holds the writer's seat: its input goes to the device.
    case writer = 1

    public var description: String {
        switch self {
        case .spectator: return "spectator"
        case .writer: return "writer"
        }
    }
}

/// The first frame a client sends.
public struct ConsoleHello: Hashable, Sendable {
    /// The protocol version this file implements.
    public static let currentVersion: UInt8 = 1
    /// Protocol version the client speaks.
    public var version: UInt8
    /// Read-only, writer or force.
    public var mode: ConsoleAttachMode
    /// At most this many bytes of scrollback to replay before going live (0: none; the relay caps it at its ring).
    public var scrollbackLimit: UInt32

    /// Creates a hello.
    /// - Parameters:
    ///   - mode: read-only, writer or force.
    ///   - scrollbackLimit: how many bytes of scrollback to replay at most.
    public init(mode: ConsoleAttachMode, scrollbackLimit: UInt32 = 16384, version: UInt8 = ConsoleHello.currentVersion) {
        self.version = version
        self.mode = mode
        self.scrollbackLimit = scrollbackLimit
    }
}

/// The relay's answer to a hello.
public struct ConsoleWelcome: Hashable, Sendable {
    /// Protocol version the relay speaks.
    public var version: UInt8
    /// The role granted (a writer request finds the seat taken: spectator).
    public var role: ConsoleRole
    /// The console device path.
    public var device: String

    /// Creates a welcome.
    public init(role: ConsoleRole, device: String, version: UInt8 = ConsoleHello.currentVersion) {
        self.version = version
        self.role = role
        self.device = device
    }
}

/// A message from the relay about the console, for the human at the client.
public struct ConsoleNotice: Hashable, Sendable, CustomStringConvertible {
    /// What the notice is about; unknown kinds from a newer relay are kept as they are.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Plain information (someone attached or detached, the seat is free).
        public static let info = Kind(rawValue: 0)
        /// This client lost the writer's seat to a `--force` attach; it is a spectator now.
        public static let writerSeatTaken = Kind(rawValue: 1)
        /// The console device went away; the relay reopens it with backoff.
        public static let deviceLost = Kind(rawValue: 2)
        /// The console device is back.
        public static let deviceBack = Kind(rawValue: 3)
        /// This client is being disconnected because it read too slowly.
        public static let dropped = Kind(rawValue: 4)
        /// Input from this client was refused (spectator, or device gone).
        public static let inputRefused = Kind(rawValue: 5)
        /// A break was sent to the device.
        public static let breakSent = Kind(rawValue: 6)
        /// The relay is stopping; the connection closes next.
        public static let relayStopping = Kind(rawValue: 7)
        /// The client broke the protocol; the connection closes next.
        public static let protocolError = Kind(rawValue: 8)

        public var description: String {
            switch self {
            case .info: return "info"
            case .writerSeatTaken: return "writer-seat-taken"
            case .deviceLost: return "device-lost"
            case .deviceBack: return "device-back"
            case .dropped: return "dropped"
            case .inputRefused: return "input-refused"
            case .breakSent: return "break-sent"
            case .relayStopping: return "relay-stopping"
            case .protocolError: return "protocol-error"
            default: return "kind-\(rawValue)"
            }
        }
    }

    /// What the notice is about.
    public var kind: Kind
    /// One line for a human.
    public var text: String

    /// Creates a notice.
    public init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    public var description: String { "\(kind): \(text)" }
}

/// One frame of the console protocol. Every frame is `type (1 byte) | length (2 bytes, big-endian) | payload`,
/// so console bytes (data frames) can never be mistaken for control messages.
public enum ConsoleFrame: Hashable, Sendable {
    // MARK: client → relay
    /// `0x01`: the first frame of a client.
    case hello(ConsoleHello)
    /// `0x02`: keystrokes for the device (writer only).
    case input([UInt8])
    /// `0x03`: send a break on the device line (writer only).
    case sendBreak

    // MARK: relay → client
    /// `0x81`: the answer to a hello.
    case welcome(ConsoleWelcome)
    /// `0x82`: bytes the device sent.
    case output([UInt8])
    /// `0x83`: a notice for the human.
    case notice(ConsoleNotice)
    /// `0x84`: scrollback replay starts; `byteCount` bytes of output frames follow.
    case scrollbackBegin(byteCount: UInt32)
    /// `0x85`: scrollback replay ended; what follows is live.
    case scrollbackEnd

    /// Frame type bytes.
    enum FrameType {
        static let hello: UInt8 = 0x01
        static let input: UInt8 = 0x02
        static let sendBreak: UInt8 = 0x03
        static let welcome: UInt8 = 0x81
        static let output: UInt8 = 0x82
        static let notice: UInt8 = 0x83
        static let scrollbackBegin: UInt8 = 0x84
        static let scrollbackEnd: UInt8 = 0x85
    }

    /// The largest payload of one frame.
    public static let maximumPayload = Int(UInt16.max)
    /// Bytes of the header before each payload.
    public static let headerSize = 3

    /// Appends the encoded frame to `buffer`. Data longer than `maximumPayload` becomes several frames.
    /// - Parameter buffer: where the wire bytes go.
    public func encode(into buffer: inout [UInt8]) {
        switch self {
        case .hello(let hello):
            var payload: [UInt8] = [hello.version, hello.mode.rawValue]
            payload.appendBigEndian(hello.scrollbackLimit)
            Self.appendFrame(FrameType.hello, payload, into: &buffer)
        case .input(let bytes):
            Self.appendData(FrameType.input, bytes, into: &buffer)
        case .sendBreak:
            Self.appendFrame(FrameType.sendBreak, [], into: &buffer)
        case .welcome(let welcome):
            let payload = [welcome.version, welcome.role.rawValue] + Array(welcome.device.utf8.prefix(1024))
            Self.appendFrame(FrameType.welcome, payload, into: &buffer)
        case .output(let bytes):
            Self.appendData(FrameType.output, bytes, into: &buffer)
        case .notice(let notice):
            let payload = [notice.kind.rawValue] + Array(notice.text.utf8.prefix(4096))
            Self.appendFrame(FrameType.notice, payload, into: &buffer)
        case .scrollbackBegin(let count):
            var payload: [UInt8] = []
            payload.appendBigEndian(count)
            Self.appendFrame(FrameType.scrollbackBegin, payload, into: &buffer)
        case .scrollbackEnd:
            Self.appendFrame(FrameType.scrollbackEnd, [], into: &buffer)
        }
    }

    /// The encoded frame as bytes.
    public var encoded: [UInt8] {
        var buffer: [UInt8] = []
        encode(into: &buffer)
        return buffer
    }

    /// Appends data frames (input or output) carrying `bytes`, split at `maximumPayload`, without copying
    /// into an intermediate frame value.
    static func appendData(_ type: UInt8, _ bytes: some Collection<UInt8>, into buffer: inout [UInt8]) {
        var rest = bytes[...]
        repeat {
            let chunk = rest.prefix(maximumPayload)
            buffer.append(type)
            buffer.append(UInt8(truncatingIfNeeded: chunk.count >> 8))
            buffer.append(UInt8(truncatingIfNeeded: chunk.count))
            buffer.append(contentsOf: chunk)
            rest = rest.dropFirst(chunk.count)
        } while !rest.isEmpty
    }

    private static func appendFrame(_ type: UInt8, _ payload: [UInt8], into buffer: inout [UInt8]) {
        precondition(payload.count <= maximumPayload)
        buffer.append(type)
        buffer.append(UInt8(truncatingIfNeeded: payload.count >> 8))
        buffer.append(UInt8(truncatingIfNeeded: payload.count))
        buffer.append(contentsOf: payload)
    }
}

/// Cuts a byte stream into console frames. Returns nil for "need more bytes" without consuming; throws for a
/// frame no version of this protocol sends.
public struct ConsoleFrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    /// Creates an empty decoder.
    public init() {}

    /// Bytes received but not yet decoded.
    public var bufferedCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Adds received bytes from a raw buffer.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    /// - Throws: `SerialConsoleError` `.protocolViolation` naming the frame type or field that is wrong.
    public mutating func next() throws(SerialConsoleError) -> ConsoleFrame? {
        let available = buffer.count - start
        guard available >= ConsoleFrame.headerSize else { return nil }
        let type = buffer[start]
        let length = Int(buffer[start + 1]) << 8 | Int(buffer[start + 2])
        guard available >= ConsoleFrame.headerSize + length else {
            try Self.checkType(type)
            return nil
        }
        let payload = buffer[(start + ConsoleFrame.headerSize)..<(start + ConsoleFrame.headerSize + length)]
        let frame = try Self.decode(type: type, payload: payload)
        start += ConsoleFrame.headerSize + length
        return frame
    }

    private static func checkType(_ type: UInt8) throws(SerialConsoleError) {
        typealias T = ConsoleFrame.FrameType
        switch type {
        case T.hello, T.input, T.sendBreak, T.welcome, T.output, T.notice, T.scrollbackBegin, T.scrollbackEnd: return
        default:
            throw .protocolViolation(
                "unknown console frame type 0x\(String(type, radix: 16)); the client and the relay are different "
                    + "versions: use the oob-agent binary of the running daemon")
        }
    }

    private static func decode(type: UInt8, payload: ArraySlice<UInt8>) throws(SerialConsoleError) -> ConsoleFrame {
        typealias T = ConsoleFrame.FrameType
        try checkType(type)
        let p = Array(payload)
        switch type {
        case T.hello:
            guard p.count >= 6 else { throw .protocolViolation("hello frame truncated at scrollback limit") }
            guard p[0] == ConsoleHello.currentVersion else {
                throw .protocolViolation(
                    "hello speaks console protocol version \(p[0]), this relay speaks \(ConsoleHello.currentVersion); "
                        + "use the oob-agent binary of the running daemon")
            }
            guard let mode = ConsoleAttachMode(rawValue: p[1]) else {
                throw .protocolViolation("hello frame has an unknown attach mode \(p[1])")
            }
            let limit = UInt32(p[2]) << 24 | UInt32(p[3]) << 16 | UInt32(p[4]) << 8 | UInt32(p[5])
            return .hello(ConsoleHello(mode: mode, scrollbackLimit: limit, version: p[0]))
        case T.input:
            return .input(p)
        case T.sendBreak:
            return .sendBreak
        case T.welcome:
            guard p.count >= 2 else { throw .protocolViolation("welcome frame truncated at role") }
            guard let role = ConsoleRole(rawValue: p[1]) else {
                throw .protocolViolation("welcome frame has an unknown role \(p[1])")
            }
            return .welcome(ConsoleWelcome(role: role, device: String(decoding: p[2...], as: UTF8.self), version: p[0]))
        case T.output:
            return .output(p)
        case T.notice:
            guard p.count >= 1 else { throw .protocolViolation("notice frame truncated at kind") }
            return .notice(ConsoleNotice(.init(rawValue: p[0]), String(decoding: p[1...], as: UTF8.self)))
        case T.scrollbackBegin:
            guard p.count >= 4 else { throw .protocolViolation("scrollback-begin frame truncated at byte count") }
            let count = UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
            return .scrollbackBegin(byteCount: count)
        case T.scrollbackEnd:
            return .scrollbackEnd
        default:
            preconditionFailure("checkType let an unknown frame type through")
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}
