/// The life of a reverse tunnel as a pure value type (style point 7): events in, actions out, no I/O.
///
/// connecting → handshaking → verifyingHostKey → authenticating → listening → forwarding, and on any failure
/// draining → backoff → connecting again (capped exponential backoff with jitter), or draining → failed for
/// failures retrying cannot fix (unpinned host key, rejected client key), or draining → closed on `stop()`.
/// Times are monotonic nanoseconds passed in by the caller; jitter is a number in 0..<1 passed in too.
struct ReverseTunnelStateMachine: Sendable {
    /// What to do after a teardown finishes.
    enum AfterDrain: Sendable, Equatable {
        /// Wait, then connect again; the error is the reason.
        case reconnect(TunnelError)
        /// Give up: the error cannot be fixed by retrying.
        case fail(TunnelError)
        /// `stop()` was asked for.
        case stop
    }

    private enum State: Sendable, Equatable {
        /// Not started.
        case idle
        /// Resolving and TCP-connecting; `attempt` counts connection attempts since the last forwarding session.
        case connecting(attempt: Int)
        /// SSH handshake (key exchange).
        case handshaking(attempt: Int)
        /// Comparing the presented host key with known_hosts.
        case verifyingHostKey(attempt: Int)
        /// Public-key authentication.
        case authenticating(attempt: Int)
        /// Asking for the forwards; `pending` are not yet granted, `refusals` counts denials per forward,
        /// `firstRefusal` is when the current run of denials began.
        case listening(attempt: Int, pending: Set<Int>, refusals: [Int: Int], firstRefusal: Int64?)
        /// Every forward is granted.
        case forwarding
        /// Closing channels, cancelling forwards, disconnecting; then `next`.
        case draining(next: AfterDrain, attempt: Int)
        /// Waiting `until` before connection attempt `attempt`.
        case backoff(attempt: Int, until: Int64)
        /// Stopped by request.
        case closed
        /// Stopped by an error that retrying cannot fix.
        case failed(TunnelError)
    }

    /// What the owner of the session must do next.
    enum Action: Sendable, Equatable {
        case connect
        case handshake
        case verifyHostKey
        case authenticate
        /// Request these forwards (indexes into the configuration's list).
        case listen([Int])
        /// Request forward `index` again at `at`.
        case retryForward(index: Int, at: Int64)
        /// All forwards are up: report it.
        case reportForwarding
        /// Tear the session down (then call `drained`).
        case teardown(AfterDrain)
        /// Sleep until `until`, then call `backoffElapsed`.
        case wait(until: Int64)
        /// Nothing more will happen: stopped or failed.
        case finish
        case none
    }

    /// Policy knobs (all durations in nanoseconds).
    struct Policy: Sendable {
        var forwardCount: Int
        var reconnectInitial: Int64
        var reconnectMax: Int64
        var forwardRetryInitial: Int64
        var forwardRetryMax: Int64
        var forwardRetryWindow: Int64
    }

    private var state: State = .idle
    let policy: Policy

    init(policy: Policy) {
        precondition(policy.forwardCount > 0)
        self.policy = policy
    }

    // MARK: - Observing

    /// The public view of the state.
    var publicState: TunnelState {
        switch state {
        case .idle: return .idle
        case .connecting(let a), .handshaking(let a): return .connecting(attempt: a)
        case .verifyingHostKey(let a), .authenticating(let a): return .authenticating(attempt: a)
        case .listening(_, let pending, _, _): return .listening(pendingForwards: pending.count)
        case .forwarding: return .forwarding
        case .draining(let next, _):
            if case .stop = next { return .stopping }
            return .reconnecting
        case .backoff: return .reconnecting
        case .closed: return .stopped
        case .failed(let e): return .failed(e)
        }
    }

    /// What the teardown under way will lead to, if one is under way.
    var drainingNext: AfterDrain? {
        if case .draining(let next, _) = state { return next }
        return nil
    }

    /// True once stopped or failed for good.
    var isFinished: Bool {
        switch state {
        case .closed, .failed: return true
        case .idle, .connecting, .handshaking, .verifyingHostKey, .authenticating, .listening, .forwarding,
            .draining, .backoff:
            return false
        }
    }

    // MARK: - Events

    mutating func start() -> Action {
        switch state {
        case .idle:
            state = .connecting(attempt: 1)
            return .connect
        case .connecting, .handshaking, .verifyingHostKey, .authenticating, .listening, .forwarding, .draining,
            .backoff, .closed, .failed:
            return .none  // start() is idempotent
        }
    }

    mutating func tcpConnected() -> Action {
        guard case .connecting(let a) = state else { preconditionFailure("tcpConnected in \(state)") }
        state = .handshaking(attempt: a)
        return .handshake
    }

    mutating func handshakeCompleted() -> Action {
        guard case .handshaking(let a) = state else { preconditionFailure("handshakeCompleted in \(state)") }
        state = .verifyingHostKey(attempt: a)
        return .verifyHostKey
    }

    mutating func hostKeyVerified() -> Action {
        guard case .verifyingHostKey(let a) = state else { preconditionFailure("hostKeyVerified in \(state)") }
        state = .authenticating(attempt: a)
        return .authenticate
    }

    mutating func authenticated() -> Action {
        guard case .authenticating(let a) = state else { preconditionFailure("authenticated in \(state)") }
        let all = Set(0..<policy.forwardCount)
        state = .listening(attempt: a, pending: all, refusals: [:], firstRefusal: nil)
        return .listen(all.sorted())
    }

    /// The jump host granted forward `index`.
    mutating func forwardGranted(_ index: Int) -> Action {
        guard case .listening(let a, var pending, let refusals, let first) = state else {
            preconditionFailure("forwardGranted in \(state)")
        }
        pending.remove(index)
        if pending.isEmpty {
            state = .forwarding
            return .reportForwarding
        }
        state = .listening(attempt: a, pending: pending, refusals: refusals, firstRefusal: first)
        return .none
    }

    /// The jump host refused forward `index` (typically: a stale session holds the port).
    mutating func forwardRefused(_ index: Int, error: TunnelError, now: Int64, jitter: Double) -> Action {
        guard case .listening(let a, let pending, var refusals, let first) = state else {
            preconditionFailure("forwardRefused in \(state)")
        }
        let since = first ?? now
        if now - since >= policy.forwardRetryWindow {
            // Retried for the whole window on this session: start over with a fresh connection.
            state = .draining(next: .reconnect(error), attempt: a)
            return .teardown(.reconnect(error))
        }
        let n = (refusals[index] ?? 0) + 1
        refusals[index] = n
        state = .listening(attempt: a, pending: pending, refusals: refusals, firstRefusal: since)
        let delay = Self.backoff(n, initial: policy.forwardRetryInitial, max: policy.forwardRetryMax, jitter: jitter)
        return .retryForward(index: index, at: now + delay)
    }

    /// The session failed in any active state.
    mutating func failed(_ error: TunnelError) -> Action {
        switch state {
        case .connecting(let a), .handshaking(let a), .verifyingHostKey(let a), .authenticating(let a),
            .listening(let a, _, _, _):
            let next: AfterDrain = error.isPermanent ? .fail(error) : .reconnect(error)
            state = .draining(next: next, attempt: a)
            return .teardown(next)
        case .forwarding:
            // It was forwarding: the next attempt starts the backoff from the beginning.
            let next: AfterDrain = error.isPermanent ? .fail(error) : .reconnect(error)
            state = .draining(next: next, attempt: 0)
            return .teardown(next)
        case .draining, .backoff, .idle, .closed, .failed:
            return .none  // already tearing down or not running: the first reason wins
        }
    }

    mutating func stopRequested() -> Action {
        switch state {
        case .idle, .backoff:
            state = .closed
            return .finish
        case .connecting(let a), .handshaking(let a), .verifyingHostKey(let a), .authenticating(let a),
            .listening(let a, _, _, _):
            state = .draining(next: .stop, attempt: a)
            return .teardown(.stop)
        case .forwarding:
            state = .draining(next: .stop, attempt: 0)
            return .teardown(.stop)
        case .draining(_, let a):
            state = .draining(next: .stop, attempt: a)
            return .none  // the teardown under way now ends in closed
        case .closed, .failed:
            return .finish
        }
    }

    mutating func drained(now: Int64, jitter: Double) -> Action {
        guard case .draining(let next, let a) = state else { preconditionFailure("drained in \(state)") }
        switch next {
        case .stop:
            state = .closed
            return .finish
        case .fail(let e):
            state = .failed(e)
            return .finish
        case .reconnect:
            let attempt = a + 1
            let delay = Self.backoff(
                max(1, a), initial: policy.reconnectInitial, max: policy.reconnectMax, jitter: jitter)
            // After a forwarding session (a == 0) reconnect after the initial delay's jittered half at most.
            let until = now + (a == 0 ? delay / 2 : delay)
            state = .backoff(attempt: attempt, until: until)
            return .wait(until: until)
        }
    }

    mutating func backoffElapsed() -> Action {
        guard case .backoff(let a, _) = state else { preconditionFailure("backoffElapsed in \(state)") }
        state = .connecting(attempt: a)
        return .connect
    }

    // MARK: - Backoff

    /// Capped exponential backoff with "equal jitter": half the step is fixed, half random.
    /// `n` counts failures from 1; `jitter` is in 0..<1.
    static func backoff(_ n: Int, initial: Int64, max cap: Int64, jitter: Double) -> Int64 {
        let shift = Swift.min(n - 1, 30)
        let step = Swift.min(cap, initial.multipliedReportingOverflow(by: Int64(1) << shift).overflow
            ? cap : initial << shift)
        let j = Swift.min(Swift.max(jitter, 0), 1)
        return step / 2 + Int64(Double(step / 2) * j)
    }
}
