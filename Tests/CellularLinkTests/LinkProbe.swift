import Foundation
import OOBTestSupport
import Spawn
import Synchronization
@testable import CellularLink

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// The `cellular-link-probe` executable run inside the site namespace: commands in, JSON lines out.
final class LinkProbe {
    static var executablePath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = (exe as NSString).deletingLastPathComponent
        // The test bundle may sit in a *.xctest directory.
        if dir.hasSuffix(".xctest") { dir = (dir as NSString).deletingLastPathComponent }
        return dir + "/cellular-link-probe"
    }

    private let process: SpawnedProcess
    private let lines = LineQueue()
    let pid: Int32
    /// `{"event": …}` lines seen so far.
    var events: [[String: Any]] { lines.events() }

    init(topology: NamespaceTopology, configuration: [String: Any], environment: [String: String] = [:]) throws {
        let path = Self.executablePath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TopologyError(message: "\(path) is missing: run `swift build --build-tests` first")
        }
        let configPath = topology.directory + "/probe-\(UInt32.random(in: 0...UInt32.max)).json"
        try JSONSerialization.data(withJSONObject: configuration).write(to: URL(fileURLWithPath: configPath))
        let logPath = topology.directory + "/probe.log"
        let p = try SpawnedProcess(
            "/usr/sbin/ip", ["netns", "exec", topology.site, path, configPath],
            options: SpawnOptions(stdin: .pipe, stdout: .pipe, stderr: .file(logPath), environmentChanges: environment.mapValues { $0 }))
        process = p
        pid = p.pid
        let readFD = p.stdout ?? -1
        let queue = lines
        let t = Thread {
            var pending: [UInt8] = []
            while case .success(let d) = system_read(readFD, 4096), !d.isEmpty {
                pending += d
                while let nl = pending.firstIndex(of: 0x0A) {
                    queue.push(String(decoding: pending[..<nl], as: UTF8.self))
                    pending.removeSubrange(...nl)
                }
            }
            withExtendedLifetime(p) {}
            queue.close()
        }
        t.start()
        let ready = try next(timeout: 30)
        guard ready["ready"] as? Bool == true else { throw TopologyError(message: "probe not ready: \(ready)") }
    }

    /// Sends one command and returns its answer (events are set aside).
    @discardableResult
    func send(_ command: String, timeout: Double = 60) throws -> [String: Any] {
        process.write(Array((command + "\n").utf8))
        return try next(timeout: timeout)
    }

    private func next(timeout: Double) throws -> [String: Any] {
        guard let line = lines.pop(timeout: timeout) else {
            throw TopologyError(message: "probe did not answer within \(timeout) s")
        }
        guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TopologyError(message: "probe printed \(line)")
        }
        return obj
    }

    /// Waits for a `{"event": …}` line.
    func waitForEvent(timeout: Double) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let e = events.first { return e }
            usleep(50_000)
        }
        return nil
    }

    func sigkill() {
        process.signal(SIGKILL)
        process.wait()
    }

    func quit() {
        if process.isRunning {
            _ = try? send("quit", timeout: 10)
            process.closeStdin()
            if process.wait(timeout: .seconds(30)) == nil { process.terminate(grace: .seconds(2)) }
        }
    }

    deinit {
        process.signal(SIGKILL)
        process.wait()
    }
}

/// Lines from the probe: answers in order, events aside.
final class LineQueue: Sendable {
    private let state = Mutex<(answers: [String], events: [String], closed: Bool)>(([], [], false))

    func push(_ line: String) {
        state.withLock {
            if line.hasPrefix("{\"event\"") { $0.events.append(line) } else { $0.answers.append(line) }
        }
    }

    func close() { state.withLock { $0.closed = true } }

    func pop(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let line = state.withLock { s -> String? in s.answers.isEmpty ? nil : s.answers.removeFirst() }
            if let line { return line }
            if state.withLock({ $0.closed && $0.answers.isEmpty }) { return nil }
            usleep(20_000)
        }
        return nil
    }

    func events() -> [[String: Any]] {
        state.withLock { $0.events }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }
}
