import Testing

@testable import OOBAgent

@Suite("Agent state machine")
struct AgentStateMachineTests {
    let owner = AgentStateMachine.Requester.sms(PhoneNumber("+46701234567")!)
    let other = AgentStateMachine.Requester.sms(PhoneNumber("+46707654321")!)

    func machine(attempts: Int = 3) -> AgentStateMachine {
        AgentStateMachine(duration: .seconds(1800), max: .seconds(4 * 3600), attempts: attempts)
    }

    func without(_ actions: [AgentStateMachine.Action]) -> [AgentStateMachine.Action] {
        actions.filter { if case .transitioned = $0 { return false } else { return true } }
    }

    @Test("UP → link → route → tunnel → active → expiry → teardown → link-down SMS → idle")
    func lifecycle() {
        var m = machine()
        #expect(without(m.handle(.command(.up(minutes: nil), from: owner), now: 0)) == [.persist, .bringLinkUp(attempt: 1)])
        #expect(m.stateName == .linking)
        #expect(without(m.handle(.linkUp, now: 10)) == [.persist, .verifyRoute])
        #expect(m.stateName == .verifying)
        #expect(without(m.handle(.routeVerified, now: 20)) == [.persist, .startTunnel])
        #expect(m.stateName == .connecting)
        let ends: Int64 = 30 + 1_800_000
        #expect(
            without(m.handle(.tunnelForwarding, now: 30))
                == [.persist, .scheduleExpiry(at: ends), .reply(owner, .up(until: ends)), .notifyWebhook(up: true)]
        )
        #expect(m.stateName == .active && m.endsAt == ends)
        #expect(m.handle(.expiryDue, now: ends - 1) == [.scheduleExpiry(at: ends)])  // early timer: re-armed
        #expect(without(m.handle(.expiryDue, now: ends)) == [.persist, .tearDown])
        #expect(m.stateName == .tearingDown)
        #expect(
            without(m.handle(.teardownFinished, now: ends + 500))
                == [.persist, .reply(owner, .linkDown("session expired")), .notifyWebhook(up: false)]
        )
        #expect(m.stateName == .idle)
        #expect(m.lastSession?.reason == "session expired")
    }

    @Test("every transition is reported with its reason")
    func transitionsLogged() {
        var m = machine()
        let actions = m.handle(.command(.up(minutes: nil), from: owner), now: 0)
        #expect(actions.first == .transitioned(from: .idle, to: .linking, reason: "UP from +46701234567"))
    }

    @Test("failed attempts back off, then the session gives up with FAILED: <reason>")
    func attempts() {
        var m = machine(attempts: 3)
        _ = m.handle(.command(.up(minutes: nil), from: owner), now: 0)
        _ = m.handle(.linkUp, now: 0)
        _ = m.handle(.routeVerified, now: 0)
        #expect(without(m.handle(.tunnelFailed("connection refused"), now: 100)) == [.abortAttempt, .persist, .scheduleRetry(at: 2100)])
        #expect(m.stateName == .linking && m.attempt == 2 && m.lastError == "tunnel: connection refused")
        #expect(m.handle(.linkUp, now: 200) == [])  // nothing while backing off
        #expect(m.handle(.retryDue, now: 2100) == [.bringLinkUp(attempt: 2)])
        #expect(without(m.handle(.linkFailed("no carrier"), now: 2200)) == [.abortAttempt, .persist, .scheduleRetry(at: 6200)])
        #expect(m.handle(.retryDue, now: 6200) == [.bringLinkUp(attempt: 3)])
        _ = m.handle(.linkUp, now: 6300)
        #expect(without(m.handle(.routeFailed("no route via ppp0"), now: 6400)) == [.persist, .tearDown])
        #expect(m.stateName == .tearingDown)
        #expect(
            without(m.handle(.teardownFinished, now: 6500))
                == [.persist, .reply(owner, .failed("route: no route via ppp0")), .notifyWebhook(up: false)]
        )
    }

    @Test("EXTEND adds time up to session.max, measured from the session's start")
    func extendCapped() {
        var m = machine()
        _ = m.handle(.command(.up(minutes: 60), from: owner), now: 0)
        _ = m.handle(.linkUp, now: 0)
        _ = m.handle(.routeVerified, now: 0)
        _ = m.handle(.tunnelForwarding, now: 1000)
        #expect(m.endsAt == Int64(1000 + 3_600_000))
        #expect(m.handle(.command(.extend(minutes: 30), from: owner), now: 5000).contains(.reply(owner, .extended(until: 1000 + 5_400_000))))
        _ = m.handle(.command(.extend(minutes: 1000), from: owner), now: 6000)
        #expect(m.endsAt == Int64(1000 + 4 * 3_600_000))
    }

    @Test("UP for more than session.max is capped")
    func upCapped() {
        var m = machine()
        _ = m.handle(.command(.up(minutes: 100_000), from: owner), now: 0)
        _ = m.handle(.linkUp, now: 0)
        _ = m.handle(.routeVerified, now: 0)
        _ = m.handle(.tunnelForwarding, now: 0)
        #expect(m.endsAt == Int64(4 * 3_600_000))
    }

    @Test("DOWN ends the session; everyone who asked gets the link-down SMS")
    func down() {
        var m = machine()
        _ = m.handle(.command(.up(minutes: nil), from: owner), now: 0)
        _ = m.handle(.command(.up(minutes: nil), from: other), now: 1)
        _ = m.handle(.linkUp, now: 2)
        _ = m.handle(.routeVerified, now: 3)
        let up = m.handle(.tunnelForwarding, now: 4)
        #expect(up.contains(.reply(owner, .up(until: 1_800_004))) && up.contains(.reply(other, .up(until: 1_800_004))))
        #expect(without(m.handle(.command(.down, from: .local), now: 10)) == [.persist, .tearDown])
        let done = m.handle(.teardownFinished, now: 20)
        #expect(done.contains(.reply(owner, .linkDown("stopped locally"))))
        #expect(done.contains(.reply(other, .linkDown("stopped locally"))))
        #expect(done.contains(.reply(.local, .linkDown("stopped locally"))))
    }

    @Test("commands that do not fit the state get a FAILED reply and change nothing")
    func misfits() {
        var m = machine()
        #expect(m.handle(.command(.extend(minutes: 10), from: owner), now: 0) == [.reply(owner, .failed("no session running"))])
        #expect(m.handle(.command(.down, from: owner), now: 0) == [.reply(owner, .linkDown("no session was running"))])
        #expect(m.handle(.teardownFinished, now: 0) == [])
        #expect(m.stateName == .idle)
    }

    @Test("SIGTERM mid-session tears down and still owes the link-down SMS")
    func shutdown() {
        var m = machine()
        _ = m.handle(.command(.up(minutes: nil), from: owner), now: 0)
        _ = m.handle(.linkUp, now: 0)
        _ = m.handle(.routeVerified, now: 0)
        _ = m.handle(.tunnelForwarding, now: 0)
        #expect(without(m.handle(.shutdown, now: 100)) == [.persist, .tearDown])
        #expect(m.handle(.teardownFinished, now: 200).contains(.reply(owner, .linkDown("agent stopping"))))
        var idle = machine()
        #expect(idle.handle(.shutdown, now: 0) == [])
    }

    @Test("a restarted daemon tears down what its predecessor left and sends the owed SMS")
    func recovery() {
        var m = AgentStateMachine(recovering: [owner], duration: .seconds(1800), max: .seconds(14400), attempts: 3)
        #expect(m.stateName == .tearingDown)
        #expect(without(m.recoveryActions) == [.persist, .tearDown])
        #expect(m.handle(.teardownFinished, now: 5).contains(.reply(owner, .linkDown("agent restarted"))))
        #expect(m.stateName == .idle)
    }

    @Test("state names are those status --json shows")
    func names() {
        #expect(AgentStateMachine.StateName.allCases.map(\.rawValue) == ["idle", "linking", "verifying", "connecting", "active", "tearing_down"])
    }
}
