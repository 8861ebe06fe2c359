#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
import Logging
import SerialIO
import Synchronization
import SystemPackage

/// One client connection as the relay thread sees it: its socket, its frame decoder and its bounded output queue.
final class ClientConnection {
    let id: ConsoleClientID
    let fd: CInt
    let peer: ConsolePeer
    var decoder = ConsoleFrameDecoder()
    /// Encoded frames waiting to be sent; `frames[head]` has `sentInHead` bytes sent already.
    var frames: [[UInt8]] = []
    var head = 0
    var sentInHead = 0
    /// Bytes in the queue not yet sent.
    var queuedBytes = 0
    /// Said hello and is attached (gets device output).
    var attached = false
    /// When set, the connection is finishing: it gets no more output, and is closed once its queue is empty or
    /// at this deadline.
    var closingDeadline: Int64?
    /// Dropped if still greeting at this time.
    let helloDeadline: Int64
    /// When the last input-refused notice was sent (they are sent at most once a second).
    var lastRefusal: Int64?

    init(id: ConsoleClientID, fd: CInt, peer: ConsolePeer, helloDeadline: Int64) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.helloDeadline = helloDeadline
    }

    func enqueue(_ frame: [UInt8]) {
        frames.append(frame)
        queuedBytes += frame.count
    }

    /// Discards queued frames, except the one partly sent (a frame cut in half would break the stream).
    func discardUnsent() {
        if head < frames.count && sentInHead > 0 {
            let partial = frames[head]
            frames = [partial]
            queuedBytes = partial.count - sentInHead
        } else {
            frames = []
            queuedBytes = 0
            sentInHead = 0
        }
        head = 0
    }

    /// Advances the queue by `n` sent bytes.
    func advance(_ n: Int) {
        var n = n
        queuedBytes -= n
        while n > 0 {
            let left = frames[head].count - sentInHead
            if n >= left {
                n -= left
                head += 1
                sentInHead = 0
            } else {
                sentInHead += n
                n = 0
            }
        }
        if head == frames.count {
            frames.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 64 && head * 2 > frames.count {
            frames.removeFirst(head)
            head = 0
        }
    }
}

@available(*, unavailable)
extension ClientConnection: Sendable {}

/// The relay's engine: owns the device, the listening socket, the clients, the scrollback and the log, and runs
/// the poll loop on its own thread. See `ConsoleRelay` for the policies it implements.
final class RelayLoop {
    let configuration: ConsoleRelayConfiguration
    private(set) var logger: Logger
    let stopper: RelayStopper
    private let statistics: StatisticsBox

    private var machine = ConsoleRelayStateMachine()
    private var listener: CInt = -1
    private var device: ConsoleDevice?
    private var deviceEverOpened = false
    /// Where discovery's device targets arrive (``ConsoleRelay/useDevice(_:)``).
    private let target: TargetBox
    /// The device path in use: the configured one, or the last one discovery named.
    private var devicePath: String
    /// Set while the device is gone and discovery has not found it again: no reopening meanwhile.
    private var waiting: String?
    /// The path the device was open at before discovery moved it (for the "now at" notice).
    private var movedFrom: String?
    private var reopenAt: Int64 = 0
    private var reopenDelay: Int
    private var lastDeviceError: String?
    private var clients: [ConsoleClientID: ClientConnection] = [:]
    private var nextID: UInt64 = 1
    /// The writer's input not yet written to the device, from `toDeviceStart`.
    private var toDevice: [UInt8] = []
    private var toDeviceStart = 0
    private var pendingBreaks = 0
    private var scrollback: Scrollback
    private var log: ConsoleLog?
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    private var sendScratch: [UInt8] = []
    private var counters = ConsoleRelayStatistics()
    /// The scrollback limit of the hello being handled (read by the welcome action).
    private var helloScrollbackLimit: UInt32 = 0
    private var tornDown = false

    /// The writer's input queued for the device beyond which the relay stops reading the writer.
    private static let toDeviceLimit = 64 << 10
    /// How long a dropped client gets to receive its last notice.
    private static let closingGraceNanoseconds: Int64 = 2_000_000_000

    /// Creates the loop: opens the log and binds the socket (so their errors reach `run()`'s caller).
    init(
        configuration: ConsoleRelayConfiguration, logger: Logger, statistics: StatisticsBox, target: TargetBox = TargetBox()
    ) throws(SerialConsoleError) {
        self.configuration = configuration
        self.target = target
        self.devicePath = configuration.devicePath
        self.logger = logger
        self.statistics = statistics
        self.reopenDelay = configuration.reopenInitialDelayMilliseconds
        self.scrollback = Scrollback(capacity: configuration.scrollbackBytes)
        self.stopper = try RelayStopper()
        if let logPath = configuration.logPath {
            log = try ConsoleLog(
                path: logPath, maximumBytes: configuration.logMaximumBytes, keptFiles: configuration.logKeptFiles,
                logger: logger)
        }
        try bindListener()
        counters.listening = true
        // A device target given before the start (the relay may start waiting for its device).
        applyTarget(starting: true)
        publishStatistics()
    }

    deinit {
        teardown()
    }

    // MARK: - Socket setup

    private func bindListener() throws(SerialConsoleError) {
        let path = configuration.socketPath
        let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !parent.isEmpty, case .failure(.noSuchFileOrDirectory) = system_lstat(parent) {
            if case .failure(let errno) = system_mkdir(parent, 0o755) {
                throw .listen(path: parent, operation: "mkdir", errno: errno)
            }
        }
        if case .success(let st) = system_lstat(path) {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw .invalid("\(path) exists and is not a socket; remove it or choose another [console] socket")
            }
            // A socket file: a live relay answers, a stale one (left by a crash) refuses.
            if case .success(let probe) = system_socketUnix() {
                defer { system_close(probe) }
                if case .success = system_connect(probe, path: path) {
                    throw SerialConsoleError(
                        code: .alreadyRunning,
                        message: "another console relay already listens on \(path); stop it first "
                            + "(systemctl stop oob-agent) or choose another [console] socket")
                }
            }
            _ = system_unlink(path)
        }
        let fd: CInt
        switch system_socketUnix() {
        case .success(let value): fd = value
        case .failure(let errno): throw .listen(path: path, operation: "socket", errno: errno)
        }
        do throws(SerialConsoleError) {
            if case .failure(let errno) = system_bind(fd, path: path) {
                throw .listen(path: path, operation: "bind", errno: errno)
            }
            // Permissions are set before listen(2): until then every connect is refused, so no client ever
            // reaches a socket with the wrong owner or mode.
            if configuration.socketOwner != nil || configuration.socketGroup != nil {
                let uid = try configuration.socketOwner.map { (owner) throws(SerialConsoleError) -> uid_t in
                    if let n = UInt32(owner) { return uid_t(n) }
                    guard let n = system_userID(name: owner) else {
                        throw .invalid("console socket owner \"\(owner)\" is not a known user; create it or fix the setting")
                    }
                    return uid_t(n)
                } ?? uid_t.max
                let gid = try configuration.socketGroup.map { (name) throws(SerialConsoleError) -> gid_t in
                    if let n = UInt32(name) { return gid_t(n) }
                    guard let n = system_groupID(name: name) else {
                        throw .invalid("console socket group \"\(name)\" is not a known group; create it or fix the setting")
                    }
                    return gid_t(n)
                } ?? gid_t.max
                if case .failure(let errno) = system_chown(path, uid, gid) {
                    throw .listen(path: path, operation: "chown", errno: errno)
                }
            }
            if case .failure(let errno) = system_chmod(path, mode_t(configuration.socketMode)) {
                throw .listen(path: path, operation: "chmod", errno: errno)
            }
            if case .failure(let errno) = system_listen(fd, 64) {
                throw .listen(path: path, operation: "listen", errno: errno)
            }
        } catch {
            system_close(fd)
            _ = system_unlink(path)
            throw error
        }
        listener = fd
    }

    // MARK: - The loop

    /// Runs until stopped; returns the fatal error if one ends it early.
    func run() -> Result<Void, SerialConsoleError> {
        logger.info(
            "Console relay started",
            metadata: ["console.socket": "\(configuration.socketPath)", "console.baud": "\(configuration.serial.baudRate)"])
        applyTarget(starting: true)
        if let waiting {
            log?.mark("relay started without its device (\(waiting)) at \(configuration.serial.baudRate) baud")
        } else {
            log?.mark("relay started on \(devicePath) at \(configuration.serial.baudRate) baud")
        }
        var result: Result<Void, SerialConsoleError> = .success(())
        if waiting == nil, let fatal = openDevice() {
            result = .failure(fatal)
        }
        var fds: [pollfd] = []
        var owners: [ConsoleClientID?] = []
        while case .success = result, !stopper.isRequested {
            fds.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: stopper.readFD, events: Int16(POLLIN), revents: 0))
            owners.append(nil)
            fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0))
            owners.append(nil)
            let deviceIndex: Int?
            if let device {
                var events = Int16(POLLIN)
                if toDevice.count > toDeviceStart { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: device.fd, events: events, revents: 0))
                owners.append(nil)
                deviceIndex = fds.count - 1
            } else {
                deviceIndex = nil
            }
            let writer = machine.writer
            let writerMayType = toDevice.count - toDeviceStart < Self.toDeviceLimit && pendingBreaks == 0
            for (id, client) in clients {
                var events: Int16 = 0
                if id != writer || writerMayType { events |= Int16(POLLIN) }
                if client.queuedBytes > 0 { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: client.fd, events: events, revents: 0))
                owners.append(id)
            }
            publishStatistics()
            let timeout = pollTimeout()
            guard case .success(let ready) = system_poll(&fds, timeout) else { continue }  // EINTR: go round
            let now = Monotonic.now()
            if ready > 0 {
                if fds[0].revents != 0 { stopper.drain() }
                if let deviceIndex, device != nil {
                    let revents = fds[deviceIndex].revents
                    if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readDevice() }
                    if device != nil, revents & Int16(POLLOUT) != 0 { flushToDevice() }
                }
                for index in 2..<fds.count {
                    guard let id = owners[index], let client = clients[id] else { continue }
                    let revents = fds[index].revents
                    if revents == 0 { continue }
                    if revents & Int16(POLLOUT) != 0 { flush(client) }
                    guard clients[id] != nil else { continue }
                    if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readClient(client) }
                }
                if fds[1].revents & Int16(POLLIN) != 0 { acceptClients(now: now) }
            }
            applyTarget(starting: false)
            if device == nil && waiting == nil && Monotonic.now() >= reopenAt, let fatal = openDevice() {
                result = .failure(fatal)
            }
            expireClients(now: Monotonic.now())
        }
        teardown()
        return result
    }

    /// How long poll(2) may sleep: until the next reopen or client deadline, and with none, until an fd or the
    /// stopper wakes the loop (an idle relay does not tick).
    private func pollTimeout() -> CInt {
        let now = Monotonic.now()
        var deadline = Int64.max
        if device == nil && waiting == nil { deadline = min(deadline, reopenAt) }
        for client in clients.values {
            if let closing = client.closingDeadline {
                deadline = min(deadline, closing)
            } else if !client.attached {
                deadline = min(deadline, client.helloDeadline)
            }
        }
        if deadline == Int64.max { return -1 }
        guard deadline > now else { return 0 }
        return CInt(min(Int64(CInt.max), (deadline - now + 999_999) / 1_000_000))
    }

    /// Closes everything: clients (with a notice), the device, the log, the socket (and its file).
    func teardown() {
        guard !tornDown else { return }
        tornDown = true
        for client in clients.values {
            client.discardUnsent()
            client.enqueue(ConsoleFrame.notice(ConsoleNotice(.relayStopping, "the console relay is stopping")).encoded)
            flush(client, closeOnError: false)
            system_close(client.fd)
        }
        clients.removeAll()
        if let device {
            device.close()
            self.device = nil
        }
        log?.mark("relay stopped")
        log = nil
        if listener >= 0 {
            system_close(listener)
            listener = -1
            _ = system_unlink(configuration.socketPath)
        }
        counters.listening = false
        counters.deviceOpen = false
        counters.attachedClients = 0
        counters.writer = nil
        publishStatistics()
        logger.info("Console relay stopped")
    }

    private func publishStatistics() {
        counters.attachedClients = clients.values.filter { $0.attached }.count
        counters.writer = machine.writerPeer
        counters.deviceOpen = device != nil
        counters.devicePath = waiting == nil ? devicePath : nil
        counters.waitingReason = waiting
        let snapshot = counters
        statistics.state.withLock { $0 = snapshot }
    }

    // MARK: - Device

    /// Tries to open the device; returns an error only when retrying cannot help (settings rejected, not a tty).
    private func openDevice() -> SerialConsoleError? {
        switch ConsoleDevice.open(
            path: devicePath, configuration: configuration.serial, exclusive: configuration.exclusive)
        {
        case .success(let opened):
            device = opened
            reopenDelay = configuration.reopenInitialDelayMilliseconds
            lastDeviceError = nil
            if deviceEverOpened {
                counters.reopens += 1
                logger.info("Console device back")
            } else {
                logger.info("Console device open")
            }
            if let previous = movedFrom, previous != devicePath {
                perform(machine.deviceOpened(at: devicePath, previous: previous))
            } else {
                perform(machine.deviceOpened(firstTime: !deviceEverOpened))
            }
            movedFrom = nil
            deviceEverOpened = true
            // What the kernel buffered before the open is console output too: read it now.
            readDevice()
            return nil
        case .failure(let failure):
            if failure.isFatal {
                return SerialConsoleError(code: .device, message: failure.message)
            }
            if lastDeviceError != failure.message {
                lastDeviceError = failure.message
                logger.info(
                    "Console device not available; retrying with backoff",
                    metadata: ["error": "\(failure.message)", "console.retry_ms": "\(reopenDelay)"])
                if !deviceEverOpened {
                    perform(machine.deviceLost(reason: failure.message))
                }
            }
            reopenAt = Monotonic.now() + Int64(reopenDelay) * 1_000_000
            reopenDelay = min(reopenDelay * 2, configuration.reopenMaximumDelayMilliseconds)
            return nil
        }
    }

    /// Takes the device target discovery set (``ConsoleRelay/useDevice(_:)``), if any: moves to a new path at once,
    /// or stops retrying a device that is gone.
    private func applyTarget(starting: Bool) {
        guard let next = target.take() else { return }
        switch next {
        case .path(let path):
            if path == devicePath && waiting == nil { return }
            if path != devicePath {
                if device != nil { deviceLost("the device moved to \(path)") }
                if deviceEverOpened && movedFrom == nil { movedFrom = devicePath }
                logger.info(
                    "Console device path changed", metadata: ["console.from": "\(devicePath)", "console.to": "\(path)"])
                devicePath = path
                logger[metadataKey: "console.device"] = "\(path)"
            }
            waiting = nil
            lastDeviceError = nil
            reopenDelay = configuration.reopenInitialDelayMilliseconds
            reopenAt = Monotonic.now()
        case .gone(let reason):
            if waiting == reason { return }
            if device != nil { deviceLost(reason) }
            waiting = reason
            if !deviceEverOpened { logger[metadataKey: "console.device"] = "none" }
            logger.info("Console device gone; waiting for it to be found again", metadata: ["console.reason": "\(reason)"])
            let actions = machine.deviceWaiting(reason: reason)
            // At the start the "relay started without its device" mark says it.
            perform(starting ? actions.filter { if case .record = $0 { false } else { true } } : actions)
        }
        if !starting { publishStatistics() }
    }

    private func deviceLost(_ reason: String) {
        guard let port = device else { return }
        port.close()
        device = nil
        let discarded = toDevice.count - toDeviceStart
        toDevice.removeAll(keepingCapacity: true)
        toDeviceStart = 0
        pendingBreaks = 0
        logger.info(
            "Console device lost; reopening with backoff",
            metadata: ["error": "\(reason)", "console.discarded_input": "\(discarded)"])
        perform(machine.deviceLost(reason: reason))
        reopenDelay = configuration.reopenInitialDelayMilliseconds
        reopenAt = Monotonic.now() + Int64(reopenDelay) * 1_000_000
        lastDeviceError = nil
    }

    private func readDevice() {
        guard let fd = device?.fd else { return }
        // A few reads per round at most, so clients and the writer get their turn under a flood.
        for _ in 0..<4 {
            let result = readBuffer.withUnsafeMutableBytes { system_read(fd, $0) }
            switch result {
            case .success(0):
                // A tty reads 0 (EOF) when the other end hung up: the adapter is gone, or a pty master closed.
                deviceLost("the device hung up")
                return
            case .success(let n):
                readBuffer.withUnsafeBytes { deviceOutput(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                if n < readBuffer.count { return }
            case .failure(let errno):
                if errno == .wouldBlock { return }
                deviceLost("read: \(errno)")
                return
            }
        }
    }

    /// Bytes from the device: to the scrollback, the log and every attached client, in order.
    private func deviceOutput(_ bytes: UnsafeRawBufferPointer) {
        counters.bytesFromDevice += UInt64(bytes.count)
        scrollback.append(bytes)
        log?.append(bytes)
        var frame: [UInt8] = []
        frame.reserveCapacity(bytes.count + ConsoleFrame.headerSize * (1 + bytes.count / ConsoleFrame.maximumPayload))
        ConsoleFrame.appendData(ConsoleFrame.FrameType.output, bytes, into: &frame)
        for client in clients.values where client.attached {
            if client.queuedBytes + frame.count > configuration.clientBufferBytes {
                drop(
                    client,
                    reason: "too slow: \(client.queuedBytes) bytes waiting, limit \(configuration.clientBufferBytes)",
                    notice: ConsoleNotice(
                        .dropped,
                        "disconnected: this client read too slowly (\(client.queuedBytes) bytes waiting); the "
                            + "console went on without it. Reattach to continue."))
                continue
            }
            client.enqueue(frame)
            flush(client)
        }
    }

    private func flushToDevice() {
        guard let fd = device?.fd else { return }
        while toDeviceStart < toDevice.count {
            let result = toDevice.withUnsafeBytes { system_write(fd, UnsafeRawBufferPointer(rebasing: $0[toDeviceStart...])) }
            switch result {
            case .success(let n):
                toDeviceStart += n
                counters.bytesToDevice += UInt64(n)
            case .failure(let errno):
                if errno == .wouldBlock { return }
                deviceLost("write: \(errno)")
                return
            }
        }
        toDevice.removeAll(keepingCapacity: true)
        toDeviceStart = 0
        while pendingBreaks > 0 {
            pendingBreaks -= 1
            sendBreakNow()
        }
    }

    private func sendBreakNow() {
        guard let fd = device?.fd else { return }
        switch system_tcsendbreak(fd, 0) {
        case .success:
            counters.breaksSent += 1
        case .failure(let errno):
            logger.info("Console break failed", metadata: ["error": "\(errno)"])
            if let writer = machine.writer, let client = clients[writer] {
                send(ConsoleNotice(.info, "the break failed: \(errno)"), to: client)
            }
        }
    }

    // MARK: - Clients

    private func acceptClients(now: Int64) {
        while true {
            switch system_accept(listener) {
            case .success(let fd):
                let credentials: PeerCredentials
                switch system_peerCredentials(fd) {
                case .success(let c): credentials = c
                case .failure:
                    system_close(fd)
                    continue
                }
                let peer = ConsolePeer(
                    uid: credentials.uid, pid: credentials.pid, userName: system_userName(uid: credentials.uid))
                let id = ConsoleClientID(nextID)
                nextID += 1
                let deadline = now + Int64(configuration.helloTimeoutMilliseconds) * 1_000_000
                clients[id] = ClientConnection(id: id, fd: fd, peer: peer, helloDeadline: deadline)
                machine.connected(id, peer: peer)
                logger.debug("Console client connected", metadata: ["console.client": "\(peer)"])
            case .failure(let errno):
                if errno != .wouldBlock && errno != .connectionAbort {
                    logger.info("Console socket accept failed", metadata: ["error": "\(errno)"])
                }
                return
            }
        }
    }

    private func readClient(_ client: ClientConnection) {
        let result = readBuffer.withUnsafeMutableBytes { system_recv(client.fd, $0) }
        switch result {
        case .success(0):
            close(client, reason: nil)
            return
        case .success(let n):
            if client.closingDeadline != nil { return }  // finishing: input ignored
            readBuffer.withUnsafeBytes { client.decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        case .failure(let errno):
            if errno == .wouldBlock { return }
            close(client, reason: nil)
            return
        }
        do throws(SerialConsoleError) {
            while clients[client.id] != nil, client.closingDeadline == nil, let frame = try client.decoder.next() {
                try handle(frame, from: client)
            }
        } catch {
            drop(client, reason: "protocol error: \(error.message)", notice: ConsoleNotice(.protocolError, error.message))
        }
    }

    private func handle(_ frame: ConsoleFrame, from client: ClientConnection) throws(SerialConsoleError) {
        switch frame {
        case .hello(let hello):
            helloScrollbackLimit = hello.scrollbackLimit
            perform(try machine.hello(client.id, mode: hello.mode))
        case .input(let bytes):
            switch try machine.input(from: client.id) {
            case .forwardInput:
                guard !bytes.isEmpty else { return }
                toDevice.append(contentsOf: bytes)
                if pendingBreaks == 0 { flushToDevice() }
            case let other:
                perform([other])
            }
        case .sendBreak:
            perform(try machine.breakRequest(from: client.id))
        case .welcome, .output, .notice, .scrollbackBegin, .scrollbackEnd:
            throw .protocolViolation("a client sent a relay-to-client frame (\(frame.typeName))")
        }
    }

    private func perform(_ actions: [ConsoleRelayStateMachine.Action]) {
        for action in actions {
            switch action {
            case .welcome(let id, let role):
                guard let client = clients[id] else { continue }
                client.attached = true
                var bytes: [UInt8] = []
                ConsoleFrame.welcome(ConsoleWelcome(role: role, device: devicePath)).encode(into: &bytes)
                let replay = scrollback.suffix(Int(min(UInt32(Int32.max), helloScrollbackLimit)))
                ConsoleFrame.scrollbackBegin(byteCount: UInt32(replay.count)).encode(into: &bytes)
                if !replay.isEmpty { ConsoleFrame.appendData(ConsoleFrame.FrameType.output, replay, into: &bytes) }
                ConsoleFrame.scrollbackEnd.encode(into: &bytes)
                client.enqueue(bytes)
                flush(client)
            case .notify(let id, let notice):
                if let client = clients[id] { send(notice, to: client) }
            case .forwardInput:
                preconditionFailure("forwardInput is handled where the input is")
            case .refuseInput(let id, let notice):
                guard let client = clients[id] else { continue }
                let now = Monotonic.now()
                if client.lastRefusal.map({ now - $0 >= 1_000_000_000 }) ?? true {
                    client.lastRefusal = now
                    send(notice, to: client)
                }
            case .sendBreak:
                if toDevice.count > toDeviceStart {
                    pendingBreaks += 1
                } else {
                    sendBreakNow()
                }
            case .record(let event):
                log?.mark(event.logText)
                logger.info("Console event", metadata: ["console.event": "\(event.logText)"])
            }
        }
    }

    private func send(_ notice: ConsoleNotice, to client: ClientConnection) {
        guard client.closingDeadline == nil else { return }
        client.enqueue(ConsoleFrame.notice(notice).encoded)
        flush(client)
    }

    /// Disconnects a client on the relay's initiative: its unsent output is discarded, it gets `notice`, and it
    /// is closed once that is sent (or after a grace period). The device and the other clients go on at once.
    private func drop(_ client: ClientConnection, reason: String, notice: ConsoleNotice) {
        guard client.closingDeadline == nil else { return }
        client.attached = false
        client.discardUnsent()
        client.enqueue(ConsoleFrame.notice(notice).encoded)
        client.closingDeadline = Monotonic.now() + Self.closingGraceNanoseconds
        if notice.kind == .dropped { counters.droppedClients += 1 }
        perform(machine.disconnected(client.id, reason: reason))
        flush(client)
    }

    /// Closes a client now (it hung up, or its closing period ended).
    private func close(_ client: ClientConnection, reason: String?) {
        guard clients.removeValue(forKey: client.id) != nil else { return }
        system_close(client.fd)
        if client.closingDeadline == nil {
            perform(machine.disconnected(client.id, reason: reason))
        } else {
            _ = machine.disconnected(client.id)  // already recorded when the drop began
        }
    }

    /// Sends what the client's queue holds, as far as its socket takes it now.
    private func flush(_ client: ClientConnection, closeOnError: Bool = true) {
        while client.queuedBytes > 0 {
            let result: Result<Int, Errno>
            if client.frames.count - client.head == 1 {
                result = client.frames[client.head].withUnsafeBytes {
                    system_send(client.fd, UnsafeRawBufferPointer(rebasing: $0[client.sentInHead...]))
                }
            } else {
                // Gather several frames into one send.
                sendScratch.removeAll(keepingCapacity: true)
                sendScratch.append(contentsOf: client.frames[client.head][client.sentInHead...])
                var index = client.head + 1
                while index < client.frames.count && sendScratch.count < 256 << 10 {
                    sendScratch.append(contentsOf: client.frames[index])
                    index += 1
                }
                result = sendScratch.withUnsafeBytes { system_send(client.fd, $0) }
            }
            switch result {
            case .success(let n):
                client.advance(n)
            case .failure(let errno):
                if errno == .wouldBlock { return }
                if closeOnError { close(client, reason: nil) }
                return
            }
        }
        if client.closingDeadline != nil && closeOnError {
            system_shutdownWrite(client.fd)
            close(client, reason: nil)
        }
    }

    private func expireClients(now: Int64) {
        for client in Array(clients.values) {
            if let deadline = client.closingDeadline {
                if now >= deadline { close(client, reason: nil) }
            } else if !client.attached && now >= client.helloDeadline {
                drop(
                    client, reason: "no hello within \(configuration.helloTimeoutMilliseconds) ms",
                    notice: ConsoleNotice(.protocolError, "no hello received; use `oob-agent console` to attach"))
            }
        }
    }
}

@available(*, unavailable)
extension RelayLoop: Sendable {}

extension ConsoleFrame {
    /// A short name for messages.
    var typeName: String {
        switch self {
        case .hello: return "hello"
        case .input: return "input"
        case .sendBreak: return "break"
        case .welcome: return "welcome"
        case .output: return "output"
        case .notice: return "notice"
        case .scrollbackBegin: return "scrollback-begin"
        case .scrollbackEnd: return "scrollback-end"
        }
    }
}
