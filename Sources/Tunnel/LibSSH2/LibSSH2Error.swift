import CLibSSH2

/// A libssh2 return code with the session's `last_error` text: the leaf error of this folder (style point 6).
struct LibSSH2Error: Error, Hashable, Sendable, CustomStringConvertible {
    /// The LIBSSH2_ERROR_* code (negative).
    var code: Int32
    /// `libssh2_session_last_error`'s text, if a session was there to ask.
    var text: String

    var description: String { "libssh2 \(Self.name(code)) (\(code))\(text.isEmpty ? "" : ": \(text)")" }

    /// The error the session recorded last. The corresponding C function is `libssh2_session_last_error`.
    static func last(_ session: OpaquePointer, fallback: Int32 = LIBSSH2_ERROR_SOCKET_NONE) -> LibSSH2Error {
        var msg: UnsafeMutablePointer<CChar>?
        var len: Int32 = 0
        let code = libssh2_session_last_error(session, &msg, &len, 0)
        let text = msg.map { String(cString: $0) } ?? ""
        return LibSSH2Error(code: code == 0 ? fallback : code, text: text)
    }

    var isAgain: Bool { code == LIBSSH2_ERROR_EAGAIN }
    var isRequestDenied: Bool { code == LIBSSH2_ERROR_REQUEST_DENIED }
    var isKexFailure: Bool { code == LIBSSH2_ERROR_KEX_FAILURE }
    var isAuthenticationFailure: Bool {
        code == LIBSSH2_ERROR_AUTHENTICATION_FAILED || code == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
    }
    var isKeyFileError: Bool { code == LIBSSH2_ERROR_FILE }
    var isTimeout: Bool { code == LIBSSH2_ERROR_TIMEOUT }

    /// The names of the LIBSSH2_ERROR_* constants this module meets.
    static func name(_ code: Int32) -> String {
        switch code {
        case LIBSSH2_ERROR_SOCKET_NONE: return "SOCKET_NONE"
        case LIBSSH2_ERROR_BANNER_RECV: return "BANNER_RECV"
        case LIBSSH2_ERROR_BANNER_SEND: return "BANNER_SEND"
        case LIBSSH2_ERROR_KEX_FAILURE: return "KEX_FAILURE"
        case LIBSSH2_ERROR_SOCKET_SEND: return "SOCKET_SEND"
        case LIBSSH2_ERROR_SOCKET_DISCONNECT: return "SOCKET_DISCONNECT"
        case LIBSSH2_ERROR_PROTO: return "PROTO"
        case LIBSSH2_ERROR_HOSTKEY_INIT: return "HOSTKEY_INIT"
        case LIBSSH2_ERROR_HOSTKEY_SIGN: return "HOSTKEY_SIGN"
        case LIBSSH2_ERROR_DECRYPT: return "DECRYPT"
        case LIBSSH2_ERROR_FILE: return "FILE"
        case LIBSSH2_ERROR_METHOD_NONE: return "METHOD_NONE"
        case LIBSSH2_ERROR_AUTHENTICATION_FAILED: return "AUTHENTICATION_FAILED"
        case LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: return "PUBLICKEY_UNVERIFIED"
        case LIBSSH2_ERROR_CHANNEL_OUTOFORDER: return "CHANNEL_OUTOFORDER"
        case LIBSSH2_ERROR_CHANNEL_FAILURE: return "CHANNEL_FAILURE"
        case LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED: return "CHANNEL_REQUEST_DENIED"
        case LIBSSH2_ERROR_CHANNEL_UNKNOWN: return "CHANNEL_UNKNOWN"
        case LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED: return "CHANNEL_WINDOW_EXCEEDED"
        case LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED: return "CHANNEL_PACKET_EXCEEDED"
        case LIBSSH2_ERROR_CHANNEL_CLOSED: return "CHANNEL_CLOSED"
        case LIBSSH2_ERROR_CHANNEL_EOF_SENT: return "CHANNEL_EOF_SENT"
        case LIBSSH2_ERROR_REQUEST_DENIED: return "REQUEST_DENIED"
        case LIBSSH2_ERROR_SOCKET_TIMEOUT: return "SOCKET_TIMEOUT"
        case LIBSSH2_ERROR_TIMEOUT: return "TIMEOUT"
        case LIBSSH2_ERROR_BAD_USE: return "BAD_USE"
        case LIBSSH2_ERROR_EAGAIN: return "EAGAIN"
        case LIBSSH2_ERROR_SOCKET_RECV: return "SOCKET_RECV"
        case LIBSSH2_ERROR_INVAL: return "INVAL"
        case LIBSSH2_ERROR_ALLOC: return "ALLOC"
        default: return "ERROR"
        }
    }
}

/// The outcome of one non-blocking libssh2 call.
enum SSHStep<Value> {
    /// Finished.
    case done(Value)
    /// LIBSSH2_ERROR_EAGAIN: call again (with the same arguments) when the socket is ready.
    case again
    /// Failed.
    case failed(LibSSH2Error)
}
