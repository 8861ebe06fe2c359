import SystemPackage

/// The agent's small files in `state.dir` (replay cache, lockout ledger, session record): read whole, a missing
/// file is "nothing yet", written atomically with mode 0600, every failure an ``AgentError`` (`.stateFile`) that
/// names the file, what it holds and the fix.
enum StateFile {
    /// The bytes of `path`, or nil when there is no such file.
    /// - Parameter what: what the file holds, for the error ("the replay cache").
    static func read(_ path: String, what: String) throws -> [UInt8]? {
        do {
            return try FileSystem.readFile(path)
        } catch .noSuchFileOrDirectory {
            return nil
        } catch {
            throw AgentError(.stateFile, "\(path): cannot read \(what); fix: check state.dir is readable by the agent", underlying: error)
        }
    }

    /// Replaces `path` atomically with `bytes` (mode 0600).
    static func write(_ path: String, _ bytes: [UInt8], what: String) throws {
        do {
            try FileSystem.writeAtomically(path, bytes, mode: 0o600)
        } catch {
            throw AgentError(.stateFile, "\(path): cannot write \(what); fix: make state.dir writable by the agent", underlying: error)
        }
    }
}
