import Testing

@testable import Tunnel

@Suite("ReverseTunnelStateMachine")
struct ReverseTunnelStateMachineTests {
    let s: Int64 = 1_000_000_000
    func machine(forwards: Int = 2) -> ReverseTunnelStateMachine {
        ReverseTunnelStateMachine(
            policy: .init(
                forwardCount: forwards, reconnectInitial: 1 * s, reconnectMax: 60 * s, forwardRetryInitial: 1 * s,
                forwardRetryMax: 30 * s, forwardRetryWindow: 120 * s))
    }

    @Test func happyPathReachesForwardingOnlyWhenEveryForwardIsGranted() {
        var m = machine()
        #expect(m.start() == .connect)
        #expect(m.publicState == .connecting(attempt: 1))
        #expect(m.tcpConnected() == .handshake)
        #expect(m.handshakeCompleted() == .verifyHostKey)
        #expect(m.hostKeyVerified() == .authenticate)
        #expect(m.authenticated() == .listen([0, 1]))
        #expect(m.forwardGranted(1) == .none)
        #expect(m.publicState == .listening(pendingForwards: 1))
        #expect(m.forwardGranted(0) == .reportForwarding)
        #expect(m.publicState == .forwarding)
    }

    @Test func refusedForwardIsRetriedWithBackoffThenReconnects() {
        var m = machine()
        _ = m.start(); _ = m.tcpConnected(); _ = m.handshakeCompleted(); _ = m.hostKeyVerified(); _ = m.authenticated()
        let err = TunnelError(code: .forwardRefused, message: "held")
        #expect(m.forwardRefused(0, error: err, now: 0, jitter: 0) == .retryForward(index: 0, at: s / 2))
        #expect(m.forwardRefused(0, error: err, now: 1 * s, jitter: 0) == .retryForward(index: 0, at: 1 * s + s))
        #expect(m.forwardRefused(0, error: err, now: 3 * s, jitter: 0) == .retryForward(index: 0, at: 3 * s + 2 * s))
        // Never "forwarding" with a forward missing.
        #expect(m.forwardGranted(1) == .none)
        #expect(m.publicState == .listening(pendingForwards: 1))
        // After the window: start over.
        #expect(m.forwardRefused(0, error: err, now: 121 * s, jitter: 0) == .teardown(.reconnect(err)))
        #expect(m.publicState == .reconnecting)
        #expect(m.drained(now: 121 * s, jitter: 0) == .wait(until: 121 * s + s / 2))
        #expect(m.backoffElapsed() == .connect)
        #expect(m.publicState == .connecting(attempt: 2))
    }

    @Test func reconnectBackoffIsExponentialCappedAndJittered() {
        var m = machine(forwards: 1)
        _ = m.start()
        var delays: [Int64] = []
        for _ in 0..<9 {
            _ = m.failed(TunnelError(code: .connectFailed, message: "down"))
            guard case .wait(let until) = m.drained(now: 0, jitter: 0) else { Issue.record("no wait"); return }
            delays.append(until)
            _ = m.backoffElapsed()
        }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { $0 * s / 2 })
        #expect(ReverseTunnelStateMachine.backoff(3, initial: s, max: 60 * s, jitter: 1) == 4 * s)
        #expect(ReverseTunnelStateMachine.backoff(100, initial: s, max: 60 * s, jitter: 0.5) == 45 * s)
    }

    @Test func permanentErrorsStopRetrying() {
        var m = machine()
        _ = m.start(); _ = m.tcpConnected(); _ = m.handshakeCompleted()
        let e = TunnelError(code: .hostKeyMismatch, message: "changed")
        #expect(m.failed(e) == .teardown(.fail(e)))
        #expect(m.drained(now: 0, jitter: 0) == .finish)
        #expect(m.publicState == .failed(e))
        #expect(m.isFinished)
    }

    @Test func stopInEveryPhaseEndsClosed() {
        for steps in 0..<6 {
            var m = machine(forwards: 1)
            _ = m.start()
            if steps > 0 { _ = m.tcpConnected() }
            if steps > 1 { _ = m.handshakeCompleted() }
            if steps > 2 { _ = m.hostKeyVerified() }
            if steps > 3 { _ = m.authenticated() }
            if steps > 4 { _ = m.forwardGranted(0) }
            #expect(m.stopRequested() == .teardown(.stop))
            #expect(m.publicState == .stopping)
            #expect(m.drained(now: 0, jitter: 0) == .finish)
            #expect(m.publicState == .stopped)
        }
        var m = machine()
        _ = m.start()
        _ = m.failed(TunnelError(code: .connectFailed, message: "x"))
        _ = m.drained(now: 0, jitter: 0)
        #expect(m.stopRequested() == .finish)
        #expect(m.publicState == .stopped)
    }

    @Test func afterForwardingTheBackoffStartsOver() {
        var m = machine(forwards: 1)
        _ = m.start(); _ = m.tcpConnected(); _ = m.handshakeCompleted(); _ = m.hostKeyVerified(); _ = m.authenticated()
        _ = m.forwardGranted(0)
        _ = m.failed(TunnelError(code: .connectionLost, message: "lost"))
        #expect(m.drained(now: 0, jitter: 0) == .wait(until: s / 4))
        #expect(m.backoffElapsed() == .connect)
        #expect(m.publicState == .connecting(attempt: 1))
    }
}
