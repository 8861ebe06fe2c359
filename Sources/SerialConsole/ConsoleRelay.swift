public import Logging
public import ServiceLifecycle
import Synchronization

/// Where the relay's device is, as device discovery says: the daemon keeps a `console.device` given as `"auto"`
/// or a device match resolved and tells the relay with ``ConsoleRelay/useDevice(_:)``.
public enum ConsoleDeviceTarget: Hashable, Sendable {
    /// Use the device at this path: reopen it now if it is not open, or move to it (closing the old one).
    case path(String)
    /// The device is gone and not to be retried until a `.path` names it again; `reason` is shown to attached
    /// clients, in the console log and in `status`.
    case gone(reason: String)
}

/// Figures of a running relay, for `status` and tests.
public struct ConsoleRelayStatistics: Hashable, Sendable {
    /// The socket is bound and listening.
    public var listening = false
    /// The device is open now.
    public var deviceOpen = false
    /// Bytes read from the device.
    public var bytesFromDevice: UInt64 = 0
    /// Bytes written to the device.
    public var bytesToDevice: UInt64 = 0
    /// Clients attached (said hello), writer included.
    public var attachedClients = 0
    /// Who holds the writer's seat.
    public var writer: ConsolePeer?
    /// Times the device was reopened after vanishing.
    public var reopens = 0
    /// Clients dropped because they read too slowly.
    public var droppedClients = 0
    /// Breaks sent to the device.
    public var breaksSent = 0
    /// The device path the relay uses now (open, or being reopened); nil while it waits for the device to be found
    /// again (see ``ConsoleRelay/useDevice(_:)``).
    public var devicePath: String?
    /// Why the relay waits for its device (it was unplugged and discovery does not find it), nil otherwise.
    public var waitingReason: String?

    /// Creates empty figures.
    public init() {}
}

/// The router's console, captured all the time and shared on a Unix socket.
///
/// The relay opens the console device (path, baud, framing, flow control; exclusively), reads it without pause
/// into a scrollback ring and a size-rotated log file, and relays it to any number of clients on a Unix socket
/// (mode 0660 by default, owner and group configurable; each peer identified by `SO_PEERCRED`). One client at a
/// time holds the writer's seat; the others are read-only spectators (`ConsoleRelayStateMachine`). A vanished
/// device (a USB-serial adapter unplugged or reset) is reopened by path with exponential backoff while clients
/// stay attached and see a notice. A device found by discovery (the daemon's `console.device = "auto"` or a match)
/// is moved with ``useDevice(_:)``: to the path it came back at, or to waiting while it is gone. The wire protocol is
/// `ConsoleFrame` (docs/console.md).
///
/// ## Backpressure policy: the device and the writer never wait for a slow reader
/// Device output is read as soon as the kernel has it, whoever watches. Every client has a bounded output queue
/// (`clientBufferBytes`, 1 MiB by default: about 90 s of a 115200-baud console). A client whose queue would
/// overflow — a stalled spectator, or a writer that stopped reading — is **dropped**: its unsent output is
/// discarded, it gets a `dropped` notice, and it is disconnected (after at most 2 s spent flushing that notice).
/// Nothing is ever held back from the device, the log, the scrollback or the other clients because of it.
/// This is the opposite of ser2net's choice (stop reading the device until every client drains), because on an
/// emergency console the router's output matters more than a stuck viewer. In the other direction only the
/// writer's input is queued for the device; when the device does not drain (flow control), the relay stops
/// reading the writer's socket, so the writer alone is slowed, and no byte is lost or reordered.
///
/// A break (`tcsendbreak`) is sent after the writer's earlier input has been written; it keeps the relay's
/// thread for the break's 0.25–0.5 s, which the kernel's tty buffer (4 KiB, 0.35 s at 115200 baud) absorbs.
///
/// ## Threading
/// All I/O runs on one dedicated thread in a poll(2) loop over the device, the listening socket, the clients and
/// a wake-up pipe; `run()` waits for it and stops it (within one poll round) on cancellation or graceful
/// shutdown, closing clients with a notice, the device and the log, and removing the socket.
public final class ConsoleRelay: Service {
    /// The settings this relay runs with.
    public let configuration: ConsoleRelayConfiguration
    private let logger: Logger
    private let box = StatisticsBox()
    private let target = TargetBox()

    /// Creates a relay; nothing is opened until `run()`.
    /// - Parameters:
    ///   - configuration: device, socket, log and buffer settings.
    ///   - logger: where the relay reports (at info and below), with `console.*` metadata.
    /// - Throws: `.invalidConfiguration` when a setting is out of range.
    public init(configuration: ConsoleRelayConfiguration, logger: Logger) throws(SerialConsoleError) {
        try configuration.validate()
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "console.device"] = "\(configuration.devicePath)"
        self.logger = logger
    }

    /// Current figures (updated by the relay thread after each poll round).
    public var statistics: ConsoleRelayStatistics { box.state.withLock { $0 } }

    /// Points the relay at its device's current path, or tells it the device is gone (see ``ConsoleDeviceTarget``).
    ///
    /// For a device found by discovery: after a USB-serial adapter came back under another name the relay closes
    /// the old path, opens the new one, marks the log and tells attached clients; while it is gone the relay does
    /// not retry the old path, and says why. Callable before ``run()`` (the first open then uses it) and from any
    /// thread; the latest call wins.
    public func useDevice(_ device: ConsoleDeviceTarget) {
        target.set(device)
    }

    /// Binds the socket, opens the log, then relays until the task is cancelled or a graceful shutdown begins.
    ///
    /// A device that is missing or busy at start does not fail the relay: it is retried with backoff, and
    /// attaching clients are told. Settings the device rejects do.
    /// - Throws: `SerialConsoleError` when the socket cannot be bound (`.alreadyRunning`, `.permissionDenied`,
    ///   `.socket`), the log cannot be opened (`.log`), or the device rejects the line settings (`.device`).
    public func run() async throws {
        let loop = try RelayLoop(configuration: configuration, logger: logger, statistics: box, target: target)
        let stopper = loop.stopper
        target.attach(stopper)
        defer { target.attach(nil) }
        let handoff = LoopHandoff(loop: loop)
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let started = system_startThread {
                    let result = handoff.loop.run()
                    continuation.resume(with: result.mapError { $0 as any Error })
                }
                if case .failure(let errno) = started {
                    handoff.loop.teardown()
                    continuation.resume(
                        throwing: SerialConsoleError(
                            code: .socket, message: "cannot start the console relay thread; the system is out of "
                                + "threads or memory", underlying: errno))
                }
            }
        } onCancelOrGracefulShutdown: {
            stopper.stop()
        }
    }
}

/// The figures, shared between the relay thread (writer) and any caller (reader).
final class StatisticsBox: Sendable {
    let state = Mutex(ConsoleRelayStatistics())
}

/// The device target handed from ``ConsoleRelay/useDevice(_:)`` to the relay thread, which takes it each round.
final class TargetBox: Sendable {
    private let state = Mutex<(pending: ConsoleDeviceTarget?, stopper: RelayStopper?)>((nil, nil))

    func set(_ target: ConsoleDeviceTarget) {
        let stopper = state.withLock {
            $0.pending = target
            return $0.stopper
        }
        stopper?.wake()
    }

    /// The target set since the last call, if any.
    func take() -> ConsoleDeviceTarget? {
        state.withLock { state in
            defer { state.pending = nil }
            return state.pending
        }
    }

    func attach(_ stopper: RelayStopper?) {
        state.withLock { $0.stopper = stopper }
    }
}

/// Wakes the relay thread and tells it to stop; safe from any thread.
final class RelayStopper: Sendable {
    let readFD: CInt
    let writeFD: CInt
    private let requested = Atomic<Bool>(false)

    init() throws(SerialConsoleError) {
        switch system_pipe() {
        case .success(let fds):
            readFD = fds.read
            writeFD = fds.write
        case .failure(let errno):
            throw SerialConsoleError(
                code: .socket, message: "cannot create the relay's wake-up pipe; the process is out of descriptors "
                    + "(raise LimitNOFILE)", underlying: errno)
        }
    }

    deinit {
        system_close(readFD)
        system_close(writeFD)
    }

    /// Whether `stop()` was called.
    var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Asks the relay thread to stop and wakes it.
    func stop() {
        requested.store(true, ordering: .releasing)
        wake()
    }

    /// Wakes the relay thread's poll.
    func wake() {
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { system_write(writeFD, $0) }
    }

    /// Empties the pipe after a wake-up.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while case .success(let n) = buffer.withUnsafeMutableBytes({ system_read(readFD, $0) }), n > 0 {}
    }
}

/// Carries the relay loop to its thread.
///
/// `@unchecked Sendable` is sound because the loop is handed over exactly once: after `system_startThread`
/// succeeds, only the new thread touches it (the caller keeps the `RelayStopper`, which is Sendable); when the
/// start fails, the caller tears it down and the thread never existed.
struct LoopHandoff: @unchecked Sendable {
    let loop: RelayLoop
}
