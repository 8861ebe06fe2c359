// The only file that imports COpenSSL (style point 3): the HTTPS webhook's TLS client.
import COpenSSL

/// A TLS 1.2+ client session over a connected, non-blocking socket: the owner of one `SSL_CTX*` and
/// one `SSL*`, freed in `close()`/`deinit`.
///
/// The server's certificate is verified against the system's trust store
/// (`SSL_CTX_set_default_verify_paths`), or only against `notify.webhook_ca` when it is set; its name against
/// the URL's host (`SSL_set1_host`, or the IP address for a literal), with SNI for names. Every handshake,
/// read and write waits with poll(2) within the caller's deadline.
///
/// Not `Sendable`: one thread (the webhook's own) uses it and closes it.
final class TLSClientSession: WebhookTransport {
    private var context: OpaquePointer?
    private var ssl: OpaquePointer?
    private let fd: CInt
    private let host: String

    /// Runs the handshake.
    /// - Parameters:
    ///   - descriptor: the connected socket (not owned: the caller closes it after ``close()``).
    ///   - host: the URL's host: a name (SNI + name check) or an IP literal (address check).
    ///   - caFile: trust only this PEM file; nil = the system's trust store.
    ///   - verifyTime: check certificate dates against this Unix time; nil = the system clock.
    ///   - deadline: for the handshake.
    /// - Throws: ``AgentError`` (`.io`) naming the problem and the fix (e.g. the certificate check that failed).
    init(descriptor: CInt, host: String, caFile: String?, verifyTime: Int64?, deadline: ContinuousClock.Instant) throws {
        fd = descriptor
        self.host = host
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw AgentError(.io, "TLS: cannot create a context (\(Self.errorQueue())); fix: check the OpenSSL installation (libssl3)")
        }
        self.context = context
        guard COpenSSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            close()
            throw AgentError(.io, "TLS: cannot require TLS 1.2 (\(Self.errorQueue())); fix: check the OpenSSL installation")
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let caFile {
            guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
                let why = Self.errorQueue()
                close()
                throw AgentError(
                    .io, "notify.webhook_ca = \"\(caFile)\": cannot load a CA certificate from it (\(why)); fix: put the PEM certificate of the CA that signed the webhook server's certificate there")
            }
        } else if SSL_CTX_set_default_verify_paths(context) != 1 {
            let why = Self.errorQueue()
            close()
            throw AgentError(.io, "TLS: cannot load the system's trust store (\(why)); fix: install ca-certificates, or set notify.webhook_ca")
        }
        guard let ssl = SSL_new(context) else {
            close()
            throw AgentError(.io, "TLS: cannot create a session (\(Self.errorQueue()))")
        }
        self.ssl = ssl
        let param = SSL_get0_param(ssl)
        if Self.isIPLiteral(host) {
            // An address is checked against the certificate's IP SANs; SNI never carries an address (RFC 6066).
            guard X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1 else {
                close()
                throw AgentError(.io, "TLS: cannot check the certificate against address \(host)")
            }
        } else {
            guard COpenSSL_set_tlsext_host_name(ssl, host) == 1, SSL_set1_host(ssl, host) == 1 else {
                close()
                throw AgentError(.io, "TLS: cannot check the certificate against name \(host) (\(Self.errorQueue()))")
            }
        }
        if let verifyTime { X509_VERIFY_PARAM_set_time(param, time_t(verifyTime)) }
        guard SSL_set_fd(ssl, descriptor) == 1 else {
            close()
            throw AgentError(.io, "TLS: cannot attach the socket (\(Self.errorQueue()))")
        }
        while true {
            ERR_clear_error()
            let r = SSL_connect(ssl)
            if r == 1 { break }
            let failure = SSL_get_error(ssl, r)
            do {
                if try wait(failure, deadline: deadline, doing: "the TLS handshake") { continue }
            } catch {
                close()
                throw error
            }
            let message = handshakeFailure(failure, verifyTime: verifyTime, caFile: caFile)
            close()
            throw AgentError(.io, message)
        }
    }

    deinit { close() }

    func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws {
        guard let ssl else { throw AgentError(.io, "TLS: the session is closed") }
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let r = bytes.withUnsafeBytes { b in SSL_write(ssl, b.baseAddress! + offset, CInt(b.count - offset)) }
            if r > 0 {
                offset += Int(r)
                continue
            }
            let failure = SSL_get_error(ssl, r)
            if try wait(failure, deadline: deadline, doing: "sending the request") { continue }
            throw AgentError(.io, "TLS: sending to \(host) failed (\(Self.errorQueue())); fix: check the webhook server and the cellular link")
        }
    }

    func read(deadline: ContinuousClock.Instant) throws -> [UInt8] {
        guard let ssl else { throw AgentError(.io, "TLS: the session is closed") }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            ERR_clear_error()
            let r = buffer.withUnsafeMutableBytes { b in SSL_read(ssl, b.baseAddress, CInt(b.count)) }
            if r > 0 { return Array(buffer[0..<Int(r)]) }
            let failure = SSL_get_error(ssl, r)
            if failure == SSL_ERROR_ZERO_RETURN || failure == SSL_ERROR_SYSCALL { return [] }
            if try wait(failure, deadline: deadline, doing: "waiting for the response") { continue }
            // OpenSSL 3 reports a peer that closed without close_notify as an error; the status line is all we need.
            return []
        }
    }

    /// Sends close_notify (best effort, no waiting) and frees the session and its context (idempotent).
    func close() {
        if let ssl {
            _ = SSL_shutdown(ssl)
            SSL_free(ssl)
            self.ssl = nil
        }
        if let context {
            SSL_CTX_free(context)
            self.context = nil
        }
        ERR_clear_error()
    }

    /// Waits for the socket when OpenSSL asks to; false when `failure` is not a "want" (a real failure).
    private func wait(_ failure: CInt, deadline: ContinuousClock.Instant, doing what: String) throws -> Bool {
        let forWriting: Bool
        switch failure {
        case SSL_ERROR_WANT_READ: forWriting = false
        case SSL_ERROR_WANT_WRITE: forWriting = true
        default: return false
        }
        let ready: Bool
        do {
            ready = try WebhookSocket.wait(fd, forWriting: forWriting, until: deadline)
        } catch {
            throw AgentError(.io, "TLS: poll failed", underlying: error)
        }
        guard ready else {
            throw AgentError(.io, "TLS: \(what) with \(host) passed the deadline; fix: check the webhook server answers over the cellular link")
        }
        return true
    }

    /// The sentence for a failed handshake: the certificate check that failed and its fix, or OpenSSL's reason.
    private func handshakeFailure(_ failure: CInt, verifyTime: Int64?, caFile: String?) -> String {
        let verify = ssl.map { SSL_get_verify_result($0) } ?? Int(X509_V_OK)
        let queue = Self.errorQueue()
        if verify != Int(X509_V_OK) {
            let reason = String(cString: X509_verify_cert_error_string(verify))
            let fix: String
            switch CInt(verify) {
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
                X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_SIGNATURE_FAILURE:
                fix = caFile == nil
                    ? "set notify.webhook_ca to the PEM certificate of the CA that signed the server's certificate "
                        + "(for a self-signed server certificate: that certificate itself)"
                    : "notify.webhook_ca = \"\(caFile!)\" is not the CA that signed the server's certificate; point it at the right CA (PEM)"
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
                fix = "the certificate is not for \(host): use the name the certificate carries in notify.webhook, or reissue the certificate with \(host) in its subjectAltName"
            case X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED:
                fix = verifyTime == nil
                    ? "renew the server's certificate, or check this box's clock (no NTP and no network time from the modem yet)"
                    : "renew the server's certificate (checked against the modem's network time)"
            default:
                fix = "fix the server's certificate chain, or set notify.webhook_ca"
            }
            return "TLS with \(host): certificate verify failed: \(reason); fix: \(fix)"
        }
        if failure == SSL_ERROR_SYSCALL && queue == "no details" {
            return "TLS with \(host): the server closed the connection during the handshake; fix: check it is an HTTPS port (else use http://)"
        }
        if queue.contains("wrong version number") || queue.contains("packet length too long") {
            return "TLS with \(host): handshake failed (\(queue)); fix: the port does not speak TLS, use http:// or the HTTPS port"
        }
        if queue.contains("unsupported protocol") || queue.contains("protocol version") {
            return "TLS with \(host): handshake failed (\(queue)); fix: the server must offer TLS 1.2 or newer"
        }
        return "TLS with \(host): handshake failed (\(queue)); fix: check the server's TLS setup and notify.webhook"
    }

    /// OpenSSL's error queue of this thread, as one text (and emptied).
    static func errorQueue() -> String {
        var parts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "error:0A000086:SSL routines::certificate verify failed" → the reason after the last "::" or ":".
            let reason = text.split(separator: ":", omittingEmptySubsequences: false).last.map(String.init) ?? text
            if !parts.contains(reason) { parts.append(reason) }
        }
        return parts.isEmpty ? "no details" : parts.joined(separator: "; ")
    }

    static func isIPLiteral(_ host: String) -> Bool {
        if host.contains(":") { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
    }

    /// What is wrong with a `notify.webhook_ca` file, if anything: missing, not a regular file, writable by others
    /// (who could then make the agent trust their server), unreadable, or without a PEM certificate.
    static func caFileProblem(_ path: String) -> String? {
        let status: FileStatus
        do {
            status = try FileSystem.status(path)
        } catch {
            return "notify.webhook_ca = \"\(path)\": \(error); fix: copy the PEM certificate of the CA that signed the webhook server's certificate there"
        }
        if !status.isRegularFile {
            return "notify.webhook_ca = \"\(path)\": not a regular file; fix: point notify.webhook_ca at the PEM certificate file itself"
        }
        if status.permissions & 0o022 != 0 {
            let mode = String(status.permissions, radix: 8)
            return "notify.webhook_ca = \"\(path)\": permissions 0\(mode) let others replace the CA the agent trusts; fix: chmod 644 \(path) (owned by root or the agent's user)"
        }
        if status.owner != FileSystem.effectiveUserID && status.owner != 0 {
            return "notify.webhook_ca = \"\(path)\": owned by uid \(status.owner), who could replace the CA the agent trusts; fix: chown root \(path)"
        }
        if !FileSystem.isReadable(path) {
            return "notify.webhook_ca = \"\(path)\": not readable by the agent; fix: chmod 644 \(path)"
        }
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_client_method()) else { return nil }
        defer { SSL_CTX_free(context) }
        if SSL_CTX_load_verify_locations(context, path, nil) != 1 {
            let why = errorQueue()
            return "notify.webhook_ca = \"\(path)\": no PEM certificate in it (\(why)); fix: put the CA certificate there in PEM form (-----BEGIN CERTIFICATE-----)"
        }
        return nil
    }
}

@available(*, unavailable)
extension TLSClientSession: Sendable {}
