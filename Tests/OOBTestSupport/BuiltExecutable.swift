import Foundation
import Spawn

/// The `oob-agent` binary built next to the test bundle (`swift build --build-tests` builds both), for tests that
/// run the command line as a user would.
public enum BuiltExecutable {
    /// The path of `oob-agent`, or nil when it was not built.
    public static var oobAgent: String? {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("oob-agent").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// What a run printed and how it ended.
    public struct Run: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `oob-agent` with `arguments`, waiting at most `timeoutSeconds` (then kills it by pid), off the
    /// cooperative pool.
    public static func run(_ arguments: [String], timeoutSeconds: Double = 30) async throws -> Run {
        try await offPool { try runBlocking(arguments, timeoutSeconds: timeoutSeconds) }
    }

    static func runBlocking(_ arguments: [String], timeoutSeconds: Double) throws -> Run {
        guard let path = oobAgent else {
            throw NSError(domain: "BuiltExecutable", code: 1, userInfo: [NSLocalizedDescriptionKey: "oob-agent not built"])
        }
        // posix_spawn through Spawn (Foundation's Process hangs here when a descendant keeps the pipes).
        let r = try SpawnedProcess.run(path, arguments, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
        return Run(status: r.status.code, stdout: r.stdoutText, stderr: r.stderrText)
    }
}
