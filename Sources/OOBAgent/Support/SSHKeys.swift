import Crypto
import Foundation

/// Reading OpenSSH key files: the agent's public key (for `jumphost-setup`) and the pinned jump
/// host key (for `check`).
public enum SSHKeys {
    /// The public key line (`type base64 [comment]`) of `identity`: from `<identity>.pub`, else
    /// derived from the private key file's public section (the `openssh-key-v1` format stores the
    /// public key unencrypted, even for an encrypted key).
    /// - Throws: ``AgentError`` naming `tunnel.identity` and the fix.
    public static func publicKeyLine(identity: String) throws -> String {
        if let pub = try? FileSystem.readFile(identity + ".pub", limit: 16384) {
            let line = String(decoding: pub, as: UTF8.self).trimmingWhitespace()
            if line.split(separator: " ").count >= 2 { return line }
        }
        let text: String
        do {
            text = String(decoding: try FileSystem.readFile(identity, limit: 65536), as: UTF8.self)
        } catch {
            throw AgentError(
                .configuration,
                "tunnel.identity = \"\(identity)\": cannot read it (\(error)); fix: create it with ssh-keygen -t ed25519 -N '' -f \(identity)",
                underlying: error
            )
        }
        guard let blob = publicBlob(fromPrivateKey: text), let type = keyType(blob: blob) else {
            throw AgentError(
                .configuration,
                "tunnel.identity = \"\(identity)\": not an OpenSSH private key and no \(identity).pub; fix: ssh-keygen -y -f \(identity) > \(identity).pub"
            )
        }
        return "\(type) \(Data(blob).base64EncodedString())"
    }

    /// The key type of a public key line or blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`).
    public static func keyType(line: String) -> String? {
        line.split(separator: " ").first.map(String.init)
    }

    static func keyType(blob: [UInt8]) -> String? {
        var r = Reader(blob)
        return r.string().map { String(decoding: $0, as: UTF8.self) }
    }

    /// The public key blob stored in an `openssh-key-v1` private key.
    static func publicBlob(fromPrivateKey text: String) -> [UInt8]? {
        let begin = "-----BEGIN OPENSSH PRIVATE KEY-----", end = "-----END OPENSSH PRIVATE KEY-----"
        guard let b = text.range(of: begin), let e = text.range(of: end) else { return nil }
        let body = text[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: String(body)) else { return nil }
        let bytes = Array(data)
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard bytes.starts(with: magic) else { return nil }
        var r = Reader(Array(bytes.dropFirst(magic.count)))
        guard r.string() != nil, r.string() != nil, r.string() != nil,  // cipher, kdf, kdf options
            let count = r.uint32(), count >= 1, let blob = r.string()
        else { return nil }
        return blob
    }

    /// The `authorized_keys` line for the jump host account: key-only, forwarding restricted to
    /// exactly the configured remote listens, no shell, no pty, no agent or X11 forwarding.
    public static func authorizedKeysLine(publicKey: String, forwards: [AgentConfiguration.Forward]) -> String {
        var options = ["restrict", "port-forwarding"]
        for f in forwards {
            let host = f.remoteBind.contains(":") ? "[\(f.remoteBind)]" : f.remoteBind
            options.append("permitlisten=\"\(host):\(f.remotePort)\"")
        }
        options.append("command=\"/usr/sbin/nologin\"")
        return options.joined(separator: ",") + " " + publicKey
    }

    /// Whether `knownHosts` holds a key for `host` (port 22) or `[host]:port`, plain or hashed
    /// (`|1|salt|hmac`, HMAC-SHA1 of the name keyed by the salt). Revoked (`@revoked`) lines do not count.
    public static func knownHostsPins(_ knownHostsText: String, host: String, port: Int) -> Bool {
        let name = port == 22 ? host : "[\(host)]:\(port)"
        for raw in knownHostsText.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("@revoked") { continue }
            var fields = line.split(separator: " ").map(String.init)
            if fields.first == "@cert-authority" { fields.removeFirst() }
            guard fields.count >= 3, let hosts = fields.first else { continue }
            for pattern in hosts.split(separator: ",").map(String.init) {
                if pattern.hasPrefix("|1|") {
                    let parts = pattern.split(separator: "|").map(String.init)
                    guard parts.count == 3, let salt = Data(base64Encoded: parts[1]), let hash = Data(base64Encoded: parts[2])
                    else { continue }
                    let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(name.utf8), using: SymmetricKey(data: salt))
                    if Array(mac) == Array(hash) { return true }
                } else if pattern == name {
                    return true
                }
            }
        }
        return false
    }

    struct Reader {
        var bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        mutating func uint32() -> UInt32? {
            guard offset + 4 <= bytes.count else { return nil }
            defer { offset += 4 }
            return bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
        }
        mutating func string() -> [UInt8]? {
            guard let n = uint32(), offset + Int(n) <= bytes.count else { return nil }
            defer { offset += Int(n) }
            return Array(bytes[offset..<offset + Int(n)])
        }
    }
}
