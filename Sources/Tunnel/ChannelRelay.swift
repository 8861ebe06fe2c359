#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// A fixed-size byte buffer with a read and a write index: one direction of a relay. Bounded by design.
final class RelayBuffer {
    let capacity: Int
    private let base: UnsafeMutableRawPointer
    private var start = 0
    private var end = 0

    init(capacity: Int) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }
    deinit { base.deallocate() }

    var isEmpty: Bool { start == end }
    var readable: (UnsafeRawPointer, Int) { (UnsafeRawPointer(base + start), end - start) }
    /// Free space at the end (the buffer is refilled only once empty, so this is all of it then).
    var writable: (UnsafeMutableRawPointer, Int) { (base + end, capacity - end) }
    func commit(_ n: Int) { end += n }
    func consume(_ n: Int) {
        start += n
        if start == end {
            start = 0
            end = 0
        }
    }
}

/// Relays one forwarded channel to a new TCP connection to its local target.
///
/// Both directions are bounded (64 KiB each here, plus the 2 MiB SSH window libssh2 keeps per channel):
/// the channel is read only when the local socket took everything read before, and the local socket is
/// read only when the channel took everything read before. Half-close is propagated both ways: local
/// EOF → `channel_send_eof`; channel EOF → `shutdown(SHUT_WR)`. Runs on the tunnel's thread only.
final class ChannelRelay {
    static let bufferSize = 64 * 1024
    /// Bytes read from the local socket at once: 2 × 32 700, the most `libssh2_channel_write` sends per call.
    static let localReadSize = 2 * 32_700

    let id: Int
    let forwardIndex: Int
    let channel: SSHChannel
    private(set) var fd: CInt = -1
    /// The local connect is under way (wait for POLLOUT).
    private(set) var connecting = true
    /// Channel → local.
    private let down = RelayBuffer(capacity: ChannelRelay.bufferSize)
    /// Local → channel.
    private let up = RelayBuffer(capacity: ChannelRelay.bufferSize)
    private var localEOF = false
    private var eofSentToChannel = false
    private var channelEOF = false
    private var localShutWrite = false
    /// Set on any error: the relay closes both sides.
    private(set) var failure: String?

    init(id: Int, forwardIndex: Int, channel: SSHChannel) {
        self.id = id
        self.forwardIndex = forwardIndex
        self.channel = channel
    }

    deinit {
        if fd >= 0 { system_close(fd) }
    }

    /// Starts the non-blocking connect to the local target.
    func connect(to address: SocketAddress) {
        switch system_tcpSocket(family: address.family) {
        case .success(let s): fd = s
        case .failure(let e):
            failure = "socket: \(e)"
            return
        }
        _ = system_setIntOption(fd, ipprotoTCP, tcpNoDelay, 1)
        switch system_connect(fd, address) {
        case .success: connecting = false
        case .failure(let e) where e == .inProgress: connecting = true
        case .failure(let e): failure = "connect \(address): \(e)"
        }
    }

    /// Called when poll() reports the connecting socket writable or in error.
    func finishConnect() {
        let err = system_socketError(fd)
        if err == 0 {
            connecting = false
        } else {
            failure = "connect: \(SystemErrno(err))"
        }
    }

    /// Both directions finished (EOF each way, everything delivered) or an error happened.
    var isFinished: Bool { failure != nil || (eofSentToChannel && localShutWrite) }

    /// The poll() events this relay's local socket waits for.
    var pollEvents: Int16 {
        if failure != nil || fd < 0 { return 0 }
        if connecting { return pollOut }
        var ev: Int16 = 0
        if !localEOF && up.isEmpty { ev |= pollIn }
        if !down.isEmpty { ev |= pollOut }
        return ev
    }

    /// True when libssh2 holds something for this relay that no poll() event would announce (P7):
    /// queued channel data or EOF with room to take it, or window space for buffered local data.
    func needsPump(canWriteChannel: Bool) -> Bool {
        if connecting || failure != nil { return false }
        if down.isEmpty && !channelEOF && (channel.hasQueuedData || channel.isEOF) { return true }
        if !up.isEmpty && canWriteChannel && channel.writeWindow > 0 { return true }
        return false
    }

    /// Moves what can move now in both directions, a bounded number of rounds (fairness between relays).
    /// Returns whether anything moved and the bytes moved each way.
    /// `socketDrained`: the SSH socket was found empty since poll() last reported it readable; then a channel
    /// read can only return what libssh2 already queued, so the (syscall-making) read is skipped otherwise.
    func pump(
        canWriteChannel: () -> Bool, socketDrained: () -> Bool
    ) -> (moved: Bool, toJumpHost: Int, fromJumpHost: Int) {
        if connecting || failure != nil { return (false, 0, 0) }
        var moved = false
        var toJump = 0
        var fromJump = 0
        var rounds = 0
        while rounds < 8 && failure == nil {
            rounds += 1
            var progressed = false
            // Channel → local.
            if !down.isEmpty {
                let (p, n) = down.readable
                switch system_send(fd, p, n) {
                case .success(let w):
                    down.consume(w)
                    progressed = true
                case .failure(let e) where e.isWouldBlock: break
                case .failure(let e): failure = "local send: \(e)"
                }
            }
            if down.isEmpty && failure == nil {
                if channelEOF {
                    if !localShutWrite {
                        system_shutdownWrite(fd)
                        localShutWrite = true
                        progressed = true
                    }
                } else if socketDrained() && !channel.hasQueuedData && !channel.isEOF {
                    // Nothing can arrive for this channel before the socket is readable again.
                } else {
                    let (p, cap) = down.writable
                    switch channel.read(into: p, count: cap) {
                    case .bytes(let n):
                        down.commit(n)
                        fromJump += n
                        progressed = true
                    case .again: break
                    case .eof:
                        channelEOF = true
                        progressed = true
                    case .failed(let e): failure = "channel read: \(e)"
                    }
                }
            }
            // Local → channel.
            if !up.isEmpty && failure == nil && canWriteChannel() {
                let (p, n) = up.readable
                switch channel.write(p, count: n) {
                case .bytes(let w):
                    up.consume(w)
                    toJump += w
                    progressed = true
                case .again, .eof: break
                case .failed(let e): failure = "channel write: \(e)"
                }
            }
            if up.isEmpty && failure == nil {
                if localEOF {
                    if !eofSentToChannel {
                        switch channel.sendEOF() {
                        case .done:
                            eofSentToChannel = true
                            progressed = true
                        case .again: break
                        case .failed(let e): failure = "channel eof: \(e)"
                        }
                    }
                } else {
                    // A multiple of libssh2's 32 700-byte write limit, so no runt packet follows each read.
                    let (p, cap) = up.writable
                    switch system_recv(fd, p, min(cap, ChannelRelay.localReadSize), 0) {
                    case .success(0):
                        localEOF = true
                        progressed = true
                    case .success(let n):
                        up.commit(n)
                        progressed = true
                    case .failure(let e) where e.isWouldBlock: break
                    case .failure(let e): failure = "local recv: \(e)"
                    }
                }
            }
            if failure != nil { progressed = true }
            if !progressed { break }
            moved = true
        }
        return (moved, toJump, fromJump)
    }

    /// Closes the local socket (the channel is freed separately, possibly later).
    func closeLocal() {
        if fd >= 0 {
            system_close(fd)
            fd = -1
        }
    }
}
