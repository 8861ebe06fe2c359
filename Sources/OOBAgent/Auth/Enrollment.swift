import Crypto
import SystemPackage

/// Creating and reading the TOTP secret file, and the `otpauth://` URI authenticator apps scan.
public enum Enrollment {
    /// A new random 160-bit secret (RFC 4226 recommends 160 bits), base32 without padding.
    public static func newSecret() -> String {
        let key = SymmetricKey(size: SymmetricKeySize(bitCount: 160))
        return Base32.encode(key.withUnsafeBytes { Array($0) })
    }

    /// Writes `secret` to `path` with mode 0600.
    /// - Parameter force: replace an existing file (the old codes stop working).
    /// - Throws: ``AgentError``: `.usage` if the file exists and `force` is false, `.stateFile`
    ///   when it cannot be written.
    public static func writeSecret(_ secret: String, to path: String, force: Bool) throws {
        do {
            try FileSystem.createDirectory(FileSystem.directory(of: path), mode: 0o700)
            try FileSystem.writeAtomically(path, Array((secret + "\n").utf8), mode: 0o600, exclusive: !force)
        } catch .fileExists {
            throw AgentError(
                .usage,
                "\(path) already exists; fix: pass --force to replace it (every authenticator app must then be enrolled again)"
            )
        } catch {
            throw AgentError(.stateFile, "\(path): cannot write the secret; fix: run as a user that can write there", underlying: error)
        }
    }

    /// Reads the TOTP secret file (checks its permissions first, as OpenSSH does for keys).
    /// - Throws: ``AgentError`` naming the key `auth.totp_secret_file` and the fix.
    public static func loadTOTP(path: String) throws -> TOTP {
        try FilePermissions.requirePrivate(key: "auth.totp_secret_file", path: path, missingFix: "run `oob-agent enroll`")
        let text: String
        do {
            text = String(decoding: try FileSystem.readFile(path, limit: 4096), as: UTF8.self)
        } catch {
            throw AgentError(.configuration, "auth.totp_secret_file = \"\(path)\": cannot read it; fix: run `oob-agent enroll`", underlying: error)
        }
        do {
            return try TOTP(base32: text.trimmingWhitespace())
        } catch let error as AgentError {
            throw AgentError(.configuration, "auth.totp_secret_file = \"\(path)\": \(error.message)")
        }
    }

    /// Reads the passphrase file (first line, surrounding whitespace removed).
    /// - Throws: ``AgentError`` naming `auth.passphrase_file` and the fix.
    public static func loadPassphrase(path: String) throws -> [UInt8] {
        try FilePermissions.requirePrivate(key: "auth.passphrase_file", path: path, missingFix: "write the passphrase into it (chmod 600)")
        let text: String
        do {
            text = String(decoding: try FileSystem.readFile(path, limit: 4096), as: UTF8.self)
        } catch {
            throw AgentError(.configuration, "auth.passphrase_file = \"\(path)\": cannot read it; fix: check the file", underlying: error)
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let pass = line.trimmingWhitespace()
        guard pass.count >= 8, !pass.contains(where: { $0.isWhitespace }) else {
            throw AgentError(
                .configuration,
                "auth.passphrase_file = \"\(path)\": the passphrase must be one word of at least 8 characters (it is the second word of the SMS); fix: write a longer one"
            )
        }
        return Array(pass.utf8)
    }

    /// Builds the verifier the configuration asks for.
    public static func verifier(for auth: AgentConfiguration.Auth) throws -> CommandAuthenticator.Verifier {
        switch auth.secret {
        case .totp(let file): .totp(try loadTOTP(path: file), window: auth.codeWindow.components.seconds)
        case .passphrase(let file): .passphrase(try loadPassphrase(path: file))
        }
    }

    /// The Key URI an authenticator app scans:
    /// `otpauth://totp/ISSUER:LABEL?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
    public static func otpauthURI(secret: String, label: String, issuer: String = "oob-agent") -> String {
        "otpauth://totp/\(percentEncode(issuer)):\(percentEncode(label))?secret=\(secret)&issuer=\(percentEncode(issuer))"
            + "&algorithm=SHA1&digits=6&period=30"
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(UnicodeScalar(b))
            if b < 0x80, c.isLetter || c.isNumber || c == "-" || c == "." || c == "_" || c == "~" {
                out.append(c)
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%\(hex[Int(b >> 4)])\(hex[Int(b & 15)])"
            }
        }
        return out
    }
}

/// The OpenSSH rule for private files: refuse secrets that group or others can read or write.
public enum FilePermissions {
    /// The problem with `path`, if any: missing, not a regular file, or too open.
    /// - Parameters:
    ///   - key: the configuration key naming the file (for the message).
    ///   - missingFix: what to do when the file does not exist.
    public static func problem(key: String, path: String, missingFix: String) -> String? {
        let status: FileStatus
        do {
            status = try FileSystem.status(path)
        } catch {
            return "\(key) = \"\(path)\": \(error); fix: \(missingFix)"
        }
        if !status.isRegularFile {
            return "\(key) = \"\(path)\": not a regular file; fix: point \(key) at the file itself"
        }
        if status.permissions & 0o077 != 0 {
            let mode = String(status.permissions, radix: 8)
            return "\(key) = \"\(path)\": permissions 0\(mode) are too open, others could read the secret; fix: chmod 600 \(path)"
        }
        if status.owner != FileSystem.effectiveUserID && FileSystem.effectiveUserID != 0 && status.owner != 0 {
            return "\(key) = \"\(path)\": owned by uid \(status.owner), not by the agent's user; fix: chown the file to the agent's user"
        }
        if !FileSystem.isReadable(path) {
            return "\(key) = \"\(path)\": not readable by the agent; fix: chown it to the agent's user"
        }
        return nil
    }

    /// Throws the ``problem(key:path:missingFix:)`` as an ``AgentError`` (`.permissions`).
    public static func requirePrivate(key: String, path: String, missingFix: String) throws {
        if let p = problem(key: key, path: path, missingFix: missingFix) { throw AgentError(.permissions, p) }
    }
}
