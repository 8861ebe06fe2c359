import CLibSSH2

/// Process-wide libssh2 set-up. The corresponding C function is `libssh2_init`.
enum LibSSH2 {
    /// libssh2_init(0) once (a Swift `static let` initialiser runs exactly once, thread-safely).
    private static let initialized: Bool = {
        libssh2_init(0) == 0
    }()

    static func ensureInitialized() {
        precondition(initialized, "libssh2_init failed")
    }

    /// The libssh2 version in use, e.g. "1.10.0". The corresponding C function is `libssh2_version`.
    static var version: String {
        libssh2_version(0).map { String(cString: $0) } ?? "?"
    }
}
