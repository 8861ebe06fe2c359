import Foundation

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let outData = ReadAll(out.fileHandleForReading)
        let errData = ReadAll(err.fileHandleForReading)
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        while process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: outData.wait(), stderr: errData.wait())
    }
}

/// Drains a pipe on its own thread (so a chatty child never blocks on a full pipe).
private final class ReadAll: @unchecked Sendable {
    // `data` is written by the reader thread before `done` is signalled and read only after `wait()`.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func wait() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
