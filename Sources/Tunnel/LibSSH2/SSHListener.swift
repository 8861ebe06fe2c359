import CLibSSH2

/// Owns one `LIBSSH2_LISTENER*`: a remote forward the jump host granted. Keeps its session alive.
final class SSHListener {
    private var raw: OpaquePointer?
    let session: SSHSession
    /// The port the server reports it bound.
    let boundPort: Int

    init(raw: OpaquePointer, session: SSHSession, boundPort: Int) {
        self.raw = raw
        self.session = session
        self.boundPort = boundPort
    }

    deinit {
        // libssh2_session_free frees listeners that are left; cancel() frees this one early.
    }

    /// The next forwarded connection, nil if none is waiting. It also reads every packet the socket
    /// holds (notes P7), so poll() does not spin while every relay waits on its local side. Any failure
    /// but EAGAIN means the session is dead (P8: transport errors come back as CHANNEL_UNKNOWN).
    /// The corresponding C function is `libssh2_channel_forward_accept`.
    func accept() -> SSHStep<SSHChannel?> {
        guard let raw else { return .done(nil) }
        if let ch = libssh2_channel_forward_accept(raw) {
            return .done(SSHChannel(raw: ch, session: session))
        }
        let rc = libssh2_session_last_errno(session.raw)
        if rc == LIBSSH2_ERROR_EAGAIN || rc == 0 { return .done(nil) }
        return .failed(LibSSH2Error.last(session.raw, fallback: rc))
    }

    /// Sends cancel-tcpip-forward (want_reply 0: nothing to wait for, P16) and frees the listener.
    /// The corresponding C function is `libssh2_channel_forward_cancel`.
    func cancel() -> SSHStep<Void> {
        guard let raw else { return .done(()) }
        let rc = libssh2_channel_forward_cancel(raw)
        if rc == LIBSSH2_ERROR_EAGAIN { return .again }
        // On success libssh2 has freed the listener; on a hard error session_free will.
        self.raw = nil
        return rc == 0 ? .done(()) : .failed(LibSSH2Error.last(session.raw, fallback: rc))
    }
}

@available(*, unavailable)
extension SSHListener: Sendable {}
