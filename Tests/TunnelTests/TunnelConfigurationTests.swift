import Foundation
import Logging
import OOBTestSupport
import Testing

@testable import Tunnel

@Suite("Remote forward strings")
struct RemoteForwardParsingTests {
    @Test(arguments: [
        ("127.0.0.1:31337:127.0.0.1:22", RemoteForward(remoteBind: "127.0.0.1", remotePort: 31337, localHost: "127.0.0.1", localPort: 22)),
        ("31337:localhost:22", RemoteForward(remoteBind: "127.0.0.1", remotePort: 31337, localHost: "localhost", localPort: 22)),
        ("[::1]:2222:[::1]:22", RemoteForward(remoteBind: "::1", remotePort: 2222, localHost: "::1", localPort: 22)),
        (" 127.0.0.1 : 80 : 10.0.0.1 : 8080 ", RemoteForward(remoteBind: "127.0.0.1", remotePort: 80, localHost: "10.0.0.1", localPort: 8080)),
    ])
    func parses(text: String, expected: RemoteForward) throws {
        #expect(try RemoteForward(parsing: text) == expected)
    }

    @Test(arguments: ["", "22", "a:b", "127.0.0.1:x:127.0.0.1:22", "127.0.0.1:0:127.0.0.1:22", "127.0.0.1:22:127.0.0.1:70000",
                      "[::1:22:127.0.0.1:22", "1:2:3:4:5"])
    func refusesNonsense(text: String) {
        #expect {
            try RemoteForward(parsing: text)
        } throws: { error in
            guard let e = error as? TunnelError else { return false }
            return e.code == .invalidConfiguration && e.key == "tunnel.forwards"
                && (e.message.contains("remote_bind:remote_port:local_host:local_port") || e.message.contains("1…65535"))
        }
    }

    @Test func descriptionRoundTrips() throws {
        for text in ["127.0.0.1:31337:127.0.0.1:22", "[::1]:2222:[::1]:22"] {
            #expect(try RemoteForward(parsing: text).description == text)
        }
    }
}

@Suite("Configuration checks before connecting", .serialized)
struct TunnelConfigurationTests {
    /// A temp dir with a good ed25519 key and a known_hosts file.
    final class Files {
        let dir: String
        let key: String
        let knownHosts: String
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("oob-tunnel-cfg-\(UInt32.random(in: 0...UInt32.max))").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            key = "\(dir)/id_ed25519"
            try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
            knownHosts = "\(dir)/known_hosts"
            try "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDhd\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }

        func config(identity: String? = nil, port: Int = 2222, forwards: [RemoteForward]? = nil) -> TunnelConfiguration {
            TunnelConfiguration(
                host: "127.0.0.1", port: port, user: "oob", identity: identity ?? key, knownHosts: knownHosts,
                forwards: forwards ?? [RemoteForward(remotePort: 31337, localHost: "127.0.0.1", localPort: 22)])
        }
    }

    private func expectError(_ config: TunnelConfiguration, code: TunnelError.Code, key: String, mentions: [String]) {
        do {
            try config.validate()
            Issue.record("validate() accepted a bad configuration")
        } catch let e as TunnelError {
            #expect(e.code == code)
            #expect(e.key == key)
            for m in mentions { #expect(e.message.contains(m), "message should mention \(m): \(e.message)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func goodConfigurationPasses() throws {
        let f = try Files()
        #expect(try f.config().validate() == nil)
    }

    @Test func portZeroNamesTheKey() throws {
        let f = try Files()
        expectError(f.config(port: 0), code: .invalidConfiguration, key: "tunnel.port", mentions: ["1…65535"])
        expectError(
            f.config(forwards: [RemoteForward(remotePort: 0, localHost: "127.0.0.1", localPort: 22)]),
            code: .invalidConfiguration, key: "tunnel.forwards", mentions: ["1…65535"])
    }

    @Test func worldReadableKeyIsRefusedWithTheFix() throws {
        let f = try Files()
        chmod(f.key, 0o644)
        expectError(f.config(), code: .invalidConfiguration, key: "tunnel.identity", mentions: ["chmod 600", f.key])
    }

    @Test(arguments: [false, true])
    func rsaKeyIsRefusedUpFront(pem: Bool) throws {
        let f = try Files()
        let rsa = "\(f.dir)/id_rsa"
        try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa] + (pem ? ["-m", "PEM"] : []))
        expectError(
            f.config(identity: rsa), code: .unsupportedKey, key: "tunnel.identity",
            mentions: ["RSA", "SHA-1", "ssh-keygen -t ed25519"])
    }

    @Test func pkcs8KeyIsRefused() throws {
        let f = try Files()
        let p8 = "\(f.dir)/id_p8"
        try LoopbackSSHD.run("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", p8])
        chmod(p8, 0o600)
        expectError(f.config(identity: p8), code: .unsupportedKey, key: "tunnel.identity", mentions: ["PKCS#8", "ssh-keygen -t ed25519"])
    }

    @Test func encryptedKeyWithoutPassphraseFileNamesTheKey() throws {
        let f = try Files()
        let enc = "\(f.dir)/id_enc"
        try LoopbackSSHD.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret words", "-f", enc])
        expectError(
            f.config(identity: enc), code: .invalidConfiguration, key: "tunnel.identity_passphrase_file",
            mentions: ["encrypted"])
    }

    @Test func missingFilesAndEmptyForwards() throws {
        let f = try Files()
        expectError(f.config(identity: "\(f.dir)/nope"), code: .invalidConfiguration, key: "tunnel.identity", mentions: ["nope"])
        expectError(f.config(forwards: []), code: .invalidConfiguration, key: "tunnel.forwards", mentions: ["127.0.0.1:31337"])
        var c = f.config()
        c.knownHosts = "\(f.dir)/missing_known_hosts"
        expectError(c, code: .invalidConfiguration, key: "tunnel.known_hosts", mentions: ["missing_known_hosts"])
        c = f.config()
        c.bindAddress = "not-an-ip"
        expectError(c, code: .invalidConfiguration, key: "tunnel.bind_address", mentions: ["not-an-ip"])
    }

    @Test func badConfigurationFailsBeforeConnecting() throws {
        let f = try Files()
        chmod(f.key, 0o640)
        #expect(throws: TunnelError.self) {
            _ = try ReverseTunnel(configuration: f.config(), logger: .init(label: "test"))
        }
    }
}

@Suite("Small pieces")
struct TunnelPiecesTests {
    @Test func base64MatchesOpenSSHFingerprintForm() {
        #expect(Base64.encode([]) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8), padding: false) == "Zm8")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.decode(Array("Zm9v\nYmE=".utf8)) == Array("fooba".utf8))
        #expect(Base64.decode(Array("Zm9v!".utf8)) == nil)
    }
}
