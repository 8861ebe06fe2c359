import Foundation
@testable import OOBAgent

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String

    init() {
        let template = FileManager.default.temporaryDirectory.path + "/oob-agent-test-XXXXXX"
        var bytes = Array(template.utf8CString)
        let p = bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = String(cString: p!)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String, mode: Int = 0o600) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        chmod(p, mode_t(mode))
        return p
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// The RFC 6238 appendix B secret ("12345678901234567890") in base32.
let rfcSecretBase32 = Base32.encode(Array("12345678901234567890".utf8))

/// A minimal valid configuration text with files in `dir`.
func minimalConfig(_ dir: TempDir, extra: String = "") -> String {
    """
    [modem]
    port = "/dev/ttyUSB2"

    [auth]
    senders = ["+46701234567"]
    totp_secret_file = "\(dir.file("totp.secret"))"

    [tunnel]
    host = "jump.example.net"
    user = "oob"
    identity = "\(dir.file("id_ed25519"))"
    known_hosts = "\(dir.file("known_hosts"))"

    [state]
    dir = "\(dir.file("state"))"
    control_socket = "\(dir.file("agent.sock"))"
    \(extra)
    """
}

import Testing

/// The suites that start sshd, emulators, daemons and sockets run one after another: they share
/// the machine's ptys, ports and process table, and their subprocesses' device checks look at
/// every process.
@Suite("Agent integration", .serialized)
struct AgentIntegrationSuites {}
