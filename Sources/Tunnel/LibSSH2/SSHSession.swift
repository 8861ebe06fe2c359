import CLibSSH2

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// The socket side of a session, reached from libssh2's send/recv callbacks through the session's
/// "abstract" pointer (notes P6a, P11, P12).
///
/// - The send callback never reports a short write: what the kernel does not take is queued here and
///   flushed on POLLOUT, so libssh2 never holds a half-sent packet (no LIBSSH2_ERROR_BAD_USE, P6).
/// - The recv callback timestamps every inbound byte (dead-peer deadline, P11) and re-arms TCP_QUICKACK
///   whenever a read drains the socket (removes the ~40 ms delayed-ACK stall on new channels, P12).
final class SessionSocket {
    let fd: CInt
    /// Bytes libssh2 handed over that the kernel has not taken yet.
    var pending = ByteQueue()
    /// Monotonic time of the last byte received from the jump host.
    var lastInbound: Int64
    /// Bytes received so far (tells whether a libssh2 call read anything from the socket).
    var received: UInt64 = 0
    /// The last receive found the socket empty: libssh2 has processed every complete packet it holds, so
    /// until poll() reports POLLIN again no channel can gain data except from libssh2's queue.
    var drained = false
    /// A send error that ended the connection.
    var sendError: SystemErrno?
    /// Set by teardown: sends fail, receives see end-of-file, so libssh2's frees cannot wait on the peer.
    var forceClosed = false
    /// The first inbound bytes (banner and KEXINIT), kept until the handshake ends to explain a failed kex.
    var capture: [UInt8]? = []

    init(fd: CInt) {
        self.fd = fd
        self.lastInbound = monotonicNanos()
    }

    /// Writes queued bytes until the kernel would block. Returns false on a hard error.
    @discardableResult
    func flush() -> Bool {
        if forceClosed { return false }
        while !pending.isEmpty {
            let r = pending.withReadable { p, n in system_send(fd, p, n) }
            switch r {
            case .success(let n): pending.consume(n)
            case .failure(let e) where e.isWouldBlock: return true
            case .failure(let e):
                sendError = e
                return false
            }
        }
        return true
    }

    fileprivate func send(_ buffer: UnsafeRawPointer, _ length: Int) -> Int {
        if forceClosed { return -Int(EPIPE) }
        if let sendError { return -Int(sendError.rawValue) }
        if !pending.isEmpty {
            pending.append(buffer, length)
            return length
        }
        switch system_send(fd, buffer, length) {
        case .success(let n):
            if n < length { pending.append(buffer + n, length - n) }
            return length
        case .failure(let e) where e.isWouldBlock:
            pending.append(buffer, length)
            return length
        case .failure(let e):
            sendError = e
            return -Int(e.rawValue)
        }
    }

    fileprivate func receive(_ buffer: UnsafeMutableRawPointer, _ length: Int, _ flags: CInt) -> Int {
        if forceClosed { return 0 }
        switch system_recv(fd, buffer, length, flags) {
        case .success(let n):
            if n > 0 {
                lastInbound = monotonicNanos()
                received &+= UInt64(n)
                // Re-arm QUICKACK when this read drained the socket (the end of a burst, or any small
                // exchange such as a CHANNEL_OPEN): that is where a delayed ACK would stall sshd's Nagle
                // (P12). Full reads in the middle of a bulk transfer skip the extra syscall.
                if n < length { system_quickAck(fd) }
                if capture != nil, capture!.count < 16384 {
                    capture!.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: n))
                }
            }
            drained = false
            return n
        case .failure(let e):
            if e.isWouldBlock { drained = true }
            return -Int(e.rawValue)
        }
    }
}


private typealias SendCallback = @convention(c) (
    libssh2_socket_t, UnsafeRawPointer?, Int, CInt, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int
private typealias RecvCallback = @convention(c) (
    libssh2_socket_t, UnsafeMutableRawPointer?, Int, CInt, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int

private let sendCallback: SendCallback = { _, buffer, length, _, abstract in
    guard let context = abstract?.pointee, let buffer else { return -Int(EINVAL) }
    return Unmanaged<SessionSocket>.fromOpaque(context).takeUnretainedValue().send(buffer, length)
}

private let recvCallback: RecvCallback = { _, buffer, length, flags, abstract in
    guard let context = abstract?.pointee, let buffer else { return -Int(EINVAL) }
    return Unmanaged<SessionSocket>.fromOpaque(context).takeUnretainedValue().receive(buffer, length, flags)
}

/// The host key the jump host presented.
struct PresentedHostKey {
    var blob: [UInt8]
    var type: HostKeyType
    var sha256: [UInt8]

    /// `SHA256:…` as OpenSSH prints it (base64 without padding).
    var fingerprint: String { "SHA256:" + Base64.encode(sha256, padding: false) }
}

/// Host key algorithms libssh2 1.10 can verify, in our order of preference.
enum HostKeyType: CaseIterable, Sendable {
    case ed25519, ecdsa256, ecdsa384, ecdsa521, rsa, dss, unknown

    /// The OpenSSH algorithm name, as written in known_hosts.
    var name: String {
        switch self {
        case .ed25519: return "ssh-ed25519"
        case .ecdsa256: return "ecdsa-sha2-nistp256"
        case .ecdsa384: return "ecdsa-sha2-nistp384"
        case .ecdsa521: return "ecdsa-sha2-nistp521"
        case .rsa: return "ssh-rsa"
        case .dss: return "ssh-dss"
        case .unknown: return "unknown"
        }
    }

    static let usable: [HostKeyType] = [.ed25519, .ecdsa256, .ecdsa384, .ecdsa521]

    init(libssh2 type: CInt) {
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_ED25519: self = .ed25519
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: self = .ecdsa256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: self = .ecdsa384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: self = .ecdsa521
        case LIBSSH2_HOSTKEY_TYPE_RSA: self = .rsa
        case LIBSSH2_HOSTKEY_TYPE_DSS: self = .dss
        default: self = .unknown
        }
    }

    /// The LIBSSH2_KNOWNHOST_KEY_* bit for known-host checks.
    var knownHostMask: CInt {
        switch self {
        case .ed25519: return LIBSSH2_KNOWNHOST_KEY_ED25519
        case .ecdsa256: return LIBSSH2_KNOWNHOST_KEY_ECDSA_256
        case .ecdsa384: return LIBSSH2_KNOWNHOST_KEY_ECDSA_384
        case .ecdsa521: return LIBSSH2_KNOWNHOST_KEY_ECDSA_521
        case .rsa: return LIBSSH2_KNOWNHOST_KEY_SSHRSA
        case .dss: return LIBSSH2_KNOWNHOST_KEY_SSHDSS
        case .unknown: return LIBSSH2_KNOWNHOST_KEY_UNKNOWN
        }
    }
}

/// Owns one `LIBSSH2_SESSION*` and its socket (style point 3). Used from the tunnel's thread only.
final class SSHSession {
    let raw: OpaquePointer
    let socket: SessionSocket
    private var disconnected = false

    /// A non-blocking session over the connected TCP socket `fd`, which it now owns.
    /// The corresponding C function is `libssh2_session_init_ex`.
    init(fd: CInt) throws(LibSSH2Error) {
        LibSSH2.ensureInitialized()
        let socket = SessionSocket(fd: fd)
        guard let raw = libssh2_session_init_ex(nil, nil, nil, Unmanaged.passUnretained(socket).toOpaque()) else {
            system_close(fd)
            throw LibSSH2Error(code: LIBSSH2_ERROR_ALLOC, text: "libssh2_session_init_ex returned NULL")
        }
        self.raw = raw
        self.socket = socket
        _ = libssh2_session_callback_set(raw, LIBSSH2_CALLBACK_SEND, unsafeBitCast(sendCallback, to: UnsafeMutableRawPointer.self))
        _ = libssh2_session_callback_set(raw, LIBSSH2_CALLBACK_RECV, unsafeBitCast(recvCallback, to: UnsafeMutableRawPointer.self))
        libssh2_session_set_blocking(raw, 0)
    }

    deinit {
        // Channels and listeners hold this session strongly, so they are gone already. Force-close the
        // socket layer first: libssh2_session_free would otherwise wait (EAGAIN) for CLOSE replies.
        socket.forceClosed = true
        var tries = 0
        while libssh2_session_free(raw) == LIBSSH2_ERROR_EAGAIN && tries < 100 { tries += 1 }
        system_close(socket.fd)
    }

    var fd: CInt { socket.fd }

    private func step<T>(_ rc: CInt, _ value: @autoclosure () -> T) -> SSHStep<T> {
        if rc == 0 { return .done(value()) }
        if rc == LIBSSH2_ERROR_EAGAIN { return .again }
        return .failed(LibSSH2Error.last(raw, fallback: rc))
    }

    /// Sets the host key algorithms to offer, e.g. "ssh-ed25519" (notes P3: libssh2 prefers ECDSA otherwise).
    /// The corresponding C function is `libssh2_session_method_pref`.
    func preferHostKeys(_ names: [String]) -> Bool {
        libssh2_session_method_pref(raw, LIBSSH2_METHOD_HOSTKEY, names.joined(separator: ",")) == 0
    }

    /// The key exchange. The corresponding C function is `libssh2_session_handshake`.
    func handshake() -> SSHStep<Void> {
        let s = step(libssh2_session_handshake(raw, socket.fd), ())
        if case .done = s { socket.capture = nil }
        return s
    }

    /// The host key algorithms the server offered in its KEXINIT, read from the captured first bytes
    /// (libssh2 1.10 does not expose them); nil if they cannot be parsed.
    func serverHostKeyAlgorithms() -> [String]? {
        guard let bytes = socket.capture else { return nil }
        // Skip lines up to and including the "SSH-" banner (RFC 4253 §4.2).
        var i = 0
        var found = false
        while i < bytes.count {
            guard let nl = bytes[i...].firstIndex(of: 10) else { return nil }
            let isBanner = bytes.count - i >= 4 && bytes[i..<i + 4].elementsEqual("SSH-".utf8)
            i = nl + 1
            if isBanner {
                found = true
                break
            }
        }
        guard found else { return nil }
        var r = SSHWireReader(Array(bytes[i...]))
        // Binary packet (RFC 4253 §6): length, padding length, payload: SSH_MSG_KEXINIT(20), cookie, name-lists.
        guard r.uint32() != nil, r.byte() != nil, r.byte() == 20, r.skip(16), r.string() != nil,
            let hostKeys = r.string()
        else { return nil }
        return hostKeys.split(separator: ",").map(String.init)
    }

    /// The key the server presented in the handshake. The corresponding C functions are
    /// `libssh2_session_hostkey` and `libssh2_hostkey_hash`.
    func presentedHostKey() -> PresentedHostKey? {
        var len = 0
        var type: CInt = 0
        guard let key = libssh2_session_hostkey(raw, &len, &type), len > 0,
            let hash = libssh2_hostkey_hash(raw, LIBSSH2_HOSTKEY_HASH_SHA256)
        else { return nil }
        let blob = [UInt8](UnsafeRawBufferPointer(start: key, count: len))
        let sha = [UInt8](UnsafeRawBufferPointer(start: hash, count: 32))
        return PresentedHostKey(blob: blob, type: HostKeyType(libssh2: type), sha256: sha)
    }

    /// Public-key authentication from a key file (the public half is derived by libssh2).
    /// The corresponding C function is `libssh2_userauth_publickey_fromfile_ex`.
    func authenticate(user: String, privateKeyPath: String, passphrase: String?) -> SSHStep<Void> {
        step(CLibSSH2_userauth_publickey_fromfile(raw, user, nil, privateKeyPath, passphrase), ())
    }

    /// Asks the server to listen on `host:port`; always an explicit address (NULL would mean "0.0.0.0", P9).
    /// Repeat with the same arguments while it returns `.again`.
    /// The corresponding C function is `libssh2_channel_forward_listen_ex`.
    func listen(host: String, port: Int, queueMaxSize: Int) -> SSHStep<SSHListener> {
        var bound: CInt = 0
        if let l = libssh2_channel_forward_listen_ex(raw, host, CInt(port), &bound, CInt(queueMaxSize)) {
            return .done(SSHListener(raw: l, session: self, boundPort: Int(bound)))
        }
        let rc = libssh2_session_last_errno(raw)
        if rc == LIBSSH2_ERROR_EAGAIN { return .again }
        return .failed(LibSSH2Error.last(raw, fallback: rc))
    }

    /// Enables want-reply keepalives for `sendKeepalive`. Only after the last global request of the
    /// session: libssh2 1.10 never reads the replies, and a later request would take a stale one (P10).
    /// The corresponding C function is `libssh2_keepalive_config`.
    func configureKeepaliveProbes() {
        libssh2_keepalive_config(raw, 1, 1)
    }

    /// Sends one `keepalive@openssh.com` (want reply) if a second has passed since the last.
    /// The corresponding C function is `libssh2_keepalive_send`.
    func sendKeepalive() {
        var next: CInt = 0
        _ = libssh2_keepalive_send(raw, &next)
    }

    /// Sends SSH_MSG_DISCONNECT (by application); the send buffer still needs flushing.
    /// The corresponding C function is `libssh2_session_disconnect_ex`.
    func disconnect(_ description: String) {
        guard !disconnected else { return }
        disconnected = true
        _ = CLibSSH2_session_disconnect(raw, description)
    }

    /// The error libssh2 recorded last.
    var lastError: LibSSH2Error { LibSSH2Error.last(raw) }
}

@available(*, unavailable)
extension SSHSession: Sendable {}

/// A FIFO of bytes: appended at the back, consumed from the front (the session's send queue).
struct ByteQueue {
    private var storage: [UInt8] = []
    private var head = 0

    var count: Int { storage.count - head }
    var isEmpty: Bool { head == storage.count }

    mutating func append(_ p: UnsafeRawPointer, _ n: Int) {
        if head > 0 && (head == storage.count || head >= 1 << 20) {
            storage.removeSubrange(0..<head)
            head = 0
        }
        storage.append(contentsOf: UnsafeRawBufferPointer(start: p, count: n))
    }

    mutating func consume(_ n: Int) {
        head += n
        if head == storage.count {
            storage.removeAll(keepingCapacity: storage.capacity <= 4 << 20)
            head = 0
        }
    }

    func withReadable<R>(_ body: (UnsafeRawPointer, Int) -> R) -> R {
        storage.withUnsafeBytes { b in body(b.baseAddress! + head, storage.count - head) }
    }
}
