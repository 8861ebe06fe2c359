/// Where a `ReverseTunnel` is in its life, as shown by `status` and the state stream.
public enum TunnelState: Hashable, Sendable, CustomStringConvertible {
    /// Created, not started.
    case idle
    /// Resolving, TCP-connecting or in the SSH handshake (attempt counts since the last good session).
    case connecting(attempt: Int)
    /// Checking the host key or authenticating.
    case authenticating(attempt: Int)
    /// Authenticated; `pendingForwards` forwards are not granted yet (being requested or retried).
    case listening(pendingForwards: Int)
    /// Every forward is up.
    case forwarding
    /// The connection failed or died; waiting (backoff) or tearing down before the next attempt.
    case reconnecting
    /// `stop()` is tearing down.
    case stopping
    /// Stopped by `stop()`.
    case stopped
    /// Stopped for good by an error retrying cannot fix (host key, client key).
    case failed(TunnelError)

    public var description: String {
        switch self {
        case .idle: return "idle"
        case .connecting(let a): return "connecting (attempt \(a))"
        case .authenticating(let a): return "authenticating (attempt \(a))"
        case .listening(let n): return "listening (\(n) forward\(n == 1 ? "" : "s") pending)"
        case .forwarding: return "forwarding"
        case .reconnecting: return "reconnecting"
        case .stopping: return "stopping"
        case .stopped: return "stopped"
        case .failed(let e): return "failed: \(e.message)"
        }
    }
}

/// Figures for `status`: a snapshot taken at one instant.
public struct TunnelStatistics: Hashable, Sendable, CustomStringConvertible {
    /// The state at the snapshot.
    public var state: TunnelState
    /// Bytes sent to the jump host over forwarded channels (local service → remote user).
    public var bytesToJumpHost: UInt64
    /// Bytes received from the jump host over forwarded channels (remote user → local service).
    public var bytesFromJumpHost: UInt64
    /// Forwarded connections being relayed now.
    public var channelsOpen: Int
    /// Forwarded connections accepted since start.
    public var channelsTotal: Int
    /// Connection attempts after the first.
    public var reconnects: Int
    /// Forwards granted on the current connection.
    public var forwardsListening: Int
    /// The most recent failure (kept after recovery, for diagnosis).
    public var lastError: TunnelError?

    /// An all-zero snapshot in `state`.
    public init(state: TunnelState) {
        self.state = state
        bytesToJumpHost = 0
        bytesFromJumpHost = 0
        channelsOpen = 0
        channelsTotal = 0
        reconnects = 0
        forwardsListening = 0
        lastError = nil
    }

    /// One line for `status`: state, bytes each way, channels, reconnects, last error.
    public var description: String {
        var s = "\(state); \(forwardsListening) forward(s) listening; to jump host \(bytesToJumpHost) B, from jump host "
            + "\(bytesFromJumpHost) B; channels \(channelsOpen) open, \(channelsTotal) total; reconnects \(reconnects)"
        if let lastError { s += "; last error: \(lastError.message)" }
        return s
    }
}
