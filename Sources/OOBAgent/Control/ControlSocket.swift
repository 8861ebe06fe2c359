import Foundation
import Synchronization
import SystemPackage

/// The daemon's side of the control socket (a Unix stream socket, mode 0660, so that members of
/// the agent's group may use `status`, `up` and `down`).
///
/// A dedicated thread accepts connections and reads one request line each (bounded: 4 KiB and
/// 2 s); requests are handed to the async side through ``requests``, which answers with
/// ``Connection/respond(_:)``.
public final class ControlServer: Sendable {
    /// One request and the connection to answer it on.
    public struct Connection: Sendable {
        /// The decoded request (nil if the line was not a valid request).
        public let request: ControlRequest?
        let fd: Int32

        /// Sends `response` and closes the connection.
        public func respond(_ response: ControlResponse) {
            try? UnixSocket.writeAll(fd, ControlCoding.encode(response))
            UnixSocket.close(fd)
        }
    }

    /// The requests, in order of arrival.
    public let requests: AsyncStream<Connection>
    private let continuation: AsyncStream<Connection>.Continuation
    private let listener: Int32
    private let stopped = StopFlag()
    /// Written by ``stop()`` to wake the accept thread, which otherwise blocks in poll(2) without a timeout.
    private let wakeWrite: Int32
    /// The socket path.
    public let path: String

    /// Binds `path` (replacing a stale socket), mode 0660, and starts the accept thread.
    /// - Throws: ``AgentError`` (`.controlSocket`).
    public init(path: String) throws {
        self.path = path
        let wakeRead: Int32
        do {
            try FileSystem.createDirectory(FileSystem.directory(of: path), mode: 0o755)
            listener = try UnixSocket.bindAndListen(path, mode: 0o660)
            (wakeRead, wakeWrite) = try UnixSocket.wakePipe()
        } catch {
            throw AgentError(
                .controlSocket, "state.control_socket = \"\(path)\": cannot listen (\(error)); fix: make its directory writable by the agent",
                underlying: error
            )
        }
        (requests, continuation) = AsyncStream.makeStream(of: Connection.self, bufferingPolicy: .bufferingNewest(32))
        let listener = self.listener
        let continuation = self.continuation
        // No timeout: an idle daemon's accept thread sleeps until a client connects or stop() wakes it.
        let thread = Thread { [stopped] in
            while !stopped.isSet {
                guard (try? UnixSocket.waitReadable(listener, wake: wakeRead)) == true,
                    let fd = try? UnixSocket.accept(listener)
                else { continue }
                let line = ControlServer.readLine(fd, timeoutMilliseconds: 2000)
                let request = line.flatMap { ControlCoding.decode(ControlRequest.self, $0) }
                if case .dropped(let c) = continuation.yield(Connection(request: request, fd: fd)) {
                    c.respond(ControlResponse(ok: false, error: "daemon busy, try again"))
                }
            }
            UnixSocket.close(listener)
            UnixSocket.close(wakeRead)
            continuation.finish()
        }
        thread.name = "oob-agent control"
        thread.start()
    }

    /// Stops accepting, closes and removes the socket.
    public func stop() {
        guard stopped.set() else { return }
        UnixSocket.wake(wakeWrite)
        try? FileSystem.remove(path)
    }

    deinit {
        stop()
        UnixSocket.close(wakeWrite)
    }

    static func readLine(_ fd: Int32, timeoutMilliseconds: Int32) -> [UInt8]? {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while out.count < 4096 {
            guard (try? UnixSocket.waitReadable(fd, timeoutMilliseconds: timeoutMilliseconds)) == true,
                let n = try? UnixSocket.read(fd, into: &buffer), n > 0
            else { break }
            out += buffer[0..<n]
            if let nl = out.firstIndex(of: 10) { return Array(out[..<nl]) }
        }
        return out.isEmpty ? nil : out
    }
}

/// The command side of the control socket (`status`, `up`, `down`, `power`).
public enum ControlClient {
    /// Sends `request` to the daemon at `path` and waits for its answer.
    /// - Throws: ``AgentError`` (`.controlSocket`) naming the socket and what to do.
    public static func send(_ request: ControlRequest, to path: String, timeout: Duration = .seconds(10)) throws -> ControlResponse {
        let fd: Int32
        do {
            fd = try UnixSocket.connect(path)
        } catch .noSuchFileOrDirectory, .connectionRefused {
            throw AgentError(.controlSocket, "no daemon is listening on \(path); fix: start it (systemctl start oob-agent) or check state.control_socket")
        } catch .permissionDenied {
            throw AgentError(.controlSocket, "\(path): permission denied; fix: run as root or as a member of the agent's group")
        } catch {
            throw AgentError(.controlSocket, "\(path): cannot connect (\(error)); fix: check that the daemon runs", underlying: error)
        }
        defer { UnixSocket.close(fd) }
        do {
            try UnixSocket.writeAll(fd, ControlCoding.encode(request))
        } catch {
            throw AgentError(.controlSocket, "\(path): the daemon closed the connection; fix: see its log (journalctl -u oob-agent)", underlying: error)
        }
        let ms = Int32(min(Int64(Int32.max), timeout.components.seconds * 1000))
        guard let line = ControlServer.readLine(fd, timeoutMilliseconds: ms),
            let response = ControlCoding.decode(ControlResponse.self, line)
        else {
            throw AgentError(.controlSocket, "\(path): no valid answer from the daemon within \(timeout); fix: see its log (journalctl -u oob-agent)")
        }
        return response
    }
}

/// A one-way flag shared with a thread.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    /// Whether ``set()`` was called.
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// Sets the flag; true the first time.
    func set() -> Bool { !value.exchange(true, ordering: .acquiringAndReleasing) }
}
