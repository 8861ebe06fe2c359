import Foundation
import SystemPackage

/// The persisted state of one outlet.
public struct PowerStateRecord: Hashable, Sendable, Codable {
    /// on, off or unknown.
    public var state: PowerState
    /// When it last changed (ISO 8601, UTC).
    public var changedAt: String?
    /// Who asked for that change.
    public var by: String?

    /// Creates a record.
    public init(state: PowerState, changedAt: String? = nil, by: String? = nil) {
        self.state = state
        self.changedAt = changedAt
        self.by = by
    }
}

/// The outlets' on/off states in `<state dir>/power-state.json`, so they survive a daemon restart (the daemon
/// reads it and never drives an output at start). Written to a temporary file and renamed, so a crash leaves the
/// old or the new file, never half of one.
struct PowerStateStore {
    let path: String

    init(directory: String) {
        path = directory + "/power-state.json"
    }

    func load() -> [String: PowerStateRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        return (try? JSONDecoder().decode([String: PowerStateRecord].self, from: data)) ?? [:]
    }

    func save(_ records: [String: PowerStateRecord]) throws(PowerError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let temporary = path + ".tmp"
        do {
            let data = try encoder.encode(records)
            guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
            else {
                throw PowerError(code: .io, outlet: nil, message: "cannot write \(temporary); check the state directory")
            }
        } catch let error as PowerError {
            throw error
        } catch {
            throw PowerError(code: .io, outlet: nil, message: "cannot encode the power state", underlying: "\(error)")
        }
        if case .failure(let errno) = power_rename(temporary, path) {
            throw PowerError(code: .io, outlet: nil, message: "cannot replace \(path)", underlying: "\(errno)")
        }
    }
}

/// One line of `<state dir>/power-actions.log` (JSON lines): every action with who asked and how it ended.
public struct PowerActionLogEntry: Hashable, Sendable, Codable {
    /// When (ISO 8601, UTC).
    public var time: String
    /// Which outlet.
    public var outlet: String
    /// on, off or cycle.
    public var action: String
    /// Who asked (`sms:+46…`, `cli:root (uid 0)`).
    public var by: String
    /// ok, failed or done-late (finished after its deadline).
    public var result: String
    /// The result text or the error.
    public var message: String
}

struct PowerActionLog {
    let path: String

    init(directory: String) {
        path = directory + "/power-actions.log"
    }

    func append(_ entry: PowerActionLogEntry) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var data = try? encoder.encode(entry) else { return }
        data.append(0x0A)
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: data)
    }

    func entries() -> [PowerActionLogEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(PowerActionLogEntry.self, from: Data($0)) }
    }
}

/// A cross-process lock per outlet (`<state dir>/power-<name>.lock`, flock), so the daemon and a local
/// `oob-agent power` never drive the same outlet at once.
struct OutletFileLock {
    let path: String

    /// Takes the lock, waiting up to `timeoutMilliseconds`; returns the descriptor to pass to `release`.
    func acquire(outlet: String, timeoutMilliseconds: Int) throws(PowerError) -> Int32 {
        let fd: Int32
        switch power_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) {
        case .success(let value): fd = value
        case .failure(let errno):
            throw PowerError(
                code: .io, outlet: outlet, message: "\(outlet): cannot open the lock file \(path); check [state] dir",
                underlying: "\(errno)")
        }
        var waited = 0
        while true {
            switch power_flock(fd, LOCK_EX | LOCK_NB) {
            case .success: return fd
            case .failure(let errno) where errno == .wouldBlock && waited < timeoutMilliseconds:
                power_sleep(milliseconds: 20)
                waited += 20
            case .failure(let errno):
                power_close(fd)
                throw PowerError(
                    code: .busy, outlet: outlet,
                    message: "\(outlet): another process (the daemon or another `oob-agent power`) is acting on this "
                        + "outlet; try again when it is done", underlying: "\(errno)")
            }
        }
    }

    func release(_ fd: Int32) {
        _ = power_flock(fd, LOCK_UN)
        power_close(fd)
    }
}

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif
