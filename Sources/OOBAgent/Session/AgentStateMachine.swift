/// The agent's session lifecycle as a pure value type (style point 7): events in, actions out,
/// no I/O and no clock of its own. ``AgentService`` performs the actions and feeds back events.
///
/// ```
/// idle ──UP──▶ linking ──linkUp──▶ verifying ──routeVerified──▶ connecting ──tunnelForwarding──▶ active
///   ▲            ▲  │ failure (attempts left: abort, back off, retry)                             │
///   │            └──┘                                                    expiry / DOWN / stop  │
///   └──────teardownFinished────── tearingDown ◀───── failure (no attempts left) ◀──────────────┘
/// ```
///
/// Times are milliseconds of a monotonic clock (they must not jump when the wall clock is set).
public struct AgentStateMachine: Sendable {
    /// The state names `status --json` shows.
    public enum StateName: String, Sendable, Equatable, CaseIterable, Codable {
        case idle, linking, verifying, connecting, active
        case tearingDown = "tearing_down"
    }

    /// Who asked for a session (and is owed its replies).
    public enum Requester: Hashable, Sendable {
        /// An authenticated SMS from this number.
        case sms(PhoneNumber)
        /// The local `oob-agent up` (control socket).
        case local
    }

    /// A session command, from an SMS or the control socket.
    public enum Command: Equatable, Sendable {
        /// Start (or lengthen) a session; nil = `session.duration`.
        case up(minutes: Int?)
        /// End the session.
        case down
        /// Add minutes to the running session.
        case extend(minutes: Int)
    }

    /// What happened.
    public enum Event: Equatable, Sendable {
        /// A command from an authenticated requester.
        case command(Command, from: Requester)
        /// The link is up.
        case linkUp
        /// The link did not come up.
        case linkFailed(String)
        /// The tunnel's path over the link was verified.
        case routeVerified
        /// The path could not be verified.
        case routeFailed(String)
        /// Every remote forward is listening on the jump host.
        case tunnelForwarding
        /// The tunnel failed to come up.
        case tunnelFailed(String)
        /// The backoff before the next attempt is over.
        case retryDue
        /// The session timer fired.
        case expiryDue
        /// Teardown is complete (forwards, SSH, link).
        case teardownFinished
        /// The daemon is stopping (SIGTERM/SIGINT).
        case shutdown
    }

    /// A reply owed to a requester; the service words it (``SMSReply``) with the wall clock.
    public enum Reply: Equatable, Sendable {
        /// `UP until HH:MM, ssh -p PORT HOST`.
        case up(until: Int64)
        /// `UP until HH:MM` (EXTEND).
        case extended(until: Int64)
        /// `FAILED: <reason>`.
        case failed(String)
        /// The link-down SMS.
        case linkDown(String)
    }

    /// What the service must do, in order.
    public enum Action: Equatable, Sendable {
        /// Log this transition (from, to, reason).
        case transitioned(from: StateName, to: StateName, reason: String)
        /// Bring the link up (attempt number, from 1).
        case bringLinkUp(attempt: Int)
        /// Verify the tunnel's route over the link.
        case verifyRoute
        /// Start the tunnel and wait for the forwards.
        case startTunnel
        /// Undo a failed attempt (tunnel stopped, link down) before backing off.
        case abortAttempt
        /// Deliver ``Event/retryDue`` at this time.
        case scheduleRetry(at: Int64)
        /// Deliver ``Event/expiryDue`` at this time.
        case scheduleExpiry(at: Int64)
        /// Tear everything down (forwards, SSH, link, in reverse order), then ``Event/teardownFinished``.
        case tearDown
        /// Send a reply.
        case reply(Requester, Reply)
        /// POST the webhook (session up or down).
        case notifyWebhook(up: Bool)
        /// Write the session record (``snapshot``) to `state.dir`.
        case persist
    }

    /// A session being set up.
    public struct Attempt: Equatable, Sendable {
        /// Everyone owed a reply.
        public var requesters: [Requester]
        /// The requested length.
        public var duration: Duration
        /// 1-based attempt number.
        public var number: Int
        /// Why the previous attempt failed.
        public var lastError: String?
        /// When waiting between attempts: the time of the next one.
        public var retryAt: Int64?
    }

    /// A running session.
    public struct ActiveSession: Equatable, Sendable {
        /// Everyone owed the link-down SMS.
        public var requesters: [Requester]
        /// When the forwards started listening.
        public var startedAt: Int64
        /// When the session ends.
        public var endsAt: Int64
    }

    /// A teardown in progress.
    public struct Teardown: Equatable, Sendable {
        /// Everyone owed the final SMS.
        public var requesters: [Requester]
        /// Why (`session expired`, `DOWN received`, ...).
        public var reason: String
        /// Set when the session never came up: the final SMS is `FAILED: <failure>`.
        public var failure: String?
        /// When the session had started (for `last session` in STATUS).
        public var startedAt: Int64?
    }

    /// The previous session, for STATUS.
    public struct LastSession: Equatable, Sendable {
        public var startedAt: Int64?
        public var endedAt: Int64
        public var reason: String
    }

    private enum State: Equatable, Sendable {
        /// No session.
        case idle
        /// Bringing the link up, or backing off before the next attempt.
        case linking(Attempt)
        /// Verifying the route over the link.
        case verifying(Attempt)
        /// SSH to the jump host, waiting for the forwards.
        case connecting(Attempt)
        /// Forwards listening; the timer runs.
        case active(ActiveSession)
        /// Forwards, SSH and link going down.
        case tearingDown(Teardown)
    }

    private var state: State = .idle
    /// The previous session, if any.
    public private(set) var lastSession: LastSession?
    /// `session.duration`.
    public let defaultDuration: Duration
    /// `session.max`.
    public let maxDuration: Duration
    /// `session.attempts`.
    public let attempts: Int

    /// Creates an idle machine.
    public init(duration: Duration, max: Duration, attempts: Int) {
        self.defaultDuration = duration
        self.maxDuration = max
        self.attempts = Swift.max(1, attempts)
    }

    /// Creates a machine for a daemon that found a session its killed predecessor left:
    /// it starts in `tearingDown`; perform ``recoveryActions`` first.
    public init(recovering requesters: [Requester], duration: Duration, max: Duration, attempts: Int) {
        self.init(duration: duration, max: max, attempts: attempts)
        state = .tearingDown(Teardown(requesters: requesters, reason: "agent restarted", failure: nil, startedAt: nil))
    }

    /// The actions that finish a recovered session (see ``init(recovering:duration:max:attempts:)``).
    public var recoveryActions: [Action] {
        [.transitioned(from: .active, to: .tearingDown, reason: "session left by a previous run"), .persist, .tearDown]
    }

    // MARK: - Inspection

    /// The current state's name.
    // Not inlined: works around a Swift 6.3 -O ownership-verifier crash when inlined into an actor.
    @inline(never)
    public var stateName: StateName {
        switch state {
        case .idle: .idle
        case .linking: .linking
        case .verifying: .verifying
        case .connecting: .connecting
        case .active: .active
        case .tearingDown: .tearingDown
        }
    }

    /// Everyone owed a reply or the link-down SMS.
    /// The requested length of the session being set up (nil when none is).
    @inline(never)
    public var attemptDuration: Duration? {
        switch state {
        case .linking(let a), .verifying(let a), .connecting(let a): a.duration
        default: nil
        }
    }

    // Not inlined: works around a Swift 6.3 -O ownership-verifier crash when inlined into an actor.
    @inline(never)
    public var requesters: [Requester] {
        switch state {
        case .idle: []
        case .linking(let a), .verifying(let a), .connecting(let a): a.requesters
        case .active(let s): s.requesters
        case .tearingDown(let t): t.requesters
        }
    }

    /// The end of the running session, if active.
    // Not inlined: works around a Swift 6.3 -O ownership-verifier crash when inlined into an actor.
    @inline(never)
    public var endsAt: Int64? {
        if case .active(let s) = state { return s.endsAt }
        return nil
    }

    /// The running session's start, if active.
    // Not inlined: works around a Swift 6.3 -O ownership-verifier crash when inlined into an actor.
    @inline(never)
    public var startedAt: Int64? {
        if case .active(let s) = state { return s.startedAt }
        return nil
    }

    /// The current attempt number while setting up.
    // Not inlined: works around a Swift 6.3 -O ownership-verifier crash when inlined into an actor.
    @inline(never)
    public var attempt: Int? {
        switch state {
        case .linking(let a), .verifying(let a), .connecting(let a): a.number
        default: nil
        }
    }

    /// The last setup error while setting up.
    // Not inlined: works around a Swift 6.3 -O ownership-verifier crash when inlined into an actor.
    @inline(never)
    public var lastError: String? {
        switch state {
        case .linking(let a), .verifying(let a), .connecting(let a): a.lastError
        case .tearingDown(let t): t.failure
        default: nil
        }
    }

    /// Whether anything is (or may be) set up: a session record must be kept.
    public var hasSession: Bool { stateName != .idle }

    // MARK: - Events

    /// Handles one event at monotonic time `now` (milliseconds).
    /// - Returns: the actions to perform, in order (empty for an event that changes nothing,
    ///   such as a late timer).
    public mutating func handle(_ event: Event, now: Int64) -> [Action] {
        switch (state, event) {
        // MARK: idle
        case (.idle, .command(.up(let minutes), let from)):
            let attempt = Attempt(requesters: [from], duration: requested(minutes), number: 1)
            state = .linking(attempt)
            return [transition(.idle, .linking, "UP from \(describe(from))"), .persist, .bringLinkUp(attempt: 1)]
        case (.idle, .command(.down, let from)):
            return [.reply(from, .linkDown("no session was running"))]
        case (.idle, .command(.extend, let from)):
            return [.reply(from, .failed("no session running"))]
        case (.idle, .shutdown), (.idle, _):
            return []

        // MARK: setting up
        case (.linking(var a), .command(.up, let from)), (.verifying(var a), .command(.up, let from)),
            (.connecting(var a), .command(.up, let from)):
            if !a.requesters.contains(from) { a.requesters.append(from) }
            replaceAttempt(a)
            return [.persist]
        case (.linking, .command(.extend, let from)), (.verifying, .command(.extend, let from)),
            (.connecting, .command(.extend, let from)):
            return [.reply(from, .failed("session is starting, send EXTEND once it is up"))]
        case (.linking(let a), .command(.down, let from)), (.verifying(let a), .command(.down, let from)),
            (.connecting(let a), .command(.down, let from)):
            return beginTeardown(from: stateName, requesters: add(from, to: a.requesters), reason: reasonForDown(from), failure: nil, startedAt: nil)
        case (.linking(let a), .shutdown), (.verifying(let a), .shutdown), (.connecting(let a), .shutdown):
            return beginTeardown(from: stateName, requesters: a.requesters, reason: "agent stopping", failure: nil, startedAt: nil)

        case (.linking(var a), .retryDue):
            guard a.retryAt != nil else { return [] }
            a.retryAt = nil
            state = .linking(a)
            return [.bringLinkUp(attempt: a.number)]
        case (.linking(let a), .linkUp) where a.retryAt == nil:
            state = .verifying(a)
            return [transition(.linking, .verifying, "link up"), .persist, .verifyRoute]
        case (.linking(let a), .linkFailed(let why)) where a.retryAt == nil:
            return fail(a, from: .linking, why: "link: \(why)", now: now)
        case (.verifying(let a), .routeVerified):
            state = .connecting(a)
            return [transition(.verifying, .connecting, "route verified"), .persist, .startTunnel]
        case (.verifying(let a), .routeFailed(let why)):
            return fail(a, from: .verifying, why: "route: \(why)", now: now)
        case (.connecting(let a), .tunnelForwarding):
            let ends = now + millis(a.duration)
            let session = ActiveSession(requesters: a.requesters, startedAt: now, endsAt: ends)
            state = .active(session)
            var actions: [Action] = [transition(.connecting, .active, "forwards listening"), .persist, .scheduleExpiry(at: ends)]
            for r in a.requesters { actions.append(.reply(r, .up(until: ends))) }
            actions.append(.notifyWebhook(up: true))
            return actions
        case (.connecting(let a), .tunnelFailed(let why)):
            return fail(a, from: .connecting, why: "tunnel: \(why)", now: now)
        case (.linking, _), (.verifying, _), (.connecting, _):
            // A late event from an attempt already abandoned: nothing to do.
            return []

        // MARK: active
        case (.active(var s), .command(.up(let minutes), let from)):
            let cap = s.startedAt + millis(maxDuration)
            s.endsAt = Swift.max(s.endsAt, Swift.min(now + millis(requested(minutes)), cap))
            s.requesters = add(from, to: s.requesters)
            state = .active(s)
            return [.persist, .scheduleExpiry(at: s.endsAt), .reply(from, .up(until: s.endsAt))]
        case (.active(var s), .command(.extend(let minutes), let from)):
            let cap = s.startedAt + millis(maxDuration)
            s.endsAt = Swift.min(s.endsAt + Int64(minutes) * 60_000, cap)
            s.requesters = add(from, to: s.requesters)
            state = .active(s)
            return [.persist, .scheduleExpiry(at: s.endsAt), .reply(from, .extended(until: s.endsAt))]
        case (.active(let s), .command(.down, let from)):
            return beginTeardown(from: .active, requesters: add(from, to: s.requesters), reason: reasonForDown(from), failure: nil, startedAt: s.startedAt)
        case (.active(let s), .expiryDue):
            guard now >= s.endsAt else { return [.scheduleExpiry(at: s.endsAt)] }
            return beginTeardown(from: .active, requesters: s.requesters, reason: "session expired", failure: nil, startedAt: s.startedAt)
        case (.active(let s), .shutdown):
            return beginTeardown(from: .active, requesters: s.requesters, reason: "agent stopping", failure: nil, startedAt: s.startedAt)
        case (.active(let s), .tunnelFailed(let why)):
            return beginTeardown(from: .active, requesters: s.requesters, reason: "tunnel lost: \(why)", failure: nil, startedAt: s.startedAt)
        case (.active, _):
            return []

        // MARK: tearing down
        case (.tearingDown(var t), .command(.down, let from)):
            t.requesters = add(from, to: t.requesters)
            state = .tearingDown(t)
            return [.persist]
        case (.tearingDown, .command(_, let from)):
            return [.reply(from, .failed("session is ending, try again in a minute"))]
        case (.tearingDown(let t), .teardownFinished):
            state = .idle
            lastSession = LastSession(startedAt: t.startedAt, endedAt: now, reason: t.failure ?? t.reason)
            var actions: [Action] = [transition(.tearingDown, .idle, "teardown complete"), .persist]
            for r in t.requesters {
                actions.append(.reply(r, t.failure.map { .failed($0) } ?? .linkDown(t.reason)))
            }
            actions.append(.notifyWebhook(up: false))
            return actions
        case (.tearingDown, _):
            return []
        }
    }

    // MARK: - Helpers

    private mutating func fail(_ a: Attempt, from: StateName, why: String, now: Int64) -> [Action] {
        if a.number < attempts {
            let at = now + backoff(afterAttempt: a.number)
            state = .linking(Attempt(requesters: a.requesters, duration: a.duration, number: a.number + 1, lastError: why, retryAt: at))
            return [
                transition(from, .linking, "attempt \(a.number) of \(attempts) failed: \(why)"), .abortAttempt, .persist,
                .scheduleRetry(at: at),
            ]
        }
        return beginTeardown(from: from, requesters: a.requesters, reason: "failed", failure: why, startedAt: nil)
    }

    private mutating func beginTeardown(
        from: StateName, requesters: [Requester], reason: String, failure: String?, startedAt: Int64?
    ) -> [Action] {
        state = .tearingDown(Teardown(requesters: requesters, reason: reason, failure: failure, startedAt: startedAt))
        return [transition(from, .tearingDown, failure.map { "giving up: \($0)" } ?? reason), .persist, .tearDown]
    }

    private mutating func replaceAttempt(_ a: Attempt) {
        switch state {
        case .linking: state = .linking(a)
        case .verifying: state = .verifying(a)
        case .connecting: state = .connecting(a)
        case .idle, .active, .tearingDown: preconditionFailure("replaceAttempt outside setup")  // only called in setup states
        }
    }

    /// The backoff after a failed attempt: 2 s, 4 s, 8 s … up to 30 s.
    public func backoff(afterAttempt n: Int) -> Int64 {
        Swift.min(30_000, 2_000 << Int64(Swift.min(n - 1, 10)))
    }

    private func requested(_ minutes: Int?) -> Duration {
        guard let minutes else { return Swift.min(defaultDuration, maxDuration) }
        return Swift.min(.seconds(Int64(minutes) * 60), maxDuration)
    }

    private func millis(_ d: Duration) -> Int64 {
        d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
    }

    private func add(_ r: Requester, to list: [Requester]) -> [Requester] {
        list.contains(r) ? list : list + [r]
    }

    private func reasonForDown(_ r: Requester) -> String {
        switch r {
        case .sms: "DOWN received"
        case .local: "stopped locally"
        }
    }

    private func describe(_ r: Requester) -> String {
        switch r {
        case .sms(let n): n.e164
        case .local: "control socket"
        }
    }

    private func transition(_ from: StateName, _ to: StateName, _ reason: String) -> Action {
        .transitioned(from: from, to: to, reason: reason)
    }
}
