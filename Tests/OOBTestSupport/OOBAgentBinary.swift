import Foundation
import Spawn

/// Runs the built `oob-agent` executable, as a user would, with a deadline.
public enum OOBAgentBinary {
    /// What a run produced.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The built executable: next to the test bundle (`.build/<triple>/debug/`), else `.build/debug/` of the package.
    public static func path(filePath: String = #filePath) -> String? {
        var candidates: [URL] = []
        let bundleDirectory = Bundle.main.bundleURL.deletingLastPathComponent()
        candidates.append(bundleDirectory.appendingPathComponent("oob-agent"))
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("oob-agent"))
        // Tests/OOBTestSupport/<file> → package root.
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/oob-agent"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path
    }

    /// Runs `oob-agent arguments…`; kills it (by its PID) if it outlives `timeout`.
    public static func run(_ arguments: [String], timeout: Duration = .seconds(60)) throws -> Result {
        guard let executable = path() else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "oob-agent is not built: run swift build"])
        }
        // posix_spawn through Spawn (Foundation's Process hangs here when a descendant keeps the pipes).
        let r = try SpawnedProcess.run(executable, arguments, timeout: timeout)
        return Result(status: r.status.code, stdout: r.stdoutText, stderr: r.stderrText)
    }
}
