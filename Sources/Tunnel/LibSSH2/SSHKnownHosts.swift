import CLibSSH2

/// Owns one `LIBSSH2_KNOWNHOSTS*`, loaded from an OpenSSH known_hosts file one line at a time
/// (notes P5: `libssh2_knownhost_readfile` drops every line after one it cannot parse).
final class SSHKnownHosts {
    private let raw: OpaquePointer
    let session: SSHSession
    /// Lines libssh2 could not parse (1-based line numbers), and marker lines it would misread.
    private(set) var skippedLines: [Int] = []

    /// The corresponding C function is `libssh2_knownhost_init`.
    init(session: SSHSession) throws(LibSSH2Error) {
        guard let raw = libssh2_knownhost_init(session.raw) else { throw LibSSH2Error.last(session.raw) }
        self.raw = raw
        self.session = session
    }

    deinit { libssh2_knownhost_free(raw) }

    /// Adds the entries of a known_hosts file's text. `@cert-authority`/`@revoked` lines are skipped
    /// (libssh2 1.10 would take the marker for a host name). The corresponding C function is
    /// `libssh2_knownhost_readline`.
    func load(_ text: String) {
        var number = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let t = String(line).trimmingWhitespace().replacingTrailingCR()
            if t.isEmpty || t.hasPrefix("#") { continue }
            if t.hasPrefix("@") {
                skippedLines.append(number)
                continue
            }
            let rc = t.withCString { p in
                libssh2_knownhost_readline(raw, p, t.utf8.count, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
            }
            if rc != 0 { skippedLines.append(number) }
        }
    }

    enum Check { case match, mismatch, notFound }

    /// Checks `key` of `type` for the exact host string (`host` for port 22, `[host]:port` otherwise, as
    /// OpenSSH writes them). Port -1 makes libssh2 compare only that string: with a port it would also
    /// accept a plain `host` entry for any port, looser than OpenSSH (P5).
    /// The corresponding C function is `libssh2_knownhost_checkp`.
    func check(hostPattern: String, key: [UInt8], type: HostKeyType) -> Check {
        let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type.knownHostMask
        var entry: UnsafeMutablePointer<libssh2_knownhost>?
        let rc = key.withUnsafeBytes { k in
            libssh2_knownhost_checkp(
                raw, hostPattern, -1, k.baseAddress!.assumingMemoryBound(to: CChar.self), k.count, mask, &entry)
        }
        switch rc {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH: return .match
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: return .mismatch
        default: return .notFound
        }
    }

    /// The key types pinned for `hostPattern`, in libssh2-usable preference order: found by checking a
    /// dummy key of each type (an entry of that type answers MISMATCH). Works for hashed `|1|` lines too.
    func pinnedTypes(hostPattern: String) -> [HostKeyType] {
        HostKeyType.usable.filter { check(hostPattern: hostPattern, key: [0], type: $0) != .notFound }
    }
}

@available(*, unavailable)
extension SSHKnownHosts: Sendable {}

extension String {
    func replacingTrailingCR() -> String {
        hasSuffix("\r") ? String(dropLast()) : self
    }
}
