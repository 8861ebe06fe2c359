import CLibSSH2

/// The result of one channel read or write.
enum ChannelIO {
    /// This many bytes moved.
    case bytes(Int)
    /// Nothing moved now (EAGAIN, or the peer's window is full for a write).
    case again
    /// The peer sent EOF and every byte before it has been read.
    case eof
    /// The channel or the session failed.
    case failed(LibSSH2Error)
}

/// Owns one `LIBSSH2_CHANNEL*` (a forwarded connection). Keeps its session alive.
final class SSHChannel {
    private var raw: OpaquePointer?
    let session: SSHSession

    init(raw: OpaquePointer, session: SSHSession) {
        self.raw = raw
        self.session = session
    }

    deinit {
        // One try; if libssh2 still waits for the peer's CLOSE it keeps the channel in the session's
        // list and libssh2_session_free frees it.
        if let raw { _ = libssh2_channel_free(raw) }
    }

    /// Reads into `buffer`. `0` from libssh2 is not EOF by itself (P7): ask `libssh2_channel_eof`.
    /// The corresponding C function is `libssh2_channel_read_ex` (stream 0).
    @inline(__always)
    func read(into buffer: UnsafeMutableRawPointer, count: Int) -> ChannelIO {
        guard let raw else { return .eof }
        let n = CLibSSH2_channel_read(raw, buffer.assumingMemoryBound(to: CChar.self), count)
        if n > 0 { return .bytes(n) }
        if n == Int(LIBSSH2_ERROR_EAGAIN) || n == 0 {
            return libssh2_channel_eof(raw) == 1 ? .eof : .again
        }
        return .failed(LibSSH2Error.last(session.raw, fallback: Int32(truncatingIfNeeded: n)))
    }

    /// Writes from `buffer` (at most one packet, 32 700 bytes, per call). 0 from libssh2 means the peer's
    /// window is full (P7); on EAGAIN nothing was taken. The corresponding C function is `libssh2_channel_write_ex`.
    @inline(__always)
    func write(_ buffer: UnsafeRawPointer, count: Int) -> ChannelIO {
        guard let raw else { return .failed(LibSSH2Error(code: LIBSSH2_ERROR_CHANNEL_CLOSED, text: "freed")) }
        let n = CLibSSH2_channel_write(raw, buffer.assumingMemoryBound(to: CChar.self), count)
        if n > 0 { return .bytes(n) }
        if n == 0 || n == Int(LIBSSH2_ERROR_EAGAIN) { return .again }
        return .failed(LibSSH2Error.last(session.raw, fallback: Int32(truncatingIfNeeded: n)))
    }

    /// Sends EOF (the local side half-closed). The corresponding C function is `libssh2_channel_send_eof`.
    func sendEOF() -> SSHStep<Void> {
        guard let raw else { return .done(()) }
        let rc = libssh2_channel_send_eof(raw)
        if rc == 0 { return .done(()) }
        if rc == LIBSSH2_ERROR_EAGAIN { return .again }
        return .failed(LibSSH2Error.last(session.raw, fallback: rc))
    }

    /// True when data for this channel waits in libssh2's queue (read by a call for another channel, P7).
    /// The corresponding C function is `libssh2_poll_channel_read`.
    var hasQueuedData: Bool {
        guard let raw else { return false }
        return libssh2_poll_channel_read(raw, 0) != 0
    }

    /// True when the peer sent EOF and no data is queued before it. The corresponding C function is
    /// `libssh2_channel_eof`.
    var isEOF: Bool {
        guard let raw else { return true }
        return libssh2_channel_eof(raw) == 1
    }

    /// The bytes the peer's window still allows. The corresponding C function is `libssh2_channel_window_write_ex`.
    var writeWindow: Int {
        guard let raw else { return 0 }
        return Int(CLibSSH2_channel_window_write(raw))
    }

    /// Closes and frees the channel: `.again` until the peer's CLOSE arrived (or the session is gone).
    /// The corresponding C function is `libssh2_channel_free` (which sends CLOSE first).
    func free() -> SSHStep<Void> {
        guard let r = raw else { return .done(()) }
        let rc = libssh2_channel_free(r)
        if rc == LIBSSH2_ERROR_EAGAIN { return .again }
        raw = nil
        return .done(())
    }
}

@available(*, unavailable)
extension SSHChannel: Sendable {}
