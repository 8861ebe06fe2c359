/// One remote forward: the jump host listens on `remoteBind:remotePort` and every connection to it is
/// relayed to `localHost:localPort` as seen from this machine (`ssh -R remoteBind:remotePort:localHost:localPort`).
public struct RemoteForward: Hashable, Sendable, CustomStringConvertible {
    /// The address the jump host binds; always sent explicitly (libssh2 would send "0.0.0.0" for none).
    public var remoteBind: String
    /// The port the jump host listens on (1…65535).
    public var remotePort: Int
    /// The host the forwarded connections go to, from this machine.
    public var localHost: String
    /// The port the forwarded connections go to.
    public var localPort: Int

    /// Creates a forward from its parts; `validate` checks them.
    public init(remoteBind: String = "127.0.0.1", remotePort: Int, localHost: String, localPort: Int) {
        self.remoteBind = remoteBind
        self.remotePort = remotePort
        self.localHost = localHost
        self.localPort = localPort
    }

    /// Parses `remote_bind:remote_port:local_host:local_port` (IPv6 addresses in brackets), or the
    /// three-field form `remote_port:local_host:local_port`, which binds 127.0.0.1 on the jump host.
    /// - Throws: `TunnelError` with code `.invalidConfiguration` naming `tunnel.forwards` and the expected form.
    public init(parsing text: String) throws {
        let fields = Self.split(text)
        func bad(_ why: String) -> TunnelError {
            .config(
                "tunnel.forwards",
                "\"\(text)\" \(why); write remote_bind:remote_port:local_host:local_port, "
                    + "e.g. \"127.0.0.1:31337:127.0.0.1:22\"")
        }
        guard let fields, fields.count == 4 || fields.count == 3 else { throw bad("does not parse") }
        let f = fields.count == 3 ? ["127.0.0.1"] + fields : fields
        guard let rp = Int(f[1]) else { throw bad("has a remote port that is not a number") }
        guard let lp = Int(f[3]) else { throw bad("has a local port that is not a number") }
        guard !f[0].isEmpty, !f[2].isEmpty else { throw bad("has an empty address") }
        self.init(remoteBind: f[0], remotePort: rp, localHost: f[2], localPort: lp)
        try validate()
    }

    /// Checks the ports are in 1…65535.
    /// - Throws: `TunnelError` `.invalidConfiguration` naming `tunnel.forwards`.
    public func validate() throws {
        for (name, port) in [("remote port", remotePort), ("local port", localPort)] where !(1...65535).contains(port) {
            throw TunnelError.config(
                "tunnel.forwards",
                "\"\(self)\" has \(name) \(port); use a port in 1…65535 (0 would let the jump host pick one "
                    + "nobody knows)")
        }
    }

    public var description: String {
        func wrap(_ h: String) -> String { h.contains(":") ? "[\(h)]" : h }
        return "\(wrap(remoteBind)):\(remotePort):\(wrap(localHost)):\(localPort)"
    }

    /// Splits on ':' outside brackets; nil on unbalanced brackets.
    private static func split(_ text: String) -> [String]? {
        var out: [String] = []
        var cur = ""
        var inBracket = false
        for ch in text {
            switch ch {
            case "[" where !inBracket && cur.isEmpty: inBracket = true
            case "]" where inBracket: inBracket = false
            case ":" where !inBracket:
                out.append(cur)
                cur = ""
            default: cur.append(ch)
            }
        }
        if inBracket { return nil }
        out.append(cur)
        return out.map { $0.trimmingWhitespace() }
    }
}

/// Everything the reverse tunnel needs, as in the `[tunnel]` section of the agent's configuration.
public struct TunnelConfiguration: Sendable {
    /// The jump host: name or address.
    public var host: String
    /// Its SSH port (`tunnel.port`).
    public var port: Int
    /// The account on the jump host (`tunnel.user`).
    public var user: String
    /// The private key file: ed25519 or ECDSA, OpenSSH or PEM format (`tunnel.identity`).
    public var identity: String
    /// A file holding the key's passphrase, for an encrypted key (`tunnel.identity_passphrase_file`).
    public var identityPassphraseFile: String?
    /// An OpenSSH known_hosts file pinning the jump host's key (`tunnel.known_hosts`). Never learned.
    public var knownHosts: String
    /// The remote forwards (`tunnel.forwards`).
    public var forwards: [RemoteForward]
    /// The liveness interval (`tunnel.keepalive`): a jump host silent for about three of these is dead.
    /// Set the jump host's `ClientAliveInterval` to this value or less.
    public var keepalive: Duration
    /// Probe a silent jump host with `keepalive@openssh.com` (want-reply) after 1.5 intervals of silence,
    /// for jump hosts without `ClientAliveInterval`. With the recommended jump host setup it never fires.
    public var probeSilentJumpHost: Bool
    /// Pin the SSH socket to this network interface (SO_BINDTODEVICE), e.g. the cellular link.
    public var bindInterface: String?
    /// Bind the SSH socket to this local (numeric) address before connecting.
    public var bindAddress: String?
    /// Deadline for resolving, TCP connect, handshake and authentication together.
    public var connectTimeout: Duration
    /// First reconnect delay; doubles per failed attempt (with jitter) up to `reconnectMaxDelay`.
    public var reconnectInitialDelay: Duration
    /// Cap of the reconnect delay.
    public var reconnectMaxDelay: Duration
    /// How long a refused forward is retried on one session before reconnecting from scratch.
    /// nil: 4 × keepalive, at least 10 s (a stale session is reaped after ClientAliveInterval × CountMax).
    public var forwardRetryWindow: Duration?
    /// Most forwarded connections relayed at once; more are closed at once (each may pin a 2 MiB window).
    public var maxChannels: Int
    /// The address to connect to instead of resolving `host` with the system resolver (the agent resolves
    /// `tunnel.host` through the cellular link's DNS). The host key is still looked up under `host`.
    public var connectAddress: String? = nil

    /// Creates a configuration with the contract's defaults for everything optional.
    public init(
        host: String, port: Int = 22, user: String, identity: String, identityPassphraseFile: String? = nil,
        knownHosts: String, forwards: [RemoteForward], keepalive: Duration = .seconds(30),
        probeSilentJumpHost: Bool = true, bindInterface: String? = nil, bindAddress: String? = nil,
        connectTimeout: Duration = .seconds(20), reconnectInitialDelay: Duration = .seconds(1),
        reconnectMaxDelay: Duration = .seconds(60), forwardRetryWindow: Duration? = nil, maxChannels: Int = 64
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.identity = identity
        self.identityPassphraseFile = identityPassphraseFile
        self.knownHosts = knownHosts
        self.forwards = forwards
        self.keepalive = keepalive
        self.probeSilentJumpHost = probeSilentJumpHost
        self.bindInterface = bindInterface
        self.bindAddress = bindAddress
        self.connectTimeout = connectTimeout
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaxDelay = reconnectMaxDelay
        self.forwardRetryWindow = forwardRetryWindow
        self.maxChannels = maxChannels
    }

    /// The forward retry window in effect.
    var effectiveForwardRetryWindow: Duration {
        forwardRetryWindow ?? max(.seconds(10), keepalive * 4)
    }

    /// Checks every value and the key files, before anything connects.
    /// - Returns: the key's passphrase (read from `identityPassphraseFile`), if any.
    /// - Throws: `TunnelError` (`.invalidConfiguration` or `.unsupportedKey`) naming the key and the fix.
    @discardableResult
    public func validate() throws -> String? {
        if host.isEmpty || host.contains(where: { $0 == " " || $0 == "\t" }) {
            throw TunnelError.config("tunnel.host", "\"\(host)\" is not a host name; set the jump host's name or address")
        }
        if !(1...65535).contains(port) {
            throw TunnelError.config("tunnel.port", "\(port) is not a TCP port; use 1…65535 (usually 22)")
        }
        if user.isEmpty {
            throw TunnelError.config("tunnel.user", "is empty; set the account on the jump host")
        }
        if forwards.isEmpty {
            throw TunnelError.config(
                "tunnel.forwards", "is empty; add at least one, e.g. \"127.0.0.1:31337:127.0.0.1:22\"")
        }
        for f in forwards { try f.validate() }
        var seen = Set<String>()
        for f in forwards where !seen.insert("\(f.remoteBind):\(f.remotePort)").inserted {
            throw TunnelError.config(
                "tunnel.forwards", "\"\(f)\" listens on the same remote address and port as another; give each its own port")
        }
        if keepalive < .seconds(1) {
            throw TunnelError.config("tunnel.keepalive", "\(keepalive) is too short; use at least 1s (30s is usual)")
        }
        if connectTimeout <= .zero {
            throw TunnelError.config("tunnel.connect_timeout", "must be positive, e.g. 20s")
        }
        if reconnectInitialDelay <= .zero || reconnectMaxDelay < reconnectInitialDelay {
            throw TunnelError.config("tunnel.reconnect", "the reconnect delays must be positive and max ≥ initial")
        }
        if !(1...1024).contains(maxChannels) {
            throw TunnelError.config("tunnel.max_channels", "\(maxChannels) is out of range; use 1…1024 (64 is usual)")
        }
        if let bindInterface, bindInterface.isEmpty || bindInterface.utf8.count > 15 || bindInterface.contains("/") {
            throw TunnelError.config("link.interface", "\"\(bindInterface)\" is not an interface name (e.g. ppp0, wwan0)")
        }
        if let bindAddress, system_parseNumericAddress(bindAddress) == nil {
            throw TunnelError.config("tunnel.bind_address", "\"\(bindAddress)\" is not a numeric IPv4/IPv6 address")
        }
        _ = try Self.readPrivateFile(knownHosts, key: "tunnel.known_hosts", secret: false)
        let passphrase: String?
        if let file = identityPassphraseFile {
            let bytes = try Self.readPrivateFile(file, key: "tunnel.identity_passphrase_file", secret: true)
            var text = String(decoding: bytes, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            passphrase = text
        } else {
            passphrase = nil
        }
        let keyBytes = try Self.readPrivateFile(identity, key: "tunnel.identity", secret: true)
        try PrivateKeyInspector.check(keyBytes, path: identity, hasPassphrase: passphrase != nil)
        return passphrase
    }

    /// Reads a file the tunnel needs; secrets must not be readable by group or others (as OpenSSH demands).
    static func readPrivateFile(_ path: String, key: String, secret: Bool) throws -> [UInt8] {
        let mode: UInt32
        switch system_statMode(path) {
        case .success(let m): mode = m
        case .failure(let e):
            throw TunnelError(
                code: .invalidConfiguration, message: "\(key): cannot use \(path) (\(e)); check the path", key: key)
        }
        guard system_isRegularFile(mode) else {
            throw TunnelError.config(key, "\(path) is not a regular file; point it at the file itself")
        }
        if secret && mode & 0o077 != 0 {
            throw TunnelError.config(
                key,
                "\(path) is readable by others (mode \(String(mode & 0o777, radix: 8))); "
                    + "run `chmod 600 \(path)` (a private key must be readable by its owner only)")
        }
        switch system_readFile(path) {
        case .success(let b): return b
        case .failure(let e):
            throw TunnelError(
                code: .invalidConfiguration, message: "\(key): cannot read \(path) (\(e)); check its owner and mode",
                key: key)
        }
    }
}

/// Tells from a private key file whether libssh2 1.10 can sign with it against OpenSSH ≥ 8.8 (notes P1, P4).
enum PrivateKeyInspector {
    /// The algorithms libssh2 1.10 signs in a way OpenSSH 9 accepts.
    static let supportedTypes = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"]

    static func keygenAdvice(_ path: String) -> String {
        "create an ed25519 key instead: `ssh-keygen -t ed25519 -N '' -f \(path)` "
            + "and put the new .pub line in the jump host's authorized_keys (see `oob-agent jumphost-setup`)"
    }

    static func check(_ bytes: [UInt8], path: String, hasPassphrase: Bool) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        func unsupported(_ why: String) -> TunnelError {
            TunnelError(
                code: .unsupportedKey, message: "tunnel.identity: \(path) \(why); \(keygenAdvice(path))",
                key: "tunnel.identity")
        }
        let rsaWhy =
            "is an RSA key: libssh2 1.10 signs RSA only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse"
        if text.contains("-----BEGIN RSA PRIVATE KEY-----") { throw unsupported(rsaWhy) }
        if text.contains("-----BEGIN DSA PRIVATE KEY-----") {
            throw unsupported("is a DSA key, which OpenSSH no longer accepts")
        }
        if text.contains("-----BEGIN PRIVATE KEY-----") || text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            throw unsupported("is a PKCS#8 key: libssh2 1.10 loads it but cannot sign with it")
        }
        if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            if text.contains("ENCRYPTED") && !hasPassphrase {
                throw TunnelError.config(
                    "tunnel.identity_passphrase_file",
                    "\(path) is encrypted; set tunnel.identity_passphrase_file to a file (mode 600) holding its passphrase")
            }
            return
        }
        let begin = "-----BEGIN OPENSSH PRIVATE KEY-----"
        let end = "-----END OPENSSH PRIVATE KEY-----"
        guard let b = text.firstRange(of: begin), let e = text.firstRange(of: end), b.upperBound <= e.lowerBound,
            let blob = Base64.decode(Array(text[b.upperBound..<e.lowerBound].utf8))
        else {
            throw TunnelError.config(
                "tunnel.identity", "\(path) is not a private key file libssh2 can read; \(keygenAdvice(path))")
        }
        var r = SSHWireReader(blob)
        guard r.skipMagic("openssh-key-v1\0"), let cipher = r.string(), r.string() != nil, r.string() != nil,
            let count = r.uint32(), count >= 1, let pub = r.bytes()
        else {
            throw TunnelError.config("tunnel.identity", "\(path) is a damaged OpenSSH key file; \(keygenAdvice(path))")
        }
        var pr = SSHWireReader(pub)
        let type = pr.string() ?? "?"
        if type == "ssh-rsa" { throw unsupported(rsaWhy) }
        guard supportedTypes.contains(type) else {
            throw unsupported("is a \(type) key, which libssh2 1.10 cannot use")
        }
        if cipher != "none" && !hasPassphrase {
            throw TunnelError.config(
                "tunnel.identity_passphrase_file",
                "\(path) is encrypted; set tunnel.identity_passphrase_file to a file (mode 600) holding its passphrase")
        }
    }
}

/// Reads SSH wire encoding (RFC 4251 §5): uint32 and length-prefixed strings, bounds-checked.
struct SSHWireReader {
    private let data: [UInt8]
    private(set) var offset = 0
    init(_ data: [UInt8]) { self.data = data }

    mutating func skipMagic(_ magic: String) -> Bool {
        let m = Array(magic.utf8)
        guard data.count >= offset + m.count, Array(data[offset..<offset + m.count]) == m else { return false }
        offset += m.count
        return true
    }
    mutating func byte() -> UInt8? {
        guard offset < data.count else { return nil }
        defer { offset += 1 }
        return data[offset]
    }
    mutating func uint32() -> UInt32? {
        guard data.count >= offset + 4 else { return nil }
        defer { offset += 4 }
        return data[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func bytes() -> [UInt8]? {
        guard let n = uint32(), data.count - offset >= Int(n) else { return nil }
        defer { offset += Int(n) }
        return Array(data[offset..<offset + Int(n)])
    }
    mutating func string() -> String? { bytes().map { String(decoding: $0, as: UTF8.self) } }
    mutating func skip(_ n: Int) -> Bool {
        guard data.count - offset >= n else { return false }
        offset += n
        return true
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
