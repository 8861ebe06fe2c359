/// What `oob-agent up` makes of the daemon's status while it waits for the session it asked for (the client
/// side of the control socket only: it polls `status`).
///
/// After the daemon accepted `up`, the session is out of `idle` (the request is answered after the state
/// machine moved). So: `active` means up; `idle` again means the session ended before it came up (the reason is
/// the last session's); anything else means still on the way.
public enum UpProgress: Sendable, Equatable {
    /// Still coming up (or tearing down after a failure): the state, attempt and last error, if any.
    case waiting(state: String, attempt: Int?, lastError: String?)
    /// Up: forwards listening.
    case up(endsAt: String?, remainingSeconds: Int?)
    /// Ended without coming up.
    case failed(reason: String)

    /// Judges one status answer.
    public static func judge(_ status: AgentStatus) -> UpProgress {
        switch status.state {
        case "active":
            return .up(endsAt: status.session?.endsAt, remainingSeconds: status.session?.remainingSeconds)
        case "idle":
            return .failed(reason: status.lastSession?.reason ?? "the session ended before it came up")
        default:
            return .waiting(state: status.state, attempt: status.session?.attempt, lastError: status.session?.lastError)
        }
    }

    /// The lines `up` prints when the session is up: for how long, and the ssh command of the UP SMS
    /// (`ssh -p <first forward's jump host port> <tunnel.host>`).
    public static func upLines(config: AgentConfiguration, endsAt: String?, remainingSeconds: Int?) -> [String] {
        var first = "session up"
        if let endsAt { first += " until \(endsAt)" }
        if let r = remainingSeconds { first += " (\(r / 60) min \(r % 60) s left)" }
        return [first, "ssh -p \(config.tunnel.forwards.first?.remotePort ?? 22) \(config.tunnel.host)"]
    }

    /// A default wait: every attempt's link and tunnel timeouts with the backoffs between them, and a teardown.
    public static func defaultTimeout(_ config: AgentConfiguration) -> Duration {
        let perAttempt = config.link.upTimeout.components.seconds + 30 + 30 + 30  // link, route, tunnel, backoff
        return .seconds(Int64(max(1, config.session.attempts)) * perAttempt + 20)
    }
}
