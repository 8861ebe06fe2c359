import Foundation
import SystemPackage

/// The persisted list of everything a link added to the system, written *before* each change (write-ahead),
/// atomically (temporary file, fsync, rename), so that a daemon killed at any point can undo exactly what
/// it added — and nothing else — on its next start (``recoverLeftovers(stateDirectory:logger:)``).
///
/// Undoing is idempotent: an entry whose change never happened (the crash came between the journal write and
/// the change) or was already removed is skipped.
public struct LinkJournal: Sendable {
    /// One change a link made.
    public enum Entry: Codable, Sendable, Hashable {
        /// A child process (pppd, udhcpc); start time tells it from a reused PID.
        case process(pid: Int32, startTime: UInt64?, executable: String)
        /// `ip rule add priority P from ADDR lookup TABLE`.
        case rule(priority: Int, from: String, table: Int)
        /// `ip route add DESTINATION dev IF [via GW] table TABLE`.
        case route(table: Int, destination: String, interface: String, gateway: String?)
        /// A sysctl under /proc/sys and the value it had before.
        case sysctl(path: String, oldValue: String)
        /// `ip addr add CIDR dev IF [peer PEER]`.
        case address(interface: String, cidr: String, peer: String?)
        /// `ip link set IF up` of an interface that was down.
        case linkUp(interface: String)
        /// An interface the link's child created (pppd's `ppp0`); deleted if it outlives its process.
        case childInterface(interface: String)
    }

    /// The journal file: `<state.dir>/link-journal.json`.
    public let path: String

    /// A journal in `directory` (created with mode 0700 if missing).
    /// - Parameter directory: `state.dir`.
    public init(directory: String) {
        path = directory.hasSuffix("/") ? directory + "link-journal.json" : directory + "/link-journal.json"
    }

    /// The entries written so far, oldest first; empty when there is no journal.
    /// - Throws: ``CellularLinkError`` `.journal` when the file exists but is unreadable or corrupt.
    public func load() throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            if data.isEmpty { return [] }
            return try JSONDecoder().decode([Entry].self, from: data)
        } catch {
            throw CellularLinkError(
                code: .journal,
                message: "link journal \(path) is unreadable (\(error)); inspect it, undo its entries by hand, delete it")
        }
    }

    /// Appends `entry` (write-ahead: call it before making the change).
    /// - Throws: ``CellularLinkError`` `.journal` when it cannot be written.
    public func append(_ entry: Entry) throws {
        var entries = try load()
        entries.append(entry)
        try write(entries)
    }

    /// Removes `entry` (after the change was undone).
    public func remove(_ entry: Entry) throws {
        var entries = try load()
        if let i = entries.lastIndex(of: entry) { entries.remove(at: i) }
        try write(entries)
    }

    /// Empties the journal.
    public func clear() throws { try write([]) }

    private func write(_ entries: [Entry]) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !FileManager.default.fileExists(atPath: dir) {
            if case .failure(let e) = system_mkdir(dir, 0o700), e != .fileExists {
                throw CellularLinkError(
                    code: .journal, message: "cannot create state directory \(dir); create it or fix state.dir",
                    underlying: e)
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = (try? encoder.encode(entries)) ?? Data("[]".utf8)
        if case .failure(let e) = system_writeFileAtomically(path, Array(data)) {
            throw CellularLinkError(
                code: .journal, message: "cannot write link journal \(path); check state.dir is writable by the agent",
                underlying: e)
        }
    }
}
