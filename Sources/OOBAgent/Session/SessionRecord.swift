import Foundation
import SystemPackage

/// What a session has set up and who is owed its link-down SMS, written atomically to
/// `state.dir/session.json` on every change. A daemon that starts and finds a record that is not
/// idle was killed mid-session: it tears down what the record says and sends the owed SMS.
public struct SessionRecord: Codable, Sendable, Equatable {
    /// The state when written.
    public var state: AgentStateMachine.StateName
    /// Numbers owed the final SMS (E.164).
    public var owedSMS: [String]
    /// The link mode that was in use (`none`, `ppp`, `interface`).
    public var linkMode: String
    /// Whether the link may be up (set before `up` is called, cleared after `down`).
    public var linkUp: Bool
    /// Whether the tunnel may be running.
    public var tunnelStarted: Bool
    /// The session's end, Unix seconds by the best clock when written (informational).
    public var endsAtUnix: Int64?
    /// The PID of the daemon that wrote it.
    public var pid: Int32
    /// Why the state was entered.
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case state
        case owedSMS = "owed_sms"
        case linkMode = "link_mode"
        case linkUp = "link_up"
        case tunnelStarted = "tunnel_started"
        case endsAtUnix = "ends_at_unix"
        case pid, reason
    }

    /// Creates a record.
    public init(
        state: AgentStateMachine.StateName, owedSMS: [String], linkMode: String, linkUp: Bool, tunnelStarted: Bool,
        endsAtUnix: Int64? = nil, pid: Int32, reason: String? = nil
    ) {
        self.state = state
        self.owedSMS = owedSMS
        self.linkMode = linkMode
        self.linkUp = linkUp
        self.tunnelStarted = tunnelStarted
        self.endsAtUnix = endsAtUnix
        self.pid = pid
        self.reason = reason
    }

    /// The file name inside `state.dir`.
    public static let fileName = "session.json"

    /// Reads the record in `dir`; nil when there is none.
    /// - Throws: ``AgentError`` (`.stateFile`) when it exists but cannot be read. A record that
    ///   cannot be parsed is returned as a worst-case record (everything may be up, nobody known).
    public static func load(dir: String) throws -> SessionRecord? {
        let path = dir + "/" + fileName
        guard let bytes = try StateFile.read(path, what: "the session record") else { return nil }
        if let record = try? JSONDecoder().decode(SessionRecord.self, from: Data(bytes)) { return record }
        return SessionRecord(state: .tearingDown, owedSMS: [], linkMode: "unknown", linkUp: true, tunnelStarted: true, pid: 0, reason: "unreadable record")
    }

    /// Writes the record atomically to `dir`.
    /// - Throws: ``AgentError`` (`.stateFile`).
    public func save(dir: String) throws {
        let path = dir + "/" + Self.fileName
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(self)
        } catch {
            throw AgentError(.stateFile, "\(path): cannot encode the session record (\(error)); fix: report this as a bug", underlying: error)
        }
        try StateFile.write(path, Array(data), what: "the session record")
    }

    /// Removes the record (the session is over and everything is down).
    public static func remove(dir: String) throws {
        do {
            try FileSystem.remove(dir + "/" + fileName)
        } catch {
            throw AgentError(.stateFile, "\(dir)/\(fileName): cannot remove the session record; fix: make state.dir writable", underlying: error)
        }
    }
}
