import Foundation
import SerialIO
import Synchronization

/// A KMTronic-style USB relay board on a real pty: the code under test opens `devicePath` like the board's
/// ttyUSB port. It records every 3-byte frame it receives, switches its relays, and answers status queries the
/// way the boards do (`FF nn 03` → `FF nn ss` on one/two-relay boards, `FF 09 00` → one byte per relay on
/// four/eight-relay boards), or stays silent.
public final class RelayBoardEmulator: Sendable {
    /// How the board answers status queries.
    public enum StatusMode: Sendable, Equatable {
        /// `FF nn 03` → `FF nn ss`.
        case perRelay
        /// `FF 09 00` → `relayCount` status bytes.
        case board
        /// Never answers.
        case silent
    }

    /// One received frame with its arrival time (monotonic nanoseconds).
    public struct Frame: Sendable, Equatable {
        public var bytes: [UInt8]
        public var at: Int64
    }

    fileprivate struct StateBox {
        var frames: [Frame] = []
        var relays: [Bool]
        var stop = false
    }

    /// The pty slave to open, e.g. `/dev/pts/7`.
    public let devicePath: String
    /// Number of relays on the board.
    public let relayCount: Int
    private let shared: Shared
    private let finished = DispatchSemaphore(value: 0)

    /// Starts the board with every relay off.
    /// - Parameters:
    ///   - relayCount: 1, 2, 4 or 8.
    ///   - statusMode: how it answers status queries.
    ///   - keepSlaveOpen: keep a descriptor on the slave (true) so in-process users can close and reopen the port
    ///     freely; pass false when another process (the built `oob-agent`) opens it, which would otherwise see
    ///     this process as a holder of the port and refuse it.
    public init(relayCount: Int = 2, statusMode: StatusMode = .perRelay, keepSlaveOpen: Bool = true) throws {
        let pty = try PseudoTerminal()
        if !keepSlaveOpen { pty.releaseSlaveKeeper() }
        devicePath = pty.slavePath
        self.relayCount = relayCount
        shared = Shared(StateBox(relays: Array(repeating: false, count: relayCount)))
        let box = PTYBox(pty)
        let shared = self.shared
        let finished = self.finished
        let thread = Thread {
            RelayBoardEmulator.serve(box.pty, shared: shared, relayCount: relayCount, mode: statusMode)
            box.pty.close()
            finished.signal()
        }
        thread.start()
    }

    deinit {
        stop()
    }

    /// Stops the board and closes the pty. Idempotent.
    public func stop() {
        let first = shared.state.withLock { s -> Bool in
            defer { s.stop = true }
            return !s.stop
        }
        if first { finished.wait() }
    }

    /// Every frame received so far.
    public var frames: [Frame] { shared.state.withLock { $0.frames } }
    /// Every frame's bytes.
    public var received: [[UInt8]] { frames.map(\.bytes) }
    /// Whether relay `n` (1-based) is on.
    public func relay(_ n: Int) -> Bool { shared.state.withLock { n >= 1 && n <= $0.relays.count ? $0.relays[n - 1] : false } }

    private static func serve(_ pty: PseudoTerminal, shared: Shared, relayCount: Int, mode: StatusMode) {
        let state = shared
        var buffer: [UInt8] = []
        while !state.state.withLock({ $0.stop }) {
            guard pty.waitMasterReadable(timeoutMilliseconds: 20) else {
                usleep(5_000)  // poll returns at once with POLLHUP while no slave is open
                continue
            }
            guard let bytes = try? pty.readMaster(), !bytes.isEmpty else {
                usleep(5_000)  // no slave open (EIO): wait for the next opener
                continue
            }
            buffer += bytes
            while true {
                while let first = buffer.first, first != 0xFF { buffer.removeFirst() }
                guard buffer.count >= 3 else { break }
                let frame = Array(buffer.prefix(3))
                buffer.removeFirst(3)
                let reply: [UInt8]? = state.state.withLock { s in
                    s.frames.append(Frame(bytes: frame, at: Monotonic.now()))
                    let channel = Int(frame[1])
                    switch frame[2] {
                    case 0x00 where channel >= 1 && channel <= relayCount, 0x01 where channel >= 1 && channel <= relayCount:
                        s.relays[channel - 1] = frame[2] == 0x01
                        return nil
                    case 0x03 where mode == .perRelay && channel >= 1 && channel <= relayCount:
                        return [0xFF, frame[1], s.relays[channel - 1] ? 0x01 : 0x00]
                    case 0x00 where mode == .board && channel == 9:
                        return s.relays.map { $0 ? 0x01 : 0x00 }
                    default:
                        return nil
                    }
                }
                if let reply { _ = try? pty.writeMaster(reply) }
            }
        }
    }
}

/// The board's state, shared by its thread and the test.
private final class Shared: Sendable {
    let state: Mutex<RelayBoardEmulator.StateBox>
    init(_ initial: RelayBoardEmulator.StateBox) { state = Mutex(initial) }
}

/// Hands the pty to the board's thread. Sound: after `init` only that thread touches the pty.
private final class PTYBox: @unchecked Sendable {
    let pty: PseudoTerminal
    init(_ pty: PseudoTerminal) { self.pty = pty }
}
