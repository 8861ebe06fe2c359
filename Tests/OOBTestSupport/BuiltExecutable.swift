import Foundation

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let outData = FileHandleReader(out.fileHandleForReading)
        let errData = FileHandleReader(err.fileHandleForReading)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: outData.text(), stderr: errData.text())
    }
}

/// Reads a pipe to its end on a thread of its own (so a chatty child never blocks on a full pipe).
private final class FileHandleReader: @unchecked Sendable {
    // Sound: `data` is written by the reader thread before `done` is signalled and read only after the wait.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread {
            self.data = (try? handle.readToEnd()) ?? Data()
            self.done.signal()
        }.start()
    }

    func text() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
